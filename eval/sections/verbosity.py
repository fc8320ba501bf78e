"""Length and repetition statistics on lists of responses, and the verbosity warning.

Definitions (all word-level measures split on whitespace, `str.split()`, case kept):

- length summaries: mean, median and p90 (numpy's linear-interpolation percentile) of words and
  characters per response, and of tokens when a tokenizer is given (anything with
  ``encode(text, add_special_tokens=False)``, e.g. a transformers tokenizer);
- `length_ratio`: mean length of the model's responses / mean length of the reference responses
  (ratio of means, not mean of per-pair ratios, so a few empty references cannot blow it up);
- `stop_shares`: share of responses that ended with EOS and share that hit ``max_new_tokens``;
- `distinct_n`: unique n-grams / total n-grams, pooled over the whole set of responses;
- `repeated_ngram_share`: per response, the fraction of its n-grams (default 4-grams) that repeat an
  n-gram seen earlier in the same response, averaged over responses with at least one n-gram;
- `reward_length_spearman`: Spearman's rho between reward scores and lengths (scipy), NaN when
  either side is constant or there are fewer than two pairs;
- `verbosity_warning`: see its docstring for the exact rule.

Undefined figures (no responses, no n-grams) are NaN rather than errors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

DEFAULT_MAX_RATIO = 1.3
DEFAULT_MARGIN = 2.0


def summarize(values: Sequence[float]) -> dict[str, float]:
    """mean, median and p90 of a list of numbers (NaN for an empty list)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return {"mean": math.nan, "median": math.nan, "p90": math.nan}
    return {"mean": float(x.mean()), "median": float(np.median(x)), "p90": float(np.percentile(x, 90))}


