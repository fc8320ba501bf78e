"""The reward model: the score of a whole conversation (prompt + reply, chat template, right-padded, cut from
the left to the model's context), and its pairwise accuracy on held-out preference pairs (the share of pairs
with chosen scored above rejected, a tie counting one half)."""

from __future__ import annotations

import math

import numpy as np
import torch

from alignpipe.eval.context import Context, load_rows
from alignpipe.eval.generation import encode, max_positions, model_device, pad_id, progress, render


@torch.no_grad()
def reward_scores(model, tokenizer, conversations: list[list[dict]], *, batch_size: int = 16) -> np.ndarray:
    """The reward model's scalar score of each whole conversation (prompt + assistant reply)."""
    limit, device, pad = max_positions(model), model_device(model), pad_id(tokenizer)
    encoded = [encode(tokenizer, render(tokenizer, c, add_generation_prompt=False)) for c in conversations]
    if limit is not None:
        encoded = [ids[-limit:] for ids in encoded]
    scores = np.zeros(len(encoded))
    model.eval()
    with progress(len(encoded), "reward") as bar:
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            width = max(len(ids) for ids in batch)
            ids = torch.tensor([x + [pad] * (width - len(x)) for x in batch], device=device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in batch], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            scores[start : start + len(batch)] = logits[:, 0].float().cpu().numpy()
            bar.update(len(batch))
    return scores


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
