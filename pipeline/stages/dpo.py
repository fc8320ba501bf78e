"""Direct preference optimisation with TRL's DPOTrainer.

    alignpipe dpo --config recipes/minigpt/dpo.yaml [--key value ...]
    python -m alignpipe.stages.dpo --config ...
    accelerate launch pipeline/stages/dpo.py --config ...

The policy starts from `model_name_or_path` (the SFT checkpoint); the frozen
reference is `ref_model_name_or_path`, by default the same checkpoint. With
LoRA the reference is the base with the adapter disabled, so no second copy is
held in memory; `precompute_ref_log_probs` computes reference log-probs once
up front instead. Loss knobs: `beta`, `loss_type` (sigmoid, ipo, hinge, robust,
sigmoid_norm = length-normalised, ... as TRL 1.12 has them), `ld_alpha`
(LD-DPO down-weights the verbose tail), and `rpo_alpha` (adds TRL's `sft` loss
with that weight: RPO, the usual guard against reward hacking).
Reports held-out implicit-reward accuracy (`eval_rewards/accuracies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig, DPOTrainer, get_peft_config

import alignpipe  # noqa: F401
from alignpipe.core.errors import AlignpipeError, run_cli
from alignpipe.inference.modeling import load_causal_lm
from alignpipe.training import stage
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args


@dataclass
class DPOArguments(DataArguments):
    ref_model_name_or_path: str | None = field(
        default=None, metadata={"help": "Frozen reference model; defaults to model_name_or_path."}
    )
    rpo_alpha: float | None = field(
        default=None, metadata={"help": "Weight of an added SFT (NLL) term on chosen responses (RPO)."}
    )


def apply_rpo(training_args: DPOConfig, rpo_alpha: float | None) -> None:
    """RPO = the preference loss plus `rpo_alpha` x NLL of the chosen response (TRL's 'sft' loss type)."""
    if not rpo_alpha:
        return
    if "sft" in training_args.loss_type:
        raise AlignpipeError("set either rpo_alpha or an 'sft' entry in loss_type, not both")
    weights = training_args.loss_weights or [1.0] * len(training_args.loss_type)
    training_args.loss_type = [*training_args.loss_type, "sft"]
    training_args.loss_weights = [*weights, float(rpo_alpha)]


def main(argv: list[str] | None = None) -> int:
    script_args, training_args, model_args = parse_stage_args(
        (DPOArguments, DPOConfig, ModelConfig), argv, prog="alignpipe dpo"
    )
    apply_rpo(training_args, script_args.rpo_alpha)
    record = stage.start("dpo", script_args, training_args, model_args)

    tokenizer = stage.tokenizer_for(script_args, model_args, training_args)
    data = stage.data_for(script_args, training_args, "preference", tokenizer, training_args.max_length)

    path = stage.model_path(model_args)
    model = load_causal_lm(path, model_args, training_args, tokenizer)
    peft_config = get_peft_config(model_args)
    ref_model = None  # LoRA: adapter disabled; precompute: log-probs computed once
    if peft_config is None and not training_args.precompute_ref_log_probs:
        ref_model = load_causal_lm(
            script_args.ref_model_name_or_path or path, model_args, training_args, tokenizer
        )
    elif script_args.ref_model_name_or_path and script_args.ref_model_name_or_path != path:
        raise AlignpipeError(
            "with LoRA or precompute_ref_log_probs the reference is the base model itself; "
            "drop ref_model_name_or_path or turn those off"
        )
    trainer = DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=stage.eval_split(data),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    stage.finish(trainer, record, tokenizer, script_args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
