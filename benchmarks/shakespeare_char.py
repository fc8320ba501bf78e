"""MiniGPT on nanoGPT's shakespeare_char CPU run: val loss and wall time against nanoGPT on the same machine.

    python -m benchmarks.shakespeare_char [--nanogpt PATH_TO_NANOGPT_CHECKOUT] [--max-steps N]

Runs `alignpipe pretrain --config recipes/minigpt/shakespeare_char.yaml` on
../shared/data/tinyshakespeare/input.txt (char-level, 4 layers, 4 heads, 128 wide, block 64, batch 12, 2000
iterations, lr decay to 2000, dropout 0) and reports the wall time of the whole command and the held-out
loss over the entire validation split (the last 10% of the characters, as nanoGPT splits them).

With --nanogpt, nanoGPT itself (a checkout of karpathy/nanoGPT, not part of this project) is run first in the
same invocation with the CPU command from its README, so both sides are measured on the same machine in one
run; without it, the figure measured here on 2026-11-22 is used (129 s wall, val loss 1.886).
Results go to benchmarks/results/shakespeare_char.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks import save_result

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
NANOGPT_RECORDED = {"wall_s": 129.0, "val_loss": 1.886, "source": "measured on this machine on 2026-11-22"}
NANOGPT_CMD = [
    "train.py",
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--max_iters=2000",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
]


def run_nanogpt(path: Path) -> dict:
    prep = path / "data" / "shakespeare_char"
    if not (prep / "train.bin").exists():
        (prep / "input.txt").write_text(DATA.read_text())
        subprocess.run([sys.executable, "prepare.py"], cwd=prep, check=True)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, *NANOGPT_CMD], cwd=path, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    losses = re.findall(r"val loss ([0-9.]+)", p.stdout)
    return {"wall_s": wall, "val_loss": float(losses[-1]), "source": f"run now from {path}"}


def run_minigpt(out: Path, max_steps: int | None) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "alignpipe.cli",
        "pretrain",
        "--config",
        "recipes/minigpt/shakespeare_char.yaml",
        "--output_dir",
        str(out),
        "--disable_tqdm",
        "true",
        "--dataset_name",
        str(DATA),
    ]
    if max_steps:
        cmd += ["--max_steps", str(max_steps)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    record = json.loads((out / "run_record.json").read_text())
    return {
        "wall_s": wall,
        "val_loss": record["metrics"]["eval_loss"],
        "train_runtime_s": record["metrics"].get("train_runtime"),
        "steps": max_steps or 2000,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanogpt", type=Path, help="a karpathy/nanoGPT checkout to run side by side")
    ap.add_argument(
        "--max-steps", type=int, help="fewer steps (smoke run; the figures are then not comparable)"
    )
    ap.add_argument("--output", type=Path, default=Path("/tmp/alignpipe-bench-shakespeare"))
    args = ap.parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: {DATA} is absent", file=sys.stderr)
        return 0
    nano = run_nanogpt(args.nanogpt) if args.nanogpt else NANOGPT_RECORDED
    mini = run_minigpt(args.output, args.max_steps)
    res = {
        "date": date.today().isoformat(),
        "nanogpt": nano,
        "minigpt": mini,
        "wall_ratio_minigpt_over_nanogpt": mini["wall_s"] / nano["wall_s"],
        "meets_target": mini["val_loss"] <= 1.88 and mini["wall_s"] <= nano["wall_s"],
    }
    print(json.dumps(res, indent=2))
    if not args.max_steps:
        save_result(res, "shakespeare_char")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
