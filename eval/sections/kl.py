"""KL(model || reference) on held-out prompts, Monte Carlo: responses sampled from the model at `temperature`
(1 by default: the models' own distributions; no top-k/top-p, no repetition penalty), and for each the sum over
its tokens (stop token included) of log p_model - log p_ref, both at that temperature; the mean over samples,
its standard error, and per token. PPO's held-out KL in its run record is this, at its rollout temperature."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from alignpipe.eval.context import Context, load_rows
from alignpipe.eval.generation import GenerationSettings, generate, pad_id, prompt_ids, sequence_logprobs


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
    """Monte-Carlo KL(model || ref) per response (nats), with samples drawn from `model` at `temperature`.

    `model` and `ref` must share `tokenizer`'s vocabulary (the caller checks). `ref_context`, a context
    manager factory, is entered while the reference scores (a LoRA policy's reference is the base with the
    adapter disabled). ``per_sample`` holds each response's KL.
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
    pad = pad_id(tokenizer)
    scoring = {"batch_size": batch_size, "temperature": temperature}
    lp_model = sequence_logprobs(model, repeated, responses, pad, desc="KL model", **scoring)
    with ref_context() if ref_context is not None else contextlib.nullcontext():
        lp_ref = sequence_logprobs(ref, repeated, responses, pad, desc="KL reference", **scoring)
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
