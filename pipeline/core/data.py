"""Data sources of every stage: reading one source (the embedded sets, local files and folders, Hub ids),
converting it to the formats TRL's trainers read and validating it row by row. Mixing sources is
`alignpipe.core.mixtures`; token lengths `alignpipe.core.lengths`.

Sources:
- `default`: `alignpipe.defaults.load_default(kind, split, seed)`, the project's embedded data; its
  held-out rows come from its own "test" split. `harms` (`alignpipe.defaults.load_harms`, the wide safety set
  for real models; no "text" kind) is read the same way (`EMBEDDED`).
- a local file, read with datasets' builders: `.json` (records or JSON lines), `.jsonl`, `.parquet`,
  `.csv`, `.txt` (one `text` row per line; for kind `text` the line breaks are kept, so the rows join
  back into the file), each optionally `.gz`-compressed. A file is a single "train" split.
- a local folder: one written by `save_to_disk` (`load_from_disk`), or a folder of data files whose
  names give the splits (`train.jsonl`, `test.jsonl`; `load_dataset(folder)`).
- anything else is a Hub dataset id (`load_dataset(id, config, split=...)`); failures, offline ones
  included, become an AlignpipeError that says what was tried.

Each source is converted to TRL's conversational format (`alignpipe.core.formats`) and validated on
its own, before mixing, so a bad row is reported as `DataError(file, row, field, expected)` with the
row number of the source (1-based: the line of a `.jsonl`/`.txt` file, the record of other files).
Up to `MAX_ERRORS` bad rows are collected; the error names the first few and the count.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, Features

from alignpipe.core.errors import AlignpipeError, DataError
from alignpipe.core.formats import Format, RowError, describe, detect_format
from alignpipe.core.io import BOM, locate, read_text, utf8_problem

MAX_ERRORS = 50  # stop reading a source after this many bad rows
SHOWN_ERRORS = 5  # bad rows named in the error message

_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".txt": "text"}


class DataErrors(DataError):
    """Several bad rows of one source; `errors` holds them all, the attributes describe the first."""

    def __init__(self, errors: list[DataError], complete: bool):
        first = errors[0]
        super().__init__(first.source, first.row, first.field, first.expected)
        self.errors = errors
        count = (
            f"{len(errors)} bad rows"
            if complete
            else f"at least {len(errors)} bad rows (stopped reading there)"
        )
        lines = [f"{first.source}: {count}; the first {min(len(errors), SHOWN_ERRORS)}:"]
        lines += [f"  {e}" for e in errors[:SHOWN_ERRORS]]
        self.args = ("\n".join(lines),)


class _ErrorCollector:
    """Collects DataErrors for one source; `add` raises once `limit` are held."""

    class Full(Exception):
        pass

    def __init__(self, source: str, limit: int | None = None):
        self.source, self.limit, self.errors = source, limit or MAX_ERRORS, []

    def add(self, row: int, field: str | None, expected: str) -> None:
        self.errors.append(DataError(self.source, row, field, expected))
        if len(self.errors) >= self.limit:
            raise self.Full

    def raise_if_any(self, complete: bool = True) -> None:
        if len(self.errors) == 1 and complete:
            raise self.errors[0]
        if self.errors:
            raise DataErrors(self.errors, complete)


# --- sources -------------------------------------------------------------------------------------


@dataclass
class Source:
    """One converted, validated source of a mixture."""

    label: str  # how errors name it: a path, a Hub id, or "default <kind> data"
    format: (
        str  # the detected input layout, e.g. "hh-rlhf text, implicit prompt -> prompt + chosen + rejected"
    )
    train: Dataset
    test: Dataset | None  # the source's own held-out rows, if it has any
    test_label: str = ""


def _local_path(spec: str, base_dir: str | Path | None) -> Path | None:
    """The local file or folder `spec` names, None for a Hub id; AlignpipeError for a missing path."""
    where = locate(spec, "data source", base_dir)
    return where if isinstance(where, Path) else None


def _builder_for(path: Path) -> str:
    suffixes = path.suffixes[-2:] if path.suffix in (".gz", ".bz2", ".xz", ".zst") else path.suffixes[-1:]
    builder = _BUILDERS.get(suffixes[0].lower() if suffixes else "")
    if builder is None:
        raise AlignpipeError(
            f"{path}: unsupported file type; expected one of "
            f"{', '.join(_BUILDERS)} (optionally .gz-compressed), or a folder"
        )
    return builder


def _bad_json_line(path: Path) -> DataError | None:
    """The first line of a JSON/JSON-lines file that is not a JSON object, as a DataError."""
    text = _json_text(path)
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            return DataError(str(path), e.lineno, None, f"expected valid JSON, got an error: {e.msg}")
        bad = [i for i, r in enumerate(records, 1) if not isinstance(r, dict)]
        return DataError(str(path), bad[0], None, "expected a JSON object (a record)") if bad else None
    try:
        json_lines(text, str(path))
    except DataError as bad:
        return bad
    return None


def json_lines(text: str, source: str) -> list[tuple[int, dict]]:
    """(line number, record) of every non-blank line of JSON-lines `text`; a DataError names the first line
    that is not a JSON object."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                source, lineno, None, f"expected a JSON object, got invalid JSON ({e.msg})"
            ) from None
        if not isinstance(record, dict):
            raise DataError(source, lineno, None, f"expected a JSON object, got {type(record).__name__}")
        out.append((lineno, record))
    return out


