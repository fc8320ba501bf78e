"""Side-by-side speed and memory measurements; figures in benchmarks/README.md."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def save_result(result: dict, path: str | Path) -> Path:
    """Write `result` as JSON (a bare name goes to benchmarks/results/NAME.json) and say where."""
    out = Path(path) if Path(path).suffix else RESULTS / f"{path}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return out
