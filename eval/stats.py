"""Confidence intervals for eval's comparisons.

- `wilson_interval(k, n)`: the 95% Wilson score interval of a proportion k/n (it stays inside [0, 1] and is
  honest at 0/n and n/n, where the normal approximation collapses to a point);
- `paired_bootstrap(model, ref)`: the difference of means model - ref over the same items with a
  percentile bootstrap 95% interval, resampling items (pairs) with replacement `n_boot` times from a fixed
  seed, so the interval is reproducible. Pairing removes the between-item variance that two separate
  intervals would double count: a change of a few points on 500 prompts can be told from noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> list[float]:
    """[lo, hi] of the Wilson score interval for k successes in n trials ([nan, nan] when n == 0)."""
    if n == 0:
        return [math.nan, math.nan]
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends, where rounding would cross them
    hi = 1.0 if k == n else min(1.0, centre + half)
    return [lo, hi]


def paired_bootstrap(
    model: Sequence[float], ref: Sequence[float], *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, list[float]]:
    """(mean(model - ref), [lo, hi]) over paired items; a percentile bootstrap interval of the mean difference."""
    a, b = np.asarray(model, dtype=float), np.asarray(ref, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in size: {a.shape} and {b.shape}")
    if a.size == 0:
        return math.nan, [math.nan, math.nan]
    diff = a - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(n_boot, diff.size))
    means = diff[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), [float(lo), float(hi)]


def binary_classification(predicted: Sequence[bool], actual: Sequence[bool]) -> dict:
    """Precision, recall and F1 of the positive class, and accuracy, from per-item predictions (a metric
    with no positive prediction, or no positive item, is 0 rather than undefined, as scikit-learn's
    ``zero_division=0``)."""
    if len(predicted) != len(actual):
        raise ValueError(f"{len(predicted)} predictions for {len(actual)} items")
    tp = sum(p and a for p, a in zip(predicted, actual))
    fp = sum(p and not a for p, a in zip(predicted, actual))
    fn = sum(a and not p for p, a in zip(predicted, actual))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    correct = sum(bool(p) == bool(a) for p, a in zip(predicted, actual))
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": correct / len(actual) if len(actual) else float("nan"),
    }
