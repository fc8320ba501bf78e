"""Length / repetition statistics (eval/sections/verbosity.py) and the local evaluate modules (eval/metrics/)."""

import math

import numpy as np
import pytest

from alignpipe.eval.judgments import win_rate_stats
from alignpipe.eval.lc_winrate import lc_win_rate
from alignpipe.eval.metrics import METRIC_NAMES, load_metric, metric_path
from alignpipe.eval.sections import verbosity


def test_distinct_n_pools_ngrams_over_the_set():
    texts = ["the cat sat", "the cat ran"]
    # unigrams: the cat sat the cat ran -> 4 unique / 6; bigrams: (the cat) x2, (cat sat), (cat ran) -> 3 / 4
    assert verbosity.distinct_n(texts, 1) == pytest.approx(4 / 6)
    assert verbosity.distinct_n(texts, 2) == pytest.approx(3 / 4)
    assert math.isnan(verbosity.distinct_n(["one"], 2))


def test_repeated_4gram_share_is_per_response_then_averaged():
    texts = [
        "a b c d a b c d",  # 4-grams abcd bcda cdab dabc abcd: 1 repeat of 5
        "x y z w x y z w x",  # xyzw yzwx zwxy wxyz xyzw yzwx: 2 repeats of 6
        "too short",  # no 4-gram: left out of the mean
    ]
    assert verbosity.repeated_ngram_share(texts) == pytest.approx((1 / 5 + 2 / 6) / 2)
    assert verbosity.repeated_ngram_share(["no repeats at all here"]) == 0.0
    assert math.isnan(verbosity.repeated_ngram_share(["tiny"]))


def test_length_stats_mean_median_p90():
    texts = ["a", "a b", "a b c", "a b c d", " ".join("w" * 10)]  # 1, 2, 3, 4, 10 words
    stats = verbosity.length_stats(texts)
    # p90 by linear interpolation: position 0.9 * 4 = 3.6 between 4 and 10 -> 4 + 0.6 * 6
    assert stats["words"] == pytest.approx({"mean": 4.0, "median": 3.0, "p90": 7.6})
    # characters: 1, 3, 5, 7, 19
    assert stats["chars"] == pytest.approx({"mean": 7.0, "median": 5.0, "p90": 7 + 0.6 * 12})
    assert "tokens" not in stats


