"""Report plots as PNG files, drawn with matplotlib's object API on the Agg canvas (no display, no pyplot
state, safe in any process).

- `length_histogram`: response lengths of one model against its reference;
- `length_histograms`: the same for several models side by side (the run report);
- `reward_scatter`: reward-model score against response length, one colour per model;
- `training_curves`: a stage's logged metrics against the step, from trainer_state.json's log_history;
- `quantization_chart`: each metric's relative change against full precision, one bar per precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MODEL_COLOR, REF_COLOR = "#1f77b4", "#ff7f0e"
DPI = 100

#: Panels of training curves: (title, log_history keys drawn together). A panel appears when a stage
#: logged any of its keys.
CURVE_PANELS = (
    ("loss", ("loss", "eval_loss")),
    ("reward-model accuracy", ("accuracy", "eval_accuracy")),
    ("reward margin", ("margin", "eval_margin")),
    ("DPO reward accuracy", ("rewards/accuracies", "eval_rewards/accuracies")),
    ("DPO reward margin", ("rewards/margins", "eval_rewards/margins")),
    ("PPO reward-model score", ("objective/scores", "objective/rlhf_reward", "eval_heldout/score_ppo")),
    ("PPO KL to reference", ("objective/kl", "eval_heldout/kl")),
    ("PPO losses", ("loss/policy_avg", "loss/value_avg")),
    ("learning rate", ("learning_rate",)),
)


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _bins(*series: Sequence[float]) -> np.ndarray:
    values = (
        np.concatenate([np.asarray(s, dtype=float) for s in series if len(s)])
        if any(len(s) for s in series)
        else np.zeros(1)
    )
    hi = max(float(values.max()), 1.0)
    return np.linspace(0, hi, min(30, int(hi) + 1) + 1)


def _hist(ax, model: Sequence[float], ref: Sequence[float] | None, title: str, unit: str) -> None:
    bins = _bins(model, ref or [])
    ax.hist(model, bins=bins, alpha=0.6, color=MODEL_COLOR, label=f"model (mean {np.mean(model):.1f})")
    if ref:
        ax.hist(ref, bins=bins, alpha=0.5, color=REF_COLOR, label=f"reference (mean {np.mean(ref):.1f})")
    ax.set_title(title)
    ax.set_xlabel(f"response length ({unit})")
    ax.set_ylabel("responses")
    ax.legend(fontsize=8)


def length_histogram(
    path: Path,
    model: Sequence[float],
    ref: Sequence[float] | None,
    *,
    title: str = "response lengths",
    unit: str = "tokens",
) -> Path:
    fig = Figure(figsize=(6, 3.6))
    _hist(fig.subplots(), model, ref, title, unit)
    return _save(fig, path)


def length_histograms(
    path: Path, panels: dict[str, tuple[Sequence[float], Sequence[float] | None]], *, unit: str = "tokens"
) -> Path:
    """One histogram per model: {name: (model lengths, reference lengths or None)}."""
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (name, (model, ref)) in zip(axes, panels.items()):
        _hist(ax, model, ref, name, unit)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


def reward_scatter(
    path: Path,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    unit: str = "tokens",
    title: str = "reward-model score vs response length",
) -> Path:
    """{label: (lengths, scores)}, one colour per label."""
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for label, (lengths, scores) in series.items():
        ax.scatter(lengths, scores, s=14, alpha=0.6, label=label)
    ax.set_xlabel(f"response length ({unit})")
    ax.set_ylabel("reward-model score")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def curve_panels(log_history: list[dict]) -> list[tuple[str, dict[str, tuple[list[float], list[float]]]]]:
    """(title, {key: (steps, values)}) for each panel of CURVE_PANELS the log history has data for."""
    panels = []
    for title, keys in CURVE_PANELS:
        lines = {}
        for key in keys:
            pts = [
                (h["step"], h[key])
                for h in log_history
                if key in h and "step" in h and isinstance(h[key], (int, float)) and math.isfinite(h[key])
            ]
            if pts:
                lines[key] = ([p[0] for p in pts], [p[1] for p in pts])
        if lines:
            panels.append((title, lines))
    return panels


def training_curves(path: Path, stage: str, log_history: list[dict]) -> Path | None:
    """The stage's curves in one row of panels; None when nothing plottable was logged."""
    panels = [p for p in curve_panels(log_history) if p[0] != "learning rate"]
    if not panels:
        return None
    fig = Figure(figsize=(4.2 * len(panels), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, lines) in zip(axes, panels):
        for key, (steps, values) in lines.items():
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=key)
        ax.set_title(f"{stage}: {title}", fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def quantization_chart(path: Path, rows: list[dict], labels: dict[str, str]) -> Path:
    """Bars of `<key>_change_pct` for each key of `labels`, one colour per quantised precision (rows[1:]);
    rows[0] is the full-precision baseline."""
    fig = Figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    keys = list(labels)
    width = 0.8 / max(1, len(rows) - 1)
    for j, row in enumerate(rows[1:]):
        values = [row.get(f"{k}_change_pct") or 0.0 for k in keys]
        ax.bar([i + j * width for i in range(len(keys))], values, width, label=row["precision"])
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xticks([i + width * (len(rows) - 2) / 2 for i in range(len(keys))], [labels[k] for k in keys])
    ax.set_ylabel("change vs full precision (%)")
    ax.legend()
    return _save(fig, path)
