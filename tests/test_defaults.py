"""The embedded default data: corpus, tasks, checker, data kinds and `alignpipe make-data`."""

import random
import re
import sys
from collections import Counter

import datasets
import pytest

from alignpipe import cli, defaults
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.graders import check_answer
from alignpipe.defaults import default_rows, load_default
from alignpipe.defaults.corpus import DOC_SEP, build_corpus, split_corpus, split_documents
from alignpipe.defaults.tasks import DEFAULT_TASKS, KINDS, SIZES, TASKS, is_held_out, make_problem, make_rows
from alignpipe.tasks import score

# The corpus tests share one cached 1.2 MB build (a prefix of the 4 MB default), so only a
# machine's first run pays for parsing the stdlib (about 10 s).
SMALL_CORPUS = 1_200_000


def _prompt(row: dict) -> str:
    return row["messages"][0]["content"] if "messages" in row else row["prompt"][0]["content"]


# --------------------------------------------------------------------------- checker

ACCEPTED = [
    ("7", "7"),
    ("7", "The answer is 7."),
    ("7", "Answer: 7"),
    ("7", "7.0"),
    ("7", "Let me think.\nThe answer is 7."),
    ("68", "23 + 45 = 68"),
    ("3000", "3 km = 3000 meters."),
    ("3000", "The answer is 3,000."),
    ("52", "The larger number is 52."),
    ("0", "The answer is 0."),
    ("c, f, a", "c, f, a"),
    ("c, f, a", "Reversed: c f a."),
    ("c, f, a", "[c, f, a]"),
    ("2, 7, 9", "The answer is 2, 7, 9."),
    ("blue cat", "Here it is: Blue cat"),
    ("blue cat", '"blue cat"'),
]
REJECTED = [
    ("7", "8"),
    ("7", "17"),
    ("7", "70"),
    ("70", "7"),
    ("7", "The answer is 8."),
    ("7", "7 or 8"),
    ("7", "The answer is 7, not 8."),  # two numbers in the final answer
    ("68", "23 + 45 is 68"),  # no marker: the whole line holds three numbers
    ("7", ""),
    ("7", "seven"),
    ("c, f, a", "a, f, c"),
    ("c, f, a", "c, f"),
    ("c, f, a", "c, f, a, b"),
    ("c, f, a", "Reversed:"),
    ("blue cat", "blue"),
    ("blue cat", "cat blue"),
]


@pytest.mark.parametrize(("answer", "response"), ACCEPTED)
def test_checker_accepts_terse_and_verbose_correct_answers(answer, response):
    assert check_answer(answer, response)


@pytest.mark.parametrize(("answer", "response"), REJECTED)
def test_checker_rejects_near_misses(answer, response):
    assert not check_answer(answer, response)


def test_score_is_accuracy_and_checks_lengths():
    records = [{"answer": "7"}, {"answer": "c, f, a"}, {"answer": "12"}]
    assert score(records, ["The answer is 7.", "a, f, c", "12"]) == pytest.approx(2 / 3)
    with pytest.raises(AlignpipeError):
        score(records, ["7"])


def test_every_phrasing_of_every_task_grades_right_and_wrong_answers_correctly():
    rng = random.Random(0)
    for task in TASKS:
        for _ in range(200):
            p = make_problem(task, rng, held_out=rng.random() < 0.5)
            assert p.wrong, p
            for phrasing in (None, *p.phrasings):
                assert check_answer(p.answer, p.say(p.answer, phrasing)), (p, phrasing)
                for wrong in p.wrong:
                    assert not check_answer(p.answer, p.say(wrong, phrasing)), (p, wrong, phrasing)


def test_tasks_compute_their_answers():
    # Recompute a few answers independently from the prompt text.
    rng = random.Random(1)
    for _ in range(50):
        p = make_problem("add", rng)
        x, y = map(int, re.findall(r"\d+", p.prompt))
        assert p.answer == str(x + y)
        p = make_problem("sort", rng)
        items = sorted(int(d) for d in re.findall(r"\d", p.prompt))
        assert p.answer == ", ".join(map(str, items))
        p = make_problem("count_letter", rng)
        letter, word = re.search(r"\b([a-z])\b.* ([a-z]{3,})\W*$", p.prompt).groups()
        assert p.answer == str(word.count(letter))


# --------------------------------------------------------------------------- data kinds


