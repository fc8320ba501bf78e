"""`alignpipe rloo`: RLOO (REINFORCE leave-one-out) with TRL's RLOOTrainer; the stage is
`alignpipe.stages.grpo` with the RLOO trainer (see its docstring for data, rewards and knobs).

    alignpipe rloo --config recipes/minigpt/rloo.yaml [--key value ...]
    accelerate launch pipeline/stages/rloo.py --config ...
"""

from __future__ import annotations

import alignpipe  # noqa: F401
from alignpipe.core.errors import run_cli
from alignpipe.stages import grpo


def main(argv: list[str] | None = None) -> int:
    return grpo.main(argv, algorithm="rloo")


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
