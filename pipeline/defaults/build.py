"""`alignpipe make-data`: write the embedded default data sets to a folder as JSON lines.

Writes {text,sft,preference,prompt}_{train,test}.jsonl, one JSON object per line, which
`datasets.load_dataset("json", data_files=...)` and the stages' data options read back.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.defaults import ALL_KINDS, SPLITS, default_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alignpipe make-data", description="Write the embedded default data sets to a folder."
    )
    parser.add_argument("--output", required=True, type=Path, help="folder to write the .jsonl files into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task data (the corpus is fixed)")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for kind in ALL_KINDS:
        for split in SPLITS:
            rows = default_rows(kind, split, seed=args.seed)
            path = args.output / f"{kind}_{split}.jsonl"
            with path.open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            print(f"{path}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
