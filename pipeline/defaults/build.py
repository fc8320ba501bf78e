"""`alignpipe make-data`: write the embedded default data sets to a folder as JSON lines.

Writes {text,sft,preference,prompt}_{train,test}.jsonl, one JSON object per line, which
`datasets.load_dataset("json", data_files=...)` and the stages' data options read back.
`--tasks all` (or a comma-separated list) builds the task kinds over other tasks than the
default mix, e.g. with the arithmetic tasks the demo leaves out for want of compute.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import echo
from alignpipe.defaults import ALL_KINDS, DEFAULT_TASKS, SPLITS, TASKS, default_rows
from alignpipe.defaults.tasks import check_tasks


def _tasks(value: str) -> tuple[str, ...]:
    """--tasks: 'all' or a comma-separated list, checked here so a bad name stops before any file is written."""
    names = tuple(TASKS) if value == "all" else tuple(t.strip() for t in value.split(",") if t.strip())
    try:
        return check_tasks(names)
    except AlignpipeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alignpipe make-data", description="Write the embedded default data sets to a folder."
    )
    parser.add_argument("--output", required=True, type=Path, help="folder to write the .jsonl files into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task data (the corpus is fixed)")
    parser.add_argument(
        "--tasks",
        type=_tasks,
        default=DEFAULT_TASKS,
        help=f"comma-separated tasks, or 'all' (default: {','.join(DEFAULT_TASKS)}; every task: {','.join(TASKS)})",
    )
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for kind in ALL_KINDS:
        for split in SPLITS:
            rows = default_rows(kind, split, seed=args.seed, tasks=args.tasks)
            path = args.output / f"{kind}_{split}.jsonl"
            with path.open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            echo(f"{path}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
