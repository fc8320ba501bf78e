"""The measurements of `alignpipe eval`, each a function of models and rows that returns plain numbers.

- `perplexity`: token-weighted held-out perplexity. Each document becomes ``[bos] + tokens`` (eos
  when the tokenizer has no bos), cut into windows of `window` tokens that overlap by one token, so
  every document token is predicted exactly once, from at most `window - 1` tokens of context.
  ``perplexity = exp(total NLL / predicted tokens)``; ``bits_per_byte = total NLL / ln 2 / UTF-8
  bytes`` (comparable across tokenizers).
- `task_accuracy`: share of responses `alignpipe.defaults.check_answer` accepts, overall and per task.
- multiple choice (`read_multiple_choice`, `choice_logliks`, `multiple_choice_metrics`): each choice
  is scored by its log-likelihood as a continuation of the question, as lm-evaluation-harness does for
  ``multiple_choice`` tasks: plain questions get the choice after a space (" " + choice), chat
  questions (``chat: true``) are rendered with the chat template and the generation prompt and the
  choice follows directly. ``acc``: the argmax of the log-likelihoods is the answer; ``acc_norm``: the
  argmax of log-likelihood / characters of the continuation is (lm-eval's ``acc_norm``). Ties go to
  the first choice.
- reward model (`reward_scores`, `reward_accuracy`): the score of a whole conversation (prompt +
  reply, chat template, right-padded, cut from the left to the model's context); pairwise accuracy
  is the share of pairs with chosen scored above rejected, a tie counting one half.
- `judgment_rows`: AlpacaEval-format judgments from two sets of reward scores (preference 2 when the
  model's response scores higher, 1 when lower, 1.5 on a tie).
- `kl_divergence`: Monte-Carlo KL(model || reference) on prompts: responses sampled from the model
  at temperature 1 (no top-k/top-p, no repetition penalty), and for each the sum over its tokens
  (stop token included) of log p_model - log p_ref; the mean over samples, its standard error, and
  per token.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from alignpipe.core.errors import AlignpipeError, DataError
from alignpipe.defaults import check_answer
from alignpipe.eval.generation import (
    GenerationSettings,
    encode,
    generate,
    max_positions,
    model_device,
    pad_id,
    progress,
    render,
    sequence_logprobs,
)

# --------------------------------------------------------------------------- perplexity


def perplexity(model, tokenizer, texts: list[str], *, window: int | None = None, batch_size: int = 8) -> dict:
    limit = max_positions(model)
    window = min(window or limit or 1024, limit or window or 1024)
    if window < 2:
        raise AlignpipeError(f"perplexity window must be at least 2 tokens, got {window}")
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    contexts, continuations = [], []
    for text in texts:
        seq = ([prefix] if prefix is not None else []) + encode(tokenizer, text)
        for start in range(0, max(len(seq) - 1, 0), window - 1):
            piece = seq[start : start + window]
            contexts.append(piece[:1])
            continuations.append(piece[1:])
    if not continuations:
        raise AlignpipeError("perplexity: the texts hold no tokens to predict")
    logps = sequence_logprobs(
        model, contexts, continuations, pad_id(tokenizer), batch_size=batch_size, desc="perplexity"
    )
    nll = -float(sum(lp.sum() for lp in logps))
    tokens = sum(len(c) for c in continuations)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return {
        "perplexity": math.exp(nll / tokens),
        "nll_per_token": nll / tokens,
        "bits_per_byte": nll / math.log(2) / n_bytes if n_bytes else math.nan,
        "tokens": tokens,
        "documents": len(texts),
        "window": window,
    }


# --------------------------------------------------------------------------- task accuracy


def task_accuracy(rows: list[dict], responses: list[str]) -> dict:
    """Overall and per-task (rows' ``task`` field) accuracy of `responses` against rows' ``answer``."""
    correct = [bool(check_answer(str(r["answer"]), text)) for r, text in zip(rows, responses, strict=True)]
    per_task: dict[str, list[bool]] = defaultdict(list)
    for r, ok in zip(rows, correct):
        per_task[str(r.get("task") or "all")].append(ok)
    return {
        "accuracy": float(np.mean(correct)) if correct else math.nan,
        "n": len(correct),
        "per_task": {t: {"accuracy": float(np.mean(v)), "n": len(v)} for t, v in sorted(per_task.items())},
        "correct": correct,
    }


# --------------------------------------------------------------------------- multiple choice


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
        pair = [_reply_text(r["chosen"]), _reply_text(r["rejected"])]
        answer = rng.randrange(2)
        if answer == 1:
            pair.reverse()
        items.append(ChoiceItem(list(r["prompt"]), pair, answer))
    return items


def _reply_text(reply) -> str:
    return reply if isinstance(reply, str) else "\n\n".join(m["content"] for m in reply)


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
            context = item.question if isinstance(item.question, str) else instruction_text(item.question)
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


# --------------------------------------------------------------------------- reward model


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
    return {
        "accuracy": float(wins.mean()) if len(rows) else math.nan,
        "mean_margin": float((sc - sr).mean()) if len(rows) else math.nan,
        "ties": int((sc == sr).sum()),
        "n": len(rows),
    }


def preference(model_score: float, ref_score: float) -> float:
    """AlpacaEval's scale: 2 = the model's response won, 1 = the reference's, 1.5 = a tie."""
    return 2.0 if model_score > ref_score else 1.0 if model_score < ref_score else 1.5


def instruction_text(prompt: list[dict] | str) -> str:
    return prompt if isinstance(prompt, str) else "\n\n".join(m["content"] for m in prompt)


def judgment_rows(
    prompts,
    ref_texts,
    model_texts,
    ref_scores,
    model_scores,
    *,
    ref_name: str,
    model_name: str,
    annotator: str,
) -> list[dict]:
    """AlpacaEval annotation rows: output_1 = reference, output_2 = model, preference from the scores."""
    return [
        {
            "instruction": instruction_text(p),
            "output_1": r,
            "output_2": m,
            "preference": preference(float(ms), float(rs)),
            "generator_1": ref_name,
            "generator_2": model_name,
            "annotator": annotator,
            "score_1": float(rs),
            "score_2": float(ms),
        }
        for p, r, m, rs, ms in zip(prompts, ref_texts, model_texts, ref_scores, model_scores, strict=True)
    ]


# --------------------------------------------------------------------------- KL


def kl_divergence(
    model,
    ref,
    tokenizer,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    samples_per_prompt: int = 1,
    batch_size: int = 16,
    seed: int = 0,
) -> dict:
    """Monte-Carlo KL(model || ref) per response (nats), with samples drawn from `model`.

    `model` and `ref` must share `tokenizer`'s vocabulary (the caller checks).
    """
    settings = GenerationSettings(
        greedy=False,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        repetition_penalty=1.0,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    repeated = [p for p in prompts for _ in range(samples_per_prompt)]
    gens = generate(model, tokenizer, repeated, settings, seed=seed, desc="KL samples")
    responses = [g.token_ids for g in gens]
    pad = pad_id(tokenizer)
    lp_model = sequence_logprobs(model, repeated, responses, pad, batch_size=batch_size, desc="KL model")
    lp_ref = sequence_logprobs(ref, repeated, responses, pad, batch_size=batch_size, desc="KL reference")
    per_sample = np.array([float((a - b).sum()) for a, b in zip(lp_model, lp_ref)])
    tokens = sum(len(r) for r in responses)
    n = len(per_sample)
    return {
        "kl": float(per_sample.mean()),
        "standard_error": float(per_sample.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
        "kl_per_token": float(per_sample.sum() / tokens) if tokens else math.nan,
        "mean_response_tokens": tokens / n if n else math.nan,
        "n_samples": n,
        "max_new_tokens": max_new_tokens,
    }
