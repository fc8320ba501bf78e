"""The embedded default data: made by the project itself, offline, deterministic by seed.

`load_default(kind, split, seed, n)` is what the demo pipeline feeds its stages:

- "text": {"text": document} rows of real English prose from the Python standard
  library (`corpus.build_corpus(TEXT_MIN_CHARS)`, about 4 MB, cached after the first
  build), split 99/1 into train/test at document boundaries; `seed` does not change it.
- "sft": chat conversations answering small verifiable tasks (`tasks.DEFAULT_TASKS` unless
  `tasks` names others from `tasks.TASKS`), 5000 train / 250 test, plus the safety rows (5556 / 278).
- "preference": prompt / chosen (correct) / rejected (wrong) pairs, 12000 / 250, safety pairs included.
- "prompt": prompts with their answers for RL, 2000 / 500, plus the safety prompts (2857 train).
- "safety": {"prompt", "label"} rows for `alignpipe eval`'s safety section: the held-out unsafe requests and
  benign look-alikes of `safety` (test split: 52 unsafe, 92 benign).

The task kinds interleave safety rows (`safety`): unsafe requests and benign look-alikes, evenly spread so
that every prefix holds its share (`SAFETY_SHARE` of the rows; none in the "prompt" test split, which is the
task-accuracy benchmark). Rows say which they are in ``task`` ("safety", "letters" for the verifiable benign
questions) and ``safety`` ("unsafe", "benign"; absent on task rows).

Test splits are held out: no test prompt appears in any train split. Responses are graded against a row's
"answer" by its task's grader (`alignpipe.tasks`; the embedded rule is `alignpipe.core.graders.check_answer`).

`load_harms(kind, split, seed, n)` is the second embedded source, `harms` (`alignpipe.defaults.harms`): a
wide, hand-written safety set for aligning real pretrained models, kinds "sft", "preference", "prompt" and
"safety" (no "text"); its test split holds out whole goals (246 unsafe and 183 benign prompts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from alignpipe.core.errors import AlignpipeError
from alignpipe.defaults import harms
from alignpipe.defaults.corpus import build_corpus, split_corpus, split_documents
from alignpipe.defaults.safety import safety_rows
from alignpipe.defaults.tasks import (
    DEFAULT_TASKS,
    KINDS,
    SIZES,
    SPLITS,
    TASKS,
    make_rows,
)

if TYPE_CHECKING:
    import datasets

ALL_KINDS = ("text", *KINDS, "safety")
#: Share of each task kind's rows that are safety rows, by (kind, split).
SAFETY_SHARE = {
    ("sft", "train"): 0.1,
    ("sft", "test"): 0.1,
    ("preference", "train"): 0.25,
    ("preference", "test"): 0.2,
    ("prompt", "train"): 0.3,
    ("prompt", "test"): 0.0,
}
#: Size of the corpus behind the "text" kind (see `build_corpus`).
TEXT_MIN_CHARS = 4_000_000

__all__ = [
    "ALL_KINDS",
    "DEFAULT_TASKS",
    "SIZES",
    "SPLITS",
    "TASKS",
    "build_corpus",
    "default_rows",
    "harms_rows",
    "load_default",
    "load_harms",
    "make_rows",
    "split_corpus",
]


def default_rows(
    kind: str, split: str = "train", seed: int = 0, n: int | None = None, tasks: Sequence[str] = DEFAULT_TASKS
) -> list[dict]:
    """The rows `load_default` wraps, as plain dicts."""
    if kind not in ALL_KINDS:
        raise AlignpipeError(f"unknown default data kind {kind!r}; choose one of {', '.join(ALL_KINDS)}")
    if split not in SPLITS:
        raise AlignpipeError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if n is not None and n < 0:
        raise AlignpipeError(f"n must be a non-negative number of rows, got {n}")
    if kind == "safety":
        return safety_rows("safety", split, seed, n)  # n=None: every request of the split once
    if kind != "text":
        return _with_safety(kind, split, seed, n, tasks)
    train, test = split_corpus(build_corpus(TEXT_MIN_CHARS))
    docs = split_documents(train if split == "train" else test)
    return [{"text": doc} for doc in docs[:n]]


def _is_safety_slot(i: int, share: float) -> bool:
    """Row i of an interleaved set is a safety row: evenly spread, so every prefix holds its share."""
    return int((i + 1) * share) > int(i * share)


def _with_safety(kind: str, split: str, seed: int, n: int | None, tasks: Sequence[str]) -> list[dict]:
    share = SAFETY_SHARE.get((kind, split), 0.0)
    if n is None:  # SFT and RL prompts keep their task rows and add the safety rows; preference pairs share
        n = SIZES[kind, split] if kind == "preference" else round(SIZES[kind, split] / (1 - share))
    slots = [_is_safety_slot(i, share) for i in range(n)]
    task_rows = iter(make_rows(kind, split, seed, slots.count(False), tasks))
    safe_rows = iter(safety_rows(kind, split, seed, slots.count(True)))
    rows = [next(safe_rows if slot else task_rows, None) for slot in slots]
    return [{**r, "safety": r.get("safety")} for r in rows if r is not None]  # one set of columns


def load_default(
    kind: str, split: str = "train", seed: int = 0, n: int | None = None, tasks: Sequence[str] = DEFAULT_TASKS
) -> datasets.Dataset:
    """A default data set: `kind` in ALL_KINDS, `split` "train" or "test", the first `n` rows
    (default: the sizes in the module docstring; every document for "text"); task kinds over `tasks`."""
    import datasets

    return datasets.Dataset.from_list(default_rows(kind, split, seed, n, tasks))


def harms_rows(kind: str, split: str = "train", seed: int = 0, n: int | None = None) -> list[dict]:
    """The rows `load_harms` wraps, as plain dicts (`alignpipe.defaults.harms.safety_rows`)."""
    if kind not in harms.KINDS:
        raise AlignpipeError(f"the harms data has no {kind!r} kind; choose one of {', '.join(harms.KINDS)}")
    if split not in SPLITS:
        raise AlignpipeError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if n is not None and n < 0:
        raise AlignpipeError(f"n must be a non-negative number of rows, got {n}")
    return harms.safety_rows(kind, split, seed, n)


def load_harms(kind: str, split: str = "train", seed: int = 0, n: int | None = None) -> datasets.Dataset:
    """The `harms` data set of `kind` ("sft", "preference", "prompt", "safety"), `split` "train" or "test",
    the first `n` rows (default: each request of the split once)."""
    import datasets

    ds = datasets.Dataset.from_list(harms_rows(kind, split, seed, n))
    if "answer" in ds.column_names:  # always None here: typed as the default data's answers, so the two mix
        ds = ds.cast_column("answer", datasets.Value("string"))
    return ds
