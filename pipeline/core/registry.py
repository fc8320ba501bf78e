"""The stage registry: one row per stage, read by everything that needs to know the stages.

`alignpipe COMMAND` (the CLI's command table), `alignpipe run` (order, which stages train, which outputs eval
scores, how each stage's inputs are wired from earlier ones), the run view (each stage's headline figure), the
run report (the order of its rows) and the model cards (each stage's tags) all read `STAGES`. Adding a stage is
one row here and one script in `alignpipe/stages/` (docs/architecture.md, "A new stage").

Commands that are not pipeline stages (chat, generate, export, ...) are rows of `TOOLS`.
This module imports nothing: `alignpipe --help` and `alignpipe plan` stay light.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stage:
    name: str
    module: str  # the module whose `main(argv)` runs it
    help: str  # one line, for `alignpipe --help`
    trains: bool = False  # trains a model with a Trainer: checkpoints, --resume, a run_record.json
    language_model: bool = (
        False  # its output is a causal LM that eval scores (and chat, generate, export use)
    )
    in_pipeline: bool = True  # may be a stage of `alignpipe run`'s pipeline recipe
    # recipe field <- the earlier stage whose output folder it gets, when that stage is in the pipeline
    inputs: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # model-card tags of its output (and of every model trained from it)
    headline: tuple[str, str] | None = None  # (metric, label): the figure the run view shows when it finishes


#: The stages in pipeline order.
STAGES: tuple[Stage, ...] = (
    Stage(
        "tokenizer",
        "alignpipe.stages.tokenizer",
        "train a byte-level BPE or char tokenizer on a corpus",
    ),
    Stage(
        "pretrain",
        "alignpipe.stages.pretrain",
        "pretrain MiniGPT (or continue any causal LM) on packed text",
        trains=True,
        language_model=True,
        inputs={"tokenizer_name_or_path": "tokenizer"},
        tags=("pretraining",),
        headline=("eval_loss", "held-out loss"),
    ),
    Stage(
        "sft",
        "alignpipe.stages.sft",
        "supervised fine-tuning with TRL's SFTTrainer",
        trains=True,
        language_model=True,
        inputs={"model_name_or_path": "pretrain"},
        tags=("trl", "sft"),
        headline=("eval_loss", "held-out loss"),
    ),
    Stage(
        "reward",
        "alignpipe.stages.reward",
        "reward modelling with TRL's RewardTrainer",
        trains=True,
        inputs={"model_name_or_path": "sft"},
        tags=("trl", "reward-model"),
        headline=("eval_accuracy", "held-out accuracy"),
    ),
    Stage(
        "ppo",
        "alignpipe.stages.ppo",
        "RLHF with TRL's PPOTrainer on a learned reward model",
        trains=True,
        language_model=True,
        inputs={
            "model_name_or_path": "sft",
            "ref_model_name_or_path": "sft",
            "reward_model_path": "reward",
            "value_model_path": "reward",
        },
        tags=("trl", "ppo", "rlhf"),
        headline=("heldout/score_ppo", "held-out reward"),
    ),
    Stage(
        "dpo",
        "alignpipe.stages.dpo",
        "direct preference optimisation with TRL's DPOTrainer",
        trains=True,
        language_model=True,
        inputs={"model_name_or_path": "sft", "ref_model_name_or_path": "sft"},
        tags=("trl", "dpo"),
        headline=("eval_rewards/accuracies", "held-out preference accuracy"),
    ),
    Stage(
        "grpo",
        "alignpipe.stages.grpo",
        "online RL with verifiable rewards, TRL's GRPOTrainer",
        trains=True,
        language_model=True,
        inputs={"model_name_or_path": "sft", "reward_model_path": "reward"},
        tags=("trl", "grpo", "online-rl"),
        headline=("eval_reward", "held-out reward"),
    ),
    Stage(
        "rloo",
        "alignpipe.stages.rloo",
        "online RL with verifiable rewards, TRL's RLOOTrainer",
        trains=True,
        language_model=True,
        inputs={"model_name_or_path": "sft", "reward_model_path": "reward"},
        tags=("trl", "rloo", "online-rl"),
        headline=("eval_reward", "held-out reward"),
    ),
    Stage(
        "guard",
        "alignpipe.stages.guard",
        "train a prompt classifier (unsafe / benign) to screen prompts",
        trains=True,
        tags=("guard", "text-classification"),
    ),
    Stage(
        "eval",
        "alignpipe.eval.cli",
        "held-out benchmarks, win rates and verbosity checks",
        headline=("task_accuracy", "task accuracy"),
    ),
    Stage("report", "alignpipe.eval.report.run", "one report across all stages of a run directory"),
)

#: Commands that are not pipeline stages: name -> (module, one-line help).
TOOLS: dict[str, tuple[str, str]] = {
    "run": ("alignpipe.run.runner", "run a whole pipeline recipe (all stages, skip/resume)"),
    "chat": ("alignpipe.serve.chat", "chat with a model in the terminal (streamed, chat template, guard)"),
    "serve": (
        "alignpipe.serve.server",
        "serve a model over an OpenAI-compatible HTTP API (chat, completions)",
    ),
    "generate": (
        "alignpipe.serve.generate",
        "answer prompts with a model: JSON lines, every sampling strategy",
    ),
    "publish": ("alignpipe.tools.publish", "publish a stage's model to the Hugging Face Hub"),
    "plan": ("alignpipe.tools.plan", "Chinchilla scaling-law planner: optimal params/tokens and loss"),
    "export": (
        "alignpipe.tools.export",
        "export a model: MiniGPT to plain GPT-2 / GPT-NeoX; MiniGPT, Llama, Qwen2 to GGUF (+ Ollama)",
    ),
    "merge": ("alignpipe.tools.merge", "merge a LoRA adapter into its base model"),
    "import": ("alignpipe.tools.import_gguf", "import a GGUF file (llama.cpp) as a Transformers checkpoint"),
    "data": ("alignpipe.tools.data_cli", "check or convert a data file (sft, preference, prompt)"),
    "make-data": ("alignpipe.defaults.build", "write the embedded default data sets to a folder"),
}

BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
#: The stages a pipeline recipe may hold, in the order `alignpipe run` runs them.
ORDER: tuple[str, ...] = tuple(s.name for s in STAGES if s.in_pipeline)
#: Pipeline stages that train a model.
TRAINING: tuple[str, ...] = tuple(s.name for s in STAGES if s.in_pipeline and s.trains)
#: Pipeline stages whose output is a causal LM that eval scores.
MODEL_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.in_pipeline and s.language_model)
#: Every command: name -> (module, one-line help); stages first, in pipeline order.
COMMANDS: dict[str, tuple[str, str]] = {s.name: (s.module, s.help) for s in STAGES} | TOOLS


def stage(name: str) -> Stage:
    return BY_NAME[name]
