"""Local `evaluate` modules for alignpipe's metrics, loadable offline.

Each metric is a folder ``eval/metrics/<name>/`` holding ``<name>.py``, which defines an
`evaluate.Metric` subclass that calls into `alignpipe.eval.judgments`, `alignpipe.eval.lc_winrate` and `alignpipe.eval.sections.verbosity`
(the numbers are computed there, not re-implemented here):

- ``win_rate``: inputs ``preferences`` (AlpacaEval scale [1, 2], None = missing) ->
  win_rate, standard_error, n_wins, n_wins_base, n_draws, n_total, n_missing;
- ``lc_win_rate``: inputs ``preferences``, ``lengths_1`` (baseline), ``lengths_2`` (model), optional
  compute argument ``difficulty`` -> lc_win_rate;
- ``length_stats``: inputs ``predictions`` (texts), optional compute argument ``tokenizer`` ->
  words_/chars_/tokens_ mean, median, p90, distinct_1, distinct_2, repeated_4gram_share.

``evaluate.load("<path to the folder>")`` works with ``HF_HUB_OFFLINE=1``; `load_metric` resolves the
path from the name.
"""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
METRIC_NAMES = ("win_rate", "lc_win_rate", "length_stats")


def metric_path(name: str) -> Path:
    """Folder of the local evaluate module ``name``."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; alignpipe's metrics are {', '.join(METRIC_NAMES)}")
    return METRICS_DIR / name


def load_metric(name: str, **kwargs):
    """``evaluate.load`` of one of alignpipe's local metrics (no Hub access needed)."""
    import evaluate

    return evaluate.load(str(metric_path(name)), **kwargs)
