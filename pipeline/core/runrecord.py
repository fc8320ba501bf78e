"""Run records: what each stage wrote next to its model (`run_record.json`) so reports and manifests can
say what ran, with which config and package versions, and what it measured.

Schema (version 1):
    {"schema": 1, "stage": str, "started": iso, "finished": iso, "duration_s": float,
     "config": {section: {field: value}}, "metrics": {name: number}, "versions": {pkg: ver},
     "git_commit": str | null, "seed": int | null, "phases_s": {phase: seconds}}
`phases_s` says where the stage's wall time went: data (reading, converting, length checks), setup (model
load and the trainer's own tokenisation), train, evaluate, save; each phase is the time since the previous
mark (`RunRecord.mark`).
Secrets never enter a record: settings that `alignpipe.core.io.is_secret_key` calls secrets are masked.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from alignpipe.core.io import jsonable, mask_secrets, write_json

SCHEMA = 1
PACKAGES = [
    "alignpipe",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "bitsandbytes",
    "evaluate",
]


def versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def config_dict(obj) -> dict:
    """A dataclass (TRL/Transformers config) as plain JSON, without secrets."""
    d = obj.to_dict() if hasattr(obj, "to_dict") else dataclasses.asdict(obj)
    return mask_secrets({k: jsonable(v) for k, v in d.items()})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunRecord:
    """Collects a stage's config and metrics; `write` saves run_record.json (main process only)."""

    def __init__(self, stage: str, output_dir: str, configs: dict | None = None, seed: int | None = None):
        self.stage, self.output_dir, self.seed = stage, Path(output_dir), seed
        self.config = {name: config_dict(c) for name, c in (configs or {}).items()}
        self.metrics: dict[str, float] = {}
        self.started, self._t0 = now(), time.time()
        self.phases: dict[str, float] = {}
        self._last = self._t0
        self.push_to: tuple[str, bool] | None = None  # (repo id, private) when the stage pushes to the Hub

    def add(self, metrics: dict | None = None, **kw) -> None:
        for k, v in {**(metrics or {}), **kw}.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.metrics[k] = float(v)
            elif v is None or isinstance(v, (str, bool)):
                self.metrics[k] = v

    def mark(self, phase: str) -> None:
        """Close `phase`: the seconds since the previous mark (or the start) are added to it."""
        t = time.time()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + t - self._last, 2)
        self._last = t

    def write(self) -> Path:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        rec = {
            "schema": SCHEMA,
            "stage": self.stage,
            "started": self.started,
            "finished": now(),
            "duration_s": round(time.time() - self._t0, 2),
            "config": self.config,
            "metrics": self.metrics,
            "versions": versions(),
            "git_commit": git_commit(),
            "seed": self.seed,
            "phases_s": self.phases,
        }
        return write_json(self.output_dir / "run_record.json", rec)


def read_record(stage_dir: str | Path) -> dict | None:
    path = Path(stage_dir) / "run_record.json"
    return json.loads(path.read_text()) if path.is_file() else None
