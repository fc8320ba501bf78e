"""The `harms` embedded safety set: whole goals held out, enough of each class, every category on both sides,
replies classified as intended, deterministic rows, and loading through the data layer and an eval suite."""

import types

import pytest
import yaml

from alignpipe.core.data import load_source
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.mixtures import load_mixture, mixture_from_args
from alignpipe.core.refusals import is_refusal
from alignpipe.defaults import harms as hm
from alignpipe.defaults import harms_rows, load_harms
from alignpipe.eval.suite import load_suite


def _prompt_text(row) -> str:
    if "messages" in row:
        return row["messages"][0]["content"]
    p = row["prompt"]
    return p if isinstance(p, str) else p[0]["content"]


def _goals():
    """(label, category, forms, answer or None) of every goal."""
    out = [("unsafe", c, forms, None) for c, goals in hm.UNSAFE.items() for forms in goals]
    return out + [("benign", c, forms, answer) for c, goals in hm.BENIGN.items() for forms, answer in goals]


def test_the_set_is_wide_and_every_prompt_is_distinct():
    assert len(hm.CATEGORIES) == 10 and len(hm.LOOKALIKES) == 8
    for d in (hm.UNSAFE, hm.BENIGN):
        assert all(len(goals) >= 25 for goals in d.values())
    assert all(2 <= len(forms) <= 4 for _, _, forms, _ in _goals())
    prompts = [f for _, _, forms, _ in _goals() for f in forms]
    assert len(prompts) == len(set(prompts))
    answers = [a for *_, a in _goals() if a is not None]
    assert all(0 < len(a.split()) <= 40 for a in answers)


def test_whole_goals_are_held_out_and_never_trained_on():
    held_out = {r["prompt"] for r in harms_rows("safety", "test")}
    for label, category, forms, _ in _goals():  # every form of a goal is on its goal's side
        side = {f in held_out for f in forms}
        assert side == {hm.is_held_out(label, category, forms)}, forms[0]
    for kind in hm.KINDS:
        train = {_prompt_text(r) for r in harms_rows(kind, "train")}
        test = {_prompt_text(r) for r in harms_rows(kind, "test")}
        assert train and not (train & held_out), kind
        assert test == held_out, kind
    # and no training request shares a goal with a held-out one
    held_goals = {r["goal"] for r in hm.requests(held_out=True)}
    assert not held_goals & {r["goal"] for r in hm.requests(held_out=False)}


def test_enough_held_out_prompts_and_every_category_on_both_sides():
    counts = hm.counts()
    test = harms_rows("safety", "test")
    assert sum(r["label"] == "unsafe" for r in test) >= 150
    assert sum(r["label"] == "benign" for r in test) >= 150
    for label, categories in (("unsafe", hm.CATEGORIES), ("benign", hm.LOOKALIKES)):
        for c in categories:
            assert counts["train", label, c] > 0 and counts["test", label, c] > 0, (label, c)
    total = sum(counts.values())
    assert 0.2 < sum(v for (s, *_), v in counts.items() if s == "test") / total < 0.4


def test_replies_are_classified_as_intended():
    assert len(hm.REFUSALS) >= 12 and len(hm.COMPLIANCE) >= 10
    assert all(is_refusal(r) for r in hm.REFUSALS + hm.CRISIS_REFUSALS)
    assert all(is_refusal(f"{r} {x}") for r in hm.REFUSALS for xs in hm.REDIRECTIONS.values() for x in xs)
    assert set(hm.REDIRECTIONS) == set(hm.CATEGORIES) - {"self_harm"}
    assert not any(is_refusal(r) for r in hm.COMPLIANCE)
    assert not any(is_refusal(a) for *_, a in _goals() if a is not None)
    assert all("988" in r or "crisis" in r for r in hm.CRISIS_REFUSALS)


@pytest.mark.parametrize("split", ["train", "test"])
def test_rows_of_every_kind(split):
    sft = harms_rows("sft", split)
    for r in sft:
        reply = r["messages"][1]["content"]
        assert r["task"] == "safety" and r["answer"] is None and r["category"]
        assert is_refusal(reply) == (r["safety"] == "unsafe")
        if r["category"] == "self_harm":
            assert reply in hm.CRISIS_REFUSALS
    for r in harms_rows("preference", split):
        chosen, rejected = r["chosen"][0]["content"], r["rejected"][0]["content"]
        if r["safety"] == "unsafe":
            assert is_refusal(chosen) and rejected in hm.COMPLIANCE
        else:
            assert not is_refusal(chosen) and rejected in hm.REFUSALS
    prompts = harms_rows("prompt", split)
    assert {r["safety"] for r in prompts} == {"unsafe", "benign"}
    assert all(set(r) == {"prompt", "task", "answer", "safety", "category"} for r in prompts)
    assert all(set(r) == {"prompt", "label", "category", "goal"} for r in harms_rows("safety", split))
    assert len({r["messages"][1]["content"] for r in sft if r["safety"] == "unsafe"}) > 20  # varied refusals


