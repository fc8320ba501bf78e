"""`alignpipe eval`: two forms.

- ``alignpipe eval judgments FILE [--json]``: the win rate, length-controlled win rate, standard
  error, counts and average lengths of an AlpacaEval-style judgments file (see `alignpipe.eval.judgments`),
  as a table or, with ``--json``, one JSON object (NaN written as null, plus ``lc_extreme_change``:
  AlpacaEval's "LC is suspiciously far from the raw win rate" check, also printed as a note).
- ``alignpipe eval --model PATH [--ref PATH] [--reward-model PATH] [--suite ...] --output DIR``:
  generate, judge and score a model; handled by `alignpipe.eval.runner.main`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from alignpipe.core.errors import AlignpipeError

# (key, label, format) of what `eval judgments` prints, in order.
JUDGMENT_FIELDS = (
    ("win_rate", "win rate (%)", "{:.2f}"),
    ("lc_win_rate", "length-controlled win rate (%)", "{:.2f}"),
    ("standard_error", "standard error (points)", "{:.2f}"),
    ("n_total", "judged pairs", "{:d}"),
    ("n_wins", "model wins", "{:d}"),
    ("n_draws", "draws", "{:d}"),
    ("n_wins_base", "baseline wins", "{:d}"),
    ("n_missing", "missing verdicts (dropped)", "{:d}"),
    ("avg_length_1", "avg length, baseline (chars)", "{:.0f}"),
    ("avg_length_2", "avg length, model (chars)", "{:.0f}"),
)


def _judgments_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alignpipe eval judgments",
        description="Win rate and length-controlled win rate of an AlpacaEval-style judgments file "
        "(rows with instruction, output_1 = baseline, output_2 = model, preference in [1, 2]).",
    )
    parser.add_argument("file", help="judgments file: .json, .jsonl, .json.gz or .jsonl.gz")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def _format_table(source: str, metrics: dict) -> str:
    width = max(len(label) for _, label, _ in JUDGMENT_FIELDS)
    lines = [source]
    for key, label, fmt in JUDGMENT_FIELDS:
        value = metrics[key]
        text = "nan" if isinstance(value, float) and math.isnan(value) else fmt.format(value)
        lines.append(f"  {label:<{width}}  {text:>8}")
    return "\n".join(lines)


def judgments_main(argv: list[str]) -> int:
    from alignpipe.eval.judgments import judgment_metrics, read_judgments
    from alignpipe.eval.lc_winrate import is_extreme_change

    args = _judgments_parser().parse_args(argv)
    judgments = read_judgments(args.file)
    metrics = judgment_metrics(judgments)
    metrics["lc_extreme_change"] = is_extreme_change(metrics["win_rate"], metrics["lc_win_rate"])
    if args.json:
        # NaN (e.g. the standard error of a single verdict) is written as null: valid JSON.
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}
        print(json.dumps({"file": str(args.file), **clean}, indent=2))
    else:
        print(_format_table(str(args.file), metrics))
        if metrics["lc_extreme_change"]:
            print(
                "note: the length-controlled win rate is far from the raw one, as AlpacaEval warns: the GLM "
                "extrapolates to equal lengths outside the observed length differences; read it with care",
                file=sys.stderr,
            )
    return 0


def main(argv: list[str] | None = None) -> int | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "judgments":
        return judgments_main(argv[1:])
    try:
        from alignpipe.eval.runner import main as run_main
    except ModuleNotFoundError as e:
        if e.name != "alignpipe.eval.runner":
            raise
        raise AlignpipeError(
            "`alignpipe eval --model ...` is not available in this build (alignpipe.eval.runner is missing); "
            "`alignpipe eval judgments FILE` is"
        ) from None
    return run_main(argv)
