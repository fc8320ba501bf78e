"""Pairwise judgments in AlpacaEval's annotation format, and the win rate computed from them.

A judgments file is a list of rows, each with

- ``instruction``: the prompt (a string);
- ``output_1``: the baseline's / reference's answer (a string);
- ``output_2``: the evaluated model's answer (a string);
- ``preference``: the judge's verdict, a number in [1, 2]. 1 = the baseline won, 2 = the model won,
  1.5 = a tie; values in between are the judge's probability that the model won, plus one (AlpacaEval's
  weighted annotators write those). 0 is AlpacaEval's legacy code for a tie and is read as 1.5.
  ``null`` / NaN marks a missing verdict: such rows are kept for the lengths but left out of the rates
  and counted in ``n_missing``;
- optionally ``instruction_difficulty``: a number per instruction, used by the length-controlled win
  rate (see `alignpipe.eval.lc_winrate`). Either every row has it or none does.

Other fields (``generator_1``, ``annotator``, ``raw_completion``...) are ignored.

Accepted files: ``.json`` (a JSON list of rows), ``.jsonl`` (one row per line) and either of those
gzip-compressed (``.json.gz``, ``.jsonl.gz``). A bad file or row raises `alignpipe.core.errors.DataError`
naming the file, the row (1-based: the position in the list, or the line of a ``.jsonl`` file) and
the field.

The rates follow AlpacaEval's ``describe_head2head`` (alpaca_eval/metrics/helpers.py):
``win_rate = 100 * mean(preference - 1)`` over rows with a verdict (so a tie counts half and a
weighted verdict counts its probability), ``standard_error = 100 * sem(preference - 1)`` with the
sample standard deviation (``ddof=1``), ``n_wins`` / ``n_wins_base`` = verdicts above / below 1.5,
``n_draws`` = verdicts exactly 1.5.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignpipe.core.errors import DataError

REQUIRED_FIELDS = ("instruction", "output_1", "output_2", "preference")
DIFFICULTY_FIELD = "instruction_difficulty"


@dataclass
class Judgments:
    """Validated judgment rows, column-wise. ``preference`` holds NaN for missing verdicts."""

    source: str
    instruction: list[str]
    output_1: list[str]
    output_2: list[str]
    preference: np.ndarray
    difficulty: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.preference)

    @property
    def lengths_1(self) -> np.ndarray:
        """Characters in each baseline answer."""
        return np.array([len(s) for s in self.output_1], dtype=float)

    @property
    def lengths_2(self) -> np.ndarray:
        """Characters in each model answer."""
        return np.array([len(s) for s in self.output_2], dtype=float)


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _read_rows(path: Path) -> list[tuple[int, object]]:
    """(1-based row number, parsed row) pairs from a .json / .jsonl file, gzipped or not."""
    name = path.name.removesuffix(".gz")
    if not name.endswith((".json", ".jsonl")):
        raise DataError(str(path), None, None, "expected a .json, .jsonl, .json.gz or .jsonl.gz file")
    if not path.is_file():
        raise DataError(str(path), None, None, "file not found")
    try:
        with _open_text(path) as f:
            if name.endswith(".jsonl"):
                rows = []
                for lineno, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        rows.append((lineno, json.loads(line)))
                    except json.JSONDecodeError as e:
                        raise DataError(str(path), lineno, None, f"not valid JSON ({e.msg})") from None
                return rows
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise DataError(str(path), None, None, f"not valid JSON (line {e.lineno}: {e.msg})") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(str(path), None, None, f"cannot read the file ({e})") from None
    if not isinstance(data, list):
        raise DataError(str(path), None, None, f"expected a JSON list of rows, got {type(data).__name__}")
    return list(enumerate(data, start=1))


def _number_or_nan(value, source: str, row: int, field: str, *, allow_missing: bool) -> float:
    if value is None and allow_missing:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(source, row, field, f"expected a number, got {value!r}")
    value = float(value)
    if math.isnan(value) and not allow_missing:
        raise DataError(source, row, field, "expected a number, got NaN")
    return value


def judgments_from_rows(
    rows: Iterable[Mapping] | Iterable[tuple[int, object]], source: str = "<rows>"
) -> Judgments:
    """Validate rows (dicts, or (row number, dict) pairs) into `Judgments`; raises DataError on a bad row."""
    numbered = [r if isinstance(r, tuple) else (i, r) for i, r in enumerate(rows, start=1)]
    if not numbered:
        raise DataError(source, None, None, "no judgment rows")
    instruction, output_1, output_2, preference, difficulty = [], [], [], [], []
    has_difficulty = isinstance(numbered[0][1], Mapping) and DIFFICULTY_FIELD in numbered[0][1]
    for row, item in numbered:
        if not isinstance(item, Mapping):
            raise DataError(source, row, None, f"expected an object with fields {', '.join(REQUIRED_FIELDS)}")
        for field in REQUIRED_FIELDS:
            if field not in item:
                raise DataError(source, row, field, "missing field")
        for field, column in (("instruction", instruction), ("output_1", output_1), ("output_2", output_2)):
            if not isinstance(item[field], str):
                raise DataError(source, row, field, f"expected a string, got {type(item[field]).__name__}")
            column.append(item[field])
        p = _number_or_nan(item["preference"], source, row, "preference", allow_missing=True)
        if p == 0.0:  # AlpacaEval's legacy encoding of a tie
            p = 1.5
        if not (math.isnan(p) or 1.0 <= p <= 2.0):
            raise DataError(source, row, "preference", f"expected a number in [1, 2] (or null), got {p!r}")
        preference.append(p)
        if (DIFFICULTY_FIELD in item) != has_difficulty:
            raise DataError(
                source,
                row,
                DIFFICULTY_FIELD,
                "present in some rows and absent in others; give it for all or none",
            )
        if has_difficulty:
            difficulty.append(
                _number_or_nan(item[DIFFICULTY_FIELD], source, row, DIFFICULTY_FIELD, allow_missing=False)
            )
    return Judgments(
        source=source,
        instruction=instruction,
        output_1=output_1,
        output_2=output_2,
        preference=np.array(preference, dtype=float),
        difficulty=np.array(difficulty, dtype=float) if has_difficulty else None,
    )


def read_judgments(path: str | Path) -> Judgments:
    """Read and validate an AlpacaEval-style judgments file (.json, .jsonl, optionally .gz)."""
    path = Path(path)
    return judgments_from_rows(_read_rows(path), source=str(path))


def _as_preferences(preferences: Sequence[float | None]) -> np.ndarray:
    p = np.array([math.nan if v is None else v for v in preferences], dtype=float)
    p[p == 0.0] = 1.5
    bad = ~np.isnan(p) & ((p < 1.0) | (p > 2.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            "preferences", i + 1, "preference", f"expected a number in [1, 2] (or None), got {p[i]!r}"
        )
    return p


def win_rate_stats(preferences: Sequence[float | None]) -> dict[str, float | int]:
    """AlpacaEval's head-to-head figures from preferences in [1, 2] (None/NaN = missing, dropped).

    Returns win_rate and standard_error (percent), n_wins, n_wins_base, n_draws, n_total (rows with
    a verdict) and n_missing. With fewer than two verdicts standard_error is NaN; with none, win_rate
    is NaN too.
    """
    p = _as_preferences(preferences)
    scored = p[~np.isnan(p)] - 1.0
    n = len(scored)
    return {
        "win_rate": 100.0 * float(scored.mean()) if n else math.nan,
        "standard_error": 100.0 * float(scored.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan,
        "n_wins": int((scored > 0.5).sum()),
        "n_wins_base": int((scored < 0.5).sum()),
        "n_draws": int((scored == 0.5).sum()),
        "n_total": n,
        "n_missing": int(np.isnan(p).sum()),
    }


def judgment_metrics(
    judgments: Judgments, difficulty: Sequence[float] | None = None
) -> dict[str, float | int]:
    """Everything `alignpipe eval judgments` reports for one judgments set.

    `win_rate_stats` plus ``avg_length_1`` / ``avg_length_2`` (mean characters of the baseline's /
    the model's answers, over all rows read, as AlpacaEval's ``avg_length`` column) and
    ``lc_win_rate`` (percent; `alignpipe.eval.lc_winrate.lc_win_rate` on the rows with a verdict, using
    ``difficulty`` if given, else the file's ``instruction_difficulty`` column if it has one).
    """
    from alignpipe.eval.lc_winrate import lc_win_rate

    out = win_rate_stats(judgments.preference)
    len_1, len_2 = judgments.lengths_1, judgments.lengths_2
    out["avg_length_1"] = float(len_1.mean())
    out["avg_length_2"] = float(len_2.mean())
    difficulty = judgments.difficulty if difficulty is None else np.asarray(difficulty, dtype=float)
    if difficulty is not None and len(difficulty) != len(judgments):
        raise DataError(judgments.source, None, DIFFICULTY_FIELD, f"expected {len(judgments)} difficulties")
    keep = ~np.isnan(judgments.preference)
    out["lc_win_rate"] = lc_win_rate(
        judgments.preference[keep], len_1[keep], len_2[keep], None if difficulty is None else difficulty[keep]
    )
    return out
