"""Safety: does the model refuse harmful requests, and answer harmless ones that sound alike?

The rows are held-out requests labelled "unsafe" or "benign": an embedded set's test split (``source:
default``, the demo's `alignpipe.defaults.safety`; ``source: harms``, the wide set for real models,
`alignpipe.defaults.harms`) or the user's JSONL file of ``{"prompt": str | [messages], "label": "unsafe" |
"benign"}`` rows (e.g. red-team prompts taken from HH-RLHF's harmless data, with benign look-alikes from
XSTest). The model (and the reference) answer each with the suite's generation settings; a classifier says
whether each answer is a refusal (by default XSTest's string match, `alignpipe.core.refusals.is_refusal`; the
suite may name another `module:function`, `str -> bool`). Figures, for the model and the reference:

- ``refusal_rate``: the share of unsafe requests refused (higher is better), with its 95% Wilson interval;
- ``over_refusal_rate``: the share of benign requests refused (lower is better), with its interval;
- ``refusal_rate_delta``: model - reference refusal rate on the unsafe requests, with a paired-bootstrap 95%
  interval (the same requests answered by both).

With a guard (`alignpipe eval --guard DIR`, `alignpipe.inference.guard`) the "model" is the guard + model pair: a
prompt the guard flags gets the guard's refusal and the model answers the rest; ``metrics.safety.guard``
holds the guard's own precision, recall and F1 for "unsafe" and the share of each set it flags, and
``metrics.safety.unguarded`` the model's own rates (it answers every request, flagged or not: the same
prompts as unguarded, so its answers come from the generation cache when it was evaluated before). The
reference answers unguarded, so the deltas are the pair against the plain reference.

Every request with both answers goes to DIR/safety_samples.jsonl: set, prompt, model_response,
model_refused, ref_response, ref_refused (and with a guard ``guard``: flagged, score, and the model's own
``unguarded_response``, ``unguarded_refused``; ``category``, where the rows have one).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable

from alignpipe.core.data import SAFETY_LABELS as LABELS
from alignpipe.core.data import read_safety_file
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import atomic_open
from alignpipe.core.refusals import is_refusal
from alignpipe.eval.context import Context, resolve_path
from alignpipe.eval.stats import paired_bootstrap, wilson_interval
from alignpipe.inference.generation import generate_cached, message_text, prompt_ids


def safety_rows(ctx: Context, say: bool = True) -> tuple[list[dict], str]:
    """The safety section's rows (checked: both sets present), at most `n` of each set."""
    section = ctx.suite.safety
    if section.source == "default":
        from alignpipe.defaults import default_rows

        rows, where = default_rows("safety", "test", seed=ctx.suite.seed), "embedded safety data (test split)"
    elif section.source == "harms":
        from alignpipe.defaults import harms_rows

        rows, where = harms_rows("safety", "test", seed=ctx.suite.seed), "embedded harms data (test split)"
    else:
        path = resolve_path(section.source, ctx.suite)
        rows, where = read_safety_file(path), str(path)
    missing = [label for label in LABELS if not any(r["label"] == label for r in rows)]
    if missing:
        raise AlignpipeError(f"{where}: no {' and no '.join(missing)} rows; the safety section needs both")
    if section.n is not None:
        available = {label: sum(r["label"] == label for r in rows) for label in LABELS}
        short = [f"{available[lb]} {lb}" for lb in LABELS if available[lb] < section.n]
        if short and say:
            ctx.rec.warn(
                f"safety: asked for {section.n} prompts of each set, {where} has {', '.join(short)}: all used"
            )
        rows = [r for label in LABELS for r in [x for x in rows if x["label"] == label][: section.n]]
    return rows, where


def load_classifier(spec: str | None) -> Callable[[str], bool]:
    """The refusal classifier a suite names (`module:function`), XSTest's string match by default."""
    if not spec or spec == "string_match":
        return is_refusal
    module, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise AlignpipeError(
            f"safety.classifier {spec!r}: cannot import it ({e}); expected module:function"
        ) from e
    if not callable(fn):
        raise AlignpipeError(f"safety.classifier {spec!r} is not a function")
    return fn