def _file_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError) as e:
            raise AlignpipeError(f"{path}: not a readable gzip file ({e})") from None
    return path.read_bytes()


@contextlib.contextmanager
def _readable(path: Path, builder: str):
    """`path` checked before a library parses it: a text format must be UTF-8 (the line that is not is named)
    and hold something besides whitespace; a byte-order mark is dropped (via a temporary copy)."""
    if builder == "parquet":
        if path.stat().st_size == 0:
            raise AlignpipeError(f"{path}: the file is empty (0 bytes); expected a parquet file with rows")
        yield path
        return
    data = _file_bytes(path)
    problem = utf8_problem(data)
    if problem:
        raise DataError(str(path), None, None, problem)
    if not data.strip(BOM + b" \t\r\n"):
        raise AlignpipeError(
            f"{path}: the file is empty{' (whitespace only)' if data else ''}; expected rows of data"
        )
    if not data.startswith(BOM):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="alignpipe-bom-") as tmp:
        copy = Path(tmp) / path.name.removesuffix(".gz")
        copy.write_bytes(data[len(BOM) :])
        yield copy


def _data_files_builders(folder: Path) -> dict[str, list[str]]:
    """The builders the data files directly in `folder` (or its data/ subfolder) need: builder -> files."""
    out: dict[str, list[str]] = {}
    for p in sorted(
        [*folder.iterdir(), *((folder / "data").iterdir() if (folder / "data").is_dir() else [])]
    ):
        if p.is_file() and not p.name.startswith(".") and p.name.lower() not in ("readme.md",):
            try:
                out.setdefault(_builder_for(p), []).append(p.name)
            except AlignpipeError:
                pass
    return out


def _load_file(path: Path, split: str, kind: str) -> Dataset:
    builder = _builder_for(path)
    kwargs = {"keep_linebreaks": kind == "text"} if builder == "text" else {}
    try:
        with _readable(path, builder) as readable:
            return datasets.load_dataset(builder, data_files=str(readable), split=split, **kwargs)
    except AlignpipeError:
        raise
    except ValueError as e:
        if "Unknown split" in str(e):
            raise AlignpipeError(
                f"{path}: a single file holds one split, 'train'; got split {split!r}"
            ) from e
        raise AlignpipeError(f"{path}: could not be read as {builder}: {e}") from e
    except Exception as e:  # datasets wraps the parser's complaint in DatasetGenerationError
        bad = _bad_json_line(path) if builder == "json" else None
        if bad is not None:
            raise bad from e
        cause = e.__cause__ or e
        raise AlignpipeError(
            f"{path}: could not be read as {builder}: {type(cause).__name__}: {cause}"
        ) from e


def _pick(
    splits: Mapping[str, Dataset], name: str | None, where: str, optional: bool = False
) -> Dataset | None:
    if name is None or (optional and name not in splits):
        return None
    if name not in splits:
        raise AlignpipeError(f"{where}: no split {name!r}; it has {', '.join(splits)}")
    return splits[name]


def _load_hub(spec: str, config: str | None, split: str) -> Dataset:
    try:
        return datasets.load_dataset(spec, config, split=split)
    except Exception as e:
        if isinstance(e, ValueError) and "Unknown split" in str(e):
            raise AlignpipeError(f"Hub dataset {spec!r}: {e}") from e
        offline = any(
            os.environ.get(v, "").lower() in ("1", "true", "yes")
            for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
        )
        hint = (
            "the Hub is switched off here (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE); unset it, or "
            if offline
            else "check the id and your network, or "
        )
        raise AlignpipeError(
            f"data source {spec!r} is not a local file or folder, and loading it from the Hugging Face Hub "
            f"(config {config!r}, split {split!r}) failed: {type(e).__name__}: {e}. "
            f"{hint[0].upper()}{hint[1:]}download it and give its local path."
        ) from e


