"""One evaluation's report, written by `alignpipe eval` next to its eval.json: DIR/report.md (PNGs linked),
DIR/report.html (self-contained) and the plots: the models, every section's figures, the verbosity tables,
warnings, skipped sections, timings and a few examples from samples.jsonl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from alignpipe.eval.report import plots
from alignpipe.eval.report.render import Cell, Doc, fmt
from alignpipe.eval.schema import digits, label


def _pct(value) -> str:
    return fmt(value, 1) if value is not None else "–"


def _model_line(info: dict | None) -> str:
    if not info:
        return "–"
    size = f"{info['parameters'] / 1e6:.2f}M parameters" if info.get("parameters") else ""
    base = f", adapter on {info['base_model']}" if info.get("base_model") else ""
    return f"`{info['path']}` ({info.get('architecture')}, {size}{base})"


def write_eval_report(out_dir: Path, data: dict) -> dict[str, str]:
    """report.md, report.html and the plots of one eval.json's content; returns {name: file name}."""
    files: dict[str, str] = {}
    m, per = data["metrics"], data.get("per_sample", {})
    doc = Doc(f"Evaluation of {data['model']['path'] if data.get('model') else data['reward_model']['path']}")
    doc.para(f"Model: {_model_line(data.get('model'))}")
    doc.para(
        f"Reference: {_model_line(data.get('ref'))}"
        + (f" ({data['ref_source']})" if data.get("ref_source") else "")
    )
    doc.para(f"Reward model: {_model_line(data.get('reward_model'))}")
    doc.para(
        f"Suite: `{data['suite']['name']}`, seed {data['seed']}, device {data['device']}, "
        f"created {data['created']}."
    )
    doc.warnings(data.get("warnings", []))

    summary = data.get("summary", {})
    if summary:
        doc.heading("Summary")
        doc.table(["metric", "value"], [[label(k), fmt(v, digits(k))] for k, v in summary.items()])

    for section, render in SECTION_REPORTS:  # each section that ran renders its own part, in this order
        if m.get(section):
            render(doc, m[section], ReportFiles(out_dir, per, files))

    if data.get("files", {}).get("samples"):
        _examples(doc, out_dir / data["files"]["samples"])

    if data.get("skipped"):
        doc.heading("Skipped")
        doc.table(["section", "reason"], [[k, v] for k, v in data["skipped"].items()])
    doc.heading("Settings")
    doc.table(
        ["generation setting", "value"],
        [[k, fmt(v) if not isinstance(v, str) else v] for k, v in data["generation"].items()],
    )
    doc.table(["section", "seconds"], [[k, fmt(v, 2)] for k, v in data.get("timings_s", {}).items()])
    md, page = doc.write(out_dir)
    files.update({"report_md": md.name, "report_html": page.name})
    return files


@dataclass
class ReportFiles:
    """Where a section's plots go: the output folder, eval.json's per-sample lists, the files written."""

    out_dir: Path
    per: dict
    files: dict[str, str]


def _perplexity(doc: Doc, p: dict, out: ReportFiles) -> None:
    doc.heading("Held-out perplexity")
    doc.para(
        f"Source: {p['source']}; {p['documents']} documents, {p['tokens']} predicted tokens, "
        f"window {p['window']} tokens."
    )
    doc.table(
        ["perplexity", "NLL / token", "bits / byte"],
        [[fmt(p["perplexity"]), fmt(p["nll_per_token"]), fmt(p["bits_per_byte"])]],
    )


def _task_accuracy(doc: Doc, t: dict, out: ReportFiles) -> None:
    doc.heading("Held-out task accuracy")
    doc.para(f"Source: {t['source']}; responses graded by their task (`alignpipe.tasks`).")
    has_ref = "ref_accuracy" in t
    headers = ["task", "n", "model"] + (["reference"] if has_ref else [])
    rows = [
        [task, str(v["n"]), fmt(v["accuracy"])]
        + ([fmt(t["ref_per_task"][task]["accuracy"])] if has_ref else [])
        for task, v in t["per_task"].items()
    ]
    rows.append(
        [Cell("all", best=True), str(t["n"]), Cell(fmt(t["accuracy"]), best=True)]
        + ([Cell(fmt(t["ref_accuracy"]), best=True)] if has_ref else [])
    )
    doc.table(headers, rows)


def _multiple_choice(doc: Doc, mc: dict, out: ReportFiles) -> None:
    doc.heading("Multiple choice (log-likelihood)")
    doc.table(
        ["benchmark", "n", "acc", "acc_norm", "chat", "source"],
        [
            [name, str(v["n"]), fmt(v["acc"]), fmt(v["acc_norm"]), fmt(v["chat"]), v["source"]]
            for name, v in mc.items()
        ],
    )


def _harness(doc: Doc, h: dict, out: ReportFiles) -> None:
    doc.heading("lm-evaluation-harness")
    doc.table(
        ["task", "metric", "value"],
        [[task, metric, fmt(value)] for task, values in h.items() for metric, value in values.items()],
    )


