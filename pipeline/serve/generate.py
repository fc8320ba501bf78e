"""`alignpipe generate MODEL`: answers to prompts as JSON lines, batched with the KV cache.

    alignpipe generate runs/minigpt/dpo --prompt "What is 17 + 25?" --prompt "Sort: 3 1 2"
    alignpipe generate runs/minigpt/dpo --prompts prompts.jsonl -o answers.jsonl --preset greedy
    alignpipe generate runs/minigpt/pretrain --raw --prompt "Once upon a time"

Prompts: ``--prompt TEXT`` (repeatable) or ``--prompts FILE`` in any prompt format `alignpipe data` reads
(a ``prompt`` field as text or chat messages, Alpaca rows, preference rows, ...). Each is rendered with the
model's chat template as the user's turn, as `chat` does; ``--raw`` feeds the text as it is, for plain
completion. Output (``-o FILE``, default standard output): one JSON object per answer with ``prompt``,
``response``, ``tokens`` (generated tokens, the stop token not counted), ``stop`` ("eos" or "length"),
``sample`` (0 .. ``--num-return-sequences`` - 1) and, with ``--guard DIR``, ``guard``: ``{"flagged", "score"}``
(a flagged prompt gets the guard's refusal, ``stop`` "guard", and the model is not called for it).

A prompt too long for the model's context with ``--max-new-tokens`` is an error naming it, before anything
is generated; the output file is written whole at the end (an interrupted run leaves no partial file).
Sampling: `alignpipe.serve.sampling` (preset ``balanced`` by default); the same ``--seed`` gives the same
output for the same prompts and settings.
"""

from __future__ import annotations

import argparse
import json
import sys

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import atomic_open
from alignpipe.core.log import echo
from alignpipe.eval.generation import generate, message_text
from alignpipe.serve.guard import REFUSAL
from alignpipe.serve.sampling import add_sampling_args, describe, settings_from_args
from alignpipe.serve.session import add_model_args, open_session


def read_prompts(args: argparse.Namespace) -> tuple[list[list[dict]], list[str]]:
    """(conversations, where each came from) from --prompt and --prompts."""
    conversations: list[list[dict]] = [[{"role": "user", "content": p}] for p in args.prompt or []]
    where = [f"--prompt {i + 1}" for i in range(len(conversations))]
    if args.prompts:
        import datasets

        from alignpipe.core.data import load_source

        datasets.disable_progress_bars()  # a few prompts: the bars would outnumber the answers
        src = load_source({"id": args.prompts, "test_split_size": 0}, "prompt")
        for i, row in enumerate(src.train):
            conversations.append(list(row["prompt"]))
            where.append(f"{args.prompts}, row {i + 1}")
    if not conversations:
        raise AlignpipeError("nothing to answer: give --prompt TEXT (repeatable) or --prompts FILE")
    return conversations, where


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alignpipe generate",
        description="Answer prompts with a model; JSON lines out (prompt, response, tokens, stop).",
    )
    add_model_args(p)
    p.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    p.add_argument("--prompts", metavar="FILE", help="a file of prompts in any format `alignpipe data` reads")
    p.add_argument("--raw", action="store_true", help="plain text completion: no chat template")
    p.add_argument("--system", help="a system prompt before each prompt (not with --raw)")
    p.add_argument("-o", "--output", help="JSONL file to write (default: standard output)")
    p.add_argument("--num-return-sequences", type=int, default=1, help="answers per prompt")
    p.add_argument("--batch-size", type=int, default=16, help="prompts generated together")
    add_sampling_args(p, max_new_tokens=64)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.num_return_sequences < 1:
        raise AlignpipeError(f"--num-return-sequences must be >= 1, got {args.num_return_sequences}")
    if args.batch_size < 1:
        raise AlignpipeError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.raw and args.system:
        raise AlignpipeError("--system needs the chat template; it does nothing with --raw")
    settings = settings_from_args(args, batch_size=args.batch_size)
    conversations, where = read_prompts(args)
    session = open_session(args)
    if args.system:
        conversations = [[{"role": "system", "content": args.system}, *c] for c in conversations]
    texts = [message_text([m for m in c if m["role"] != "system"]) for c in conversations]
    ids = [session.prompt_ids(c, raw=args.raw) for c in conversations]
    limit = session.context
    for i, p in enumerate(ids):
        if limit is not None and len(p) + settings.max_new_tokens > limit:
            raise AlignpipeError(
                f"{where[i]}: the prompt is {len(p)} tokens; with --max-new-tokens {settings.max_new_tokens} it "
                f"exceeds the model's context of {limit} tokens (shorten it or lower --max-new-tokens)"
            )
    verdicts = session.guard.screen(conversations) if session.guard else [None] * len(texts)
    todo = [i for i, v in enumerate(verdicts) if v is None or not v.flagged]
    n = args.num_return_sequences
    jobs = [(i, k) for i in todo for k in range(n)]
    echo(f"generate: {len(jobs)} answers to {len(todo)} prompts ({describe(settings)})", err=True)
    gens = generate(
        session.lm.model, session.lm.tokenizer, [ids[i] for i, _ in jobs], settings, seed=args.seed
    )
    answers = dict(zip(jobs, gens))
    rows = []
    for i, text in enumerate(texts):
        for k in range(n):
            row: dict = {"prompt": text, "sample": k}
            if (i, k) in answers:
                g = answers[(i, k)]
                body = g.token_ids[:-1] if g.ended_with_eos else g.token_ids
                row |= {
                    "response": g.text,
                    "tokens": len(body),
                    "stop": "eos" if g.ended_with_eos else "length",
                }
            else:
                row |= {"response": REFUSAL, "tokens": 0, "stop": "guard"}
            if verdicts[i] is not None:
                row["guard"] = verdicts[i].to_dict()
            rows.append(row)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if args.output:
        with atomic_open(args.output) as f:
            f.write(lines)
        echo(f"generate: wrote {len(rows)} answers to {args.output}", err=True)
    else:
        sys.stdout.write(lines)
        sys.stdout.flush()
    return 0
