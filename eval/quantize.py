"""`alignpipe eval --model M --quantize none,int8,nf4 --output DIR`: what each deployment precision costs.

One checkpoint is evaluated at each precision, each with the suite's sections as a normal `alignpipe eval`
into DIR/<precision>/ (eval.json, samples, report). Precisions (`alignpipe.inference.loading.PRECISIONS`):
``none`` (the checkpoint's own weights at ``--dtype``, the baseline), ``int8`` (bitsandbytes LLM.int8:
linear layers in 8-bit with outlier columns in 16-bit; runs on CPU too, slowly) and ``nf4`` (bitsandbytes
4-bit NormalFloat, compute in ``--dtype``). Embeddings, norms and MiniGPT's tied output head stay as they are:
bitsandbytes replaces nn.Linear layers only.

Every quantised run takes the full-precision checkpoint as its reference, so the suite's comparisons
measure the quantisation itself: the task-accuracy and refusal-rate differences come with paired-bootstrap
95% intervals over the same prompts, and KL(quantised || full) is measured when the suite has a ``kl``
section. (``--ref`` is refused with ``--quantize``: the reference is the model at full precision.)

The packaged suite `quantize` is the default here: perplexity, task accuracy, multiple choice, safety and KL,
no reward-model sections (a reward model is used only when `--reward-model` names one).

DIR/quantization.json holds one row per precision: ``precision``, ``weight_bytes`` (Transformers'
`get_memory_footprint`: parameters and buffers as stored), ``perplexity``, ``task_accuracy``,
``refusal_rate``, ``tokens_per_s`` (generated tokens over the time the main held-out generation took,
batched as the suite says), each with ``<metric>_change`` (minus full precision) and ``<metric>_change_pct``
(relative, in percent), plus the paired intervals where the suite measured them. DIR/report.md and
report.html show the table and a chart of the relative changes.
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import write_json
from alignpipe.core.log import echo
from alignpipe.eval.schema import label
from alignpipe.inference.loading import PRECISIONS

METRICS = ("weight_bytes", "perplexity", "task_accuracy", "refusal_rate", "tokens_per_s")


def parse_precisions(text: str) -> list[str]:
    wanted = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PRECISIONS]
    if unknown or not wanted:
        raise AlignpipeError(
            f"--quantize {text!r}: expected a comma-separated list of {', '.join(PRECISIONS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    wanted = list(dict.fromkeys(wanted))
    if "none" not in wanted:
        wanted.insert(0, "none")  # the baseline every change is measured against
    return ["none", *[p for p in wanted if p != "none"]]


def _row(precision: str, data: dict) -> dict:
    s = data["summary"]
    row = {
        "precision": precision,
        "weight_bytes": (data.get("model") or {}).get("weight_bytes"),
        "perplexity": s.get("perplexity"),
        "task_accuracy": s.get("task_accuracy"),
        "refusal_rate": s.get("refusal_rate"),
        "tokens_per_s": (data.get("throughput") or {}).get("tokens_per_s"),
    }
    for key in ("task_accuracy_delta_ci95", "refusal_rate_delta_ci95", "kl"):
        if key in s:
            row[key.replace("_delta", "_change")] = s[key]
    row["eval"] = f"{precision}/eval.json"
    return row


def _changes(rows: list[dict]) -> None:
    base = rows[0]
    for row in rows:
        for key in METRICS:
            value, ref = row.get(key), base.get(key)
            if value is None or ref is None:
                continue
            row[f"{key}_change"] = value - ref
            row[f"{key}_change_pct"] = 100 * (value - ref) / ref if ref else math.nan


def evaluate_precisions(args: argparse.Namespace, evaluate) -> dict:
    """`evaluate` (eval.runner's, handed down so this module stays below the runner) at each precision."""
    if not args.model:
        raise AlignpipeError("--quantize needs --model (the checkpoint to load at each precision)")
    if args.ref and args.ref.lower() != "none":
        raise AlignpipeError(
            "--quantize compares each precision with the model at full precision; drop --ref"
        )
    precisions = parse_precisions(args.quantize)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for precision in precisions:
        echo(f"quantize: evaluating {args.model} at {precision}", err=True)
        sub = copy.copy(args)
        sub.quantize, sub.precision = None, precision
        sub.output = str(out_dir / precision)
        sub.ref = "none" if precision == "none" else args.model
        sub.ref_is_model = precision != "none"
        sub.reward_model = args.reward_model or "none"  # the reward model is not what is quantised
        rows.append(_row(precision, evaluate(sub)))
    _changes(rows)
    data = {
        "model": args.model,
        "suite": args.suite,
        "dtype": args.dtype,
        "precisions": precisions,
        "rows": rows,
        "files": {"quantization": "quantization.json"},
    }
    if not args.no_report:
        data["files"].update(write_report(out_dir, data))
    write_json(out_dir / "quantization.json", data)
    return data


LABELS = {key: label(key) for key in METRICS}  # the metric table's labels, in this table's order


def _value(key: str, value) -> str:
    from alignpipe.eval.report.render import fmt

    if value is None:
        return "n/a"
    return f"{value / 1e6:.2f}" if key == "weight_bytes" else fmt(value, 1 if key == "tokens_per_s" else 3)


def _change(row: dict, key: str) -> str:
    """The relative change against full precision, as "+1.2%" ("" for the baseline or where undefined)."""
    pct = row.get(f"{key}_change_pct")
    return "" if row["precision"] == "none" or pct is None or math.isnan(pct) else f"{pct:+.1f}%"


def table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Headers and cells: each metric with its relative change against full precision."""
    from alignpipe.eval.report.render import Cell

    headers = ["precision", *LABELS.values()]
    cells = []
    for row in rows:
        line: list = [row["precision"]]
        for key in LABELS:
            line.append(Cell(_value(key, row.get(key)), note=_change(row, key)))
        cells.append(line)
    return headers, cells


def write_report(out_dir: Path, data: dict) -> dict[str, str]:
    from alignpipe.eval.report.plots import quantization_chart
    from alignpipe.eval.report.render import Doc

    rows = data["rows"]
    doc = Doc(f"Quantisation of {data['model']}")
    doc.para(
        f"One checkpoint at each precision, suite `{data['suite']}`, dtype {data['dtype']}. Changes are "
        "relative to full precision (`none`); each quantised run used the full-precision model as its "
        "reference, so its own report (linked below) holds the paired intervals."
    )
    headers, cells = table(rows)
    doc.table(headers, cells, caption="value (change against full precision)")
    ci = [
        [
            r["precision"],
            str(r.get("task_accuracy_change_ci95", "n/a")),
            str(r.get("refusal_rate_change_ci95", "n/a")),
        ]
        for r in rows[1:]
    ]
    if ci:
        doc.table(["precision", "task accuracy change, 95% CI", "refusal rate change, 95% CI"], ci)
    keys = [k for k in LABELS if k != "weight_bytes"]
    quantization_chart(out_dir / "quantization.png", rows, {k: LABELS[k] for k in keys})
    doc.image(out_dir / "quantization.png", "relative change of each metric against full precision")
    doc.para(
        "Per-precision reports: " + ", ".join(f"[{r['precision']}]({r['precision']}/report.md)" for r in rows)
    )
    md, page = doc.write(out_dir)
    return {"report_md": md.name, "report_html": page.name, "quantization_plot": "quantization.png"}


def print_table(data: dict) -> None:
    rows = data["rows"]
    width = 12
    echo("  ".join(["precision".ljust(10), *[LABELS[k].rjust(width) for k in LABELS]]))
    for row in rows:
        parts = [row["precision"].ljust(10)]
        for key in LABELS:
            note = _change(row, key)
            parts.append((_value(key, row.get(key)) + (f" ({note})" if note else "")).rjust(width))
        echo("  ".join(parts))