#: The embedded sources: a mixture id -> the `alignpipe.defaults` function that makes its rows.
EMBEDDED = {"default": "load_default", "harms": "load_harms"}


def _load_embedded(spec: str, kind: str, split: str, seed: int, n: int | None = None) -> Dataset:
    try:
        load = getattr(importlib.import_module("alignpipe.defaults"), EMBEDDED[spec])
    except (ImportError, AttributeError) as e:
        raise AlignpipeError(f"the embedded {spec} data is not available: {e}") from e
    ds = load(kind, split, seed) if n is None else load(kind, split, seed, n=n)
    return ds[split] if isinstance(ds, DatasetDict) else ds


def _load_raw(
    entry: Mapping[str, Any], kind: str, seed: int, base_dir, n: int | None = None
) -> tuple[str, Dataset, str, Dataset | None]:
    """(label, training rows, test label, held-out rows or None) of one mixture entry, before conversion;
    with `n`, at most the first `n` rows of each split."""
    label, train, test_label, test = _load_raw_splits(entry, kind, seed, base_dir, n)
    if n is not None:
        train = train.select(range(min(n, len(train))))
        test = test.select(range(min(n, len(test)))) if test is not None else None
    return label, train, test_label, test


def _load_raw_splits(
    entry: Mapping[str, Any], kind: str, seed: int, base_dir, n: int | None
) -> tuple[str, Dataset, str, Dataset | None]:
    spec = str(entry.get("id") or "")
    if not spec:
        raise AlignpipeError(f"dataset_mixture entry {dict(entry)} has no 'id'")
    config, split = entry.get("config"), entry.get("split") or "train"
    test_split, optional = entry.get("test_split"), False
    if test_split is None and entry.get("test_split_if_present"):
        test_split, optional = entry["test_split_if_present"], True
    if spec in EMBEDDED:
        test_split = test_split or "test"
        return (
            f"{spec} {kind} data (split {split})",
            _load_embedded(spec, kind, split, seed, n),  # the embedded generator makes just the first n rows
            f"{spec} {kind} data (split {test_split})",
            _load_embedded(spec, kind, test_split, seed, n),
        )
    path = _local_path(spec, base_dir)
    label, test_label = f"{spec if path is None else path} (split {split})", f"{path} (split {test_split})"
    if path is None:
        train, test = _load_hub(spec, config, split), None
        if test_split is not None:
            try:
                test = _load_hub(spec, config, test_split)
            except AlignpipeError:
                if not optional:
                    raise
        return label, train, f"{spec} (split {test_split})", test
    if path.is_file():
        if test_split is not None and not optional:
            raise AlignpipeError(
                f"{path}: a single file has no {test_split!r} split; put the files in a "
                "folder (train.jsonl, test.jsonl) or leave test_split out"
            )
        return str(path), _load_file(path, split, kind), "", None
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        loaded = datasets.load_from_disk(str(path))
        splits = loaded if isinstance(loaded, DatasetDict) else {split: loaded}
    else:
        kinds = _data_files_builders(path)
        if len(kinds) > 1:
            listed = "; ".join(f"{b}: {', '.join(files[:3])}" for b, files in kinds.items())
            raise AlignpipeError(
                f"{path}: the folder mixes data formats ({listed}); keep one format per folder"
            )
        for files in kinds.values():
            for name in files:
                f = path / name if (path / name).is_file() else path / "data" / name
                with _readable(f, _builder_for(f)):
                    pass
        try:
            splits = datasets.load_dataset(str(path), config)
        except Exception as e:
            raise AlignpipeError(f"{path}: could not read the folder's data files: {e}") from e
    return label, _pick(splits, split, str(path)), test_label, _pick(splits, test_split, str(path), optional)


def convert(ds: Dataset, kind: str, source: str, fmt: Format | None = None) -> Dataset:
    """Validate every row of `ds` and convert it to TRL's format for `kind` (DataError on bad rows)."""
    fmt = fmt or detect_format(ds.column_names, kind, source)
    dropped = fmt.dropped(ds.column_names)
    kept = {c: ds.features[c] for c in ds.column_names if c not in dropped}
    features = Features({**kept, **fmt.output_features()})
    errors = _ErrorCollector(source)

    def convert_row(row: dict, index: int) -> dict:
        try:
            return fmt.convert(row)
        except RowError as e:
            errors.add(index + 1, e.field, e.expected)
            return dict.fromkeys(fmt.outputs)

    try:
        out = ds.map(
            convert_row,
            with_indices=True,
            remove_columns=dropped,
            features=features,
            load_from_cache_file=False,
            desc=f"Checking {source}",
        )
    except _ErrorCollector.Full:
        _recheck_raw(source, fmt)
        errors.raise_if_any(complete=False)
    if errors.errors:
        _recheck_raw(source, fmt)
    errors.raise_if_any()
    return out


