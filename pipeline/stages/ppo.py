"""RLHF with TRL's PPOTrainer: a policy learns to please a reward model without drifting from a reference.

    alignpipe ppo --config recipes/minigpt/ppo.yaml [--key value ...]
    python -m alignpipe.stages.ppo --config ...
    accelerate launch pipeline/stages/ppo.py --config ...

Models come from the earlier stages (each a local path or a Hub id): the policy and the frozen
reference from the SFT checkpoint (`model_name_or_path`; `ref_model_name_or_path` defaults to it),
the reward model from `reward_model_path`, and the value model (trained alongside the policy) from
`value_model_path`, by default the reward model. All must share one tokenizer; the stage compares
the tokenizer saved with each model and their vocabulary sizes and names the one that differs.
With LoRA (`use_peft`, optionally `load_in_4bit`) the reference is the base with the adapter disabled.

Data: prompts (kind "prompt" of pipeline/core/data.py), rendered with the chat template and the
generation cue and left-padded. Knobs are TRL's PPOConfig fields (kl_coef, cliprange, vf_coef,
num_ppo_epochs, num_mini_batches, response_length, temperature, stop_token, missing_eos_penalty,
whiten_rewards, total_episodes, ...). Besides TRL's per-step log (objective/scores, objective/kl,
objective/entropy, policy/clipfrac_avg, loss/value_avg, ...) each step logs `val/response_length`
and `val/eos_share`. At the end the held-out prompts are answered by the PPO policy and by the SFT
(reference) policy; run_record.json gets their reward-model scores, task accuracies (rows with an
`answer`), the policy's KL to the reference, and whether it is within `kl_bound`.

Assumed: TRL 1.12 (the last release with PPOTrainer), which cannot resume from a checkpoint, and
reward/value models with a `score` head on their `base_model_prefix` backbone, as
AutoModelForSequenceClassification models (MiniGPT's included) have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # PPOTrainer lives in trl.experimental in 1.12

from trl import get_peft_config
from trl.experimental.ppo import PPOConfig

import alignpipe  # noqa: F401
from alignpipe.core.errors import AlignpipeError, run_cli
from alignpipe.training import stage
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args
from alignpipe.training.ppo import (
    PPOTrainer,
    PromptCollator,
    check_batch_sizes,
    check_lengths_fit,
    load_models,
    tokenize_prompts,
)


@dataclass
class PPOArguments(DataArguments):
    ref_model_name_or_path: str | None = field(
        default=None, metadata={"help": "Frozen reference policy; defaults to model_name_or_path."}
    )
    value_model_path: str | None = field(
        default=None, metadata={"help": "Initial value model (a classifier); defaults to reward_model_path."}
    )
    max_prompt_length: int | None = field(
        default=None, metadata={"help": "Prompts longer than this many tokens are a data error."}
    )
    kl_bound: float | None = field(
        default=None, metadata={"help": "Largest acceptable held-out KL to the reference (nats per answer)."}
    )
    heldout_greedy: bool = field(
        default=True, metadata={"help": "Greedy held-out answers (else sampled at `temperature`)."}
    )


# --- the stage -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    script_args, training_args, model_args = parse_stage_args(
        (PPOArguments, PPOConfig, ModelConfig), argv, prog="alignpipe ppo"
    )
    training_args.sft_model_path = stage.model_path(model_args)  # TRL's field; PPOTrainer itself ignores it
    record = stage.start("ppo", script_args, training_args, model_args)

    tokenizer = stage.tokenizer_for(script_args, model_args, training_args, padding_side="left")
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise AlignpipeError("the tokenizer's pad token must differ from eos (PPO finds answers' ends by it)")
    data = stage.data_for(script_args, training_args, "prompt", tokenizer, script_args.max_prompt_length)
    data = tokenize_prompts(data, tokenizer)
    check_batch_sizes(training_args, len(data["train"]))

    tokenizer_path = script_args.tokenizer_name_or_path or training_args.sft_model_path
    policy, ref_model, reward_model, value_model = load_models(
        script_args, training_args, model_args, tokenizer, tokenizer_path
    )
    positions = getattr(policy.config, "max_position_embeddings", None)
    check_lengths_fit(data, training_args.response_length, positions)
    trainer = PPOTrainer(
        args=training_args,
        processing_class=tokenizer,
        model=policy,
        ref_model=ref_model,
        reward_model=reward_model,
        value_model=value_model,
        train_dataset=data["train"],
        eval_dataset=stage.eval_split(data),
        data_collator=PromptCollator(tokenizer),
        peft_config=get_peft_config(model_args),
        kl_bound=script_args.kl_bound,
        heldout_greedy=script_args.heldout_greedy,
    )
    stage.finish(trainer, record, tokenizer, script_args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
