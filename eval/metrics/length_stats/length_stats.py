"""Length and diversity statistics of generated responses.

Computed by `alignpipe.eval.sections.verbosity`; see that module for the exact definitions.
"""

import datasets
import evaluate

from alignpipe.eval.sections.verbosity import distinct_n, length_stats, repeated_ngram_share

_DESCRIPTION = """Mean, median and p90 of words and characters (and tokens, given a tokenizer) per response;
distinct-1 and distinct-2 (unique / total word n-grams over the whole set); mean share of repeated
4-grams within a response."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of response texts.
    tokenizer: optional tokenizer (a compute() argument) for token lengths.
Returns:
    words_mean, words_median, words_p90, chars_mean, chars_median, chars_p90,
    [tokens_mean, tokens_median, tokens_p90,] distinct_1, distinct_2, repeated_4gram_share.
"""

_CITATION = """@inproceedings{li2016diversity, title={A Diversity-Promoting Objective Function for Neural
Conversation Models}, author={Li, Jiwei and Galley, Michel and Brockett, Chris and Gao, Jianfeng and Dolan,
Bill}, booktitle={NAACL}, year={2016}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LengthStats(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, tokenizer=None):
        stats = length_stats(predictions, tokenizer)
        out = {f"{unit}_{k}": v for unit, summary in stats.items() for k, v in summary.items()}
        out["distinct_1"] = distinct_n(predictions, 1)
        out["distinct_2"] = distinct_n(predictions, 2)
        out["repeated_4gram_share"] = repeated_ngram_share(predictions, 4)
        return out
