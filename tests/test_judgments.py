"""Pairwise judgments: reading, win rate and SE, the length-controlled win rate, AlpacaEval figures, CLI."""

import csv
import gzip
import json
import math

import numpy as np
import pytest
from scipy.special import expit

from alignpipe.core.errors import DataError
from alignpipe.eval.judgments import judgment_metrics, judgments_from_rows, read_judgments, win_rate_stats
from alignpipe.eval.lc_winrate import fit_l1_logistic, fit_length_glm, is_extreme_change, lc_win_rate

ROWS = [
    {"instruction": "q1", "output_1": "ab", "output_2": "abcd", "preference": 2},
    {"instruction": "q2", "output_1": "abcdef", "output_2": "a", "preference": 1},
    {"instruction": "q3", "output_1": "abc", "output_2": "abc", "preference": 1.5},
    {"instruction": "q4", "output_1": "a", "output_2": "abcdefg", "preference": 2.0},
    {"instruction": "q5", "output_1": "abcd", "output_2": "ab", "preference": 1.75},
    {"instruction": "q6", "output_1": "ab", "output_2": "ab", "preference": None},
]


def test_win_rate_and_standard_error_by_hand():
    out = win_rate_stats([r["preference"] for r in ROWS])
    # scored: 1, 0, .5, 1, .75 (the None is dropped) -> mean .65
    # deviations .35 -.65 -.15 .35 .10 -> squares sum to .70 -> sd = sqrt(.70 / 4); se = sd / sqrt(5)
    assert out["win_rate"] == pytest.approx(65.0)
    assert out["standard_error"] == pytest.approx(100 * math.sqrt(0.70 / 4) / math.sqrt(5))
    counts = (out["n_wins"], out["n_wins_base"], out["n_draws"], out["n_total"], out["n_missing"])
    assert counts == (3, 1, 1, 5, 1)


def test_legacy_zero_is_a_tie_and_single_verdict_has_no_se():
    out = win_rate_stats([0, 2])
    assert out["win_rate"] == pytest.approx(75.0) and out["n_draws"] == 1
    one = win_rate_stats([2])
    assert one["win_rate"] == 100.0 and math.isnan(one["standard_error"])


@pytest.mark.parametrize("suffix", [".json", ".json.gz", ".jsonl", ".jsonl.gz"])
def test_read_formats_give_the_same_judgments(tmp_path, suffix):
    path = tmp_path / f"j{suffix}"
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        if ".jsonl" in suffix:
            f.write("".join(json.dumps(r) + "\n" for r in ROWS))
        else:
            json.dump(ROWS, f)
    j = read_judgments(path)
    assert len(j) == 6 and j.output_2[3] == "abcdefg" and math.isnan(j.preference[5])
    metrics = judgment_metrics(j)
    assert metrics["win_rate"] == pytest.approx(65.0)
    # lengths over all rows read: baseline 2 6 3 1 4 2, model 4 1 3 7 2 2
    assert metrics["avg_length_1"] == pytest.approx(18 / 6)
    assert metrics["avg_length_2"] == pytest.approx(19 / 6)
    assert 0.0 < metrics["lc_win_rate"] < 100.0


def test_difficulty_column_feeds_the_lc_win_rate():
    rows = [dict(r, instruction_difficulty=k / 10) for k, r in enumerate(ROWS)]
    j = judgments_from_rows(rows)
    assert j.difficulty.tolist() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    keep = slice(0, 5)  # the last row has no verdict
    expected = lc_win_rate(j.preference[keep], j.lengths_1[keep], j.lengths_2[keep], j.difficulty[keep])
    assert judgment_metrics(j)["lc_win_rate"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"preference": 3}, "preference", r"in \[1, 2\]"),
        ({"preference": 0.5}, "preference", r"in \[1, 2\]"),
        ({"preference": "2"}, "preference", "expected a number"),
        ({"preference": True}, "preference", "expected a number"),
        ({"output_2": None}, "output_2", "expected a string"),
        ({"output_1": 12}, "output_1", "expected a string"),
    ],
)
def test_bad_rows_name_file_row_field(tmp_path, change, field, message):
    rows = [dict(r) for r in ROWS]
    rows[2].update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=message) as e:
        read_judgments(path)
    assert (e.value.source, e.value.row, e.value.field) == (str(path), 3, field)


