"""A stage's output folder: which checkpoints in it can be resumed, which configuration made it, and the lock
that keeps two processes out of one run.

- `usable_checkpoint`: the newest checkpoint that is complete (Trainer writes trainer_state.json last) and
  whose weights are whole (every safetensors file's header and size agree); a corrupt newer one is named and
  passed over. `check_weights` is the same test for a model folder given as input.
- `config_digest` / `read_stamp` / `write_stamp`: OUTPUT/.alignpipe-stage.json records the configuration
  (secrets masked) that made the folder's checkpoints and model, so a later run with another configuration
  is refused instead of continuing a checkpoint it did not make.
- `hold_lock`: one writer per run directory (an `alignpipe run` or a stage run by hand), dropped by the OS
  when the process dies; re-entrant within a process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import jsonable, read_json, write_json
from alignpipe.core.log import warn

STAMP = ".alignpipe-stage.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")

# --------------------------------------------------------------------------- weights and checkpoints


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a whole safetensors file (truncated, not safetensors at all), or None when it is."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{size} bytes: too short to hold a safetensors header"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return f"its header claims {n} bytes but the file has {size}: truncated, or not safetensors"
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return f"cannot read its header ({e})"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    expected = 8 + n + max(ends, default=0)
    if size < expected:
        return f"{size} bytes where its header needs {expected}: the file is truncated"
    return None


def check_weights(folder: str | Path, what: str = "model") -> None:
    """Raise a clear error naming the first safetensors file in `folder` that is not whole."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            raise AlignpipeError(
                f"{what}: {path} is corrupt: {problem}; re-create it (re-run the stage that wrote it)"
            )


TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


def check_tokenizer_saved(folder: str | Path, what: str) -> None:
    """A model folder that goes out (export, publish) carries its tokenizer: without one the export generates
    nothing useful. An AlignpipeError naming the missing files otherwise (a Hub id is not checked here)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    if not (folder / "tokenizer_config.json").is_file() or not any(
        (folder / f).is_file() for f in ("tokenizer.json", "vocab.json", "tokenizer.model", "vocab.txt")
    ):
        missing = [f for f in TOKENIZER_FILES if not (folder / f).is_file()]
        raise AlignpipeError(
            f"{what}: {folder} holds no tokenizer ({', '.join(missing) or 'no vocabulary file'} missing); "
            "save the model's tokenizer into it first (tokenizer.save_pretrained), nothing was written"
        )


def checkpoint_problem(path: Path) -> str | None:
    """Why checkpoint folder `path` cannot be resumed from, or None."""
    state = path / "trainer_state.json"
    if not state.is_file():
        return "incomplete (no trainer_state.json: cut off while saving)"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"trainer_state.json is unreadable ({e})"
    weights = sorted(path.glob("*.safetensors"))
    if not weights and not any(path.glob("adapter_model.*")):
        return "no weights in it"
    for w in weights:
        problem = safetensors_problem(w)
        if problem:
            return f"{w.name} is corrupt: {problem}"
    return None


def checkpoints(folder: str | Path) -> list[Path]:
    """The `checkpoint-N` folders in `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))
    ]
    return [p for _, p in sorted(found)]


def usable_checkpoint(folder: str | Path, *, say: bool = True) -> Path | None:
    """The newest checkpoint in `folder` that can be resumed from; the newer ones that cannot are named."""
    for path in reversed(checkpoints(folder)):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        if say and not problem.startswith("incomplete"):
            warn(f"checkpoint {path} cannot be resumed from: {problem}; trying the one before it")
    return None


# --------------------------------------------------------------------------- the configuration stamp

#: Settings that do not change what a run computes: where it writes and logs, how it resumes, secrets.
VOLATILE = {
    "output_dir",
    "overwrite_output_dir",
    "resume_from_checkpoint",
    "logging_dir",
    "run_name",
    "report_to",
    "push_to_hub",
    "hub_model_id",
    "hub_token",
    "hub_strategy",
    "hub_private_repo",
    "disable_tqdm",
}


def _stable(config: dict) -> dict:
    return {
        section: {k: v for k, v in fields.items() if k not in VOLATILE}
        if isinstance(fields, dict)
        else fields
        for section, fields in config.items()
    }


def config_digest(config: dict) -> str:
    blob = json.dumps(jsonable(_stable(config)), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_stamp(folder: str | Path) -> dict | None:
    return read_json(Path(folder) / STAMP)


def write_stamp(folder: str | Path, stage: str, config: dict) -> None:
    write_json(
        Path(folder) / STAMP,
        {"stage": stage, "config_digest": config_digest(config), "config": _stable(config)},
    )


def changed_settings(old: dict, new: dict) -> list[str]:
    """`section.field` names whose values differ between two stamped configurations."""
    old, new = _stable(old), jsonable(_stable(new))
    out = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section) or {}, new.get(section) or {}
        out += [f"{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return out


# --------------------------------------------------------------------------- the lock

_HELD: dict[str, object] = {}
LOCK_ENV = "ALIGNPIPE_RUN_LOCK"  # the run directory whose lock this process (or its parent run) holds


def hold_lock(folder: str | Path, who: str) -> None:
    """Take `folder`'s lock for the rest of this process (or until `release_lock`); an error naming `who`
    else. A process started by an `alignpipe run` that holds the lock (LOCK_ENV) does not take it again."""
    folder = Path(folder).resolve()
    key = str(folder)
    if key in _HELD or os.environ.get(LOCK_ENV) == key:
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    folder.mkdir(parents=True, exist_ok=True)
    f = open(folder / ".lock", "w")  # noqa: SIM115  (held open: the lock lasts as long as the file)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise AlignpipeError(
            f"another alignpipe process is writing to {folder}; wait for it to finish ({who})"
        ) from None
    _HELD[key] = f


def release_lock(folder: str | Path) -> None:
    f = _HELD.pop(str(Path(folder).resolve()), None)
    if f is not None:
        f.close()  # closing drops the flock
