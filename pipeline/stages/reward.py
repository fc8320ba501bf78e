"""Reward modelling with TRL's RewardTrainer (Bradley-Terry loss on chosen/rejected pairs).

    alignpipe reward --config recipes/minigpt/reward.yaml [--key value ...]
    python -m alignpipe.stages.reward --config ...
    accelerate launch pipeline/stages/reward.py --config ...

The reward model is an `AutoModelForSequenceClassification` with one label,
initialised by default from the SFT checkpoint (`model_name_or_path`); MiniGPT
uses its sequence-classification class, which reads the score at the last
non-pad token. Preference data in any format of pipeline/core/data.py. With LoRA the
`score` head is trained and saved with the adapter (task type SEQ_CLS).
Reports held-out pairwise accuracy (`eval_accuracy`).
"""

from __future__ import annotations

from trl import RewardConfig, RewardTrainer, get_peft_config

import alignpipe  # noqa: F401
from alignpipe.core.errors import run_cli
from alignpipe.inference.modeling import load_reward_model
from alignpipe.training import stage
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args


def main(argv: list[str] | None = None) -> int:
    script_args, training_args, model_args = parse_stage_args(
        (DataArguments, RewardConfig, ModelConfig), argv, prog="alignpipe reward"
    )
    record = stage.start("reward", script_args, training_args, model_args)

    tokenizer = stage.tokenizer_for(script_args, model_args, training_args)
    data = stage.data_for(script_args, training_args, "preference", tokenizer, training_args.max_length)

    model = load_reward_model(stage.model_path(model_args), model_args, training_args, tokenizer)
    if model_args.use_peft:
        model_args.lora_task_type = "SEQ_CLS"  # keeps the score head trainable and saved with the adapter
    trainer = RewardTrainer(
        model=model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=stage.eval_split(data),
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    stage.finish(trainer, record, tokenizer, script_args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
