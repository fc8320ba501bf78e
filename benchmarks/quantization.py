"""What int8 and nf4 cost the demo's models on this machine: `alignpipe eval --quantize none,int8,nf4` with
the packaged `quantize` suite on the pretrained model (perplexity is its figure) and the DPO model (task
accuracy and refusals are its figures).

    python -m benchmarks.quantization [--run runs/minigpt]

Needs `make demo` first (the run's pretrain and dpo folders). Each model's full output goes to
runs/quantize/<stage>/; the rows go to benchmarks/results/quantization.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

from alignpipe.cli import main as cli
from benchmarks import save_result

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=str(ROOT / "runs" / "minigpt"))
    ap.add_argument("--output", default=str(ROOT / "runs" / "quantize"))
    args = ap.parse_args(argv)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "suite": "quantize",
        "models": {},
    }
    for stage in ("pretrain", "dpo"):
        model = Path(args.run) / stage
        if not (model / "config.json").is_file():
            print(f"skipping {stage}: {model} holds no model (run `make demo` first)")
            continue
        out = Path(args.output) / stage
        if cli(["eval", "--model", str(model), "--quantize", "none,int8,nf4", "-o", str(out)]) != 0:
            return 1
        rows = json.loads((out / "quantization.json").read_text())["rows"]
        result["models"][stage] = [{k: v for k, v in r.items() if k != "eval"} for r in rows]
    save_result(result, "quantization")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
