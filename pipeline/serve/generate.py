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
is generated. Answers are written as they are made, ``--batch-size`` prompts at a time: to standard output, or
to ``FILE.partial`` beside ``-o FILE``, which becomes ``FILE`` when every prompt is answered. An interrupted run
(Ctrl-C, a crash) keeps the answers made so far in ``FILE.partial``; ``--resume`` continues from them (the same
prompts, settings and seed give the same rows as an uninterrupted run). ``-o`` follows the output-path policy
(README, "Reliability"): an existing FILE is replaced only with ``--overwrite``.
Sampling: `alignpipe.serve.sampling` (preset ``balanced`` by default); the same ``--seed`` gives the same
output for the same prompts and settings (each batch of prompts is seeded with ``--seed`` plus its number).
Arguments are checked before torch and Transformers load: a bad flag is answered at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import file_mode, output_file
from alignpipe.core.log import echo
from alignpipe.serve.sampling import add_sampling_args, check_sampling, describe, settings_from_args
from alignpipe.serve.session import add_model_args, check_model_args


def read_prompts(args: argparse.Namespace) -> tuple[list[list[dict]], list[str]]:
    """(conversations, where each came from) from --prompt and --prompts."""
    for i, p in enumerate(args.prompt or []):
        if not p.strip():
            raise AlignpipeError(f"--prompt {i + 1} is empty; give the text to answer")
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o FILE")
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from the answers in FILE.partial"
    )
    p.add_argument("--num-return-sequences", type=int, default=1, help="answers per prompt")
    p.add_argument("--batch-size", type=int, default=16, help="prompts generated (and written) together")
    add_sampling_args(p, max_new_tokens=64)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Every check that needs no model, before torch loads."""
    if args.num_return_sequences < 1:
        raise AlignpipeError(f"--num-return-sequences must be >= 1, got {args.num_return_sequences}")
    if args.batch_size < 1:
        raise AlignpipeError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.raw and args.system:
        raise AlignpipeError("--system needs the chat template; it does nothing with --raw")
    if (args.greedy or args.preset == "greedy") and args.num_return_sequences > 1:
        raise AlignpipeError(
            f"--num-return-sequences {args.num_return_sequences} with greedy decoding gives "
            f"{args.num_return_sequences} identical answers; sample (a preset other than greedy) or ask for one"
        )
    if args.resume and not args.output:
        raise AlignpipeError("--resume continues the FILE.partial of -o FILE; give -o")
    check_model_args(args)
    check_sampling(args)


class Answers:
    """Where rows go as they are made: standard output, or FILE.partial turned into FILE at the end."""

    def __init__(self, output: str | None, *, overwrite: bool, resume: bool):
        self.out = output_file(output, "generate: -o", overwrite=overwrite) if output else None
        self.partial = self.out.with_name(self.out.name + ".partial") if self.out else None
        self.done: list[dict] = []
        if self.partial is not None and self.partial.exists():
            if not resume and not overwrite:
                raise AlignpipeError(
                    f"{self.partial} holds the answers of an interrupted run; pass --resume to continue it or "
                    "--overwrite to start over"
                )
            if resume:
                lines = self.partial.read_text(encoding="utf-8").splitlines(keepends=True)
                whole = [line for line in lines if line.endswith("\n")]  # a line cut off mid-write is dropped
                self.done = [json.loads(line) for line in whole]
                self.partial.write_text("".join(whole), encoding="utf-8")
            else:
                self.partial.unlink()
        self.file = None if self.partial else sys.stdout  # the partial file opens with the first answers

    def write(self, rows: list[dict]) -> None:
        if self.file is None:
            self.file = open(self.partial, "a", encoding="utf-8")  # noqa: SIM115
        self.file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        self.file.flush()
        if self.partial is not None:
            os.fsync(self.file.fileno())

    def finish(self) -> None:
        if self.partial is not None:
            if self.file is None:  # nothing left to answer: the rows kept are all of them
                self.file = open(self.partial, "a", encoding="utf-8")  # noqa: SIM115
            self.file.close()
            # as any file written here: the umask's permissions, or those of the file it replaces
            os.chmod(self.partial, file_mode(self.out))
            os.replace(self.partial, self.out)

    def interrupted(self, n_rows: int) -> None:
        if self.partial is not None and self.file is not None:
            self.file.close()
            echo(
                f"generate: interrupted; {n_rows} answers kept in {self.partial} (run again with --resume to "
                "continue)",
                err=True,
            )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_args(args)
    answers = Answers(args.output, overwrite=args.overwrite, resume=args.resume)
    conversations, where = read_prompts(args)
    settings = settings_from_args(args, batch_size=args.batch_size)  # checks the flags, then loads torch

    from alignpipe.inference.generation import generate, message_text
    from alignpipe.inference.guard import REFUSAL
    from alignpipe.serve.session import open_session

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
    n = args.num_return_sequences
    start = len(answers.done) // n  # whole prompts answered before an interruption
    for row, text in zip(answers.done, (t for t in texts for _ in range(n)), strict=False):
        if row.get("prompt") != text:
            raise AlignpipeError(
                f"{answers.partial} was made for other prompts ({row.get('prompt')!r} where this run has "
                f"{text!r}); pass --overwrite to start over"
            )
    verdicts = session.guard.screen(conversations) if session.guard else [None] * len(texts)
    flagged = sum(1 for v in verdicts[start:] if v is not None and v.flagged)
    todo = len(texts) - start - flagged
    echo(
        f"generate: {todo * n} answers to {todo} prompts ({describe(settings)})"
        + (f"; {flagged} prompts flagged by the guard get its refusal" if flagged else "")
        + (f"; {start} prompts answered before, kept" if start else ""),
        err=True,
    )
    written = start * n
    try:
        for b, first in enumerate(range(0, len(texts), args.batch_size)):
            batch = range(max(first, start), min(first + args.batch_size, len(texts)))
            if not batch:
                continue
            jobs = [(i, k) for i in batch if verdicts[i] is None or not verdicts[i].flagged for k in range(n)]
            gens = generate(
                session.lm.model,
                session.lm.tokenizer,
                [ids[i] for i, _ in jobs],
                settings,
                seed=args.seed + b,
            )
            made = dict(zip(jobs, gens))
            rows = []
            for i in batch:
                for k in range(n):
                    row: dict = {"prompt": texts[i], "sample": k}
                    if (i, k) in made:
                        g = made[(i, k)]
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
            answers.write(rows)
            written += len(rows)
    except BaseException:  # Ctrl-C or a failure: what was made stays in FILE.partial
        answers.interrupted(written)
        raise
    answers.finish()
    if args.output:
        echo(f"generate: wrote {written} answers to {args.output}", err=True)
    return 0
