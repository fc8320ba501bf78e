"""Run every benchmark in turn (`make bench`). Each writes benchmarks/results/<name>.json; see benchmarks/README.md."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "minigpt_speed",
    "shakespeare_char",
    "dpo_memory",
    "ppo_rollout",
    "task_budget",
    "alignment",
    "online_rl",  # after alignment: it trains from that benchmark's SFT models
    "serve_speed",
    "quantization",
    "demo_time",
    "smollm2",  # the real-model pipeline with its guard, three seeds: about two and a half hours on a 2-core CPU
    "shared_prefix",  # SmolLM2 as shipped: generation with its system prompt run once, ~3 min
    "safety_probe",  # SmolLM2 as shipped: a linear probe for harmful vs look-alike requests, ~9 min
]


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or BENCHMARKS
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
