"""The run directory's state: `manifest.json` (every stage's status, config, times), the lock that keeps
one `alignpipe run` per run directory, and what counts as a stage's finished outputs and checkpoints."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import mask_argv, mask_secrets, read_json, write_json
from alignpipe.core.outputs import (
    LOCK_ENV,
    checkpoints,
    hold_lock,
    release_lock,
    safetensors_problem,
    usable_checkpoint,
)
from alignpipe.core.runrecord import git_commit, now, versions
from alignpipe.run.recipe import ROOT, TRAINING, Pipeline, eval_models

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
        return all((d / name / "eval.json").is_file() for name in eval_models(pipeline))
    return d.is_dir() and any(p.is_file() and p.name != MARK for p in d.iterdir())  # report


def report_file(run_dir: Path) -> Path | None:
    d = run_dir / "report"
    for candidate in (d / "report.html", d / "index.html"):
        if candidate.is_file():
            return candidate
    htmls = sorted(d.glob("*.html")) if d.is_dir() else []
    return htmls[0] if htmls else (d if d.is_dir() else None)


def complete_checkpoint(stage_dir: Path) -> str | None:
    """Remove checkpoints cut off while saving (Trainer writes trainer_state.json last) and name the newest
    one that can be resumed from (a corrupt newer one is named and passed over), which the stage resumes."""
    for p in checkpoints(stage_dir):
        if not (p / "trainer_state.json").is_file():
            shutil.rmtree(p)
    best = usable_checkpoint(stage_dir)
    return best.name if best is not None else None


# --- ownership -------------------------------------------------------------------------------------

MARK = ".alignpipe.json"  # in every folder `alignpipe run` made: RUN_DIR/<stage>, RUN_DIR/eval/<model>


def weight_files(folder: Path) -> dict[str, int]:
    """The safetensors files a finished stage left (its model, not its checkpoints) and their sizes in bytes."""
    return {p.name: p.stat().st_size for p in sorted(folder.glob("*.safetensors"))}


def weights_problem(folder: Path, recorded: dict[str, int] | None) -> str | None:
    """Why a finished stage's weights are no longer what it wrote (a file gone, resized or cut short), or None.
    `recorded` is `weight_files` at the moment it finished (None for marks older than the record)."""
    for name, size in (recorded or {}).items():
        path = folder / name
        if not path.is_file():
            return f"{name} is gone"
        if path.stat().st_size != size:
            return f"{name} is {path.stat().st_size} bytes, {size} when it finished"
    for path in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            return f"{path.name} is corrupt: {problem}"
    return None


def read_mark(folder: Path) -> dict | None:
    return read_json(folder / MARK)


def write_mark(folder: Path, **fields) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / MARK, {**(read_mark(folder) or {}), **fields})


def check_run_dir(run_dir: Path) -> None:
    """A run directory is empty, new, or alignpipe's own (it holds manifest.json); never the project tree."""
    here, root = run_dir.resolve(), ROOT.resolve()
    if here == root or root.is_relative_to(here):
        raise AlignpipeError(
            f"--output {run_dir} would put the run over the alignpipe project at {root}; choose a folder for "
            "the run, e.g. runs/NAME"
        )
    if here.is_dir() and not (here / MANIFEST).is_file():
        others = [p.name for p in here.iterdir() if p.name != ".lock"]
        if others:
            raise AlignpipeError(
                f"--output {run_dir} is not empty and is not an alignpipe run directory (no {MANIFEST}; it "
                f"holds {', '.join(sorted(others)[:5])}{', ...' if len(others) > 5 else ''}); choose a new or "
                "empty folder"
            )


def digest(obj) -> str:
    """A short stable hash of JSON-able `obj`."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def secrets_in_environment(env: dict[str, str]):
    """Hand secrets to a stage through the environment (never through a file): set for the stage's run (a
    launched subprocess inherits them), then put back."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
            pipeline_recipe=mask_secrets(pipeline.contents),
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
    """One writer per run directory: `alignpipe run`, or a stage run by hand into one of its folders (they
    take the same lock, `alignpipe.core.outputs.hold_lock`); the OS drops it when the process dies. The
    stages this run starts, in this process or as children, see LOCK_ENV and do not take it again."""
    run_dir.mkdir(parents=True, exist_ok=True)
    hold_lock(run_dir, "alignpipe run")
    previous = os.environ.get(LOCK_ENV)
    os.environ[LOCK_ENV] = str(run_dir.resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(LOCK_ENV, None)
        else:
            os.environ[LOCK_ENV] = previous
        release_lock(run_dir)