def _json_text(path: Path) -> str:
    """A JSON / JSON-lines file's text (gzip-compressed or not, a byte-order mark dropped)."""
    return _file_bytes(path).removeprefix(BOM).decode("utf-8")


def _raw_records(path: Path) -> list | None:
    """The records of a JSON / JSON-lines file as Python reads them (None if it is not one, or not readable)."""
    if not path.is_file() or not str(path).endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz")):
        return None
    try:
        text = _json_text(path)
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [record for _, record in json_lines(text, str(path))]
    except (ValueError, AlignpipeError):
        return None


def _recheck_raw(source: str, fmt: Format) -> None:
    """Bad rows of a JSON file named from the file's own values. The JSON loader gives a column one type, so
    one number among strings turns the other rows' strings into numbers too (or the reverse), and the rows it
    then finds bad are not the ones the file has wrong; checking the raw records names the right ones."""
    records = _raw_records(Path(source))
    if records is None:
        return
    errors = _ErrorCollector(source)
    try:
        for i, record in enumerate(records):
            try:
                fmt.convert(record)
            except RowError as e:
                errors.add(i + 1, e.field, e.expected)
    except _ErrorCollector.Full:
        errors.raise_if_any(complete=False)
    errors.raise_if_any()


def load_source(
    entry: Mapping[str, Any],
    kind: str,
    *,
    seed: int = 0,
    base_dir: str | Path | None = None,
    n: int | None = None,
) -> Source:
    """Load one mixture entry, keep its `columns`, and convert + validate its train and test rows (with `n`,
    the first `n` rows of each split: what eval reads)."""
    label, train, test_label, test = _load_raw(entry, kind, seed, base_dir, n)
    train = _where(train, entry.get("where"), label)
    columns = entry.get("columns")
    if columns:
        missing = [c for c in columns if c not in train.column_names]
        if missing:
            raise AlignpipeError(f"{label}: no column(s) {missing} to keep; it has {train.column_names}")
        train, test = (
            train.select_columns(columns),
            test.select_columns(columns) if test is not None else None,
        )
    if len(train) == 0:
        raise AlignpipeError(f"{label}: has no rows")
    fmt = detect_format(train.column_names, kind, label)
    description = describe(fmt, train[0])
    train = convert(train, kind, label, fmt)
    if test is not None:
        test = convert(test, kind, test_label, detect_format(test.column_names, kind, test_label))
    return Source(label, description, train, test, test_label)


def _where(ds: Dataset, where: Any, label: str) -> Dataset:
    """The rows of `ds` whose every `where` column holds one of its values (a value or a list of them)."""
    if where is None:
        return ds
    if not isinstance(where, Mapping) or not where:
        raise AlignpipeError(
            f"{label}: 'where' must map columns to a value or a list of values, got {where!r}"
        )
    missing = [c for c in where if c not in ds.column_names]
    if missing:
        raise AlignpipeError(f"{label}: no column(s) {missing} to select rows by; it has {ds.column_names}")
    wanted = {c: set(v) if isinstance(v, list) else {v} for c, v in where.items()}
    kept = ds.filter(lambda row: all(row[c] in values for c, values in wanted.items()))
    if len(kept) == 0:
        raise AlignpipeError(f"{label}: no training row matches where {dict(where)}")
    return kept


# --- safety-labelled prompts ------------------------------------------------------------------------

SAFETY_LABELS = ("unsafe", "benign")


def read_safety_file(path: Path) -> list[dict]:
    """JSONL rows {"prompt", "label"}, checked: a clear error naming file, row and field for a bad row."""
    rows = []
    for lineno, row in json_lines(read_text(path, "safety file"), str(path)):
        prompt = row.get("prompt")
        if isinstance(prompt, list):
            prompt = [m for m in prompt if isinstance(m, dict)]
        if not prompt or (isinstance(prompt, str) and not prompt.strip()):
            raise DataError(
                str(path), lineno, "prompt", "expected a non-empty request (text or chat messages)"
            )
        if "label" not in row:
            raise DataError(str(path), lineno, "label", 'missing; expected "unsafe" or "benign"')
        if row["label"] not in SAFETY_LABELS:
            raise DataError(
                str(path), lineno, "label", f'expected "unsafe" or "benign", got {row["label"]!r}'
            )
        rows.append({"prompt": prompt, "label": row["label"]})
    return rows
