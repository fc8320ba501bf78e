"""Load what `alignpipe eval` evaluates: causal LMs and reward models from any stage's output.

A path may be a full checkpoint (MiniGPT or any Transformers causal LM / sequence classifier), a LoRA
adapter folder (``adapter_config.json``; loaded on its base with peft, via `alignpipe.tools.merge`), or a
Hub id. The tokenizer comes from the same folder (an adapter folder's own, else its base model's)
and is set up by `alignpipe.core.modeling.load_tokenizer` (pad distinct from eos; embeddings grown to
match). A local-looking path that does not exist is an `AlignpipeError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import ModelConfig

import alignpipe  # noqa: F401  (registers MiniGPT with the Auto classes)
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import locate
from alignpipe.core.modeling import align_with_tokenizer, load_causal_lm, load_reward_model, load_tokenizer


@dataclass
class Loaded:
    """A model with its tokenizer and a description for eval.json."""

    model: object
    tokenizer: object
    info: dict = field(default_factory=dict)


def check_path(path: str, what: str) -> None:
    """AlignpipeError when `path` is neither an existing file/folder nor shaped like a Hub id."""
    locate(path, what)


def adapter_base(path: str) -> str | None:
    """The base model an adapter folder names, or None when `path` is not an adapter folder."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.is_file():
        return None
    return json.loads(cfg.read_text()).get("base_model_name_or_path")


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


def _load(path: str, *, device: str, dtype: str, reward: bool, what: str) -> Loaded:
    """A full checkpoint or a LoRA adapter on its base, in eval mode on `device`."""
    check_path(path, what)
    base = adapter_base(path)
    tokenizer = _tokenizer(path, base)
    if base is not None:
        from alignpipe.tools.merge import load_adapter_model

        model = load_adapter_model(path, dtype=_dtype(dtype))
        align_with_tokenizer(model, tokenizer)
        kind = "reward_lora_adapter" if reward else "lora_adapter"
    elif reward:
        model = load_reward_model(path, ModelConfig(dtype=dtype), tokenizer=tokenizer, num_labels=1)
        kind = "reward_model"
    else:
        model = load_causal_lm(path, ModelConfig(dtype=dtype), tokenizer=tokenizer)
        kind = "causal_lm"
    if reward and getattr(model.config, "num_labels", 1) != 1:
        raise AlignpipeError(
            f"{path}: a reward model must have one output (num_labels=1), it has {model.config.num_labels}"
        )
    model.to(device).eval()
    return Loaded(model, tokenizer, _info(path, model, kind, base))


def load_lm(path: str, *, device: str = "cpu", dtype: str = "float32", what: str = "model") -> Loaded:
    """A causal LM (or a causal-LM LoRA adapter on its base) in eval mode on `device`."""
    return _load(path, device=device, dtype=dtype, reward=False, what=what)


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