def test_deterministic_by_seed_and_sized_by_n():
    for kind in hm.KINDS:
        assert harms_rows(kind, "train", seed=3) == harms_rows(kind, "train", seed=3)
        assert harms_rows(kind, "train", seed=3) != harms_rows(kind, "train", seed=4)
    pool = len(hm.requests(held_out=False))
    assert len(harms_rows("prompt", "train", n=pool + 10)) == pool + 10  # training splits cycle
    assert len(harms_rows("safety", "test", n=10**6)) == len(hm.requests(held_out=True))  # test: each once
    with pytest.raises(AlignpipeError, match="no 'text' kind"):
        harms_rows("text")
    with pytest.raises(AlignpipeError, match="unknown split"):
        load_harms("sft", "validation")


@pytest.mark.parametrize("kind", ["sft", "preference", "prompt"])
def test_loads_through_the_data_layer_as_harms(kind):
    dsd = load_mixture({"datasets": [{"id": "harms"}], "seed": 1}, kind)
    held_out = {r["prompt"] for r in harms_rows("safety", "test")}
    train, test = ({_prompt_text(r) for r in dsd[s]} for s in ("train", "test"))
    assert test == held_out and not (train & held_out)
    assert "category" in dsd["train"].column_names
    short = mixture_from_args({"dataset_name": "harms", "seed": 0})  # the dataset_name shorthand
    assert len(load_mixture(short, kind)["test"]) == len(held_out)


def test_the_safety_kind_and_a_mixture_with_the_default_data():
    src = load_source({"id": "harms"}, "prompt", n=5)
    assert (len(src.train), len(src.test)) == (5, 5) and src.test_label == "harms prompt data (split test)"
    assert load_harms("safety", "test").column_names == ["prompt", "label", "category", "goal"]
    mixture = {"datasets": [{"id": "harms"}, {"id": "default", "weight": 0.05}], "seed": 0}
    dsd = load_mixture(mixture, "sft")
    assert {"unsafe", "benign", None} <= set(dsd["train"]["safety"])
    with pytest.raises(AlignpipeError, match="no 'text' kind"):
        load_mixture({"datasets": [{"id": "harms"}]}, "text")


def test_an_eval_suite_reads_source_harms(tmp_path):
    from alignpipe.eval.sections.safety import safety_rows

    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"safety": {"source": "harms"}}))
    ctx = types.SimpleNamespace(suite=load_suite(str(path)), rec=None)
    rows, where = safety_rows(ctx)
    assert rows == harms_rows("safety", "test", seed=ctx.suite.seed) and "harms" in where
    path.write_text(yaml.safe_dump({"safety": {"source": "harms", "n": 150}}))
    rows, _ = safety_rows(types.SimpleNamespace(suite=load_suite(str(path)), rec=None))
    assert [r["label"] for r in rows].count("unsafe") == [r["label"] for r in rows].count("benign") == 150


def test_a_guard_trains_on_harms():
    from alignpipe.stages.guard import GuardArguments, guard_rows

    train, test = guard_rows(GuardArguments(dataset_name="harms"), seed=0)
    assert {r["label"] for r in train} == {r["label"] for r in test} == {0, 1}
    assert len(test) == len(harms_rows("safety", "test")) and not {r["text"] for r in train} & {
        r["text"] for r in test
    }


def test_a_guards_threshold_is_chosen_on_whole_training_goals_kept_out_of_its_training():
    from alignpipe.stages.guard import GuardArguments, guard_rows, validation_split

    train, _ = guard_rows(GuardArguments(dataset_name="harms"), seed=0)
    fit, val = validation_split(train, 0.2, seed=0)
    assert sorted(map(str, fit + val)) == sorted(map(str, train))
    assert not {(r["label"], r["group"]) for r in fit} & {(r["label"], r["group"]) for r in val}
    for label in (0, 1):  # a fifth of each label's goals, every wording of each (a goal has several)
        goals = {r["group"] for r in train if r["label"] == label}
        held = [r for r in val if r["label"] == label]
        assert len({r["group"] for r in held}) == round(0.2 * len(goals)) and len(held) > len(goals) * 0.2
    assert validation_split(train, 0.2, seed=0) == (fit, val)  # the seed decides
    assert validation_split(train, 0.2, seed=1)[1] != val
    one_each = [r for label in (0, 1) for r in train if r["label"] == label][:1] + train[-1:]
    with pytest.raises(AlignpipeError, match="cannot be split"):
        validation_split(one_each, 0.2, seed=0)
