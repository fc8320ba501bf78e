"""Merge a LoRA adapter into its base model and save a plain checkpoint.

    alignpipe merge ADAPTER_DIR -o DIR

The base is the one the adapter names (`base_model_name_or_path` in
adapter_config.json): a local path or a Hub id. Causal-LM adapters and
sequence-classification (reward/value model) adapters are both supported; the
tokenizer saved with the adapter is copied along. The merged model's logits
equal the adapter model's (up to float rounding).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import alignpipe  # noqa: F401
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import echo


def load_adapter_model(adapter_dir: str, **kwargs):
    """The base with the adapter applied (a PeftModel), for causal-LM or sequence-classification adapters."""
    from peft import AutoPeftModelForCausalLM, AutoPeftModelForSequenceClassification

    cfg_path = Path(adapter_dir) / "adapter_config.json"
    if not cfg_path.is_file():
        raise AlignpipeError(f"{adapter_dir} has no adapter_config.json: it is not a LoRA adapter folder")
    task = json.loads(cfg_path.read_text()).get("task_type")
    cls = AutoPeftModelForSequenceClassification if task == "SEQ_CLS" else AutoPeftModelForCausalLM
    if task == "SEQ_CLS":
        kwargs.setdefault("num_labels", 1)
    try:
        return cls.from_pretrained(adapter_dir, **kwargs)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"cannot load the adapter in {adapter_dir} or its base model: {e}") from e


def merge(adapter_dir: str, out_dir: str) -> Path:
    model = load_adapter_model(adapter_dir).merge_and_unload()
    out = Path(out_dir)
    model.save_pretrained(out, safe_serialization=True)
    try:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out)
    except (OSError, ValueError):
        pass  # no tokenizer saved with the adapter
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="alignpipe merge", description=__doc__.split("\n\n")[0])
    ap.add_argument("adapter_dir")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    out = merge(args.adapter_dir, args.output)
    echo(f"merged {args.adapter_dir} into its base; saved to {out}")
    return 0
