"""Online RL with verifiable rewards: TRL's GRPOTrainer (`alignpipe grpo`) and RLOOTrainer (`alignpipe rloo`).

    alignpipe grpo --config recipes/minigpt/grpo.yaml [--key value ...]
    alignpipe rloo --config recipes/minigpt/rloo.yaml
    accelerate launch pipeline/stages/grpo.py --config ...        (RLOO: pipeline/stages/rloo.py)

The policy starts from `model_name_or_path` (the SFT checkpoint). For every prompt it samples
`num_generations` completions; the group's rewards are the baseline (GRPO: each reward minus the group mean,
scaled by the group's standard deviation; RLOO: minus the mean of the others), so no value model is trained.
Rewards come from `reward_funcs` (`alignpipe.training.rewards`: task_correctness, safety, reward_model, or any
`module:function`), summed with `reward_weights`. With `beta > 0` a frozen reference (the starting model, or
the base with the adapter disabled under LoRA) adds a KL penalty.

Data: prompts (kind "prompt" of pipeline/core/data.py), with their `answer` and `safety` columns passed to
the reward functions; a named reward whose column is missing, a reward model with another tokenizer, or a
`num_generations` that does not divide the batch stops the stage before training, and a reward function that
returns the wrong number of scores or NaN stops it at the first step (nothing is saved as finished). Knobs are TRL's GRPOConfig / RLOOConfig fields (num_generations,
max_completion_length, temperature, beta, learning_rate, loss_type, use_vllm with vllm_mode colocate on
GPUs, ...). LoRA, 4-bit loading, `accelerate launch` and resuming from checkpoints work as in the other
stages; the run record, model card and generation config are saved like theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer, get_peft_config

import alignpipe  # noqa: F401
from alignpipe.core.errors import run_cli
from alignpipe.core.timing import GenerateTimer
from alignpipe.inference.modeling import check_tokenizer_files, load_causal_lm
from alignpipe.training import stage
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args
from alignpipe.training.rewards import check_columns, resolve_rewards

TRAINERS = {"grpo": (GRPOConfig, GRPOTrainer), "rloo": (RLOOConfig, RLOOTrainer)}


@dataclass
class OnlineRLArguments(DataArguments):
    reward_funcs: list[str] = field(
        default_factory=lambda: ["task_correctness"],
        metadata={"help": "Reward functions: task_correctness, safety, reward_model, or module:function."},
    )
    reward_model_path: str | None = field(
        default=None, metadata={"help": "Reward model folder or Hub id for the reward_model reward."}
    )


def main(argv: list[str] | None = None, algorithm: str = "grpo") -> int:
    config_cls, trainer_cls = TRAINERS[algorithm]
    script_args, training_args, model_args = parse_stage_args(
        (OnlineRLArguments, config_cls, ModelConfig), argv, prog=f"alignpipe {algorithm}"
    )
    rewards = resolve_rewards(
        script_args.reward_funcs, script_args.reward_model_path
    )  # before any model loads
    record = stage.start(algorithm, script_args, training_args, model_args)

    tokenizer = stage.tokenizer_for(script_args, model_args, training_args, padding_side="left")
    if script_args.reward_model_path and "reward_model" in script_args.reward_funcs:
        check_tokenizer_files(
            tokenizer,
            script_args.tokenizer_name_or_path or stage.model_path(model_args),
            {"reward model": script_args.reward_model_path},
            script_args.chat_template,
            why="The reward model must read the policy's completions as the policy wrote them",
        )
    data = stage.data_for(script_args, training_args, "prompt", tokenizer)
    check_columns(script_args.reward_funcs, data["train"], script_args.dataset_name or "dataset_mixture")

    model = load_causal_lm(stage.model_path(model_args), model_args, training_args, tokenizer)
    trainer = trainer_cls(
        model=model,
        reward_funcs=rewards,
        args=training_args,
        train_dataset=data["train"],
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    with GenerateTimer() as timer:  # where online RL's time goes: rollouts against the rest

        def rollout_metrics(trainer) -> dict:
            train_s = (
                trainer.state.log_history[-1].get("train_runtime") if trainer.state.log_history else None
            )
            out = {"generation_seconds": round(timer.seconds, 2), "generated_sequences": timer.sequences}
            if train_s:
                out["generation_share"] = round(timer.seconds / train_s, 4)
            return out

        stage.finish(
            trainer,
            record,
            tokenizer,
            script_args,
            extra_metrics=rollout_metrics,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
