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