def test_bad_files(tmp_path):
    rows = [dict(r) for r in ROWS]
    del rows[1]["output_2"]
    with pytest.raises(DataError) as e:
        judgments_from_rows(rows, source="x")
    assert (e.value.row, e.value.field) == (2, "output_2") and "missing" in str(e.value)

    jsonl = tmp_path / "j.jsonl"
    jsonl.write_text(json.dumps(ROWS[0]) + "\n\n{not json\n")
    with pytest.raises(DataError, match="not valid JSON") as e:
        read_judgments(jsonl)
    assert e.value.row == 3  # the line number in the file

    not_list = tmp_path / "j.json"
    not_list.write_text(json.dumps({"rows": ROWS}))
    with pytest.raises(DataError, match="JSON list"):
        read_judgments(not_list)
    with pytest.raises(DataError, match=r"\.json, \.jsonl"):
        read_judgments(tmp_path / "j.csv")
    with pytest.raises(DataError, match="not found"):
        read_judgments(tmp_path / "absent.json")

    some_difficulties = [dict(r) for r in ROWS]
    some_difficulties[0]["instruction_difficulty"] = 0.3
    with pytest.raises(DataError, match="some rows") as e:
        judgments_from_rows(some_difficulties)
    assert (e.value.row, e.value.field) == (2, "instruction_difficulty")


# ---- length-controlled win rate ------------------------------------------------------------------


def test_l1_logistic_limits():
    X = np.ones((5, 1))
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    # a weak penalty gives the unpenalised MLE, logit(mean y) = log(.6 / .4)
    assert fit_l1_logistic(X, y, C=1e6)[0] == pytest.approx(math.log(1.5), abs=1e-4)
    # a strong one zeroes every weight (|gradient| at 0 is |sum(.5 - y)| = .5 < 1 / C)
    assert fit_l1_logistic(X, y, C=1e-4)[0] == 0.0
    # fractional targets: the MLE of an intercept is still logit(mean y)
    assert fit_l1_logistic(X, np.array([0.9, 0.8, 0.2, 0.1, 0.5]), C=1e6)[0] == pytest.approx(0.0, abs=1e-4)


def test_planted_length_bias_is_removed():
    """The judge prefers longer answers; the LC win rate recovers the length-free preference.

    800 judgments, the model's answer longer than the reference by N(150, 300) characters (about a
    third of the answers are shorter), verdicts drawn from Bernoulli(sigmoid(theta + phi * tanh(d / sd))).
    With binary verdicts the estimate carries sampling noise of at least
    sqrt(p (1 - p) / 800): at theta = -0.5 (p = 38%) that alone is 1.7 points and the estimator's sd
    over seeds is about 2.2-3.5 points, so a 2-point check would be a coin toss. At theta = -3
    (p = 4.7%, the regime of weak models on AlpacaEval) the estimator's sd over 200 seeds is 1.1 points
    (bias +0.1), so 2 points is about 1.8 sd; the raw win rate is 12-22 points above the truth.
    """
    theta, phi, n = -3.0, 3.0, 800
    rng = np.random.default_rng(0)
    len_1 = rng.integers(300, 1500, n).astype(float)
    len_2 = np.maximum(len_1 + rng.normal(150, 300, n), 1.0)
    d = len_2 - len_1
    assert 0.2 < (d < 0).mean() < 0.45  # lengths on both sides of the reference
    preference = 1 + rng.binomial(1, expit(theta + phi * np.tanh(d / d.std(ddof=1))))

    truth = 100 * expit(theta)
    raw = win_rate_stats(preference)["win_rate"]
    glm = fit_length_glm(preference, len_1, len_2)
    lc = glm.win_rate()  # what lc_win_rate returns without difficulties
    assert abs(raw - truth) > 5
    assert abs(lc - truth) < 2
    assert glm.phi > 1.5  # the judge's taste for length is found, with the right sign