def word_counts(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def char_counts(texts: Sequence[str]) -> list[int]:
    return [len(t) for t in texts]


def token_counts(texts: Sequence[str], tokenizer) -> list[int]:
    """Tokens per text, without special tokens."""
    return [len(tokenizer.encode(t, add_special_tokens=False)) for t in texts]


def length_stats(texts: Sequence[str], tokenizer=None) -> dict[str, dict[str, float]]:
    """{"words": {...}, "chars": {...}[, "tokens": {...}]}, each with mean, median and p90."""
    out = {"words": summarize(word_counts(texts)), "chars": summarize(char_counts(texts))}
    if tokenizer is not None:
        out["tokens"] = summarize(token_counts(texts, tokenizer))
    return out


def length_ratio(
    model_texts: Sequence[str], reference_texts: Sequence[str], unit: str = "chars", tokenizer=None
) -> float:
    """mean length of model_texts / mean length of reference_texts, in "chars", "words" or "tokens"."""
    count = {
        "chars": char_counts,
        "words": word_counts,
        "tokens": lambda texts: token_counts(texts, tokenizer),
    }
    if unit not in count:
        raise ValueError(f"unit must be one of {sorted(count)}, got {unit!r}")
    if unit == "tokens" and tokenizer is None:
        raise ValueError("unit='tokens' needs a tokenizer")
    model, ref = (
        np.mean(count[unit](model_texts) or [math.nan]),
        np.mean(count[unit](reference_texts) or [math.nan]),
    )
    return float(model / ref) if ref > 0 else math.nan


def stop_shares(ended_with_eos: Sequence[bool], hit_max_new_tokens: Sequence[bool]) -> dict[str, float]:
    """Share of responses that ended with EOS, that hit max_new_tokens, and that did neither.

    "Neither" covers generations stopped by a stop string or other criterion.
    """
    eos, cut = np.asarray(ended_with_eos, dtype=bool), np.asarray(hit_max_new_tokens, dtype=bool)
    if eos.shape != cut.shape:
        raise ValueError(f"ended_with_eos and hit_max_new_tokens differ in length: {len(eos)}, {len(cut)}")
    if len(eos) == 0:
        return {"eos": math.nan, "max_new_tokens": math.nan, "other": math.nan}
    return {
        "eos": float(eos.mean()),
        "max_new_tokens": float(cut.mean()),
        "other": float((~eos & ~cut).mean()),
    }


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique word n-grams / total word n-grams over all texts together (NaN if there are none)."""
    grams = [g for t in texts for g in _ngrams(t.split(), n)]
    return len(set(grams)) / len(grams) if grams else math.nan


def repeated_ngram_share(texts: Sequence[str], n: int = 4) -> float:
    """Mean over responses of (n-grams that repeat an earlier n-gram of the same response) / (n-grams).

    Responses shorter than n words have no n-grams and are left out of the mean; NaN if all are.
    """
    shares = []
    for t in texts:
        grams = _ngrams(t.split(), n)
        if grams:
            shares.append((len(grams) - len(set(grams))) / len(grams))
    return float(np.mean(shares)) if shares else math.nan


def reward_length_spearman(rewards: Sequence[float], lengths: Sequence[float]) -> float:
    """Spearman's rho of reward score vs length; NaN for constant input or fewer than two pairs."""
    r, n = np.asarray(rewards, dtype=float), np.asarray(lengths, dtype=float)
    if r.shape != n.shape:
        raise ValueError(f"rewards and lengths differ in length: {len(r)}, {len(n)}")
    if len(r) < 2 or np.all(r == r[0]) or np.all(n == n[0]):
        return math.nan
    return float(spearmanr(r, n).statistic)


def verbosity_warning(
    length_ratio: float,
    lc_win_rate: float,
    baseline_lc_win_rate: float = 50.0,
    *,
    max_ratio: float = DEFAULT_MAX_RATIO,
    margin: float = DEFAULT_MARGIN,
) -> str | None:
    """A warning string when answers got much longer without getting better, else None.

    Rule: warn iff ``length_ratio > max_ratio`` and ``lc_win_rate <= baseline_lc_win_rate + margin``.

    - ``length_ratio``: mean model length / mean reference length (`length_ratio`);
    - ``lc_win_rate``: the model's length-controlled win rate (percent) against the reference;
    - ``baseline_lc_win_rate``: what it must beat. 50 (the default) is the reference against itself;
      pass the previous stage's LC win rate against the same reference to ask "did this stage help?".
    - ``margin`` (percentage points, default 2, about one standard error at 800 judgments) keeps a
      rise within noise from counting as a rise.

    NaN in any input gives None: the rule cannot be decided.
    """
    if any(math.isnan(v) for v in (length_ratio, lc_win_rate, baseline_lc_win_rate)):
        return None
    if length_ratio > max_ratio and lc_win_rate <= baseline_lc_win_rate + margin:
        return (
            f"verbosity: responses are {length_ratio:.2f}x the reference length (threshold {max_ratio:.2f}x) "
            f"but the length-controlled win rate is {lc_win_rate:.1f}%, not above "
            f"{baseline_lc_win_rate:.1f}% + {margin:.1f} points: the extra length is not buying quality "
            f"(raw win rates and reward scores may be inflated by length)"
        )
    return None


# --------------------------------------------------------------------------- the section


def stop_reason(g) -> str:
    """How one generation ended: "eos", "max_new_tokens" or "other"."""
    return "eos" if g.ended_with_eos else "max_new_tokens" if g.hit_max_new_tokens else "other"


def describe_responses(gens, tokenizer, scores=None) -> dict:
    """Length, stop and repetition statistics of one model's responses (tokens: `tokenizer`)."""
    texts = [g.text for g in gens]
    return {
        "length": length_stats(texts, tokenizer),
        "stop": stop_shares([g.ended_with_eos for g in gens], [g.hit_max_new_tokens for g in gens]),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "repeated_4gram_share": repeated_ngram_share(texts, 4),
        "reward_length_spearman": (
            reward_length_spearman(scores, token_counts(texts, tokenizer)) if scores is not None else None
        ),
    }


def check_verbosity(ctx) -> None:
    """Warn when answers got much longer than the reference's without a higher length-controlled win rate."""
    settings, v, wr = ctx.suite.verbosity, ctx.rec.metrics["verbosity"], ctx.rec.metrics.get("win_rate")
    ratio = v.get("length_ratio", {}).get("chars")
    if ratio is None:
        return
    if wr is not None:
        text = verbosity_warning(
            ratio, wr["lc_win_rate"], max_ratio=settings.max_ratio, margin=settings.margin
        )
        if text:
            ctx.rec.warn(text)
    elif ratio > settings.max_ratio:
        ctx.rec.warn(
            f"verbosity: responses are {ratio:.2f}x the reference length (threshold {settings.max_ratio:.2f}x); "
            f"without a reward-model win rate it cannot be told whether the extra length buys quality"
        )


def run(ctx) -> None:
    r, tokenizer, per_sample = ctx.responses(), ctx.lm.tokenizer, ctx.rec.per_sample
    out = {"model": describe_responses(r.model, tokenizer, r.model_scores)}
    per_sample["model_tokens"] = token_counts(r.model_texts, tokenizer)
    per_sample["model_stop"] = [stop_reason(g) for g in r.model]
    if r.model_scores is not None:
        per_sample["model_reward"] = r.model_scores.tolist()
    if r.ref is not None:
        out["ref"] = describe_responses(r.ref, tokenizer, r.ref_scores)
        out["length_ratio"] = {
            "chars": length_ratio(r.model_texts, r.ref_texts, "chars"),
            "words": length_ratio(r.model_texts, r.ref_texts, "words"),
            "tokens": length_ratio(r.model_texts, r.ref_texts, "tokens", tokenizer=tokenizer),
        }
        per_sample["ref_tokens"] = token_counts(r.ref_texts, tokenizer)
        per_sample["ref_stop"] = [stop_reason(g) for g in r.ref]
    if r.ref_scores is not None:
        per_sample["ref_reward"] = r.ref_scores.tolist()
    out["tokens_counted_with"] = "the evaluated model's tokenizer (for model and reference alike)"
    ctx.rec.metrics["verbosity"] = out
    check_verbosity(ctx)
