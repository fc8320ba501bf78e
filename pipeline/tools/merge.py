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
from pathlib import Path

import alignpipe  # noqa: F401
from alignpipe.core.io import output_dir, replacing_dir
from alignpipe.core.log import echo
from alignpipe.inference.adapters import load_adapter_model


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
    ap.add_argument("-o", "--output", required=True, help="the folder to write (created)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = ap.parse_args(argv)
    out = output_dir(args.output, "merge: -o", overwrite=args.overwrite)
    with replacing_dir(out) as tmp:  # whole or not at all
        merge(args.adapter_dir, str(tmp))
    echo(f"merged {args.adapter_dir} into its base; saved to {out}")
    return 0
