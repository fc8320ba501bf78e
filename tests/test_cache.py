"""The content cache of a stage's data (core/cache.py) and the run record's phase times."""

import json

import pytest
from conftest import COMMON_ARGS
from datasets import Dataset, DatasetDict

from alignpipe.core.cache import cache_dir, content_digest, disk_backed
from alignpipe.stages import dpo
from alignpipe.training import stage


def rows(n, offset=0):
    return [{"prompt": f"what is {i} plus 1", "answer": str(i + 1)} for i in range(offset, offset + n)]


def test_cache_dir_follows_alignpipe_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("ALIGNPIPE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "alignpipe"


def test_same_rows_share_one_folder_and_other_rows_do_not(monkeypatch, tmp_path):
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(tmp_path))
    a = Dataset.from_list(rows(20))
    assert content_digest(a) == content_digest(Dataset.from_list(rows(20)))
    assert content_digest(a) != content_digest(Dataset.from_list(rows(20, offset=1)))
    assert content_digest(a) != content_digest(a.select(range(19)))
    first = disk_backed(DatasetDict({"train": a, "test": Dataset.from_list(rows(4, 100))}))
    again = disk_backed(DatasetDict({"train": Dataset.from_list(rows(20)), "test": a.select(range(4))}))
    folders = sorted(p.name for p in (tmp_path / "datasets").iterdir())
    assert len(folders) == 3  # train (shared by both calls), two different test splits
    assert first["train"].cache_files == again["train"].cache_files
    assert first["train"].to_list() == rows(20) and again["test"].to_list() == rows(4)
    empty = disk_backed(DatasetDict({"train": a, "test": a.select(range(0))}))  # max_eval_samples: 0
    assert len(empty["test"]) == 0 and len(list((tmp_path / "datasets").iterdir())) == 3


def test_a_map_on_cached_rows_is_loaded_not_redone(monkeypatch, tmp_path):
    """What the trainers' tokenisation gets: a second `map` of the same function on the same rows reads the
    file the first one wrote (datasets' fingerprint cache), in a new data set object as in a new process."""
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(tmp_path))

    def tokenize(row):
        return {"n": len(row["prompt"].split())}

    one = disk_backed(DatasetDict({"train": Dataset.from_list(rows(30))}))["train"].map(tokenize)
    written = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "datasets").rglob("cache-*.arrow")}
    two = disk_backed(DatasetDict({"train": Dataset.from_list(rows(30))}))["train"].map(tokenize)
    assert written and one.cache_files == two.cache_files
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "datasets").rglob("cache-*.arrow")} == written
    assert list(two["n"]) == [5] * 30  # "what is 0 plus 1"


@pytest.mark.numerics
def test_a_rerun_loads_the_tokenised_pairs_and_records_its_phases(
    monkeypatch, tiny_minigpt, tiny_data, tmp_path
):
    """DPO twice on the same pairs, made in memory as the embedded default data is: the second run writes no
    new cache file (TRL's tokenisation was loaded) and trains the same; each run record says where its time
    went. (Rows read from a file are disk-backed by datasets already: its own cache serves them.)"""
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(tmp_path / "cache"))
    pairs = [json.loads(line) for line in tiny_data["preference"].read_text().splitlines()]
    in_memory = DatasetDict({"train": Dataset.from_list(pairs[:48]), "test": Dataset.from_list(pairs[48:56])})
    monkeypatch.setattr(stage, "load_mixture", lambda *a, **kw: DatasetDict(in_memory))

    def run(*extra):  # into one folder: TRL's length filter closes over the whole config, output_dir included
        out = tmp_path / "dpo"
        argv = ["--model_name_or_path", str(tiny_minigpt), "--dataset_name", str(tiny_data["preference"])]
        argv += ["--output_dir", str(out), "--max_steps", "2", "--max_length", "64", *COMMON_ARGS, *extra]
        assert dpo.main(argv) == 0
        return json.loads((out / "run_record.json").read_text())

    def cache_files():
        return {p: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "datasets").rglob("cache-*.arrow")}

    first = run()
    written = cache_files()
    second = run("--overwrite_output_dir", "true")
    assert written and cache_files() == written
    assert (
        first["metrics"]["train_loss"] == second["metrics"]["train_loss"]
    )  # same rows, same order, same code
    for record in (first, second):
        phases = record["phases_s"]
        assert list(phases) == ["load", "data", "setup", "train", "evaluate", "save"]
        assert all(v >= 0 for v in phases.values())
        assert sum(phases.values()) <= record["duration_s"] + 0.05
