"""The run report: one across all stages of a run directory.

    alignpipe report RUN_DIR [--output DIR]        # default DIR: RUN_DIR/report

The run report reads what the stages and `alignpipe eval` left in a run directory:

    RUN_DIR/manifest.json              stages, status, timings (shown when present)
    RUN_DIR/<stage>/run_record.json    the stage's config and metrics (PPO's heldout/* and kl_bound)
    RUN_DIR/<stage>/trainer_state.json log_history: the training curves
    RUN_DIR/eval/<stage>/eval.json     `alignpipe eval` of that stage's model (alignpipe.eval.schema)

and writes DIR/report.md (PNG files linked), DIR/report.html (self-contained: PNGs embedded) and the
PNGs: a table of every model against every metric (best value per column highlighted, deltas
against SFT; length that grew more than the verbosity threshold over SFT's marked), the verbosity
warnings, PPO's held-out comparison, the training curves of each stage, each model's length
histogram against its reference, and reward score against length for all models. Anything missing
is left out; an empty run directory is an error.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import echo
from alignpipe.core.registry import TRAINING
from alignpipe.eval.report import plots
from alignpipe.eval.report.render import Cell, Doc, fmt
from alignpipe.eval.schema import HIGHER, LOWER, NEUTRAL, REPORT_COLUMNS, digits, direction, label, read_eval

STAGE_ORDER = TRAINING  # the stage registry's training stages, in pipeline order
BASELINE = "sft"


@dataclass
class Stage:
    name: str
    dir: Path
    record: dict | None = None
    log_history: list[dict] = field(default_factory=list)
    eval: dict | None = None
    eval_dir: Path | None = None

    @property
    def values(self) -> dict:
        return dict(self.eval.get("summary", {})) if self.eval else {}


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise AlignpipeError(f"{path}: cannot read it as JSON ({e})") from None


def _stage_key(name: str) -> tuple:
    return (STAGE_ORDER.index(name), "") if name in STAGE_ORDER else (len(STAGE_ORDER), name)


def collect(run_dir: Path) -> list[Stage]:
    """The stages of a run directory with whatever each left behind, in pipeline order."""
    if not run_dir.is_dir():
        raise AlignpipeError(f"run directory {run_dir} does not exist")
    names = set()
    for d in run_dir.iterdir():
        if (
            d.is_dir()
            and d.name not in ("eval", "report")
            and not d.name.startswith(".")
            and any(
                (d / f).is_file()
                for f in ("run_record.json", "trainer_state.json", "config.json", "adapter_config.json")
            )
        ):
            names.add(d.name)
    eval_root = run_dir / "eval"
    if eval_root.is_dir():
        names |= {d.name for d in eval_root.iterdir() if (d / "eval.json").is_file()}
    stages = []
    for name in sorted(names, key=_stage_key):
        stage = Stage(name, run_dir / name, record=_read_json(run_dir / name / "run_record.json"))
        state = _read_json(run_dir / name / "trainer_state.json")
        stage.log_history = (state or {}).get("log_history", [])
        if (eval_root / name / "eval.json").is_file():
            stage.eval_dir = eval_root / name
            stage.eval = read_eval(stage.eval_dir / "eval.json")
        stages.append(stage)
    if not stages:
        raise AlignpipeError(
            f"{run_dir} holds no stage outputs (RUN_DIR/<stage>/run_record.json, trainer_state.json) "
            "and no evaluations (RUN_DIR/eval/<stage>/eval.json)"
        )
    return stages


def _same_path(a: str | None, b: Path) -> bool:
    if not a:
        return False
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


def metric_table(stages: list[Stage]) -> tuple[list[str], dict[str, dict[str, tuple[float, str]]]]:
    """(columns, {stage: {column: (value, note)}}): every model against every metric.

    A reward-model accuracy belongs to the reward model's row (an eval of a policy that was judged by
    RUN_DIR/reward reports it there), or comes from the reward stage's run record when no eval has it.
    """
    table: dict[str, dict[str, tuple[float, str]]] = {s.name: {} for s in stages}
    by_dir = {s.name: s.dir for s in stages}
    for s in stages:
        values = s.values
        for key, value in values.items():
            if key.endswith("_ci95"):
                continue  # shown as the note of the figure it bounds
            ci = values.get(key + "_ci95")
            note = f"95% CI [{fmt(ci[0])}, {fmt(ci[1])}]" if isinstance(ci, list) and len(ci) == 2 else ""
            if key.startswith("reward_accuracy"):
                owner = next(
                    (n for n, d in by_dir.items() if _same_path(s.eval["reward_model"]["path"], d)), s.name
                )
                if s.eval.get("model") is not None and owner == s.name:
                    continue  # a policy's eval: the accuracy is its judge's, whose stage is not in this run
                table[owner].setdefault(key, (value, ""))
            elif key not in ("win_rate_se",):
                table[s.name][key] = (value, note)
        if s.record and s.name == "reward" and "reward_accuracy" not in table[s.name]:
            acc = s.record.get("metrics", {}).get("eval_accuracy")
            if isinstance(acc, (int, float)):
                table[s.name]["reward_accuracy"] = (float(acc), "training eval")
    present = {k for row in table.values() for k in row}
    columns = [c for c in REPORT_COLUMNS if c in present]  # the metric table's order
    columns += sorted(k for k in present if k.startswith("mc/"))
    columns += sorted(k for k in present if k.startswith("harness/"))
    columns += sorted(k for k in present if k not in columns)
    return columns, table


def metric_cells(stages: list[Stage], columns: list[str], table: dict) -> list[list[str | Cell]]:
    """One row per metric, one column per model: best value per row marked, notes give deltas vs SFT."""
    from alignpipe.eval.sections import verbosity  # its package loads torch: not for `report --help`

    base = table.get(BASELINE, {})
    rows = []
    for col in columns:
        values = [
            table[s.name][col][0]
            for s in stages
            if col in table[s.name]
            and table[s.name][col][0] is not None
            and not math.isnan(table[s.name][col][0])
        ]
        best = None
        if len(set(values)) >= 2 and direction(col) in (HIGHER, LOWER):
            best = max(values) if direction(col) == HIGHER else min(values)
        row: list[str | Cell] = [label(col) + {HIGHER: " ↑", LOWER: " ↓"}.get(direction(col), "")]
        for s in stages:
            if col not in table[s.name] or table[s.name][col][0] is None:
                row.append("–")
                continue
            value, note = table[s.name][col]
            cell = Cell(fmt(value, digits(col)), best=best is not None and value == best, note=note)
            if s.name != BASELINE and col in base and base[col][0] is not None and not note:
                delta = value - base[col][0]
                cell.note = f"{delta:+.3g} vs SFT"
                d = direction(col)
                if d != NEUTRAL and delta != 0:
                    cell.tone = "good" if (delta > 0) == (d == HIGHER) else "bad"
                later = _stage_key(s.name) > _stage_key(BASELINE)  # made from SFT: its length can creep
                if (
                    col == "mean_tokens"
                    and later
                    and base[col][0] > 0
                    and value / base[col][0] > verbosity.DEFAULT_MAX_RATIO
                ):
                    cell.tone, cell.note = "bad", f"{value / base[col][0]:.2f}x SFT: length crept up"
            row.append(cell)
        rows.append(row)
    return rows


def length_warnings(stages: list[Stage]) -> list[str]:
    """Stages whose responses grew well beyond SFT's without a higher length-controlled win rate.

    Stages evaluated against the SFT model itself are left out: their eval.json already holds the check.
    """
    from alignpipe.eval.sections import verbosity  # its package loads torch: not for `report --help`

    base = next((s for s in stages if s.name == BASELINE and s.eval), None)
    if base is None or "mean_tokens" not in base.values:
        return []
    out = []
    for s in stages:
        if s is base or "mean_tokens" not in s.values or not base.values["mean_tokens"]:
            continue
        if s.eval.get("ref") and _same_path(s.eval["ref"]["path"], base.dir):
            continue
        ratio = s.values["mean_tokens"] / base.values["mean_tokens"]
        lc = s.values.get("lc_win_rate")
        if lc is not None:
            text = verbosity.verbosity_warning(
                ratio, lc, max_ratio=verbosity.DEFAULT_MAX_RATIO, margin=verbosity.DEFAULT_MARGIN
            )
            if text:
                out.append(f"{s.name} vs SFT (mean tokens): {text}")
        elif ratio > verbosity.DEFAULT_MAX_RATIO:
            out.append(
                f"{s.name}: responses are {ratio:.2f}x SFT's mean length in tokens, and there is no "
                f"length-controlled win rate to tell whether that bought quality"
            )
    return out


def _manifest_rows(manifest: dict) -> list[list[str]]:
    stages = manifest.get("stages", [])
    if isinstance(stages, dict):
        stages = [{"name": k, **(v if isinstance(v, dict) else {"status": v})} for k, v in stages.items()]
    rows = []
    for st in stages if isinstance(stages, list) else []:
        if not isinstance(st, dict):
            continue
        name = st.get("name") or st.get("stage") or "?"
        seconds = next((st[k] for k in ("duration_s", "seconds", "elapsed_s", "duration") if k in st), None)
        status = str(st.get("status", "–"))
        if name == "report" and status == "running":
            status = "writing this report"
        rows.append([str(name), status, fmt(seconds, 1) if isinstance(seconds, (int, float)) else "–"])
    return rows


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _interval(value, ci) -> str:
    if value is None:
        return "–"
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]" if isinstance(ci, list) else fmt(value)


def _safety_section(doc: Doc, stages: list[Stage]) -> None:
    rows = []
    for s in stages:
        sa = (s.eval or {}).get("metrics", {}).get("safety")
        if not sa:
            continue
        rows.append(
            [
                s.name,
                _interval(sa["refusal_rate"], sa["refusal_rate_ci95"]),
                _interval(sa["over_refusal_rate"], sa["over_refusal_rate_ci95"]),
                _interval(sa.get("refusal_rate_delta"), sa.get("refusal_rate_delta_ci95")),
                _interval(s.values.get("task_accuracy_delta"), s.values.get("task_accuracy_delta_ci95")),
                f"{sa['n_unsafe']} / {sa['n_benign']}",
            ]
        )
    if not rows:
        return
    doc.heading("Safety")
    doc.para(
        "Refusal of held-out unsafe requests (higher is better) and over-refusal of benign look-alikes (lower is "
        "better), each with its 95% Wilson interval; the changes against the reference (SFT) with paired-bootstrap "
        "95% intervals: refusal on the same unsafe requests, task accuracy on the same task prompts. A refusal is "
        'what XSTest\'s string match says it is (the reply starts with "sorry", "i can\'t", ...).'
    )
    doc.table(
        [
            "model",
            "refusal rate ↑",
            "over-refusal ↓",
            "refusal − ref",
            "task accuracy − ref",
            "unsafe / benign",
        ],
        rows,
    )


def _side_by_side(doc: Doc, stages: list[Stage], per_set: int = 2) -> None:
    """The same few unsafe, benign and task prompts, answered by every model."""
    answers: dict[str, dict[str, str]] = {}
    order: list[tuple[str, str]] = []
    for s in stages:
        if s.eval_dir is None:
            continue
        safety = _jsonl(s.eval_dir / "safety_samples.jsonl")
        tasks = _jsonl(s.eval_dir / "samples.jsonl")
        picked = [r for r in safety if r["set"] == "unsafe"][:per_set] + [
            r for r in safety if r["set"] == "benign"
        ][:per_set]
        for r in picked:
            key = (r["set"], r["prompt"])
            answers.setdefault(r["prompt"], {})[s.name] = r["model_response"]
            if key not in order:
                order.append(key)
        for r in tasks[:per_set]:
            key = (f"task (answer {r.get('answer')})", r["prompt"])
            answers.setdefault(r["prompt"], {})[s.name] = r["model"]
            if key not in order:
                order.append(key)
    if not order:
        return
    names = [s.name for s in stages if any(s.name in a for a in answers.values())]
    doc.heading("Side by side: the same prompts, every model")
    doc.table(
        ["set", "prompt", *names],
        [[kind, prompt, *(repr(answers[prompt].get(n, "–")) for n in names)] for kind, prompt in order],
    )


def _ppo_section(doc: Doc, stage: Stage) -> None:
    metrics = (stage.record or {}).get("metrics", {})
    pairs = [
        (label_, f"heldout/{k}_ppo", f"heldout/{k}_sft")
        for label_, k in (
            ("reward-model score", "score"),
            ("task accuracy", "accuracy"),
            ("length (tokens)", "length"),
        )
    ]
    rows = []
    for name, kp, ks in pairs:
        if kp in metrics:
            p, s = metrics[kp], metrics.get(ks)
            delta = p - s if isinstance(p, (int, float)) and isinstance(s, (int, float)) else None
            rows.append([name, fmt(p), fmt(s), f"{delta:+.3g}" if delta is not None else "–"])
    extra = [
        [k, fmt(metrics[k])]
        for k in ("heldout/kl", "kl_bound", "kl_within_bound", "heldout/prompts")
        if k in metrics
    ]
    if not rows and not extra:
        return
    doc.heading(f"PPO on held-out prompts ({stage.name}/run_record.json)")
    if rows:
        doc.table(["metric", "PPO policy", "SFT reference", "Δ"], rows)
    if extra:
        doc.table(["KL check", "value"], extra)
    if metrics.get("kl_within_bound") is False:
        text = (
            f"{stage.name}: held-out KL {fmt(metrics.get('heldout/kl'))} exceeds kl_bound "
            f"{fmt(metrics.get('kl_bound'))}: the policy drifted far from the reference"
        )
        doc.warnings([text])


def build_run_report(run_dir: Path, out_dir: Path) -> Path:
    """Write the run report into `out_dir`; returns the path of report.html."""
    stages = collect(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Doc(f"Run report: {run_dir.resolve().name}")
    doc.para(f"Run directory: `{run_dir.resolve()}`. Stages found: {', '.join(s.name for s in stages)}.")
    _stages_section(doc, run_dir)
    _warnings_section(doc, stages)
    _metrics_section(doc, stages)
    _safety_section(doc, stages)
    _side_by_side(doc, stages)
    for s in stages:
        if s.name == "ppo" or (s.record and "heldout/kl" in s.record.get("metrics", {})):
            _ppo_section(doc, s)
    _records_section(doc, stages)
    _curves_section(doc, stages, out_dir)
    _lengths_section(doc, stages, out_dir)
    evals = [s for s in stages if s.eval_dir is not None and (s.eval_dir / "report.html").is_file()]
    if evals:
        doc.heading("Per-model reports")
        doc.table(["model", "report"], [[s.name, str((s.eval_dir / "report.html").resolve())] for s in evals])
    _, page = doc.write(out_dir)
    return page


def _stages_section(doc: Doc, run_dir: Path) -> None:
    manifest = _read_json(run_dir / "manifest.json")
    if manifest:
        rows = _manifest_rows(manifest)
        if rows:
            doc.heading("Stages")
            doc.table(["stage", "status", "seconds"], rows)


def _warnings_section(doc: Doc, stages: list[Stage]) -> None:
    warnings = length_warnings(stages)
    for s in stages:
        for w in (s.eval or {}).get("warnings", []):
            if w.startswith("verbosity:") and _stage_key(s.name) < _stage_key(BASELINE):
                continue  # the pretrained model is not made from SFT: its length against SFT says nothing
            warnings.append(f"{s.name}: {w}")
    if warnings:
        doc.heading("Warnings")
        doc.warnings(warnings)


def _metrics_section(doc: Doc, stages: list[Stage]) -> None:
    from alignpipe.eval.sections import verbosity  # its package loads torch: not for `report --help`

    columns, table = metric_table(stages)
    if columns:
        doc.heading("Models against metrics")
        doc.para(
            "One column per model. The best value of each metric is in bold green (↑ higher is better, "
            "↓ lower); notes give the change against SFT (green better, red worse), and a mean length more "
            f"than {verbosity.DEFAULT_MAX_RATIO}x SFT's is flagged. Win rate, LC win rate, length ratio and KL are "
            "against each eval's reference."
        )
        doc.table(["metric"] + [s.name for s in stages], metric_cells(stages, columns, table))
        refs = [f"{s.name}: `{s.eval['ref']['path']}`" for s in stages if s.eval and s.eval.get("ref")]
        if refs:
            doc.para("References: " + "; ".join(refs) + ".")
        if "perplexity" in columns:
            source = next(
                (
                    s.eval["metrics"]["perplexity"].get("source")
                    for s in stages
                    if s.eval and "perplexity" in s.eval["metrics"]
                ),
                "held-out text",
            )
            doc.para(
                f"Perplexity is measured on {source}: plain prose like the pretraining data. It is the pretrained "
                "model's own objective; fine-tuned models are far worse at it by design, since they learned to "
                "answer short chat turns in a template and no longer spread probability over free-running prose. "
                'Read it as "how much of the language model is left", not as quality.'
            )


def _curves_section(doc: Doc, stages: list[Stage], out_dir: Path) -> None:
    curves = []
    for s in stages:
        path = plots.training_curves(out_dir / f"curves_{s.name}.png", s.name, s.log_history)
        if path:
            curves.append((s.name, path))
    if curves:
        doc.heading("Training curves")
        for name, path in curves:
            doc.image(path, f"{name}: logged training metrics against step")


def _lengths_section(doc: Doc, stages: list[Stage], out_dir: Path) -> None:
    panels = {
        s.name: (s.eval["per_sample"]["model_tokens"], s.eval["per_sample"].get("ref_tokens"))
        for s in stages
        if s.eval and s.eval.get("per_sample", {}).get("model_tokens")
    }
    scatter = {
        s.name: (s.eval["per_sample"]["model_tokens"], s.eval["per_sample"]["model_reward"])
        for s in stages
        if s.eval and s.eval.get("per_sample", {}).get("model_reward")
    }
    if panels or scatter:
        doc.heading("Response lengths")
    if panels:
        path = plots.length_histograms(out_dir / "length_hist.png", panels)
        doc.image(path, "Response lengths (tokens) of each model against its reference")
    if scatter:
        path = plots.reward_scatter(out_dir / "reward_vs_length.png", scatter)
        doc.image(path, "Reward-model score vs response length, all models")


def _records_section(doc: Doc, stages: list[Stage]) -> None:
    rows = []
    for s in stages:
        if not s.record and not s.log_history:
            continue
        metrics = (s.record or {}).get("metrics", {})
        losses = [h["loss"] for h in s.log_history if isinstance(h.get("loss"), (int, float))]
        rows.append(
            [
                s.name,
                fmt((s.record or {}).get("duration_s"), 1),
                fmt(s.log_history[-1].get("step")) if s.log_history else "–",
                fmt(losses[0]) if losses else "–",
                fmt(losses[-1]) if losses else "–",
                fmt(metrics.get("eval_loss")),
                fmt(metrics.get("eval_accuracy")),
            ]
        )
    if rows:
        doc.heading("Training (run records)")
        doc.para("Losses are each stage's own objective, so compare them within a stage, not across stages.")
        doc.table(
            ["stage", "seconds", "last step", "first loss", "last loss", "eval_loss", "eval_accuracy"], rows
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="alignpipe report",
        description="One report across all stages of a run directory (tables, "
        "training curves, length and reward plots, verbosity warnings).",
    )
    ap.add_argument("run_dir", help="the run directory (made by `alignpipe run`)")
    ap.add_argument("--output", "-o", help="folder for report.md/html and plots (default: RUN_DIR/report)")
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir)
    page = build_run_report(run_dir, Path(args.output) if args.output else run_dir / "report")
    echo(page.resolve())
    return 0
