"""The reward model: the score of a whole conversation (prompt + reply, chat template, right-padded, cut from
the left to the model's context), and its pairwise accuracy on held-out preference pairs (the share of pairs
with chosen scored above rejected, a tie counting one half)."""

from __future__ import annotations

import math

from alignpipe.eval.context import Context, load_rows
from alignpipe.inference.generation import reward_scores


def _as_messages(value, role: str) -> list[dict]:
    return [{"role": role, "content": value}] if isinstance(value, str) else list(value)


def reward_accuracy(model, tokenizer, rows: list[dict], *, batch_size: int = 16) -> dict:
    """Pairwise accuracy of a reward model on preference rows (prompt, chosen, rejected)."""
    chosen = [_as_messages(r["prompt"], "user") + _as_messages(r["chosen"], "assistant") for r in rows]
    rejected = [_as_messages(r["prompt"], "user") + _as_messages(r["rejected"], "assistant") for r in rows]
    s = reward_scores(model, tokenizer, chosen + rejected, batch_size=batch_size)
    sc, sr = s[: len(rows)], s[len(rows) :]
    wins = (sc > sr).astype(float) + 0.5 * (sc == sr)
    out = {
        "accuracy": float(wins.mean()) if len(rows) else math.nan,
        "mean_margin": float((sc - sr).mean()) if len(rows) else math.nan,
        "ties": int((sc == sr).sum()),
        "n": len(rows),
    }
    sets = [r.get("safety") for r in rows]
    if any(sets):  # safety pairs (refuse the unsafe, answer the benign) apart from the task pairs
        for name, keep in (("task_pairs", lambda s: not s), ("safety_pairs", bool)):
            idx = [i for i, s in enumerate(sets) if keep(s)]
            out[name] = {"accuracy": float(wins[idx].mean()) if idx else math.nan, "n": len(idx)}
        for label in ("unsafe", "benign"):
            idx = [i for i, s in enumerate(sets) if s == label]
            out["safety_pairs"][label] = {
                "accuracy": float(wins[idx].mean()) if idx else math.nan,
                "n": len(idx),
            }
    return out


def run(ctx: Context) -> None:
    section = ctx.suite.reward_accuracy
    rows, where = load_rows(section.source, "preference", section.n, ctx.suite)
    result = reward_accuracy(ctx.rm.model, ctx.rm.tokenizer, rows, batch_size=section.batch_size)
    ctx.rec.metrics["reward_accuracy"] = {**result, "source": where}