@pytest.mark.parametrize("kind", KINDS)
def test_rows_are_deterministic_by_seed(kind):
    rows = make_rows(kind, "train", seed=0, n=200)
    assert rows == make_rows(kind, "train", seed=0, n=200)
    assert rows[:50] == make_rows(kind, "train", seed=0, n=50)  # a smaller n is a prefix
    assert rows != make_rows(kind, "train", seed=1, n=200)
    loaded = load_default(kind, "train", seed=0, n=200).to_list()  # the task rows with safety rows between
    tasks_only = [{k: v for k, v in r.items() if k != "safety"} for r in loaded if r["safety"] is None]
    assert 0 < len(tasks_only) < 200 and tasks_only == rows[: len(tasks_only)]


def test_default_sizes_and_task_balance():
    for (kind, split), size in SIZES.items():
        rows = make_rows(kind, split)
        assert len(rows) == size
        counts = Counter(row["task"] for row in rows)
        assert set(counts) == set(DEFAULT_TASKS) and max(counts.values()) - min(counts.values()) <= 1


def test_rows_over_chosen_tasks_and_unknown_tasks():
    rows = make_rows("preference", "train", n=90, tasks=TASKS)
    counts = Counter(row["task"] for row in rows)
    assert set(counts) == set(TASKS) and set(counts.values()) == {9}
    assert {r["task"] for r in make_rows("sft", "test", n=20, tasks=("add", "max"))} == {"add", "max"}
    # the default mix is a choice of tasks, not other data: the same tasks give the same rows
    assert make_rows("sft", "train", n=70) == make_rows("sft", "train", n=70, tasks=DEFAULT_TASKS)
    with pytest.raises(AlignpipeError, match="unknown task.*'multiply'"):
        make_rows("sft", tasks=("add", "multiply"))
    with pytest.raises(AlignpipeError, match="unknown task"):
        make_rows("sft", tasks=())


def test_no_test_prompt_is_in_any_train_split():
    train = {_prompt(r) for seed in (0, 1) for kind in KINDS for r in make_rows(kind, "train", seed=seed)}
    for kind in KINDS:
        test = [_prompt(r) for r in make_rows(kind, "test", seed=0)]
        assert len(set(test)) == len(test)  # unique within the split
        assert not train & set(test)
    assert {_prompt(r) for r in make_rows("sft", "test")} != {_prompt(r) for r in make_rows("prompt", "test")}


def test_tasks_with_few_held_out_problems_drop_out_of_large_test_splits():
    rows = make_rows("prompt", "test", n=3000)
    prompts = [_prompt(r) for r in rows]
    assert len(set(prompts)) == len(prompts) == 3000
    counts = Counter(r["task"] for r in rows)
    # convert has 6 units x 99 amounts, ~120 held out (x 2 phrasings); compare ~2,000 held-out pairs x 2 phrasings
    assert counts["convert"] < 250 and counts["compare"] > 400


def test_sft_replies_are_correct_and_mostly_terse():
    rows = make_rows("sft", "train")
    replies = [r["messages"][1]["content"] for r in rows]
    assert all(r["messages"][1]["role"] == "assistant" for r in rows)
    assert all(check_answer(r["answer"], reply) for r, reply in zip(rows, replies))
    terse = sum(reply == r["answer"] for r, reply in zip(rows, replies)) / len(rows)
    assert 0.7 < terse < 0.9


@pytest.mark.parametrize("split", ["train", "test"])
def test_preference_pairs_are_labelled_right_and_length_is_no_shortcut(split):
    rows = make_rows("preference", split)
    chosen = [r["chosen"][0]["content"] for r in rows]
    rejected = [r["rejected"][0]["content"] for r in rows]
    assert all(check_answer(r["answer"], c) for r, c in zip(rows, chosen))
    assert not any(check_answer(r["answer"], x) for r, x in zip(rows, rejected))
    assert all(len(c) != len(x) for c, x in zip(chosen, rejected))
    chosen_longer = sum(len(c) > len(x) for c, x in zip(chosen, rejected)) / len(rows)
    tolerance = 0.03 if split == "train" else 0.08  # 12000 vs 250 fair coin flips
    assert abs(chosen_longer - 0.5) < tolerance
    # Styles lean terse like the SFT replies, on both sides, so neither side teaches verbosity.
    # (Every verbose phrasing has a ":", "=" or "."; a terse answer has none.)
    if split == "train":
        terse = [
            sum(not re.search(r"[:=.]", text) for text in side) / len(rows) for side in (chosen, rejected)
        ]
        assert 0.5 < terse[0] < 0.8 and terse[1] > 0.3, terse