def test_token_lengths_use_the_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(WordLevel({"[UNK]": 0, "hello": 1, ",": 2, "world": 3}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    texts = ["hello, world", "hello"]  # 3 tokens (the comma splits off) but 2 words; 1 token
    stats = verbosity.length_stats(texts, tokenizer)
    assert stats["tokens"]["mean"] == pytest.approx(2.0)
    assert stats["words"]["mean"] == pytest.approx(1.5)
    assert verbosity.length_ratio(["hello, world"], ["hello"], unit="tokens", tokenizer=tokenizer) == 3.0


def test_length_ratio_is_a_ratio_of_means():
    assert verbosity.length_ratio(["aaaa", "aaaaaa"], ["aa", "aaaaaa"]) == pytest.approx(5 / 4)
    assert verbosity.length_ratio(["a b c"], ["a", "b c d e f"], unit="words") == pytest.approx(3 / 3)
    assert math.isnan(verbosity.length_ratio(["abc"], [""]))
    with pytest.raises(ValueError, match="tokenizer"):
        verbosity.length_ratio(["a"], ["b"], unit="tokens")


def test_stop_shares():
    shares = verbosity.stop_shares([True, True, False, False], [False, False, True, False])
    assert shares == {"eos": 0.5, "max_new_tokens": 0.25, "other": 0.25}


def test_spearman_on_a_known_case_and_constant_input():
    # ranks of lengths: 1 2 3 5 4 -> d^2 sums to 2 -> rho = 1 - 6 * 2 / (5 * (25 - 1)) = 0.9
    assert verbosity.reward_length_spearman([1, 2, 3, 4, 5], [10, 20, 30, 50, 40]) == pytest.approx(0.9)
    assert verbosity.reward_length_spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    assert math.isnan(verbosity.reward_length_spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(verbosity.reward_length_spearman([1, 2, 3], [7, 7, 7]))
    assert math.isnan(verbosity.reward_length_spearman([1], [2]))


def test_verbosity_warning_rule():
    # longer than 1.3x and LC win rate not above 50 + 2 -> warn
    warning = verbosity.verbosity_warning(1.5, 51.0)
    assert warning is not None and "1.50x" in warning and "51.0%" in warning
    assert verbosity.verbosity_warning(1.5, 52.0) is not None  # the margin is inclusive
    assert verbosity.verbosity_warning(1.5, 52.1) is None  # LC rose: the length bought quality
    assert verbosity.verbosity_warning(1.3, 40.0) is None  # not longer than the threshold
    # against a previous stage instead of parity
    assert verbosity.verbosity_warning(1.4, 60.0, baseline_lc_win_rate=59.0) is not None
    assert verbosity.verbosity_warning(1.4, 60.0, baseline_lc_win_rate=55.0) is None
    assert verbosity.verbosity_warning(2.0, 40.0, max_ratio=2.5) is None
    assert verbosity.verbosity_warning(float("nan"), 40.0) is None


# ---- evaluate modules ----------------------------------------------------------------------------


def test_metric_folders_load_offline(monkeypatch):
    import socket

    import evaluate

    # HF_HUB_OFFLINE=1 comes from conftest; evaluate has its own flag; and any connection attempt fails.
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)

    def no_network(*args, **kwargs):
        raise AssertionError("evaluate.load tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    for name in METRIC_NAMES:
        assert (metric_path(name) / f"{name}.py").is_file()
        module = load_metric(name)
        assert isinstance(module, evaluate.Metric)
    with pytest.raises(ValueError, match="unknown metric"):
        metric_path("bleu")


def test_win_rate_module_matches_direct_function():
    prefs = [2.0, 1.0, 1.5, 2.0, 1.75, None]
    out = load_metric("win_rate").compute(preferences=prefs)
    assert out == pytest.approx(win_rate_stats(prefs), nan_ok=True)
    assert out["win_rate"] == pytest.approx(65.0) and out["n_missing"] == 1


def test_lc_win_rate_module_matches_direct_function():
    rng = np.random.default_rng(0)
    len_1 = rng.integers(100, 1000, 60).astype(float)
    len_2 = len_1 + rng.normal(100, 200, 60)
    prefs = 1 + rng.uniform(size=60)
    direct = lc_win_rate(prefs, len_1, len_2)
    out = load_metric("lc_win_rate").compute(preferences=prefs, lengths_1=len_1, lengths_2=len_2)
    assert out["lc_win_rate"] == pytest.approx(direct)
    difficulty = rng.normal(size=60)
    out = load_metric("lc_win_rate").compute(
        preferences=prefs, lengths_1=len_1, lengths_2=len_2, difficulty=list(difficulty)
    )
    assert out["lc_win_rate"] == pytest.approx(lc_win_rate(prefs, len_1, len_2, difficulty))


def test_length_stats_module_matches_direct_functions():
    texts = ["a b c d a b c d", "the cat sat on the mat", "hi"]
    out = load_metric("length_stats").compute(predictions=texts)
    stats = verbosity.length_stats(texts)
    assert out["words_mean"] == pytest.approx(stats["words"]["mean"])
    assert out["chars_p90"] == pytest.approx(stats["chars"]["p90"])
    assert out["words_median"] == 6.0
    assert out["distinct_1"] == pytest.approx(verbosity.distinct_n(texts, 1))
    assert out["distinct_2"] == pytest.approx(verbosity.distinct_n(texts, 2))
    assert out["repeated_4gram_share"] == pytest.approx((1 / 5 + 0 / 3) / 2)
