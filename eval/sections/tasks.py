"""Task accuracy: the share of held-out responses that their row's task accepts (`alignpipe.tasks`: each task
owns its grader), overall and per task (rows' ``task`` field), for the model and the reference, and the difference model - reference with
a paired-bootstrap 95% interval (``delta``, ``delta_ci95``; `alignpipe.eval.stats`). Only rows with an ``answer`` count; the
others (e.g. safety prompts in the same held-out set) have ``null`` in the per-sample lists."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from alignpipe import tasks
from alignpipe.eval.context import Context
from alignpipe.eval.stats import paired_bootstrap


def task_accuracy(rows: list[dict], responses: list[str]) -> dict:
    """Overall and per-task (rows' ``task`` field) accuracy of `responses` against rows' ``answer``."""
    correct = [bool(tasks.grade(r, text)) for r, text in zip(rows, responses, strict=True)]
    per_task: dict[str, list[bool]] = defaultdict(list)
    for r, ok in zip(rows, correct):
        per_task[str(r.get("task") or "all")].append(ok)
    return {
        "accuracy": float(np.mean(correct)) if correct else math.nan,
        "n": len(correct),
        "per_task": {t: {"accuracy": float(np.mean(v)), "n": len(v)} for t, v in sorted(per_task.items())},
        "correct": correct,
    }


def graded_rows(rows: list[dict]) -> list[int]:
    """Indices of the rows with an ``answer`` to check (held-out prompt sets may mix in ungraded ones)."""
    return [i for i, row in enumerate(rows) if row.get("answer") is not None]


def _accuracy(rows: list[dict], texts: list[str], graded: list[int]) -> tuple[dict, list[bool | None]]:
    acc = task_accuracy([rows[i] for i in graded], [texts[i] for i in graded])
    per_row: list[bool | None] = [None] * len(rows)
    for i, ok in zip(graded, acc.pop("correct")):
        per_row[i] = ok
    return acc, per_row


def run(ctx: Context) -> None:
    r = ctx.responses()
    graded = graded_rows(r.rows)
    if not graded:
        ctx.rec.skip("task_accuracy", f"{r.where}: rows have no 'answer' to check")
        return
    acc, ctx.rec.per_sample["model_correct"] = _accuracy(r.rows, r.model_texts, graded)
    acc["source"] = r.where
    if r.ref is not None:
        ref_acc, ctx.rec.per_sample["ref_correct"] = _accuracy(r.rows, r.ref_texts, graded)
        acc["ref_accuracy"] = ref_acc["accuracy"]
        acc["ref_per_task"] = ref_acc["per_task"]
        model_ok = [float(ctx.rec.per_sample["model_correct"][i]) for i in graded]
        ref_ok = [float(ctx.rec.per_sample["ref_correct"][i]) for i in graded]
        acc["delta"], acc["delta_ci95"] = paired_bootstrap(model_ok, ref_ok, seed=ctx.seed)
    ctx.rec.metrics["task_accuracy"] = acc
