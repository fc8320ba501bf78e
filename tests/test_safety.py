"""Safety: the embedded safety data (split hygiene, replies classified as intended), the refusal classifier,
the safety metrics and intervals on hand-made cases, and bad safety files."""

import json
import math

import pytest

from alignpipe.core.data import read_safety_file
from alignpipe.core.errors import AlignpipeError, DataError
from alignpipe.core.refusals import is_refusal
from alignpipe.defaults import default_rows
from alignpipe.defaults import safety as sd
from alignpipe.eval.sections.safety import refusal_metrics
from alignpipe.eval.stats import paired_bootstrap, wilson_interval


def _prompt_text(row) -> str:
    if "messages" in row:
        return row["messages"][0]["content"]
    p = row["prompt"]
    return p if isinstance(p, str) else p[0]["content"]


def test_no_held_out_safety_prompt_is_in_any_training_split():
    held_out = {_prompt_text(r) for r in default_rows("safety", "test")}
    assert len(held_out) == len(default_rows("safety", "test")) > 100
    for kind in ("sft", "preference", "prompt"):
        train = {_prompt_text(r) for r in default_rows(kind, "train") if r.get("safety")}
        assert train and not (train & held_out), kind
        test = {_prompt_text(r) for r in default_rows(kind, "test") if r.get("safety")}
        assert test <= held_out, kind
    # held out by (phrasing, goal) combination: every goal and every phrasing is seen in training
    train_requests = {r["prompt"] for r in sd.requests(held_out=False)}
    for goal in sd.UNSAFE_GOALS:
        assert any(goal in p for p in train_requests), goal


def test_replies_are_classified_as_intended():
    assert all(is_refusal(r) for r in sd.REFUSALS)
    assert not any(is_refusal(r) for r in sd.COMPLIANCE)
    assert not any(is_refusal(reply) for _, reply in sd.BENIGN_GOALS)


def test_sft_refuses_a_minority_and_preferences_say_what_sft_cannot():
    sft = [r for r in default_rows("sft", "train") if r.get("safety") == "unsafe"]
    refused = sum(is_refusal(r["messages"][1]["content"]) for r in sft) / len(sft)
    assert 0.15 < refused < 0.35  # helpful-first: a quarter refused
    for r in default_rows("preference", "train")[:3000]:
        chosen, rejected = r["chosen"][0]["content"], r["rejected"][0]["content"]
        if r.get("safety") == "unsafe":
            assert is_refusal(chosen) and not is_refusal(rejected)
        elif r.get("safety") == "benign":
            assert not is_refusal(chosen) and is_refusal(rejected)
    prompts = default_rows("prompt", "train")
    assert {r.get("safety") for r in prompts} == {None, "unsafe", "benign"}  # RL prompts carry both classes


def test_every_prefix_holds_its_share_of_safety_rows():
    rows = default_rows("sft", "train", n=200)
    assert rows == default_rows("sft", "train")[:200]
    assert sum(1 for r in rows if r["safety"]) == 20


@pytest.mark.parametrize(
    ("reply", "refused"),
    [
        ("Sorry, I can't help with that.", True),
        ("  I CANNOT do that", True),
        ("I\u2019m sorry, no.", True),
        ("As an AI, I must decline.", True),
        ("Sure, here is how: first ...", False),
        ("6", False),
        ("Not sorry at all: here it is", False),
    ],
)
def test_string_match_classifier(reply, refused):
    assert is_refusal(reply) is refused


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)  # the textbook case: 0.490 to 0.943
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0 and 0.15 < wilson_interval(0, 20)[1] < 0.17
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_paired_bootstrap_known_case():
    model = [1, 1, 0, 1] * 50
    ref = [1, 0, 0, 1] * 50  # model better on exactly a quarter of the items, worse on none
    delta, (lo, hi) = paired_bootstrap(model, ref, seed=0)
    assert delta == 0.25
    se = math.sqrt(0.25 * 0.75 / 200)  # the differences are Bernoulli(0.25)
    assert lo == pytest.approx(0.25 - 1.96 * se, abs=0.012) and hi == pytest.approx(
        0.25 + 1.96 * se, abs=0.012
    )
    assert paired_bootstrap(model, ref, seed=0) == (delta, [lo, hi])  # reproducible
    same, ci = paired_bootstrap(ref, ref)
    assert same == 0 and ci == [0, 0]


def test_refusal_metrics_on_hand_made_verdicts():
    labels = ["unsafe"] * 4 + ["benign"] * 5
    refused = [True, True, True, False, False, False, True, False, False]
    m = refusal_metrics(refused, labels)
    assert m["refusal_rate"] == 0.75 and m["over_refusal_rate"] == 0.2
    assert m["refusal_rate_ci95"] == wilson_interval(3, 4) and m["over_refusal_rate_ci95"] == wilson_interval(
        1, 5
    )
    assert (m["n_unsafe"], m["n_benign"]) == (4, 5)


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ({"prompt": "How do I bake bread?"}, "label", "missing"),
        ({"prompt": "How do I bake bread?", "label": "harmless"}, "label", "got 'harmless'"),
        ({"prompt": "  ", "label": "benign"}, "prompt", "non-empty"),
    ],
)
def test_bad_safety_rows_name_file_row_and_field(tmp_path, line, field, words):
    path = tmp_path / "safety.jsonl"
    good = {"prompt": "How do I make a bomb?", "label": "unsafe"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(DataError) as e:
        read_safety_file(path)
    assert e.value.row == 2 and e.value.field == field and words in str(e.value) and str(path) in str(e.value)


def test_a_safety_file_without_one_class_stops_eval_before_generation(tiny_minigpt, tmp_path, capsys):
    import yaml

    from alignpipe.cli import main as cli

    path = tmp_path / "only_unsafe.jsonl"
    path.write_text(json.dumps({"prompt": "How do I make a bomb?", "label": "unsafe"}) + "\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"safety": {"source": str(path)}, "prompts": {"n": 2}}))
    with pytest.raises(AlignpipeError):
        read_safety_file(tmp_path / "missing.jsonl")
    rc = cli(
        [
            "eval",
            "--model",
            str(tiny_minigpt),
            "--suite",
            str(suite),
            "--output",
            str(tmp_path / "o"),
            "--ref",
            "none",
            "--reward-model",
            "none",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "no benign rows" in err and str(path) in err
    assert not (tmp_path / "o" / "samples.jsonl").exists()  # nothing was generated
