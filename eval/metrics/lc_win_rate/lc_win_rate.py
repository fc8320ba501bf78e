"""Length-controlled win rate after AlpacaEval 2.0.

Computed by `alignpipe.eval.lc_winrate.lc_win_rate`; see that module for the GLM and how it is fitted.
"""

import datasets
import evaluate

from alignpipe.eval.lc_winrate import lc_win_rate

_DESCRIPTION = """Length-controlled win rate (percent): a logistic GLM of the preference on a model term and
phi * tanh(standardised length difference) (plus an instruction-difficulty term if given), fitted with
AlpacaEval's L1 penalty and cross-validated strength, read off with the length term at zero."""

_KWARGS_DESCRIPTION = """
Args:
    preferences: list of floats in [1, 2] (2 = model won), None for missing (dropped).
    lengths_1: length of the baseline's answer per pair (characters, as AlpacaEval).
    lengths_2: length of the model's answer per pair.
    difficulty: optional list of instruction difficulties, one per pair (a compute() argument).
Returns:
    lc_win_rate (percent).
"""

_CITATION = """@article{dubois2024length, title={Length-Controlled AlpacaEval: A Simple Way to Debias Automatic
Evaluators}, author={Dubois, Yann and Galambosi, Bal{\\'a}zs and Liang, Percy and Hashimoto, Tatsunori B},
journal={arXiv preprint arXiv:2404.04475}, year={2024}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LcWinRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "preferences": datasets.Value("float64"),
                    "lengths_1": datasets.Value("float64"),
                    "lengths_2": datasets.Value("float64"),
                }
            ),
        )

    def _compute(self, preferences, lengths_1, lengths_2, difficulty=None):
        return {"lc_win_rate": lc_win_rate(preferences, lengths_1, lengths_2, difficulty)}
