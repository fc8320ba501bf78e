"""Mixing the sources of a stage's data (alignment-handbook's `dataset_mixture`).

A stage gets its data with one call:

    from alignpipe.core.mixtures import load_mixture, mixture_from_args
    dsd = load_mixture(mixture_from_args(config), "preference", seed=seed,
                       tokenizer=tokenizer, max_length=max_length)   # DatasetDict: "train", "test"

The mixture is alignment-handbook's `dataset_mixture` (a plain dict, as read from the recipe YAML):

    dataset_mixture:
      datasets:
        - id: default        # "default" | "harms" | a local file or folder | a Hugging Face Hub id
          config: null       # Hub config name (or datasets' `name` for a folder of data files)
          split: train       # datasets' split syntax, "train[:1000]" included
          test_split: null   # this source's held-out split; defaults to "test" for `default` and `harms`
          # test_split_if_present: test   # the same, used only when the source has it (dataset_name shorthand)
          columns: null      # keep only these input columns
          where: null        # keep only the training rows whose column holds one of these values,
                             #   e.g. {safety: [unsafe, benign]} (held-out rows are kept whole)
          weight: 1.0        # fraction of this source's training rows to use, in (0, 1]
      test_split_size: 0.05  # held-out fraction (or row count) of the sources without a test split
      seed: 0

Mixing (alignment-handbook's recipe): each source's training rows are shuffled with the seed and the
first `int(len * weight)` kept. Sources with a test split contribute it whole to "test"; the rows of the
sources without one are pooled, shuffled, and `test_split_size` of them is held out with
`train_test_split(test_size, seed)`. The training rows are concatenated and shuffled. Without any
held-out rows, "test" is empty. Columns missing from some sources are filled with nulls. In an SFT
mixture that joins `messages` sources with `prompt`/`completion` ones, the latter become `messages`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, Features

from alignpipe.core.data import Source, load_source
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.formats import KINDS
from alignpipe.core.lengths import check_lengths
from alignpipe.core.log import echo

# --- mixtures ------------------------------------------------------------------------------------


def _align(parts: list[Dataset]) -> list[Dataset]:
    """Give every part the union of the columns (missing ones null) with the first part's types."""
    union: dict[str, Any] = {}
    for part in parts:
        for name, feature in part.features.items():
            union.setdefault(name, feature)
    features, aligned = Features(union), []
    for part in parts:
        for name, feature in union.items():
            if name not in part.column_names:
                part = part.add_column(name, [None] * len(part), feature=feature)
        part = part.select_columns(list(union))
        try:
            aligned.append(part if part.features == features else part.cast(features))
        except (ValueError, TypeError) as e:
            raise AlignpipeError(
                "the mixture's sources have columns of different types and cannot be "
                f"joined: {part.features} vs {features}: {e}"
            ) from e
    return aligned


def _concatenate(parts: list[Dataset]) -> Dataset:
    return datasets.concatenate_datasets(_align(parts))


def _join_prompt_completion(ds: Dataset) -> Dataset:
    return ds.map(
        lambda r: {"messages": r["prompt"] + r["completion"]},
        remove_columns=["prompt", "completion"],
        desc="Joining prompt and completion",
    )


def _harmonise(sources: list[Source], kind: str) -> None:
    """Give an SFT mixture one layout: `messages` wins over `prompt`/`completion`; `text` mixes with nothing."""
    if kind != "sft" or len(sources) < 2:
        return
    layouts = {
        "messages"
        if "messages" in s.train.column_names
        else "text"
        if "text" in s.train.column_names
        else "prompt-completion"
        for s in sources
    }
    if "text" in layouts and len(layouts) > 1:
        raise AlignpipeError(
            "an SFT mixture cannot join plain `text` sources with conversational ones: "
            + ", ".join(f"{s.label} ({s.format})" for s in sources)
        )
    if layouts == {"messages", "prompt-completion"}:
        for s in sources:
            if "completion" in s.train.column_names:
                s.train = _join_prompt_completion(s.train)
                s.test = _join_prompt_completion(s.test) if s.test is not None else None


def _weighted(ds: Dataset, weight: Any, label: str, seed: int) -> Dataset:
    weight = 1.0 if weight is None else weight
    if not isinstance(weight, (int, float)) or not 0 < weight <= 1:
        raise AlignpipeError(f"{label}: weight must be a fraction in (0, 1], got {weight!r}")
    if weight == 1:
        return ds
    keep = int(len(ds) * weight)
    if keep == 0:
        raise AlignpipeError(f"{label}: weight {weight} of {len(ds)} rows keeps no rows")
    return ds.shuffle(seed=seed).select(range(keep))


