"""eval.json: what `alignpipe eval` writes, how it is read back, and its flat `summary`.

The full schema is documented in docs/eval.md. In short (``schema_version`` 1):

    {"schema_version": 1, "created": iso time, "alignpipe_version": str,
     "model": info | null, "ref": info | null, "reward_model": info | null,   # info: path, kind, architecture,
     "ref_source": "--ref" | "auto: ..." | null,                                #   model_type, parameters, base_model
     "suite": {...resolved suite...}, "generation": {...}, "max_samples": int | null, "device": str,
     "metrics": {section: {...}},  "summary": {flat metric: number},
     "per_sample": {lists of per-response numbers for plots},
     "skipped": {section: reason}, "warnings": [str], "timings_s": {section: seconds},
     "files": {name: file in the output folder}}

NaN and infinities are written as null (valid JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from alignpipe.core.errors import AlignpipeError

SCHEMA_VERSION = 1

HIGHER, LOWER, NEUTRAL = "higher", "lower", "neutral"


@dataclass(frozen=True)
class Metric:
    """One summary metric: how tables name it, which way is better, how many decimals, its family."""

    key: (
        str  # the flat summary name (`summary`); for `acc`-like rows also the last component of mc/<name>/acc
    )
    label: str
    direction: str = NEUTRAL
    digits: int = 3
    group: str = "quality"  # quality, safety, preference, verbosity, cost


#: THE METRIC TABLE, in the order reports show them. Everything that names, orders or judges a metric reads it:
#: the eval report, the run report, the model cards. A new metric: a row here, its section, its suite key.
METRICS: tuple[Metric, ...] = (
    Metric("perplexity", "perplexity", LOWER),
    Metric("bits_per_byte", "bits/byte", LOWER),
    Metric("task_accuracy", "task accuracy", HIGHER),
    Metric("task_accuracy_delta", "task accuracy - ref", HIGHER),
    Metric("refusal_rate", "refusal of unsafe requests", HIGHER, group="safety"),
    Metric("over_refusal_rate", "over-refusal of benign requests", LOWER, group="safety"),
    Metric("refusal_rate_delta", "refusal rate - ref", HIGHER, group="safety"),
    # with a guard, the two above are the guard + model pair's; these the model's own
    Metric("unguarded_refusal_rate", "refusal, model alone", HIGHER, group="safety"),
    Metric("unguarded_over_refusal_rate", "over-refusal, model alone", LOWER, group="safety"),
    Metric("reward_accuracy", "reward accuracy", HIGHER, group="preference"),
    Metric("reward_accuracy_tasks", "reward accuracy (task pairs)", HIGHER, group="preference"),
    Metric("reward_accuracy_safety", "reward accuracy (safety pairs)", HIGHER, group="preference"),
    Metric("win_rate", "win rate vs ref (%)", HIGHER, 1, group="preference"),
    Metric("lc_win_rate", "LC win rate (%)", HIGHER, 1, group="preference"),
    Metric("kl", "KL to ref (nats)", NEUTRAL, 2),
    Metric("mean_tokens", "mean length (tokens)", NEUTRAL, 1, group="verbosity"),
    Metric("ref_mean_tokens", "ref mean length (tokens)", NEUTRAL, 1, group="verbosity"),
    Metric("length_ratio", "length ratio (chars, model/ref)", NEUTRAL, group="verbosity"),
    Metric("eos_share", "ended with eos", HIGHER, group="verbosity"),
    Metric("distinct_2", "distinct-2", HIGHER, group="verbosity"),
    Metric("repeated_4gram_share", "repeated 4-grams", LOWER, group="verbosity"),
    # not columns of the run report (a spread, a guard's own figure, last components of mc/<name>/...)
    Metric("win_rate_se", "win rate SE", NEUTRAL, 1, group="preference"),
    Metric("guard_f1", "guard F1 (unsafe)", HIGHER, group="safety"),
    Metric("weight_bytes", "weights (MB)", LOWER, group="cost"),  # eval --quantize's table
    Metric("tokens_per_s", "tokens / s", HIGHER, group="cost"),
    Metric("acc", "acc", HIGHER),
    Metric("acc_norm", "acc_norm", HIGHER),
)
TABLE: dict[str, Metric] = {m.key: m for m in METRICS}
#: The run report's columns, in order (then mc/..., harness/... and anything else present).
REPORT_COLUMNS: tuple[str, ...] = tuple(
    m.key for m in METRICS[: METRICS.index(TABLE["repeated_4gram_share"]) + 1]
)
#: Summary metrics that describe how verbose the answers are.
VERBOSITY: tuple[str, ...] = tuple(m.key for m in METRICS if m.group == "verbosity")


def digits(name: str) -> int:
    return TABLE[name].digits if name in TABLE else 3


def direction(name: str) -> str:
    """Which way is better: by exact name, then by the last path component (mc/<name>/acc, harness/...)."""
    if name in TABLE:
        return TABLE[name].direction
    last = name.rsplit("/", 1)[-1]
    if last.endswith("stderr"):
        return NEUTRAL
    if last in TABLE:
        return TABLE[last].direction
    return HIGHER if last.startswith(("acc", "exact_match", "mc")) else NEUTRAL


def label(name: str) -> str:
    return TABLE[name].label if name in TABLE and "/" not in name else name


def summary(metrics: dict) -> dict[str, float | list[float]]:
    """The headline numbers of `metrics` under flat names (what `alignpipe report` tabulates); keys ending in
    ``_ci95`` hold a 95% interval ``[lo, hi]`` of the key without the suffix."""
    out: dict[str, float] = {}
    if "perplexity" in metrics:
        out["perplexity"] = metrics["perplexity"]["perplexity"]
        out["bits_per_byte"] = metrics["perplexity"]["bits_per_byte"]
    if "task_accuracy" in metrics:
        ta = metrics["task_accuracy"]
        out["task_accuracy"] = ta["accuracy"]
        if "delta" in ta:
            out["task_accuracy_delta"] = ta["delta"]
            out["task_accuracy_delta_ci95"] = ta["delta_ci95"]
    if "safety" in metrics:
        sa = metrics["safety"]
        for key in ("refusal_rate", "refusal_rate_ci95", "over_refusal_rate", "over_refusal_rate_ci95"):
            out[key] = sa[key]
        if "refusal_rate_delta" in sa:
            out["refusal_rate_delta"] = sa["refusal_rate_delta"]
            out["refusal_rate_delta_ci95"] = sa["refusal_rate_delta_ci95"]
        if "guard" in sa:
            out["guard_f1"] = sa["guard"]["f1"]
        for key in ("refusal_rate", "refusal_rate_ci95", "over_refusal_rate", "over_refusal_rate_ci95"):
            if key in sa.get("unguarded", {}):
                out[f"unguarded_{key}"] = sa["unguarded"][key]
    for name, mc in metrics.get("multiple_choice", {}).items():
        out[f"mc/{name}/acc"] = mc["acc"]
        out[f"mc/{name}/acc_norm"] = mc["acc_norm"]
    for task, values in metrics.get("harness", {}).items():
        for metric, value in values.items():
            if not metric.endswith("stderr") and metric != "sample_len" and ",stderr" not in metric:
                out[f"harness/{task}/{metric}"] = value
    if "reward_accuracy" in metrics:
        ra = metrics["reward_accuracy"]
        out["reward_accuracy"] = ra["accuracy"]
        if "safety_pairs" in ra:
            out["reward_accuracy_tasks"] = ra["task_pairs"]["accuracy"]
            out["reward_accuracy_safety"] = ra["safety_pairs"]["accuracy"]
    if "win_rate" in metrics:
        out["win_rate"] = metrics["win_rate"]["win_rate"]
        out["win_rate_se"] = metrics["win_rate"]["standard_error"]
        out["lc_win_rate"] = metrics["win_rate"]["lc_win_rate"]
    v = metrics.get("verbosity")
    if v:
        out["mean_tokens"] = v["model"]["length"]["tokens"]["mean"]
        out["eos_share"] = v["model"]["stop"]["eos"]
        out["distinct_2"] = v["model"]["distinct_2"]
        out["repeated_4gram_share"] = v["model"]["repeated_4gram_share"]
        if v.get("ref"):
            out["ref_mean_tokens"] = v["ref"]["length"]["tokens"]["mean"]
            out["length_ratio"] = v["length_ratio"]["chars"]
    if "kl" in metrics:
        out["kl"] = metrics["kl"]["kl"]
    return out


def read_eval(path: str | Path) -> dict:
    """An eval.json, checked for a schema version this code reads."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise AlignpipeError(f"{path}: cannot read it as eval.json ({e})") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise AlignpipeError(
            f"{path}: schema_version {version!r}; this alignpipe reads version {SCHEMA_VERSION}"
        )
    return data
