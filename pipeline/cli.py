"""`alignpipe` console script: one subcommand per stage or tool.

Each subcommand lives in its own module and is imported only when called, so
`alignpipe plan` does not pay for importing torch and TRL. A subcommand module
exposes `main(argv: list[str] | None) -> int | None`.
"""

from __future__ import annotations

import importlib
import sys

from alignpipe.core.log import echo

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "tokenizer": ("alignpipe.stages.tokenizer", "train a byte-level BPE or char tokenizer on a corpus"),
    "pretrain": ("alignpipe.stages.pretrain", "pretrain MiniGPT (or continue any causal LM) on packed text"),
    "sft": ("alignpipe.stages.sft", "supervised fine-tuning with TRL's SFTTrainer"),
    "reward": ("alignpipe.stages.reward", "reward modelling with TRL's RewardTrainer"),
    "dpo": ("alignpipe.stages.dpo", "direct preference optimisation with TRL's DPOTrainer"),
    "ppo": ("alignpipe.stages.ppo", "RLHF with TRL's PPOTrainer on a learned reward model"),
    "grpo": ("alignpipe.stages.grpo", "online RL with verifiable rewards, TRL's GRPOTrainer"),
    "rloo": ("alignpipe.stages.rloo", "online RL with verifiable rewards, TRL's RLOOTrainer"),
    "eval": ("alignpipe.eval.cli", "held-out benchmarks, win rates and verbosity checks"),
    "report": ("alignpipe.eval.report.run", "one report across all stages of a run directory"),
    "run": ("alignpipe.run.runner", "run a whole pipeline recipe (all stages, skip/resume)"),
    "chat": ("alignpipe.serve.chat", "chat with a model in the terminal (streamed, chat template, guard)"),
    "generate": (
        "alignpipe.serve.generate",
        "answer prompts with a model: JSON lines, every sampling strategy",
    ),
    "guard": ("alignpipe.stages.guard", "train a prompt classifier (unsafe / benign) to screen prompts"),
    "publish": ("alignpipe.tools.publish", "publish a stage's model to the Hugging Face Hub"),
    "plan": ("alignpipe.tools.plan", "Chinchilla scaling-law planner: optimal params/tokens and loss"),
    "export": ("alignpipe.models.export", "export a MiniGPT checkpoint to plain GPT-2 / GPT-NeoX"),
    "merge": ("alignpipe.tools.merge", "merge a LoRA adapter into its base model"),
    "import": ("alignpipe.tools.import_gguf", "import a GGUF file (llama.cpp) as a Transformers checkpoint"),
    "data": ("alignpipe.tools.data_cli", "check or convert a data file (sft, preference, prompt)"),
    "make-data": ("alignpipe.defaults.build", "write the embedded default data sets to a folder"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: alignpipe COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `alignpipe COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        echo(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        echo(f"alignpipe: unknown command {name!r}\n\n{_usage()}", err=True)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    from alignpipe.core.errors import run_cli

    return run_cli(module.main, rest)  # each command names itself (`prog`) in its usage and errors


if __name__ == "__main__":
    sys.exit(main())
