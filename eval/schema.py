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
from pathlib import Path

from alignpipe.core.errors import AlignpipeError

SCHEMA_VERSION = 1

#: Which way is better for each summary metric (by exact name, then by the last path component).
HIGHER, LOWER, NEUTRAL = "higher", "lower", "neutral"
DIRECTIONS = {
    "perplexity": LOWER,
    "bits_per_byte": LOWER,
    "task_accuracy": HIGHER,
    "reward_accuracy": HIGHER,
    "reward_accuracy_tasks": HIGHER,
    "reward_accuracy_safety": HIGHER,
    "refusal_rate": HIGHER,
    "over_refusal_rate": LOWER,
    "task_accuracy_delta": HIGHER,
    "refusal_rate_delta": HIGHER,
    "guard_f1": HIGHER,
    "win_rate": HIGHER,
    "lc_win_rate": HIGHER,
    "acc": HIGHER,
    "acc_norm": HIGHER,
    "kl": NEUTRAL,
    "length_ratio": NEUTRAL,
    "mean_tokens": NEUTRAL,
    "ref_mean_tokens": NEUTRAL,
    "eos_share": HIGHER,
    "distinct_2": HIGHER,
    "repeated_4gram_share": LOWER,
}

#: Human labels of summary metrics, for tables.
LABELS = {
    "perplexity": "perplexity",
    "bits_per_byte": "bits/byte",
    "task_accuracy": "task accuracy",
    "reward_accuracy": "reward accuracy",
    "reward_accuracy_tasks": "reward accuracy (task pairs)",
    "reward_accuracy_safety": "reward accuracy (safety pairs)",
    "refusal_rate": "refusal of unsafe requests",
    "over_refusal_rate": "over-refusal of benign requests",
    "task_accuracy_delta": "task accuracy - ref",
    "refusal_rate_delta": "refusal rate - ref",
    "guard_f1": "guard F1 (unsafe)",
    "win_rate": "win rate vs ref (%)",
    "win_rate_se": "win rate SE",
    "lc_win_rate": "LC win rate (%)",
    "kl": "KL to ref (nats)",
    "length_ratio": "length ratio (chars, model/ref)",
    "mean_tokens": "mean length (tokens)",
    "ref_mean_tokens": "ref mean length (tokens)",
    "eos_share": "ended with eos",
    "distinct_2": "distinct-2",
    "repeated_4gram_share": "repeated 4-grams",
}


#: Decimals shown for metrics that read better with fewer than the default three.
DIGITS = {"win_rate": 1, "win_rate_se": 1, "lc_win_rate": 1, "mean_tokens": 1, "ref_mean_tokens": 1, "kl": 2}


def digits(name: str) -> int:
    return DIGITS.get(name, 3)


def direction(name: str) -> str:
    if name in DIRECTIONS:
        return DIRECTIONS[name]
    last = name.rsplit("/", 1)[-1]
    if last.endswith("stderr"):
        return NEUTRAL
    return DIRECTIONS.get(last, HIGHER if last.startswith(("acc", "exact_match", "mc")) else NEUTRAL)


def label(name: str) -> str:
    return LABELS.get(name, name)


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
