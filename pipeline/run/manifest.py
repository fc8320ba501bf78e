"""The run directory's state: `manifest.json` (every stage's status, config, times), the lock that keeps
one `alignpipe run` per run directory, and what counts as a stage's finished outputs and checkpoints."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import mask_argv, write_json
from alignpipe.core.runrecord import git_commit, now, versions
from alignpipe.run.recipe import TRAINING, Pipeline, eval_models

SCHEMA = 1
MANIFEST = "manifest.json"

# --- outputs ---------------------------------------------------------------------------------------


def outputs_present(pipeline: Pipeline, name: str, run_dir: Path) -> bool:
    d = run_dir / name
    if name in TRAINING:
        return (d / "run_record.json").is_file() and any(d.glob("*.safetensors"))
    if name == "tokenizer":
        return (d / "tokenizer.json").is_file() or (d / "tokenizer_config.json").is_file()
    if name == "eval":
        return all((d / Path(m).name / "eval.json").is_file() for m in eval_models(pipeline))
    return d.is_dir() and any(p.is_file() for p in d.iterdir())  # report


def report_file(run_dir: Path) -> Path | None:
    d = run_dir / "report"
    for candidate in (d / "report.html", d / "index.html"):
        if candidate.is_file():
            return candidate
    htmls = sorted(d.glob("*.html")) if d.is_dir() else []
    return htmls[0] if htmls else (d if d.is_dir() else None)


def complete_checkpoint(stage_dir: Path) -> str | None:
    """Remove checkpoints cut off while saving (Trainer writes trainer_state.json last) and name the newest
    complete one, which the stage script resumes from."""
    if not stage_dir.is_dir():
        return None
    steps = []
    for p in stage_dir.glob("checkpoint-*"):
        if p.is_dir() and p.name.split("-", 1)[1].isdigit():
            if (p / "trainer_state.json").is_file():
                steps.append(int(p.name.split("-", 1)[1]))
            else:
                shutil.rmtree(p)
    return f"checkpoint-{max(steps)}" if steps else None


# --- the manifest ----------------------------------------------------------------------------------


class Manifest:
    """RUN_DIR/manifest.json: the run's state, rewritten atomically after every change."""

    def __init__(self, path: Path, data: dict):
        self.path, self.data = path, data

    @classmethod
    def open(cls, run_dir: Path, pipeline: Pipeline, command: list[str]) -> Manifest:
        path = run_dir / MANIFEST
        data: dict = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise AlignpipeError(
                    f"{path} is not valid JSON ({e}); delete it to start the run afresh"
                ) from e
        data.setdefault("schema", SCHEMA)
        data.setdefault("created", now())
        data.setdefault("stages", {})
        data.update(
            run_dir=str(run_dir),
            pipeline=str(pipeline.path),
            pipeline_recipe=pipeline.contents,
            seed=pipeline.seed,
            command=mask_argv(command),
            versions=versions(),
            git_commit=git_commit(),
            host=socket.gethostname(),
            python=sys.version.split()[0],
        )
        stages = {}
        for name in pipeline.stages:  # this pipeline's stages, in order; others recorded earlier stay after
            stages[name] = data["stages"].get(name) or {"status": "pending"}
        stages.update({k: v for k, v in data["stages"].items() if k not in stages})
        data["stages"] = stages
        m = cls(path, data)
        m.write()
        return m

    def stage(self, name: str) -> dict:
        return self.data["stages"][name]

    def set(self, name: str, **fields) -> None:
        entry = self.data["stages"][name]
        for k, v in fields.items():
            if v is None:
                entry.pop(k, None)
            else:
                entry[k] = v
        self.write()

    def write(self) -> None:
        self.data["updated"] = now()
        write_json(self.path, self.data)


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """One `alignpipe run` per run directory; the OS drops the lock when the process dies (even killed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(run_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise AlignpipeError(
                f"another `alignpipe run` is using {run_dir}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