def refusal_metrics(refused: list[bool], labels: list[str]) -> dict:
    """Refusal and over-refusal rates with their Wilson intervals, from per-request verdicts."""
    out = {}
    for label, key in (("unsafe", "refusal_rate"), ("benign", "over_refusal_rate")):
        verdicts = [r for r, lb in zip(refused, labels, strict=True) if lb == label]
        k, n = sum(verdicts), len(verdicts)
        out[key] = k / n if n else float("nan")
        out[f"{key}_ci95"] = wilson_interval(k, n)
        out[f"n_{label}"] = n
    return out


def guard_metrics(guard, verdicts, labels: list[str]) -> dict:
    """How the guard alone sorts the requests: its precision, recall and F1 for "unsafe", and the share of
    each set it flags (the benign share is requests the model never got to answer)."""
    from alignpipe.eval.stats import binary_classification

    flagged = [v.flagged for v in verdicts]
    out = {"path": str(guard.path), "threshold": guard.threshold}
    out |= binary_classification(flagged, [lb == "unsafe" for lb in labels])
    for label in LABELS:
        picked = [f for f, lb in zip(flagged, labels) if lb == label]
        out[f"flagged_{label}_rate"] = sum(picked) / len(picked) if picked else float("nan")
    return out


def _answers(ctx: Context, lm, conversations, desc: str):
    ids = prompt_ids(lm.tokenizer, conversations)
    return generate_cached(lm, ids, ctx.suite.generation, seed=ctx.seed, desc=desc)


def run(ctx: Context) -> None:
    rows, where = safety_rows(ctx)
    classify = load_classifier(ctx.suite.safety.classifier)
    conversations = [
        [{"role": "user", "content": r["prompt"]}] if isinstance(r["prompt"], str) else list(r["prompt"])
        for r in rows
    ]
    labels = [r["label"] for r in rows]
    verdicts = None
    with ctx.rec.timed("safety_generation"):
        own = [g.text for g in _answers(ctx, ctx.lm, conversations, "safety: model")]
        ref = (
            [g.text for g in _answers(ctx, ctx.ref, conversations, "safety: reference")] if ctx.ref else None
        )
    own_refused = [bool(classify(t)) for t in own]
    model, model_refused = own, own_refused
    if ctx.guard is not None:
        # the pair: a flagged prompt gets the guard's refusal, the model answers the rest
        from alignpipe.inference.guard import REFUSAL

        with ctx.rec.timed("guard"):  # scored once per run: the same prompts in front of every model
            verdicts = ctx.guard.screen(conversations, cached=True)
        model = [REFUSAL if v.flagged else t for v, t in zip(verdicts, own, strict=True)]
        model_refused = [bool(classify(t)) for t in model]
    out = {
        **refusal_metrics(model_refused, labels),
        "source": where,
        "classifier": ctx.suite.safety.classifier,
    }
    if verdicts is not None:
        out["guard"] = guard_metrics(ctx.guard, verdicts, labels)
        out["unguarded"] = refusal_metrics(own_refused, labels)
    ref_refused = None
    if ref is not None:
        ref_refused = [bool(classify(t)) for t in ref]
        out["ref"] = refusal_metrics(ref_refused, labels)
        unsafe = [i for i, lb in enumerate(labels) if lb == "unsafe"]
        delta, ci = paired_bootstrap(
            [model_refused[i] for i in unsafe], [ref_refused[i] for i in unsafe], seed=ctx.seed
        )
        out["refusal_rate_delta"], out["refusal_rate_delta_ci95"] = delta, ci
    path = ctx.out_dir / "safety_samples.jsonl"
    with atomic_open(path) as f:
        for i, row in enumerate(rows):
            line = {
                "set": row["label"],
                "prompt": message_text(conversations[i]),
                "model_response": model[i],
                "model_refused": model_refused[i],
                "ref_response": ref[i] if ref is not None else None,
                "ref_refused": ref_refused[i] if ref_refused is not None else None,
            }
            if verdicts is not None:
                line["guard"] = verdicts[i].to_dict()
                line["unguarded_response"], line["unguarded_refused"] = own[i], own_refused[i]
            if row.get("category"):
                line["category"] = row["category"]
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    out["samples_file"] = path.name
    ctx.rec.metrics["safety"] = out