def load_mixture(
    mixture: Mapping[str, Any],
    kind: str,
    *,
    seed: int = 0,
    tokenizer=None,
    max_length: int | None = None,
    base_dir: str | Path | None = None,
    drop_long: bool = False,
    shuffle: bool = True,
) -> DatasetDict:
    """The mixture's "train" and "test" rows, converted to TRL's format for `kind` and validated.

    `mixture` is the recipe's `dataset_mixture` dict (module docstring); its `seed` wins over `seed`.
    With `tokenizer` and `max_length`, every row is also checked with `check_lengths` (an error, or with
    `drop_long` the long rows are left out and counted on stderr). Relative local
    paths are taken from `base_dir` (default: the working directory). `shuffle=False` keeps the rows in
    the sources' order (pretraining packs documents as they come).
    """
    if kind not in KINDS:
        raise AlignpipeError(f"unknown data kind {kind!r}; expected one of {', '.join(KINDS)}")
    entries = mixture.get("datasets") if isinstance(mixture, Mapping) else None
    if not entries or not isinstance(entries, list):
        raise AlignpipeError(f"dataset_mixture needs a non-empty 'datasets' list, got {mixture!r}")
    if mixture.get("seed") is not None:
        seed = mixture["seed"]
    sources = [load_source(entry, kind, seed=seed, base_dir=base_dir) for entry in entries]
    if tokenizer is not None and max_length is not None:
        for s in sources:
            n = len(s.train)
            s.train = check_lengths(s.train, tokenizer, max_length, s.label, drop=drop_long)
            if s.test is not None:
                n += len(s.test)
                s.test = check_lengths(s.test, tokenizer, max_length, s.test_label, drop=drop_long)
            dropped = n - len(s.train) - (len(s.test) if s.test is not None else 0)
            if dropped:
                echo(f"{s.label}: left out {dropped} rows longer than {max_length} tokens", err=True)
    _harmonise(sources, kind)

    train_parts, test_parts, pool = [], [], []
    for source, entry in zip(sources, entries, strict=True):
        train = _weighted(source.train, entry.get("weight"), source.label, seed)
        if source.test is not None:
            train_parts.append(train)
            test_parts.append(source.test)
        else:
            pool.append(train)
    test_size = mixture.get("test_split_size")
    if pool:
        pooled = _concatenate(pool)
        pooled = pooled.shuffle(seed=seed) if shuffle or test_size else pooled
        if test_size:
            try:
                split = pooled.train_test_split(test_size=test_size, seed=seed)
            except ValueError as e:
                raise AlignpipeError(f"test_split_size {test_size!r} of {len(pooled)} rows: {e}") from e
            train_parts.append(split["train"])
            test_parts.append(split["test"])
        else:
            train_parts.append(pooled)
    aligned = _align(train_parts + test_parts)
    train = datasets.concatenate_datasets(aligned[: len(train_parts)])
    train = train.shuffle(seed=seed) if shuffle else train
    test = datasets.concatenate_datasets(aligned[len(train_parts) :]) if test_parts else train.select([])
    return DatasetDict({"train": train, "test": test})


def mixture_from_args(args: Mapping[str, Any] | Any) -> dict:
    """The `dataset_mixture` of a recipe, or one built from TRL's ScriptArguments shorthand.

    `args` is a recipe dict or an object with attributes (TRL's ScriptArguments and friends). With
    `dataset_name` (+ `dataset_config`, `dataset_train_split`, `dataset_test_split`) the mixture has
    that one source; its test split is used when the source has it, else `test_split_size` (also read
    from `args`) of its rows are held out.
    """

    def get(key: str) -> Any:
        return args.get(key) if isinstance(args, Mapping) else getattr(args, key, None)

    mixture, name = get("dataset_mixture"), get("dataset_name")
    if mixture and name:
        raise AlignpipeError("give either dataset_mixture or dataset_name, not both")
    if mixture:
        return dict(mixture)
    if not name:
        raise AlignpipeError("no data: set dataset_mixture (or dataset_name) in the recipe")
    entry = {
        "id": name,
        "config": get("dataset_config"),
        "split": get("dataset_train_split") or "train",
        "test_split_if_present": get("dataset_test_split"),
    }
    return {"datasets": [entry], "test_split_size": get("test_split_size"), "seed": get("seed")}
