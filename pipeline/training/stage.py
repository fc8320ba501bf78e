"""Steps every training stage shares: tokenizer, data, resume, save, model card, push.

A stage script reads top to bottom as parse → data → tokenizer → model →
trainer → `finish` (train → evaluate → save → record → card → push); the
substance lives here and in TRL.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from transformers import set_seed

from alignpipe.core import registry
from alignpipe.core.cache import disk_backed
from alignpipe.core.chat_templates import has_generation_markers
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import follow_umask, output_dir
from alignpipe.core.log import echo, is_main_process, warn
from alignpipe.core.mixtures import load_mixture, mixture_from_args
from alignpipe.core.outputs import (
    changed_settings,
    checkpoint_problem,
    checkpoints,
    config_digest,
    hold_lock,
    read_stamp,
    release_lock,
    usable_checkpoint,
    write_stamp,
)
from alignpipe.core.runrecord import RunRecord
from alignpipe.inference.adapters import portable_base
from alignpipe.inference.modeling import load_tokenizer
from alignpipe.training.configs import DataArguments


def model_path(model_args, what: str = "model_name_or_path") -> str:
    path = model_args.model_name_or_path
    if not path:
        raise AlignpipeError(
            f"set {what} in the recipe (a checkpoint from an earlier stage, a local path, or a Hub id)"
        )
    return path


def start(stage: str, script_args, training_args, model_args) -> RunRecord:
    """Before anything builds a model: seed every generator (Trainer seeds only in its `__init__`, after a
    randomly initialised head would have been drawn); move a Hub token from the config to the environment
    (Trainer pickles its config into training_args.bin); pick the `report_to` default; take the run's lock;
    check that the output folder's checkpoints were made with this configuration; open the run record."""
    set_seed(training_args.seed)
    token = getattr(training_args, "hub_token", None)
    if token:
        if os.environ.get("HF_TOKEN") not in (None, "", token):
            warn("hub_token differs from HF_TOKEN in the environment; using hub_token")
        os.environ["HF_TOKEN"] = token  # huggingface_hub reads it; nothing writes it to disk
        training_args.hub_token = None
    if training_args.report_to in (None, "all") or training_args.report_to == ["all"]:
        training_args.report_to = []  # no surprise uploads to trackers; recipes opt in
    push_to = hub_repo(training_args)
    record = RunRecord(
        stage,
        training_args.output_dir,
        {"script": script_args, "training": training_args, "model": model_args},
        training_args.seed,
    )
    if push_to:
        record.push_to = push_to
        training_args.push_to_hub = False  # Trainer would push each checkpoint, its pickled config and logs
    if is_main_process():
        out = Path(training_args.output_dir)
        # the output-path policy (core.io): a file where the folder goes is refused; what is in an existing
        # folder is the stage's own business (check_output_dir: its checkpoints must match this configuration)
        output_dir(out, f"{stage}: output_dir", overwrite=True)
        if _run_dir(out) != out:
            hold_lock(_run_dir(out), f"alignpipe {stage} into {out}")  # nothing written: the run's lock file
        overwrite = getattr(script_args, "overwrite_output_dir", False)
        check_output_dir(stage, training_args, record.config, overwrite)
    global _record
    _record = record
    return record


#: the record of the stage this process is running (set by `start`): `data_for` marks its phase on it
_record: RunRecord | None = None

#: Trainer callbacks `finish` adds to the trainer it trains: `alignpipe run` puts its progress view's here while
#: a stage runs in its process (alignpipe.run.view); empty otherwise.
CALLBACKS: list = []


def hub_repo(training_args) -> tuple[str, bool] | None:
    """For `push_to_hub`: (repository id, private), checked before anything trains. The finished stage is
    uploaded as `alignpipe publish` builds it (safetensors, exported MiniGPT, tokenizer, model card), never as
    the output folder, which holds checkpoints, training_args.bin (a pickle), logs and run bookkeeping; so
    checkpoints are not pushed while training, whatever `hub_strategy` says."""
    if not training_args.push_to_hub:
        return None
    from alignpipe.tools.publish import check_repo_id, hub_token

    repo_id = training_args.hub_model_id or Path(training_args.output_dir).resolve().name
    check_repo_id(repo_id, "push_to_hub: hub_model_id")
    hub_token(" (or set push_to_hub: false and publish later with `alignpipe publish`)")
    return repo_id, bool(training_args.hub_private_repo)


def _run_dir(out: Path) -> Path:
    """The run directory `out` is a stage folder of (its parent holds manifest.json), else `out` itself."""
    return out.parent if (out.parent / "manifest.json").is_file() else out


