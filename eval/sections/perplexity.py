"""Held-out perplexity, token-weighted.

Each document becomes ``[bos] + tokens`` (eos when the tokenizer has no bos), cut into windows of
`window` tokens that overlap by one token, so every document token is predicted exactly once, from at
most `window - 1` tokens of context. ``perplexity = exp(total NLL / predicted tokens)``;
``bits_per_byte = total NLL / ln 2 / UTF-8 bytes`` (comparable across tokenizers).
"""

from __future__ import annotations

import math

from alignpipe.core.errors import AlignpipeError
from alignpipe.eval.context import Context, load_rows
from alignpipe.inference.generation import encode, max_positions, pad_id, sequence_logprobs


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


def run(ctx: Context) -> None:
    section = ctx.suite.perplexity
    rows, where = load_rows(section.source, "text", section.max_documents, ctx.suite)
    result = perplexity(
        ctx.lm.model,
        ctx.lm.tokenizer,
        [r["text"] for r in rows],
        window=section.window,
        batch_size=section.batch_size,
    )
    ctx.rec.metrics["perplexity"] = {**result, "source": where}
