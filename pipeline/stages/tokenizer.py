"""The tokenizer stage: train a byte-level BPE or char-level tokenizer on text files or the embedded corpus.

    alignpipe tokenizer --kind bpe --vocab-size 4096 --output DIR [--input FILE ...]

The tokenizers themselves are `alignpipe.core.tokenizers`; pretraining trains one by itself when no
tokenizer is given, so this stage is only needed to share one tokenizer between runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from alignpipe.core.errors import run_cli
from alignpipe.core.log import echo


def _read_texts(paths: list[str]) -> Iterator[str]:
    for p in paths:
        with open(p, encoding="utf-8") as f:
            yield f.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="alignpipe tokenizer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=["bpe", "char"], default="bpe")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--input", nargs="*", help="text files (default: the embedded corpus)")
    ap.add_argument("--output", required=True)
    args = ap.parse_args(argv)
    from alignpipe.core.tokenizers import train_tokenizer  # (Transformers) after the arguments are checked

    if args.input:
        texts = list(_read_texts(args.input))
    else:
        from alignpipe.defaults import load_default

        texts = load_default("text", "train")["text"]
    tok = train_tokenizer(texts, args.kind, args.vocab_size)
    tok.save_pretrained(args.output)
    echo(f"saved a {args.kind} tokenizer with {len(tok)} tokens to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
