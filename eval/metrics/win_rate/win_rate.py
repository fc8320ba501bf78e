"""AlpacaEval-style win rate of a model over a baseline from pairwise preferences.

Computed by `alignpipe.eval.judgments.win_rate_stats`; see that module for the exact definitions.
"""

import datasets
import evaluate

from alignpipe.eval.judgments import win_rate_stats

_DESCRIPTION = """Win rate (percent) = 100 * mean(preference - 1) over judged pairs, ties (1.5) counting half,
with its standard error 100 * sd(ddof=1) / sqrt(n), as AlpacaEval computes them."""

_KWARGS_DESCRIPTION = """
Args:
    preferences: list of floats in [1, 2] (1 = baseline won, 2 = model won, 1.5 = tie), None for missing.
Returns:
    win_rate, standard_error (percent), n_wins, n_wins_base, n_draws, n_total, n_missing.
Example:
    >>> metric = alignpipe.eval.metrics.load_metric("win_rate")
    >>> metric.compute(preferences=[2, 1, 1.5, 2])["win_rate"]
    62.5
"""

_CITATION = """@misc{alpaca_eval, author = {Xuechen Li and Tianyi Zhang and Yann Dubois and Rohan Taori and
Ishaan Gulrajani and Carlos Guestrin and Percy Liang and Tatsunori B. Hashimoto},
title = {AlpacaEval: An Automatic Evaluator of Instruction-following Models}, year = {2023},
howpublished = {\\url{https://github.com/tatsu-lab/alpaca_eval}}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WinRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"preferences": datasets.Value("float64")}),
        )

    def _compute(self, preferences):
        return win_rate_stats(preferences)
