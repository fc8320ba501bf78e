"""Steps every training stage shares: tokenizer, data, resume, save, model card, push.

A stage script reads top to bottom as parse → data → tokenizer → model →
trainer → `finish` (train → evaluate → save → record → card → push); the
substance lives here and in TRL.
"""

from __future__ import annotations

import os

import torch
from transformers import set_seed
from transformers.trainer_utils import get_last_checkpoint

from alignpipe.core.chat_templates import has_generation_markers
from alignpipe.core.configs import DataArguments
from alignpipe.core.data import load_mixture, mixture_from_args
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import echo
from alignpipe.core.modeling import load_tokenizer
from alignpipe.core.runrecord import RunRecord


def model_path(model_args, what: str = "model_name_or_path") -> str:
    path = model_args.model_name_or_path
    if not path:
        raise AlignpipeError(
            f"set {what} in the recipe (a checkpoint from an earlier stage, a local path, or a Hub id)"
        )
    return path


def start(stage: str, script_args, training_args, model_args) -> RunRecord:
    """Seed every generator before anything builds a model (Trainer seeds only in its `__init__`, after a
    randomly initialised head would have been drawn), pick the `report_to` default, open the run record."""
    set_seed(training_args.seed)
    if training_args.report_to in (None, "all") or training_args.report_to == ["all"]:
        training_args.report_to = []  # no surprise uploads to trackers; recipes opt in
    return RunRecord(
        stage,
        training_args.output_dir,
        {"script": script_args, "training": training_args, "model": model_args},
        training_args.seed,
    )


def tokenizer_for(script_args: DataArguments, model_args, training_args, *, padding_side: str = "right"):
    path = script_args.tokenizer_name_or_path or model_path(model_args)
    return load_tokenizer(
        path,
        script_args.chat_template,
        padding_side=padding_side,
        revision=model_args.model_revision,
        trust_remote_code=bool(getattr(training_args, "trust_remote_code", False)),
    )


def data_for(script_args: DataArguments, training_args, kind: str, tokenizer, max_length: int | None = None):
    """Train/test splits in TRL's conversational format for `kind`, validated before any training."""
    mixture = mixture_from_args(script_args)
    dd = load_mixture(
        mixture,
        kind,
        seed=training_args.seed,
        tokenizer=tokenizer,
        max_length=max_length,
        drop_long=script_args.drop_long_rows,
    )
    if script_args.max_train_samples:
        dd["train"] = dd["train"].select(range(min(script_args.max_train_samples, len(dd["train"]))))
    if script_args.max_eval_samples:
        dd["test"] = dd["test"].select(range(min(script_args.max_eval_samples, len(dd["test"]))))
    if len(dd["train"]) == 0:
        raise AlignpipeError("the training split is empty")
    return dd


def check_assistant_only_loss(training_args, tokenizer) -> None:
    if getattr(training_args, "assistant_only_loss", False) and not has_generation_markers(tokenizer):
        raise AlignpipeError(
            "assistant_only_loss needs {% generation %} markers in the chat template; set chat_template: chatml "
            "(or a template with markers) or turn assistant_only_loss off"
        )


def eval_split(dd):
    return dd["test"] if len(dd["test"]) else None


def last_checkpoint(training_args) -> str | None:
    if training_args.resume_from_checkpoint:
        return training_args.resume_from_checkpoint
    if os.path.isdir(training_args.output_dir):
        return get_last_checkpoint(training_args.output_dir)
    return None


def match_trainable_dtype(model) -> None:
    """Under QLoRA, TRL casts every trainable parameter to bf16 (the paper's advice for GPUs). Where the
    model computes in fp32 (CPU), a bf16 head such as a reward model's `score` then meets fp32 hidden
    states and fails; train the adapter and head in the compute dtype instead."""
    if not getattr(model, "is_loaded_in_4bit", False) and not getattr(model, "is_quantized", False):
        return
    compute = getattr(getattr(model.config, "quantization_config", None), "bnb_4bit_compute_dtype", None)
    if compute in (torch.float32, "float32"):
        for p in model.parameters():
            if p.requires_grad and p.dtype != torch.float32:
                p.data = p.data.float()


def finish(
    trainer, record: RunRecord, tokenizer, script_args, *, tags: list[str], extra_metrics=None
) -> dict:
    """Train (resuming from the last checkpoint), evaluate, save model + tokenizer + record + card, push."""
    args = trainer.args
    match_trainable_dtype(trainer.model)
    result = trainer.train(resume_from_checkpoint=last_checkpoint(args))
    metrics = dict(result.metrics)
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    if extra_metrics is not None:
        metrics.update(extra_metrics(trainer) or {})
    trainer.log_metrics("all", metrics)
    record.add(metrics)

    trainer.save_model(args.output_dir)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(args.output_dir)
        model = trainer.model
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(args.output_dir)
        trainer.save_state()
        record.write()
        dataset_name = script_args.dataset_name or "alignpipe-mixture"
        trainer.create_model_card(dataset_name=dataset_name, tags=["alignpipe", *tags])
        echo(f"{record.stage}: saved to {args.output_dir}")
    if args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name, tags=["alignpipe", *tags])
    return metrics
