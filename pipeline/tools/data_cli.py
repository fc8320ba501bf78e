"""`alignpipe data`: check a data source, or convert it to TRL's conversational format.

    alignpipe data check FILE --kind sft|preference|prompt|text [--max-length N --tokenizer PATH]
    alignpipe data convert FILE --kind ... -o OUT.jsonl

FILE is anything a recipe's `dataset_mixture` accepts as `id` (a local file or folder, a Hub id,
`default`, `harms`), read with `--split` (default "train") and `--config`. `check` prints the detected format,
the row count, and the length of prompts and responses in characters and words (mean, median,
max); with `--tokenizer` also in tokens as the trainer sees them (chat template applied), and with
`--max-length` it fails on longer rows. `convert` writes one JSON object a line, with `prompt`,
`chosen`, `rejected`, `completion` and `messages` as lists of {role, content} messages and the
other columns unchanged; the file is written under a temporary name and renamed at the end, so a
failed conversion leaves no partial output. Bad rows: the errors are printed, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.formats import KINDS
from alignpipe.core.io import atomic_open, output_file
from alignpipe.core.log import echo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alignpipe data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check", help="detect the format, validate every row, print length statistics"
    )
    convert = commands.add_parser(
        "convert", help="write the rows in TRL's conversational format (JSON lines)"
    )
    for sub in (check, convert):
        sub.add_argument(
            "source", metavar="FILE", help="a local file or folder, a Hub dataset id, 'default' or 'harms'"
        )
        sub.add_argument("--kind", required=True, choices=KINDS, help="what the data is for")
        sub.add_argument("--split", default="train", help="split to read (default: train)")
        sub.add_argument("--config", default=None, help="Hub dataset config name")
    check.add_argument("--tokenizer", help="tokenizer (path or Hub id) for token counts and --max-length")
    check.add_argument("--max-length", type=int, help="fail on rows longer than this many tokens")
    convert.add_argument("-o", "--output", required=True, type=Path, help="output .jsonl file")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser


def _texts(row: dict) -> dict[str, str]:
    """The prompt and response texts of one converted row, by the field they are reported under."""

    def join(messages: list[dict]) -> str:
        return "\n".join(m["content"] for m in messages)

    if "messages" in row:
        return {
            "prompt": join([m for m in row["messages"] if m["role"] != "assistant"]),
            "response": join([m for m in row["messages"] if m["role"] == "assistant"]),
        }
    if "text" in row and "prompt" not in row:
        return {"text": row["text"]}
    texts = {"prompt": join(row["prompt"])}
    for field in ("completion", "chosen", "rejected"):
        if field in row:
            texts[field] = join(row[field])
    return texts


def _summary(values: list[int]) -> str:
    return f"{statistics.fmean(values):9.1f} {statistics.median(values):8.1f} {max(values):8d}"


def _check(args: argparse.Namespace, ds, fmt: str, label: str) -> None:
    echo(f"source: {label}")
    echo(f"format: {fmt}")
    echo(f"rows:   {len(ds)}")
    chars: dict[str, list[int]] = {}
    words: dict[str, list[int]] = {}
    for row in ds:
        for field, text in _texts(row).items():
            chars.setdefault(field, []).append(len(text))
            words.setdefault(field, []).append(len(text.split()))
    header = f"{'':10} {'':6} {'mean':>9} {'median':>8} {'max':>8}"
    echo(header)
    for field, counts in chars.items():
        echo(f"{field:10} {'chars':6} {_summary(counts)}")
        echo(f"{'':10} {'words':6} {_summary(words[field])}")
    if args.tokenizer:
        from transformers import AutoTokenizer

        from alignpipe.core.lengths import check_lengths, token_lengths

        try:
            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        except Exception as e:
            raise AlignpipeError(f"could not load the tokenizer {args.tokenizer!r}: {e}") from e
        for field, lengths in token_lengths(ds, tokenizer).items():
            what = field if field in ("messages", "text", "prompt") else f"prompt+{field}"
            echo(f"{what:10} {'tokens':6} {_summary(lengths)}")
        if args.max_length is not None:
            check_lengths(ds, tokenizer, args.max_length, label)
            echo(f"ok: every row fits in {args.max_length} tokens")
    echo(f"ok: all {len(ds)} rows are valid {args.kind} data")


def _convert(args: argparse.Namespace, ds) -> None:
    out = output_file(args.output, "data convert: -o", overwrite=args.overwrite)
    with atomic_open(out) as f:  # a failed conversion leaves no partial output
        for row in ds:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    echo(f"wrote {len(ds)} rows to {out}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "max_length", None) is not None and not args.tokenizer:
        raise AlignpipeError("--max-length needs --tokenizer (lengths are counted in tokens)")
    if args.command == "convert":
        output_file(args.output, "data convert: -o", overwrite=args.overwrite)  # before any reading
    from alignpipe.core.data import load_source

    source = load_source({"id": args.source, "split": args.split, "config": args.config}, args.kind)
    if args.command == "check":
        _check(args, source.train, source.format, source.label)
    else:
        _convert(args, source.train)
    return 0


if __name__ == "__main__":
    from alignpipe.core.errors import run_cli

    sys.exit(run_cli(main))
