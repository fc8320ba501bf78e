"""The embedded default data: made by the project itself, offline, deterministic by seed.

`load_default(kind, split, seed, n)` is what the demo pipeline feeds its stages:

- "text": {"text": document} rows of real English prose from the Python standard
  library (`corpus.build_corpus(TEXT_MIN_CHARS)`, about 4 MB, cached after the first
  build), split 99/1 into train/test at document boundaries; `seed` does not change it.
- "sft": chat conversations answering small verifiable tasks (`tasks.DEFAULT_TASKS` unless
  `tasks` names others from `tasks.TASKS`), 5000 train / 250 test.
- "preference": prompt / chosen (correct) / rejected (wrong) pairs, 12000 / 250.
- "prompt": prompts with their answers for RL, 2000 / 250.

Test splits are held out: no test prompt appears in any train split. `check_answer` and
`score` grade model responses against a row's "answer".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from alignpipe.core.errors import AlignpipeError
from alignpipe.defaults.corpus import build_corpus, split_corpus, split_documents
from alignpipe.defaults.tasks import (
    DEFAULT_TASKS,
    KINDS,
    SIZES,
    SPLITS,
    TASKS,
    check_answer,
    make_rows,
    score,
)

if TYPE_CHECKING:
    import datasets

ALL_KINDS = ("text", *KINDS)
#: Size of the corpus behind the "text" kind (see `build_corpus`).
TEXT_MIN_CHARS = 4_000_000

__all__ = [
    "ALL_KINDS",
    "DEFAULT_TASKS",
    "SIZES",
    "SPLITS",
    "TASKS",
    "build_corpus",
    "check_answer",
    "default_rows",
    "load_default",
    "make_rows",
    "score",
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
    if kind != "text":
        return make_rows(kind, split, seed, n, tasks)
    train, test = split_corpus(build_corpus(TEXT_MIN_CHARS))
    docs = split_documents(train if split == "train" else test)
    return [{"text": doc} for doc in docs[:n]]


def load_default(
    kind: str, split: str = "train", seed: int = 0, n: int | None = None, tasks: Sequence[str] = DEFAULT_TASKS
) -> datasets.Dataset:
    """A default data set: `kind` in ALL_KINDS, `split` "train" or "test", the first `n` rows
    (default: the sizes in the module docstring; every document for "text"); task kinds over `tasks`."""
    import datasets

    return datasets.Dataset.from_list(default_rows(kind, split, seed, n, tasks))
