"""Load what `alignpipe eval` evaluates: causal LMs and reward models from any stage's output.

A path may be a full checkpoint (MiniGPT or any Transformers causal LM / sequence classifier), a LoRA
adapter folder (``adapter_config.json``; loaded on its base with peft, via `alignpipe.tools.merge`), a
Hub id, or a GGUF file (imported once into a cached checkpoint, `alignpipe.models.gguf_import`). The
tokenizer comes from the same folder (an adapter folder's own, else its base model's) and is set up by
`alignpipe.inference.modeling.load_tokenizer` (pad distinct from eos; embeddings grown to match). A local-looking path that does not exist is an `AlignpipeError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import ModelConfig

import alignpipe  # noqa: F401  (registers MiniGPT with the Auto classes)
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import check_source
from alignpipe.inference.adapters import resolve_base
from alignpipe.inference.modeling import (
    align_with_tokenizer,
    load_causal_lm,
    load_reward_model,
    load_tokenizer,
)
from alignpipe.models.gguf_import import resolve as resolve_gguf


@dataclass
class Loaded:
    """A model with its tokenizer and a description for eval.json."""

    model: object
    tokenizer: object
    info: dict = field(default_factory=dict)


def check_path(path: str, what: str) -> None:
    """AlignpipeError when `path` is neither an existing file/folder nor shaped like a Hub id, or is a Hub id
    the Hub cannot give (offline, nothing cached): at once, before any library retries."""
    check_source(path, what, hint="", label=what)


def adapter_base(path: str) -> str | None:
    """The base model an adapter folder names, or None when `path` is not an adapter folder."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.is_file():
        return None
    return resolve_base(path, json.loads(cfg.read_text()).get("base_model_name_or_path"))


def _tokenizer(path: str, base: str | None):
    try:
        return load_tokenizer(path, padding_side="left", need_template=False)
    except AlignpipeError:
        if base is None:
            raise
        return load_tokenizer(base, padding_side="left", need_template=False)


def _info(path: str, model, kind: str, base: str | None) -> dict:
    config = model.config
    return {
        "path": str(path),
        "kind": kind,
        "architecture": (getattr(config, "architectures", None) or [type(model).__name__])[0],
        "model_type": getattr(config, "model_type", None),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "base_model": base,
    }


def _dtype(dtype: str) -> torch.dtype:
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise AlignpipeError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16") from None


#: how `--quantize` / `--load-in-4bit` / `--load-in-8bit` load weights: ModelConfig fields (bitsandbytes).
PRECISIONS = {"none": {}, "int8": {"load_in_8bit": True}, "nf4": {"load_in_4bit": True}}


def _model_config(dtype: str, precision: str) -> ModelConfig:
    if precision not in PRECISIONS:
        raise AlignpipeError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "int8":  # "inputs will be cast to float16", on every forward of every layer: by design
        import logging

        logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
    return ModelConfig(dtype=dtype, **PRECISIONS[precision])


def architectures(folder: Path) -> list[str]:
    """The architectures a local checkpoint's config.json names ([] when it names none or is unreadable)."""
    try:
        return list(json.loads((folder / "config.json").read_text()).get("architectures") or [])
    except (OSError, ValueError, AttributeError):
        return []


def check_model_folder(path: str, what: str, *, classifier: bool = False) -> None:
    """A local folder that holds no model (no config.json, no adapter_config.json), or a model of the other
    kind (a sequence classifier where a causal LM is wanted, or the reverse): an error naming it."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return
    if not is_model_dir(folder):
        raise AlignpipeError(
            f"{path} is not a model folder (no config.json or adapter_config.json): give the {what}'s "
            "checkpoint folder, e.g. RUN_DIR/dpo"
        )
    archs = architectures(folder)
    if archs and classifier != any(a.endswith("ForSequenceClassification") for a in archs):
        kind = "a sequence classifier (a reward model or guard)" if not classifier else "not a classifier"
        raise AlignpipeError(f"{path} holds {archs[0]}, {kind}: it cannot serve as the {what}")


def _load(path: str, *, device: str, dtype: str, reward: bool, what: str, precision: str = "none") -> Loaded:
    """A full checkpoint, a LoRA adapter on its base or a GGUF file, in eval mode on `device`."""
    source, path = path, resolve_gguf(path)
    check_path(path, what)
    check_model_folder(path, what, classifier=reward)
    base = adapter_base(path)
    if base is not None and precision != "none":
        raise AlignpipeError(
            f"{path} is a LoRA adapter: merge it into its base first (alignpipe merge {path} -o DIR), then "
            f"load DIR at {precision}"
        )
    tokenizer = _tokenizer(path, base)
    if base is not None:
        from alignpipe.inference.adapters import load_adapter_model

        model = load_adapter_model(path, dtype=_dtype(dtype))
        align_with_tokenizer(model, tokenizer)
        kind = "reward_lora_adapter" if reward else "lora_adapter"
    elif reward:
        model = load_reward_model(path, _model_config(dtype, precision), tokenizer=tokenizer, num_labels=1)
        kind = "reward_model"
    else:
        model = load_causal_lm(path, _model_config(dtype, precision), tokenizer=tokenizer)
        kind = "causal_lm"
    if reward and getattr(model.config, "num_labels", 1) != 1:
        raise AlignpipeError(
            f"{path}: a reward model must have one output (num_labels=1), it has {model.config.num_labels}"
        )
    if precision == "none":
        model.to(device)  # bitsandbytes places quantised weights itself
    model.eval()
    info = _info(source, model, kind, base)
    if path != source:
        info["imported_to"] = str(path)
    info["precision"] = precision
    info["weight_bytes"] = int(model.get_memory_footprint())  # parameters and buffers as stored
    return Loaded(model, tokenizer, info)


def load_lm(
    path: str, *, device: str = "cpu", dtype: str = "float32", what: str = "model", precision: str = "none"
) -> Loaded:
    """A causal LM (or a causal-LM LoRA adapter on its base) in eval mode on `device`; `precision` "int8"
    or "nf4" loads its linear layers quantised by bitsandbytes."""
    return _load(path, device=device, dtype=dtype, reward=False, what=what, precision=precision)


def load_rm(path: str, *, device: str = "cpu", dtype: str = "float32") -> Loaded:
    """A scalar reward model (sequence classifier with one label, or such an adapter) on `device`."""
    return _load(path, device=device, dtype=dtype, reward=True, what="reward model")


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "adapter_config.json").is_file()


def sibling_stage(model_path: str, stage: str) -> str | None:
    """RUN_DIR/<stage> when `model_path` is RUN_DIR/<other stage> and that folder holds a model."""
    path = Path(model_path).expanduser()
    if not path.exists():
        return None
    candidate = path.resolve().parent / stage
    if candidate.resolve() == path.resolve() or not is_model_dir(candidate):
        return None
    return str(candidate)