def test_difficulty_term_with_noise_free_weighted_verdicts():
    """With fractional verdicts equal to the true probabilities, the fit recovers every coefficient."""
    theta, phi, beta, n = -0.5, 2.0, 1.0, 800
    rng = np.random.default_rng(1)
    len_1 = rng.integers(300, 1500, n).astype(float)
    len_2 = len_1 + rng.normal(300, 300, n)
    difficulty = rng.normal(size=n)
    d = len_2 - len_1
    preference = 1 + expit(theta + phi * np.tanh(d / d.std(ddof=1)) + beta * difficulty)

    glm = fit_length_glm(preference, len_1, len_2, difficulty)
    assert (glm.theta, glm.phi, glm.beta_difficulty) == pytest.approx((theta, phi, beta), abs=0.02)
    truth = 100 * expit(theta + beta * difficulty).mean()
    assert lc_win_rate(preference, len_1, len_2, difficulty) == pytest.approx(truth, abs=0.3)
    assert abs(win_rate_stats(preference)["win_rate"] - truth) > 5


def test_lc_of_equal_lengths_and_strong_penalty():
    pref = [2, 1, 1, 2, 2, 1.5, 2, 1, 2, 2]
    # no length differences: the length term is constant, so LC is the intercept-only fit
    lc = lc_win_rate(pref, [5] * 10, [5] * 10, Cs=[1e6])
    assert lc == pytest.approx(65.0, abs=1e-3)
    assert lc_win_rate(pref, [5] * 10, range(10), Cs=[1e-4]) == 50.0  # every weight shrunk to 0
    # AlpacaEval's bounds at a raw 50: below min(50 - 50/4, 50 - 10) = 37.5 or above max(62.5, 60) = 62.5
    assert is_extreme_change(50.0, 37.4) and is_extreme_change(50.0, 62.6)
    assert not is_extreme_change(50.0, 37.6) and not is_extreme_change(50.0, 62.4)


# ---- AlpacaEval's published figures --------------------------------------------------------------

ALPACA_FILES = ["alpaca-7b", "alpaca-7b_concise", "alpaca-7b_verbose"]


@pytest.mark.parametrize("model", ALPACA_FILES)
def test_reproduces_alpaca_eval_leaderboard_win_rate(shared_data, model):
    folder = shared_data / "alpaca-eval"
    with open(folder / "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv", newline="") as f:
        board = {row[""]: row for row in csv.DictReader(f)}[model]
    j = read_judgments(folder / f"{model}.annotations.json.gz")
    ours = win_rate_stats(j.preference)
    assert ours["win_rate"] == pytest.approx(float(board["win_rate"]), abs=0.1)
    assert ours["standard_error"] == pytest.approx(float(board["standard_error"]), abs=0.01)
    for key in ("n_wins", "n_wins_base", "n_draws", "n_total"):
        assert ours[key] == int(board[key]), key
    # (no comparison of lc_win_rate: theirs uses Hub-fitted difficulties and gamed-baseline data)


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_json(tmp_path, capsys):
    from alignpipe.cli import main

    path = tmp_path / "j.json"
    path.write_text(json.dumps(ROWS))
    assert main(["eval", "judgments", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = judgment_metrics(read_judgments(path))
    assert out["file"] == str(path)
    for key in ("win_rate", "lc_win_rate", "standard_error", "n_total", "avg_length_1", "avg_length_2"):
        assert out[key] == pytest.approx(expected[key]), key
    assert out["win_rate"] == pytest.approx(65.0) and out["n_total"] == 5

    assert main(["eval", "judgments", str(path)]) == 0
    table = capsys.readouterr().out
    assert "win rate (%)" in table and "65.00" in table and "length-controlled" in table


def test_cli_malformed_file_exits_2_naming_file_row_field(tmp_path, capsys):
    from alignpipe.cli import main  # the `alignpipe` console script's entry point

    rows = [dict(r) for r in ROWS]
    rows[3]["preference"] = 2.5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rows))
    assert main(["eval", "judgments", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert f"alignpipe: error: {path}, row 4, field 'preference'" in captured.err
    assert captured.out == ""
