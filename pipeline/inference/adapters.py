"""LoRA adapters: loading an adapter folder onto the base it names, for causal-LM or sequence-classification
(reward, value, guard) adapters. Used by eval, serve, the guard and `alignpipe merge`.

The base an adapter names (`base_model_name_or_path` in adapter_config.json) is looked up local paths first:
relative to the adapter folder, then to the working folder, and only then as a Hub id (`owner/name`), so an
adapter merged or served from another folder finds its base. The stages write it relative to the adapter folder
when the base is in the same run directory (so the run can move), else as an absolute path
(`portable_base`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import check_source, write_json
from alignpipe.core.outputs import check_weights


def adapter_config(adapter_dir: str | Path) -> dict:
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.is_file():
        raise AlignpipeError(f"{adapter_dir} has no adapter_config.json: it is not a LoRA adapter folder")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"{path}: cannot read it as JSON ({e})") from None


def resolve_base(adapter_dir: str | Path, base: str | None) -> str | None:
    """The base an adapter names, as a path that exists here (adapter-relative first) or else as it is."""
    if not base or Path(base).is_absolute():
        return base
    for candidate in (Path(adapter_dir) / base, Path(base)):
        if candidate.exists():
            return str(candidate.resolve())
    return base


def portable_base(adapter_dir: str | Path) -> None:
    """Rewrite a saved adapter's local base as a path relative to the adapter folder when both lie in one run
    directory (the adapter's parent), else as an absolute path; a Hub id is left as it is."""
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.is_file():
        return
    cfg = json.loads(path.read_text(encoding="utf-8"))
    base = cfg.get("base_model_name_or_path")
    if not base or not Path(base).exists():
        return
    adapter, target = Path(adapter_dir).resolve(), Path(base).resolve()
    inside = adapter.parent in target.parents or target == adapter.parent
    cfg["base_model_name_or_path"] = os.path.relpath(target, adapter) if inside else str(target)
    write_json(path, cfg)


def load_adapter_model(adapter_dir: str, **kwargs):
    """The base with the adapter applied (a PeftModel), for causal-LM or sequence-classification adapters."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    cfg = adapter_config(adapter_dir)
    task = cfg.get("task_type")
    cls = AutoModelForSequenceClassification if task == "SEQ_CLS" else AutoModelForCausalLM
    if task == "SEQ_CLS":
        kwargs.setdefault("num_labels", 1)
    base = resolve_base(adapter_dir, cfg.get("base_model_name_or_path"))
    if not base:
        raise AlignpipeError(
            f"{adapter_dir}/adapter_config.json names no base model (base_model_name_or_path)"
        )
    check_source(base, f"the base model of the adapter in {adapter_dir}")
    check_weights(base, "base model")
    check_weights(adapter_dir, "adapter")
    try:
        model = cls.from_pretrained(base, **kwargs)
        if (
            Path(adapter_dir) / "tokenizer_config.json"
        ).is_file():  # as PEFT's AutoPeftModel: grow, never shrink
            from transformers import AutoTokenizer

            size = len(AutoTokenizer.from_pretrained(adapter_dir))
            if size > model.get_input_embeddings().weight.shape[0]:
                model.resize_token_embeddings(size)
        return PeftModel.from_pretrained(model, adapter_dir)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"cannot load the adapter in {adapter_dir} or its base model {base}: {e}") from e
