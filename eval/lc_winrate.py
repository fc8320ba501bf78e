"""Length-controlled win rate, after AlpacaEval 2.0 (Dubois et al., 2024).

The judge's preference for the model's answer over the baseline's is modelled by a logistic GLM,

    P(model wins on row i) = sigmoid(theta + phi * tanh(d_i / sd(d)) + beta * difficulty_i)

with ``d_i = len(output_2) - len(output_1)`` in characters (model minus baseline), ``sd`` the sample
standard deviation (ddof=1) of ``d`` over the rows, and the difficulty term only when instruction
difficulties are given. The length-controlled win rate is the model's predicted win rate with the
length term at zero, averaged over the rows:

    lc_win_rate = 100 * mean_i sigmoid(theta + beta * difficulty_i)      (= 100 * sigmoid(theta) without difficulties)

Fitting follows AlpacaEval's ``glm_winrate.py`` (``length_controlled_v1``):

- targets are fractional, ``y = preference - 1`` in [0, 1], with the cross-entropy
  ``-[y log q + (1 - y) log(1 - q)]`` (their duplicate-rows trick computes the same loss);
- no separate intercept: theta is the coefficient of a column of ones and, as with their
  ``liblinear`` fit with ``fit_intercept=False``, it is penalised like the others;
- an L1 penalty: minimise ``||w||_1 + C * sum_i loss_i``; C is chosen among ``logspace(-4, 4, 10)``
  (scikit-learn's ``LogisticRegressionCV(Cs=10)`` grid) by 5-fold cross-validation on the held-out
  cross-entropy (rows go to folds round-robin; the smallest C among equal scores wins), then the
  model is refitted on all rows with that C. With fewer rows than folds, C = 100 (their no-CV value).

The L1 problem is solved exactly with scipy's L-BFGS-B on ``w = u - v, u, v >= 0``.

What is *not* reproduced: AlpacaEval also "regularises to the baseline" by adding the baseline's own
length-gamed annotations (``df_gamed.csv``, downloaded from the Hub) to the fit with weight 0.1, and
its published figures use instruction difficulties fitted on the whole leaderboard (also from the
Hub). Without those, this LC win rate on their annotation files is a different estimate from their
``length_controlled_winrate`` column (see docs/eval_metrics.md). Our ``phi`` has the opposite sign of
their length coefficient, as they use baseline-minus-model lengths; the LC figure is unaffected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

C_GRID = np.logspace(-4, 4, 10)
C_WITHOUT_CV = 100.0
N_SPLITS = 5


@dataclass
class LengthGLM:
    """A fitted length-controlled GLM. ``beta_difficulty`` is None when no difficulties were used."""

    theta: float
    phi: float
    beta_difficulty: float | None
    C: float
    length_scale: float  # sd of the length differences the length term was standardised with
    n_rows: int

    def win_rate(self, difficulty: Sequence[float] | None = None) -> float:
        """Predicted win rate (percent) with the length term at zero: the length-controlled win rate."""
        if self.beta_difficulty is None or difficulty is None:
            return 100.0 * float(expit(self.theta))
        d = np.asarray(difficulty, dtype=float)
        return 100.0 * float(expit(self.theta + self.beta_difficulty * d).mean())

    def predict(self, lengths_1, lengths_2, difficulty=None) -> np.ndarray:
        """P(model wins) per row, length term included."""
        x = self.theta + self.phi * length_feature(lengths_1, lengths_2, self.length_scale)
        if self.beta_difficulty is not None and difficulty is not None:
            x = x + self.beta_difficulty * np.asarray(difficulty, dtype=float)
        return expit(x)


def length_scale(lengths_1: Sequence[float], lengths_2: Sequence[float]) -> float:
    """sd (ddof=1) of ``lengths_2 - lengths_1``; 1.0 when it is 0 or undefined (the term is then constant)."""
    d = np.asarray(lengths_2, dtype=float) - np.asarray(lengths_1, dtype=float)
    sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    return sd if sd > 0 else 1.0


def length_feature(lengths_1, lengths_2, scale: float | None = None) -> np.ndarray:
    """``tanh((lengths_2 - lengths_1) / scale)``, scale defaulting to `length_scale` of these rows."""
    d = np.asarray(lengths_2, dtype=float) - np.asarray(lengths_1, dtype=float)
    return np.tanh(d / (length_scale(lengths_1, lengths_2) if scale is None else scale))


def fit_l1_logistic(X: np.ndarray, y: np.ndarray, C: float) -> np.ndarray:
    """argmin_w ||w||_1 + C * sum_i CE(y_i, sigmoid(X_i w)) for fractional targets y in [0, 1].

    Solved as a smooth bound-constrained problem in (u, v) >= 0 with w = u - v, divided by C for
    conditioning; at the optimum u_j * v_j = 0, so this is the exact L1 solution.
    """
    k = X.shape[1]

    def objective(uv):
        w = uv[:k] - uv[k:]
        z = X @ w
        loss = (np.logaddexp(0.0, z) - y * z).sum() + uv.sum() / C
        g = X.T @ (expit(z) - y)
        return loss, np.concatenate([g + 1.0 / C, -g + 1.0 / C])

    res = minimize(
        objective,
        np.zeros(2 * k),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * (2 * k),
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9},
    )
    return res.x[:k] - res.x[k:]


def _choose_C(X: np.ndarray, y: np.ndarray, Cs: Sequence[float], n_splits: int) -> float:
    folds = np.arange(len(y)) % n_splits
    losses = np.zeros(len(Cs))
    for j, C in enumerate(Cs):
        for f in range(n_splits):
            train, test = folds != f, folds == f
            w = fit_l1_logistic(X[train], y[train], C)
            q = np.clip(expit(X[test] @ w), 1e-15, 1 - 1e-15)
            losses[j] += -np.mean(y[test] * np.log(q) + (1 - y[test]) * np.log(1 - q))
    return float(Cs[int(np.argmin(losses))])


def _targets(preferences) -> np.ndarray:
    p = np.array([math.nan if v is None else v for v in preferences], dtype=float)
    p[p == 0.0] = 1.5  # AlpacaEval's legacy tie code
    return p - 1.0


def fit_length_glm(
    preferences: Sequence[float | None],
    lengths_1: Sequence[float],
    lengths_2: Sequence[float],
    difficulty: Sequence[float] | None = None,
    *,
    Cs: Sequence[float] = C_GRID,
    n_splits: int = N_SPLITS,
) -> LengthGLM:
    """Fit the GLM above. Preferences are in [1, 2] (AlpacaEval's scale); rows with None/NaN are dropped.

    ``lengths_*`` are the answers' lengths (characters for AlpacaEval's definition). ``Cs`` is the
    grid of inverse L1 strengths searched by ``n_splits``-fold CV; give one value to skip the search.
    """
    y = _targets(preferences)
    len_1, len_2 = np.asarray(lengths_1, dtype=float), np.asarray(lengths_2, dtype=float)
    if not (len(y) == len(len_1) == len(len_2)):
        raise ValueError(
            f"preferences, lengths_1, lengths_2 differ in length: {len(y)}, {len(len_1)}, {len(len_2)}"
        )
    if np.any((y < 0) | (y > 1)):
        raise ValueError("preferences must lie in [1, 2] (AlpacaEval's scale), or be None/NaN")
    keep = ~np.isnan(y)
    y, len_1, len_2 = y[keep], len_1[keep], len_2[keep]
    if len(y) == 0:
        raise ValueError("no rows with a preference to fit the length-controlled GLM on")
    scale = length_scale(len_1, len_2)
    columns = [np.ones_like(y), length_feature(len_1, len_2, scale)]
    if difficulty is not None:
        d = np.asarray(difficulty, dtype=float)
        if len(d) != len(keep):
            raise ValueError(f"difficulty has {len(d)} values for {len(keep)} rows")
        columns.append(d[keep])
    X = np.column_stack(columns)
    Cs = np.atleast_1d(np.asarray(Cs, dtype=float))
    if len(Cs) == 1:
        C = float(Cs[0])
    elif n_splits < 2 or len(y) < n_splits:
        C = C_WITHOUT_CV
    else:
        C = _choose_C(X, y, Cs, n_splits)
    w = fit_l1_logistic(X, y, C)
    return LengthGLM(
        theta=float(w[0]),
        phi=float(w[1]),
        beta_difficulty=float(w[2]) if difficulty is not None else None,
        C=C,
        length_scale=scale,
        n_rows=len(y),
    )


def lc_win_rate(
    preferences: Sequence[float | None],
    lengths_1: Sequence[float],
    lengths_2: Sequence[float],
    difficulty: Sequence[float] | None = None,
    **fit_kwargs,
) -> float:
    """Length-controlled win rate in percent (see the module docstring); NaN-preference rows dropped."""
    glm = fit_length_glm(preferences, lengths_1, lengths_2, difficulty, **fit_kwargs)
    if difficulty is None:
        return glm.win_rate()
    keep = ~np.isnan(_targets(preferences))
    return glm.win_rate(np.asarray(difficulty, dtype=float)[keep])


def is_extreme_change(
    win_rate: float, lc_win_rate: float, abs_diff: float = 10.0, rel_diff: float = 4.0
) -> bool:
    """AlpacaEval's check that the LC win rate moved suspiciously far from the raw one.

    True when ``lc < min(wr - wr / rel_diff, wr - abs_diff)`` or
    ``lc > max(wr + (100 - wr) / rel_diff, wr + abs_diff)``. It usually means the fit extrapolates to
    "equal lengths" far outside the observed length differences (e.g. a model whose answers are all
    much shorter than the baseline's), where the GLM's figure is least trustworthy.
    """
    too_small = lc_win_rate < min(win_rate - win_rate / rel_diff, win_rate - abs_diff)
    too_large = lc_win_rate > max(win_rate + (100 - win_rate) / rel_diff, win_rate + abs_diff)
    return bool(too_small or too_large)
