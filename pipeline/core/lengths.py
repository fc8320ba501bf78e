"""Token lengths of a stage's rows as its trainer will tokenise them, and the check that they fit
`max_length` (or the rows that do not are dropped, with a count).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from alignpipe.core.data import _ErrorCollector
from alignpipe.core.errors import AlignpipeError

# --- lengths -------------------------------------------------------------------------------------


def _length_inputs(columns: list[str]) -> list[tuple[str, Any, bool]]:
    """(field reported, row -> what the trainer tokenizes, add_generation_prompt) for a converted data set."""
    if "messages" in columns:
        return [("messages", lambda r: r["messages"], False)]
    if "completion" in columns:
        return [("completion", lambda r: r["prompt"] + r["completion"], False)]
    if "chosen" in columns:
        return [
            ("chosen", lambda r: r["prompt"] + r["chosen"], False),
            ("rejected", lambda r: r["prompt"] + r["rejected"], False),
        ]
    if "prompt" in columns:
        return [("prompt", lambda r: r["prompt"], True)]
    if "text" in columns:
        return [("text", lambda r: r["text"], False)]
    raise AlignpipeError(f"no column to measure among {columns}")


def token_lengths(ds: Dataset, tokenizer, batch_size: int = 256) -> dict[str, list[int]]:
    """Token count of every row as the trainer will see it (chat template applied), per field."""
    inputs = _length_inputs(ds.column_names)
    lengths: dict[str, list[int]] = {field: [] for field, _, _ in inputs}
    for batch in ds.iter(batch_size=batch_size):
        rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
        for field, build, generation in inputs:
            values = [build(r) for r in rows]
            if field == "text":
                ids = tokenizer(values)["input_ids"]
            else:
                if not getattr(tokenizer, "chat_template", None):
                    raise AlignpipeError(
                        "the tokenizer has no chat template, so conversational rows cannot be "
                        "measured; give a tokenizer with one (tokenizer.chat_template)"
                    )
                ids = tokenizer.apply_chat_template(
                    values, tokenize=True, add_generation_prompt=generation, return_dict=True
                )["input_ids"]
            lengths[field] += [len(x) for x in ids]
    return lengths


def check_lengths(ds: Dataset, tokenizer, max_length: int, source: str, *, drop: bool = False) -> Dataset:
    """DataError for rows longer than `max_length` tokens with the chat template applied.

    Measures what the trainer tokenizes: `messages`, prompt + completion, prompt + chosen and
    prompt + rejected, a prompt with the generation cue, or `text`. Rows are numbered as in `ds`
    (1-based), so pass a source's converted rows before mixing. With `drop=True` the long rows are
    removed instead and the rest returned.
    """
    lengths = token_lengths(ds, tokenizer)
    too_long = sorted({i for values in lengths.values() for i, n in enumerate(values) if n > max_length})
    if drop:
        return ds.select(sorted(set(range(len(ds))) - set(too_long))) if too_long else ds
    errors = _ErrorCollector(source, limit=len(too_long) + 1)
    for i in too_long:
        field, n = max(((f, v[i]) for f, v in lengths.items()), key=lambda fv: fv[1])
        errors.add(
            i + 1, field, f"expected at most {max_length} tokens with the chat template applied, got {n}"
        )
    errors.raise_if_any()
    return ds
