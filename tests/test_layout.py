"""The installed layout: one import package `alignpipe` (pipeline/ -> alignpipe, eval/ -> alignpipe.eval)."""

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _folders_with_init() -> set[str]:
    names = {
        ".".join(("alignpipe", *d.parent.relative_to(ROOT / "pipeline").parts))
        for d in (ROOT / "pipeline").rglob("__init__.py")
    }
    names |= {
        ".".join(("alignpipe", "eval", *d.parent.relative_to(ROOT / "eval").parts))
        for d in (ROOT / "eval").rglob("__init__.py")
    }
    return names


def test_every_package_folder_is_listed_for_the_wheel():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"alignpipe": "pipeline", "alignpipe.eval": "eval"}
    assert set(setuptools["packages"]) == _folders_with_init()


def test_generic_top_level_names_are_refused():
    """`import pipeline` from the source tree would load a second copy of every class; it says what to do."""
    for name in ("pipeline", "eval"):
        out = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 1 and "import alignpipe" in out.stderr


def test_packages_import_from_anywhere(tmp_path):
    code = (
        "import alignpipe, alignpipe.eval, alignpipe.cli; print(alignpipe.__file__, alignpipe.eval.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    )
    pkg, ev = out.stdout.split()
    assert Path(pkg) == ROOT / "pipeline" / "__init__.py" and Path(ev) == ROOT / "eval" / "__init__.py"


# --------------------------------------------------------------------------- documented launch lines

DOCS = ["README.md", "docs/*.md", "accelerate_configs/*.yaml", "recipes/**/*.yaml", "scripts/*.sh"]


def documented_launches() -> list[tuple[str, list[str]]]:
    """(file, words after `accelerate launch`) of every documented launch of a stage script."""
    import re
    import shlex

    found = []
    for pattern in DOCS:
        for path in sorted(ROOT.glob(pattern)):
            text = "\n".join(line.lstrip("#").rstrip() for line in path.read_text().splitlines())
            text = text.replace("\\\n", " ")
            for m in re.finditer(
                r"accelerate launch\s+((?:[^`\n]|\n(?!\n))*?pipeline/stages/\w+\.py[^`\n]*)", text
            ):
                command = " ".join(m.group(1).split())
                if "$" in command and "slurm" not in path.name:  # shell placeholders are filled in elsewhere
                    command = re.sub(r"\$\(\([^)]*\)\)|\$\w+", "1", command)
                found.append((str(path.relative_to(ROOT)), shlex.split(command.replace("$", ""))))
    return found


def test_documented_launch_lines_name_real_configs_and_scripts():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    launches = documented_launches()
    assert len(launches) >= 8, launches
    for where, words in launches:
        args, _ = launch_command_parser().parse_known_args(words)  # every flag is one accelerate knows
        script = ROOT / args.training_script
        assert script.is_file(), f"{where}: {args.training_script} does not exist"
        configs = (
            sorted((ROOT / "accelerate_configs").glob("*.yaml"))
            if "X.yaml" in str(args.config_file)
            else [ROOT / args.config_file]
            if args.config_file
            else []
        )
        for config in configs:
            assert config.is_file(), f"{where}: {config} does not exist"
            load_config_from_file(str(config))  # accelerate reads it
        if args.training_script_args[:1] == ["--config"] and args.training_script_args[1] != "RECIPE":
            assert (ROOT / args.training_script_args[1]).is_file(), where


def test_documented_stage_scripts_run_by_path():
    """Each script the docs launch runs as a file (`python pipeline/stages/X.py --help`), and the CPU DDP line
    runs as printed under `accelerate launch` on this machine (two ranks, each printing its usage)."""
    scripts = sorted(
        {
            words[-3] if words[-2] == "RECIPE" else w
            for _, words in documented_launches()
            for w in words
            if w.startswith("pipeline/stages/")
        }
    )
    # One interpreter runs each file as `python FILE --help` would (as __main__, its folder first on sys.path),
    # so TRL is imported once, not once per script.
    code = (
        "import os, runpy, sys\n"
        f"for script in {scripts!r}:\n"
        "    sys.argv = [script, '--help']\n"
        "    sys.path[0] = os.path.dirname(os.path.abspath(script))\n"
        "    try:\n        runpy.run_path(script, run_name='__main__')\n"
        "    except SystemExit as e:\n        assert not e.code, (script, e.code)\n"
        "    print('@@ done', script, flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for script, part in zip(scripts, out.stdout.split("@@ done ")[:-1], strict=True):
        assert f"usage: alignpipe {Path(script).stem}" in part, (script, part[-500:])
    env = {**__import__("os").environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            "accelerate_configs/cpu_ddp.yaml",
            "pipeline/stages/sft.py",
            "--help",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.count("usage: alignpipe sft") == 2, out.stderr[-2000:]


# --------------------------------------------------------------------------- floors: no upward imports, no cycles

FLOORS_HEADING = "## Floors"


def floors() -> dict[str, int]:
    """Package -> floor, read from docs/architecture.md's `floors` block (top floor first): the one table."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split(FLOORS_HEADING, 1)[1].split("```floors\n", 1)[1].split("```", 1)[0]
    rows = [line.split("#")[0].split() for line in block.splitlines() if line.split("#")[0].strip()]
    return {pkg: len(rows) - i for i, row in enumerate(rows) for pkg in row}


def package_modules() -> dict[str, Path]:
    """Every module of the installed package `alignpipe` -> its file."""
    mods = {}
    for top, prefix in (("pipeline", ("alignpipe",)), ("eval", ("alignpipe", "eval"))):
        for path in (ROOT / top).rglob("*.py"):
            parts = (*prefix, *path.relative_to(ROOT / top).with_suffix("").parts)
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports anywhere in its file (module level or inside functions)."""
    import ast

    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in mods and t != name}
    return found


def floor_of(module: str, table: dict[str, int]) -> tuple[str, int] | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the root package (it only registers MiniGPT): importable from everywhere
    key = "eval" if parts[1] == "eval" else parts[1]
    assert key in table, f"{module}: its package {key!r} has no floor in docs/architecture.md's table"
    return key, table[key]


def test_no_module_imports_a_package_on_its_own_floor_or_above():
    table, mods = floors(), package_modules()
    upward = []
    for name, path in mods.items():
        here = floor_of(name, table)
        for target in imports_of(name, path, mods):
            there = floor_of(target, table)
            if here and there and here[0] != there[0] and there[1] >= here[1]:
                upward.append(f"{name} imports {target} ({here[0]} -> {there[0]})")
    assert not upward, "imports that climb (docs/architecture.md, Floors):\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    mods = package_modules()
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    # Tarjan's strongly connected components; any of more than one module is a cycle
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_floor_checker_sees_a_climbing_import(tmp_path):
    """The checker is not vacuous: a core module importing eval is caught, by either import form."""
    mods = package_modules()
    for line in ("from alignpipe.eval import schema", "import alignpipe.serve.chat"):
        fake = tmp_path / "fake.py"
        fake.write_text(f"def f():\n    {line}\n")
        found = imports_of("alignpipe.core.fake", fake, mods)
        table = floors()
        assert found and all(floor_of(t, table)[1] > table["core"] for t in found), (line, found)
