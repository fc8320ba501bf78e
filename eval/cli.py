"""`alignpipe eval`: two forms.

- ``alignpipe eval judgments FILE [--json]``: the win rate, length-controlled win rate, standard
  error, counts and average lengths of an AlpacaEval-style judgments file (see `alignpipe.eval.judgments`),
  as a table or, with ``--json``, one JSON object (NaN written as null, plus ``lc_extreme_change``:
  AlpacaEval's "LC is suspiciously far from the raw win rate" check, also printed as a note).
- ``alignpipe eval --model PATH [--ref PATH] [--reward-model PATH] [--suite ...] --output DIR``:
  generate, judge and score a model; handled by `alignpipe.eval.runner.main`. Its arguments and output folder
  are checked here, before torch loads: `--help` and a bad flag are answered at once. The output follows the
  output-path policy (README, "Reliability"): an existing folder with anything in it is replaced, whole, only
  with `--overwrite` (`alignpipe run` passes it for its own eval folders).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import output_dir

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alignpipe eval",
        description="Evaluate a causal LM checkpoint (and/or a reward model) on held-out data: perplexity, task "
        "accuracy, multiple choice, reward accuracy, win rate vs a reference, verbosity and KL. "
        "`alignpipe eval judgments FILE` scores an AlpacaEval judgments file instead.",
    )
    p.add_argument("--model", help="causal LM: a checkpoint folder, a LoRA adapter folder, or a Hub id")
    p.add_argument(
        "--ref",
        help="reference model for win rate, length ratio and KL (default: RUN_DIR/sft when "
        "--model is RUN_DIR/<stage>; 'none' for no reference)",
    )
    p.add_argument(
        "--reward-model",
        help="reward model that judges (default: RUN_DIR/reward when --model is "
        "RUN_DIR/<stage>; 'none' for no reward model)",
    )
    p.add_argument(
        "--suite",
        help="a packaged suite name (default, quick, quantize) or a suite .yaml (default: default; with "
        "--quantize: quantize)",
    )
    p.add_argument("--output", "-o", required=True, help="folder for eval.json, the report and the plots")
    p.add_argument("--max-samples", type=int, help="cap every section's number of samples")
    p.add_argument("--harness-tasks", help="comma-separated lm-evaluation-harness tasks, e.g. mmlu,arc_easy")
    p.add_argument("--harness-include", help="folder of extra lm-eval task YAMLs (local tasks)")
    p.add_argument(
        "--guard",
        metavar="DIR",
        help="a guard classifier (alignpipe guard) in front of the model: the safety section evaluates the pair "
        "(flagged prompts get the guard's refusal, the model answers the rest; the model's own figures are kept)",
    )
    p.add_argument(
        "--guard-threshold",
        type=float,
        default=None,
        help="flag a prompt when the guard's P(unsafe) is at least this (as in chat and generate; default: the "
        "threshold the guard stage chose on its validation goals, else 0.5)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1... (default: cuda when available)")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="weights dtype: float32 (default), bfloat16, float16",
    )
    p.add_argument(
        "--quantize",
        metavar="LIST",
        help="evaluate the model at each precision of a comma-separated list of none, int8, nf4 "
        "(bitsandbytes) into DIR/<precision>/ and write DIR/quantization.json (alignpipe.eval.quantize)",
    )
    p.add_argument("--seed", type=int, help="overrides the suite's seed")
    p.add_argument("--no-report", action="store_true", help="write eval.json only (no report or plots)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output folder")
    # set per run by alignpipe.eval.quantize, not flags: the precision to load the model at, and whether a
    # reference at the model's own path is meant (the model at full precision) rather than a no-op
    p.set_defaults(precision="none", ref_is_model=False)
    return p


def main(argv: list[str] | None = None) -> int | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "judgments":
        return judgments_main(argv[1:])
    args = build_parser().parse_args(argv)
    if not args.model and not args.reward_model:
        raise AlignpipeError("give --model (a causal LM to evaluate), --reward-model, or both")
    if args.max_samples is not None and args.max_samples < 1:
        raise AlignpipeError(f"--max-samples must be >= 1, got {args.max_samples}")
    output_dir(args.output, "eval: --output", overwrite=args.overwrite)
    from alignpipe.eval.runner import main as run_main

    return run_main(args)
