"""Supervised fine-tuning with TRL's SFTTrainer.

    alignpipe sft --config recipes/minigpt/sft.yaml [--key value ...]
    python -m alignpipe.stages.sft --config ...
    accelerate launch [--config_file accelerate_configs/X.yaml] pipeline/stages/sft.py --config ...

Supported: MiniGPT checkpoints, local HF checkpoints and Hub ids; every data
source and format of pipeline/core/data.py (converted to TRL's conversational
format); `assistant_only_loss` with templates that have generation markers;
LoRA (`use_peft`) and QLoRA (`load_in_4bit`). Assumed: the model is a causal
LM whose tokenizer has (or is given, via `chat_template`) a chat template.
"""

from __future__ import annotations

from trl import SFTConfig, SFTTrainer, get_peft_config

import alignpipe  # noqa: F401
from alignpipe.core.errors import run_cli
from alignpipe.inference.modeling import load_causal_lm
from alignpipe.training import stage
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args


def main(argv: list[str] | None = None) -> int:
    script_args, training_args, model_args = parse_stage_args(
        (DataArguments, SFTConfig, ModelConfig), argv, prog="alignpipe sft"
    )
    record = stage.start("sft", script_args, training_args, model_args)

    tokenizer = stage.tokenizer_for(script_args, model_args, training_args)
    stage.check_assistant_only_loss(training_args, tokenizer)
    data = stage.data_for(script_args, training_args, "sft", tokenizer, training_args.max_length)

    model = load_causal_lm(stage.model_path(model_args), model_args, training_args, tokenizer)
    trainer = SFTTrainer(
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