def check_output_dir(stage: str, training_args, config: dict, overwrite: bool = False) -> None:
    """Refuse to continue or overwrite what another configuration left in the output folder (its checkpoints
    or finished model): `overwrite_output_dir` starts over (the old checkpoints are removed),
    `resume_from_checkpoint` continues a named checkpoint on purpose."""
    out = Path(training_args.output_dir)
    found = checkpoints(out)
    finished = (out / "run_record.json").is_file()
    if not (found or finished) or training_args.resume_from_checkpoint:
        return
    if overwrite:
        for path in found:
            shutil.rmtree(path)
        return
    stamp = read_stamp(out)
    if stamp is not None and stamp.get("config_digest") == config_digest(config):
        return
    what = f"checkpoints ({found[-1].name} ...)" if found else "a finished model"
    changed = changed_settings(stamp.get("config", {}), config) if stamp else []
    why = (
        f"made with other settings (changed: {', '.join(changed[:8])}{' ...' if len(changed) > 8 else ''})"
        if changed
        else "made by another run (no record of its settings)"
    )
    raise AlignpipeError(
        f"{out} holds {what} {why}; pass --overwrite_output_dir true to start over there, "
        f"--resume_from_checkpoint PATH to continue one on purpose, or choose another output_dir"
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
    if _record is not None:
        _record.mark("load")  # seeding, the tokenizer
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
    if script_args.max_eval_samples is not None:
        dd["test"] = dd["test"].select(range(min(script_args.max_eval_samples, len(dd["test"]))))
    if len(dd["train"]) == 0:
        raise AlignpipeError("the training split is empty")
    dd = disk_backed(dd)  # the trainer's tokenisation of these rows is then cached (core/cache.py)
    if _record is not None:
        _record.mark("data")
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
    """The checkpoint to resume from: the one named, else the newest usable one in the output folder (a
    corrupt newer one is named and passed over)."""
    if training_args.resume_from_checkpoint:
        named = Path(training_args.resume_from_checkpoint)
        problem = checkpoint_problem(named) if named.is_dir() else "it does not exist"
        if problem:
            raise AlignpipeError(f"resume_from_checkpoint {named}: cannot resume from it: {problem}")
        return str(named)
    best = usable_checkpoint(training_args.output_dir)
    return str(best) if best is not None else None


def whole_run_train_loss(log_history: list[dict]) -> float | None:
    """The mean training loss over every step of the run, resumed parts included, from the logged losses
    (each the mean over the steps since the previous log). Trainer's own `train_loss` after a resume
    covers only the steps this process ran."""
    total = steps = 0.0
    last = 0
    for entry in log_history:
        if "loss" in entry and "step" in entry and entry["step"] > last:
            total += float(entry["loss"]) * (entry["step"] - last)
            steps += entry["step"] - last
            last = entry["step"]
    return total / steps if steps else None


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


def _saved_model(trainer):
    model = trainer.accelerator.unwrap_model(trainer.model)
    return getattr(model, "policy", model)  # PPO trains a policy-and-value wrapper; the policy is saved


def start_weight_files(start: str | None) -> list[Path]:
    """The starting checkpoint's safetensors files that `average_with_start` blends back in (checked before
    training, so that a start it cannot read does not cost a whole run)."""
    files = []
    if start:
        files = sorted(f for f in Path(start).glob("*.safetensors") if not f.name.startswith("adapter_"))
    if not files:
        raise AlignpipeError(
            f"average_with_start needs the starting checkpoint's safetensors files; {start} has none (a Hub id "
            "or an adapter folder: download or merge it first)"
        )
    return files


@torch.no_grad()
def average_with_start(trainer, start: str, weight: float) -> int:
    """Model averaging: every trained weight becomes `weight` x itself + (1 - weight) x the starting
    checkpoint's (a local folder of safetensors files), in place; returns how many tensors changed.

    Interpolating an aligned model back towards its start keeps much of the alignment and gives back much of
    what alignment cost ("the alignment tax"; Lin et al., 2024, "Mitigating the Alignment Tax of RLHF", find
    weight averaging on the best trade-off they measured; WiSE-FT, Wortsman et al., 2022, is the same idea
    for fine-tuning). Weights the start lacks (a new head) stay as trained. Under LoRA the adapter's update
    is scaled instead (lora_B x weight), which is the same interpolation with the base frozen."""
    from safetensors.torch import load_file

    model = _saved_model(trainer)
    if getattr(model, "peft_config", None):
        changed = 0
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(weight)
                changed += 1
        return changed
    start_weights: dict = {}
    for f in start_weight_files(start):
        start_weights |= load_file(str(f))
    changed = 0
    for name, p in model.named_parameters():
        w = start_weights.get(name)
        if w is not None and w.shape == p.shape:
            p.mul_(weight).add_(w.to(p.device, p.dtype), alpha=1 - weight)
            changed += 1
    if not changed:
        raise AlignpipeError(f"average_with_start: no weight of {start} matches the trained model's names")
    return changed


def seed_rebalanced_batches(trainer) -> None:
    """`train_sampling_strategy: batch_rebalance` is Transformers' BatchRebalanceSampler: each optimizer batch of
    per_device_train_batch_size x gradient_accumulation_steps (x ranks) rows is drawn at random, as by the
    default sampler, then split into micro-batches of similar length (more short rows, fewer long ones), so
    the optimizer sees the same kind of batch while padding drops. With a loss normalised by the tokens of the
    whole optimizer batch (`num_items_in_batch`: SFT, pretraining) the step is the one big batch's; with a mean
    per micro-batch (DPO, reward pairs) rows of small micro-batches weigh more. The Trainer builds the
    sampler with a fixed seed (42) whatever the run's; here it gets the run's (`data_seed`, else `seed`), so
    that seeds vary the order as with the default sampler, and a resume replays the same order."""
    if trainer.args.train_sampling_strategy != "batch_rebalance":
        return
    from transformers.trainer_pt_utils import BatchRebalanceSampler

    make = trainer._get_train_sampler
    seed = trainer.args.data_seed if trainer.args.data_seed is not None else trainer.args.seed

    def seeded(*args, **kwargs):
        sampler = make(*args, **kwargs)
        if isinstance(sampler, BatchRebalanceSampler):
            sampler.seed = seed
        return sampler

    trainer._get_train_sampler = seeded


def finish(trainer, record: RunRecord, tokenizer, script_args, *, extra_metrics=None) -> dict:
    """Train (resuming from the last checkpoint), evaluate, save model + tokenizer + record + card, push."""
    args = trainer.args
    out = Path(args.output_dir)
    weight = getattr(script_args, "average_with_start", 1.0)
    start = (record.config.get("model") or {}).get("model_name_or_path")
    if weight < 1 and not getattr(_saved_model(trainer), "peft_config", None):
        start_weight_files(start)  # before anything is written: a start it cannot read must not cost a run
    if trainer.is_world_process_zero():  # inputs checked, models built: now the output folder is ours
        hold_lock(_run_dir(out), f"alignpipe {record.stage} into {out}")
        write_stamp(out, record.stage, record.config)
    match_trainable_dtype(trainer.model)
    for callback in CALLBACKS:
        trainer.add_callback(callback)
    seed_rebalanced_batches(trainer)
    resume = last_checkpoint(args)
    if resume:
        echo(f"{record.stage}: resuming from {resume}")
    record.mark("setup")  # the model, the trainer (and its own tokenisation of the data)
    result = trainer.train(resume_from_checkpoint=resume)
    record.mark("train")
    metrics = dict(result.metrics)
    if weight < 1:
        n = average_with_start(trainer, start, weight)
        echo(f"{record.stage}: averaged {n} weights: {weight:g} x trained + {1 - weight:g} x {start}")
        metrics["average_with_start"] = weight
    if resume and "train_loss" in metrics:
        loss = whole_run_train_loss(trainer.state.log_history)
        if loss is not None:
            metrics["train_loss"] = loss
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    if extra_metrics is not None:
        metrics.update(extra_metrics(trainer) or {})
    trainer.log_metrics("all", metrics)
    record.add(metrics)
    record.mark("evaluate")

    merged = getattr(script_args, "merge_adapter", False) and getattr(
        _saved_model(trainer), "peft_config", None
    )
    if merged:
        if trainer.is_world_process_zero():  # the base with the adapter added into its weights: a plain model
            _saved_model(trainer).merge_and_unload().save_pretrained(args.output_dir, safe_serialization=True)
        trainer.accelerator.wait_for_everyone()
    else:
        trainer.save_model(args.output_dir)
    if trainer.is_world_process_zero():
        portable_base(
            args.output_dir
        )  # an adapter's local base: adapter-relative inside the run, else absolute
        tokenizer.save_pretrained(args.output_dir)
        model = trainer.model
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(args.output_dir)
        trainer.save_state()
        record.mark("save")
        record.write()
        dataset_name = script_args.dataset_name or "alignpipe-mixture"
        tags = ["alignpipe", *registry.stage(record.stage).tags]  # the stage registry's card tags
        trainer.create_model_card(dataset_name=dataset_name, tags=tags)
        follow_umask(out)  # the weights too (Transformers writes them 0600), checkpoints included
        echo(f"{record.stage}: saved to {args.output_dir}")
    release_lock(_run_dir(out))
    if record.push_to and trainer.is_world_process_zero():
        from alignpipe.tools.publish import upload

        repo_id, private = record.push_to
        try:
            upload(out, repo_id, private=private)
        except AlignpipeError as e:
            raise AlignpipeError(
                f"{record.stage} finished and is saved in {out}, but was not pushed to {repo_id}: {e}. "
                f"Publish it with `alignpipe publish {out} --repo-id {repo_id}`"
            ) from None
    return metrics