def _reward_accuracy(doc: Doc, r: dict, out: ReportFiles) -> None:
    doc.heading("Reward model: pairwise accuracy")
    doc.para(f"Source: {r['source']}. A tie counts one half.")
    doc.table(
        ["accuracy", "mean margin", "ties", "pairs"],
        [[fmt(r["accuracy"]), fmt(r["mean_margin"]), str(r["ties"]), str(r["n"])]],
    )


def _win_rate(doc: Doc, w: dict, out: ReportFiles) -> None:
    doc.heading("Win rate against the reference (judged by the reward model)")
    doc.para(
        f"Judgments in AlpacaEval format: `{w['judgments_file']}` (output_1 = reference, output_2 = model)."
    )
    doc.table(
        [
            "win rate (%)",
            "standard error",
            "LC win rate (%)",
            "wins",
            "losses",
            "ties",
            "pairs",
            "mean score model",
            "mean score ref",
        ],
        [
            [
                _pct(w["win_rate"]),
                _pct(w["standard_error"]),
                _pct(w["lc_win_rate"]),
                str(w["n_wins"]),
                str(w["n_wins_base"]),
                str(w["n_draws"]),
                str(w["n_total"]),
                fmt(w["mean_reward_model"]),
                fmt(w["mean_reward_ref"]),
            ]
        ],
    )


def _verbosity(doc: Doc, v: dict, out: ReportFiles) -> None:
    _verbosity_section(doc, v)
    if out.per.get("model_tokens"):
        path = plots.length_histogram(
            out.out_dir / "length_hist.png",
            out.per["model_tokens"],
            out.per.get("ref_tokens"),
            title="response lengths: model vs reference",
        )
        out.files["length_hist"] = path.name
        doc.image(path, "Response lengths (tokens), model vs reference")
    if out.per.get("model_reward"):
        series = {"model": (out.per["model_tokens"], out.per["model_reward"])}
        if out.per.get("ref_reward"):
            series["reference"] = (out.per["ref_tokens"], out.per["ref_reward"])
        path = plots.reward_scatter(out.out_dir / "reward_vs_length.png", series)
        out.files["reward_vs_length"] = path.name
        doc.image(path, "Reward-model score vs response length (tokens)")


def _kl(doc: Doc, k: dict, out: ReportFiles) -> None:
    doc.heading("KL(model ‖ reference)")
    doc.para(
        "On held-out prompts: responses sampled from the model at temperature 1; per response, the sum over "
        "its positions of the full-vocabulary KL between the two next-token distributions (never below 0; "
        "the plain Monte-Carlo sum of log p_model − log p_ref over the sampled tokens is in eval.json as "
        "kl_sampled)."
    )
    doc.table(
        ["KL (nats / response)", "standard error", "KL per token", "samples", "mean tokens"],
        [
            [
                fmt(k["kl"]),
                fmt(k["standard_error"]),
                fmt(k["kl_per_token"]),
                str(k["n_samples"]),
                fmt(k["mean_response_tokens"]),
            ]
        ],
    )


#: Each section's part of the report, in report order: (metric section, renderer).
SECTION_REPORTS = (
    ("perplexity", _perplexity),
    ("task_accuracy", _task_accuracy),
    ("multiple_choice", _multiple_choice),
    ("harness", _harness),
    ("reward_accuracy", _reward_accuracy),
    ("win_rate", _win_rate),
    ("verbosity", _verbosity),
    ("kl", _kl),
)


def _verbosity_section(doc: Doc, v: dict) -> None:
    doc.heading("Verbosity and length")
    doc.para(f"Tokens are counted with {v['tokens_counted_with']}; words split on whitespace.")
    sides = [("model", v["model"])] + ([("reference", v["ref"])] if v.get("ref") else [])
    rows = []
    for unit in ("tokens", "words", "chars"):
        for stat in ("mean", "median", "p90"):
            rows.append([f"{unit}: {stat}"] + [fmt(s["length"][unit][stat], 1) for _, s in sides])
    rows += [
        ["ended with eos"] + [fmt(s["stop"]["eos"]) for _, s in sides],
        ["hit max_new_tokens"] + [fmt(s["stop"]["max_new_tokens"]) for _, s in sides],
        ["distinct-1"] + [fmt(s["distinct_1"]) for _, s in sides],
        ["distinct-2"] + [fmt(s["distinct_2"]) for _, s in sides],
        ["repeated 4-gram share"] + [fmt(s["repeated_4gram_share"]) for _, s in sides],
        ["Spearman(reward, length)"] + [fmt(s["reward_length_spearman"]) for _, s in sides],
    ]
    doc.table(["statistic"] + [name for name, _ in sides], rows)
    if v.get("length_ratio"):
        r = v["length_ratio"]
        doc.table(
            ["length ratio model / reference", "chars", "words", "tokens"],
            [["mean length ratio", fmt(r["chars"]), fmt(r["words"]), fmt(r["tokens"])]],
        )


def _examples(doc: Doc, path: Path, n: int = 5) -> None:
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()[:n]
    if not lines:
        return
    doc.heading("Examples")
    for line in lines:
        s = json.loads(line)
        text = f"PROMPT: {s['prompt']}\nMODEL: {s['model']!r}"
        if "ref" in s:
            text += f"\nREFERENCE: {s['ref']!r}"
        if s.get("answer") is not None:
            text += f"\nANSWER: {s['answer']}"
        doc.pre(text)
