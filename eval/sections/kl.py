"""KL(model || reference) on held-out prompts. Responses are sampled from the model at `temperature` (1 by default:
the models' own distributions; no top-k/top-p, no repetition penalty). For each response, the sum over its
positions (stop token included) of the full-vocabulary KL between the two next-token distributions, both at that
temperature. By the chain rule its mean over responses estimates the sequence-level KL without bias, as the plain
Monte-Carlo sum of log p_model - log p_ref over the sampled tokens does, but with far less variance (the sampled
token is averaged out at every position), and no term is below zero. That Monte-Carlo figure is kept as
``kl_sampled``: it can come out negative when the true KL is near 0. Reported: the mean over samples, its standard
error, and per token. PPO's held-out KL in its run record is this, at its rollout temperature."""

from __future__ import annotations

import math

import numpy as np

from alignpipe.eval.context import Context, load_rows
from alignpipe.inference.generation import GenerationSettings, generate, pad_id, prompt_ids, sequence_kl


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
    temperature: float = 1.0,
    ref_context=None,
) -> dict:
    """KL(model || ref) per response (nats): responses drawn from `model` at `temperature`, each scored by the sum
    of the per-position full-vocabulary KLs (``per_sample``; the log-ratio sum of the sampled tokens is ``kl_sampled``).

    `model` and `ref` must share `tokenizer`'s vocabulary (the caller checks). `ref_context`, a context
    manager factory, is entered while the reference scores (a LoRA policy's reference is the base with the
    adapter disabled).
    """
    settings = GenerationSettings(
        greedy=False,
        temperature=temperature,
        top_k=0,
        top_p=1.0,
        repetition_penalty=1.0,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    repeated = [p for p in prompts for _ in range(samples_per_prompt)]
    gens = generate(model, tokenizer, repeated, settings, seed=seed, desc="KL samples")
    responses = [g.token_ids for g in gens]
    exact, ratios = sequence_kl(
        model,
        ref,
        repeated,
        responses,
        pad_id(tokenizer),
        batch_size=batch_size,
        temperature=temperature,
        ref_context=ref_context,
        desc="KL scoring",
    )
    per_sample = np.array([float(k.sum()) for k in exact])
    sampled = np.array([float(r.sum()) for r in ratios])
    tokens = sum(len(r) for r in responses)
    n = len(per_sample)
    return {
        "kl": float(per_sample.mean()),
        "standard_error": float(per_sample.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
        "kl_per_token": float(per_sample.sum() / tokens) if tokens else math.nan,
        "kl_sampled": float(sampled.mean()) if n else math.nan,
        "estimator": "exact_per_position",
        "mean_response_tokens": tokens / n if n else math.nan,
        "n_samples": n,
        "max_new_tokens": max_new_tokens,
        "per_sample": per_sample.tolist(),
    }


def run(ctx: Context) -> None:
    lm, ref, suite = ctx.lm, ctx.ref, ctx.suite
    if lm.tokenizer.get_vocab() != ref.tokenizer.get_vocab():
        ctx.rec.skip("kl", "the model and the reference have different vocabularies")
        return
    section = suite.kl
    if suite.prompts is not None:
        model_ids = ctx.responses().model_ids
    else:
        rows, _ = load_rows("default", "prompt", section.n_prompts, suite)
        model_ids = prompt_ids(lm.tokenizer, [list(r["prompt"]) for r in rows])
    result = kl_divergence(
        lm.model,
        ref.model,
        lm.tokenizer,
        model_ids[: section.n_prompts],
        max_new_tokens=section.max_new_tokens or suite.generation.max_new_tokens,
        samples_per_prompt=section.samples_per_prompt,
        batch_size=suite.generation.batch_size,
        seed=ctx.seed,
    )
    result.pop("per_sample")  # one figure per sampled response, not per prompt: not for samples.jsonl
    ctx.rec.metrics["kl"] = result
