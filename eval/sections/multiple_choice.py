"""Multiple-choice benchmarks by log-likelihood, as lm-evaluation-harness scores ``multiple_choice`` tasks.

Each choice is scored by its log-likelihood as a continuation of the question: plain questions get the
choice after a space (" " + choice), chat questions (``chat: true``) are rendered with the chat template and
the generation prompt and the choice follows directly. ``acc``: the argmax of the log-likelihoods is the
answer; ``acc_norm``: the argmax of log-likelihood / characters of the continuation is (lm-eval's
``acc_norm``). Ties go to the first choice. Sources: held-out preference pairs as two-way questions
(`choices_from_preferences`, source "default") or a ``.jsonl``/``.json`` file (`read_multiple_choice`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignpipe.core.errors import AlignpipeError, DataError
from alignpipe.eval.context import Context, load_rows, resolve_path
from alignpipe.inference.generation import encode, message_text, pad_id, render, sequence_logprobs


@dataclass
class ChoiceItem:
    """A question (text, or a list of chat messages), its choices, and the index of the right one."""

    question: str | list[dict]
    choices: list[str]
    answer: int


def read_multiple_choice(path: str | Path) -> list[ChoiceItem]:
    """Rows of a ``.jsonl`` file (or a ``.json`` list): ``question`` (string), ``choices`` (list of at
    least two strings), ``answer`` (0-based index into choices). DataError names file, row, field."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DataError(source, None, None, "file not found")
    text = path.read_text(encoding="utf-8")
    rows: list[tuple[int, object]] = []
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(source, None, None, f"not valid JSON (line {e.lineno}: {e.msg})") from None
        if not isinstance(data, list):
            raise DataError(source, None, None, "expected a JSON list of rows")
        rows = list(enumerate(data, start=1))
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((lineno, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise DataError(source, lineno, None, f"not valid JSON ({e.msg})") from None
    if not rows:
        raise DataError(source, None, None, "no rows")
    items = []
    for row, item in rows:
        if not isinstance(item, dict):
            raise DataError(source, row, None, "expected an object with question, choices, answer")
        for key in ("question", "choices", "answer"):
            if key not in item:
                raise DataError(source, row, key, "missing field")
        q, choices, answer = item["question"], item["choices"], item["answer"]
        if not isinstance(q, str) or not q.strip():
            raise DataError(source, row, "question", f"expected a non-empty string, got {q!r}")
        if not (
            isinstance(choices, list) and len(choices) >= 2 and all(isinstance(c, str) and c for c in choices)
        ):
            raise DataError(
                source, row, "choices", f"expected a list of at least two non-empty strings, got {choices!r}"
            )
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise DataError(
                source,
                row,
                "answer",
                f"expected an integer index from 0 to {len(choices) - 1}, got {answer!r}",
            )
        items.append(ChoiceItem(q, choices, answer))
    return items


def choices_from_preferences(rows: list[dict], seed: int = 0) -> list[ChoiceItem]:
    """Preference pairs as two-way questions: the prompt, chosen and rejected replies in a seeded order."""
    rng = random.Random(seed)
    items = []
    for r in rows:
        pair = [message_text(r["chosen"]), message_text(r["rejected"])]
        answer = rng.randrange(2)
        if answer == 1:
            pair.reverse()
        items.append(ChoiceItem(list(r["prompt"]), pair, answer))
    return items


def _encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's split: trailing spaces move to the continuation; continuation = whole[len(context):]."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = encode(tokenizer, context + continuation)
    ctx = encode(tokenizer, context)
    return ctx, whole[len(ctx) :]


def choice_logliks(
    model, tokenizer, items: list[ChoiceItem], *, chat: bool = False, batch_size: int = 8
) -> list[list[float]]:
    """Log-likelihood of every choice of every item (see the module docstring for the format)."""
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    contexts, continuations = [], []
    for item in items:
        if chat:
            messages = (
                item.question
                if isinstance(item.question, list)
                else [{"role": "user", "content": item.question}]
            )
            context, delimiter, lead = render(tokenizer, messages, add_generation_prompt=True), "", []
        else:
            context = item.question if isinstance(item.question, str) else message_text(item.question)
            delimiter, lead = " ", [prefix] if prefix is not None else []
        for choice in item.choices:
            ctx, cont = _encode_pair(tokenizer, context, delimiter + choice)
            ctx = lead + ctx
            if not ctx:
                raise AlignpipeError("multiple choice: an empty question needs a bos or eos token as context")
            contexts.append(ctx)
            continuations.append(cont)
    logps = sequence_logprobs(
        model, contexts, continuations, pad_id(tokenizer), batch_size=batch_size, desc="multiple choice"
    )
    out, k = [], 0
    for item in items:
        out.append([float(lp.sum()) for lp in logps[k : k + len(item.choices)]])
        k += len(item.choices)
    return out


def multiple_choice_metrics(
    items: list[ChoiceItem], logliks: list[list[float]], *, chat: bool = False
) -> dict:
    """acc and acc_norm (log-likelihood per character of the continuation) from per-choice log-likelihoods."""
    delimiter = "" if chat else " "
    acc, acc_norm = [], []
    for item, ll in zip(items, logliks, strict=True):
        norm = [v / len(delimiter + c) for v, c in zip(ll, item.choices)]
        acc.append(int(np.argmax(ll)) == item.answer)
        acc_norm.append(int(np.argmax(norm)) == item.answer)
    return {"acc": float(np.mean(acc)), "acc_norm": float(np.mean(acc_norm)), "n": len(items)}


def run(ctx: Context) -> None:
    out = {}
    for mc in ctx.suite.multiple_choice:
        if mc.source == "default":
            rows, where = load_rows("default", "preference", mc.n, ctx.suite)
            items = choices_from_preferences(rows, seed=ctx.suite.seed)
        else:
            path = resolve_path(mc.source, ctx.suite)
            items, where = read_multiple_choice(path)[: mc.n], str(path)
        logliks = choice_logliks(
            ctx.lm.model, ctx.lm.tokenizer, items, chat=mc.chat, batch_size=ctx.suite.generation.batch_size
        )
        out[mc.name] = {
            **multiple_choice_metrics(items, logliks, chat=mc.chat),
            "source": where,
            "chat": mc.chat,
        }
    ctx.rec.metrics["multiple_choice"] = out