def test_held_out_partition_is_about_a_fifth_of_problems():
    held = sum(is_held_out("add", (x, y)) for x in range(100) for y in range(100))
    assert 0.17 < held / 10_000 < 0.23


def test_unknown_kind_or_split_is_a_user_error():
    with pytest.raises(AlignpipeError, match="kind"):
        load_default("poems")
    with pytest.raises(AlignpipeError, match="split"):
        load_default("sft", split="validation")


# --------------------------------------------------------------------------- corpus


def test_corpus_is_megabytes_of_english():
    text = build_corpus(SMALL_CORPUS)
    assert len(text) >= SMALL_CORPUS > 1_000_000
    words = re.findall(r"[a-z]+", text.lower())
    top = {w for w, _ in Counter(words).most_common(15)}
    assert {"the", "of", "to", "a", "is", "and"} <= top
    visible = re.sub(r"\s", "", text)
    assert sum(c.isascii() and c.isalpha() for c in visible) / len(visible) > 0.8
    docs = split_documents(text)
    assert len(docs) > 100 and len(set(docs)) == len(docs)


def test_corpus_build_is_deterministic_and_a_prefix_of_larger_builds():
    small = build_corpus(80_000, cache=False)
    assert small == build_corpus(80_000, cache=False)
    assert build_corpus(SMALL_CORPUS).startswith(small + DOC_SEP)


def test_split_corpus_at_document_boundaries():
    docs = [f"Document {i} says hello.\nIt has two paragraphs." for i in range(10)]
    train, test = split_corpus(DOC_SEP.join(docs), test_fraction=0.2)
    assert split_documents(test) == [docs[4], docs[9]]  # each time the test share can reach 1/5
    assert split_documents(train) == [d for i, d in enumerate(docs) if i not in (4, 9)]
    text = build_corpus(SMALL_CORPUS)
    train, test = split_corpus(text)
    assert 0.009 < len(test) / len(text) <= 0.01
    assert len(split_documents(test)) > 5
    assert sorted(split_documents(train) + split_documents(test)) == sorted(split_documents(text))


def test_text_kind_serves_corpus_documents(monkeypatch):
    monkeypatch.setattr(defaults, "TEXT_MIN_CHARS", SMALL_CORPUS)
    test_docs = load_default("text", "test")
    assert test_docs.column_names == ["text"]
    assert test_docs["text"] == split_documents(split_corpus(build_corpus(SMALL_CORPUS))[1])
    assert len(load_default("text", "train", n=5)) == 5


# --------------------------------------------------------------------------- make-data


def test_make_data_writes_files_that_datasets_reloads(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(defaults, "TEXT_MIN_CHARS", SMALL_CORPUS)
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # cli.main rewrites it for the subcommand
    assert cli.main(["make-data", "--output", str(tmp_path), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    for kind in defaults.ALL_KINDS:
        for split in ("train", "test"):
            path = tmp_path / f"{kind}_{split}.jsonl"
            reloaded = datasets.load_dataset(
                "json", data_files=str(path), split="train", cache_dir=str(tmp_path)
            )
            expected = default_rows(kind, split, seed=3)
            assert reloaded.to_list() == expected
            assert f"{path}: {len(expected)} rows" in printed


def test_make_data_tasks_option(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(defaults, "TEXT_MIN_CHARS", SMALL_CORPUS)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert cli.main(["make-data", "--output", str(tmp_path), "--tasks", "all"]) == 0
    rows = datasets.load_dataset(
        "json", data_files=str(tmp_path / "sft_train.jsonl"), split="train", cache_dir=str(tmp_path)
    )
    assert set(rows["task"]) == set(TASKS) | {"safety", "letters"}  # every task, and the safety rows
    assert rows.to_list() == default_rows("sft", "train", tasks=tuple(TASKS))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["make-data", "--output", str(tmp_path / "other"), "--tasks", "add,multiply"])
    assert exit_info.value.code == 2
    assert "unknown task(s) 'multiply'; known: add, subtract" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
