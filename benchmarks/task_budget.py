"""Why the demo's task mix has seven tasks: one task learned alone vs the same task inside a ten-task mix.

    python -m benchmarks.task_budget [--checkpoint runs/minigpt/pretrain] [--task add] [--quick]

Starts twice from the demo's pretrained MiniGPT (run `make demo` first) and trains on fresh problems
every step (answer tokens only, AdamW, cosine schedule), side by side in one run:

- alone: `--steps` steps of `--batch` problems of `--task`;
- mixed: `--mix-factor` times as many steps over every task in `alignpipe.defaults.tasks.TASKS`
  (round-robin, so `--task` gets 1/10 of each batch).

Every `--every` steps it prints the greedy held-out accuracy on `--task` (problems from the test side of
the task's space, graded by `check_answer`), and writes the curves to benchmarks/results/task_budget.json.
The demo's SFT stage does about 950 steps of 32 over its tasks; a task that needs thousands of its own
examples to click does not fit that budget inside a mix.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import alignpipe  # noqa: F401  (registers MiniGPT)
from alignpipe.core.graders import check_answer
from alignpipe.defaults.tasks import TASKS, Problem, make_problem
from benchmarks import save_result


def encode(tok, p: Problem) -> tuple[list[int], list[int]]:
    """(prompt ids, prompt + terse answer ids) in the chat template."""
    msgs = [{"role": "user", "content": p.prompt}]
    prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template([*msgs, {"role": "assistant", "content": p.answer}], tokenize=False)
    return tok(prompt, add_special_tokens=False).input_ids, tok(full, add_special_tokens=False).input_ids


def batch(tok, problems: list[Problem]) -> dict[str, torch.Tensor]:
    pairs = [encode(tok, p) for p in problems]
    T = max(len(full) for _, full in pairs)
    ids = torch.full((len(pairs), T), tok.pad_token_id)
    labels = torch.full((len(pairs), T), -100)
    mask = torch.zeros(len(pairs), T, dtype=torch.long)
    for i, (prompt, full) in enumerate(pairs):  # right padding; loss on the answer (and eos) only
        ids[i, : len(full)] = torch.tensor(full)
        mask[i, : len(full)] = 1
        labels[i, len(prompt) : len(full)] = torch.tensor(full[len(prompt) :])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@torch.no_grad()
def accuracy(model, tok, problems: list[Problem]) -> float:
    model.eval()
    tok.padding_side = "left"
    texts = [tok.decode(encode(tok, p)[0]) for p in problems]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    replies = tok.batch_decode(out[:, enc.input_ids.shape[1] :], skip_special_tokens=True)
    model.train()
    return sum(map(check_answer, [p.answer for p in problems], replies)) / len(problems)


def train(
    checkpoint: str, tasks: list[str], steps: int, args, test: list[Problem]
) -> list[tuple[int, float]]:
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    warmup = min(50, steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    rng, curve, t0 = random.Random(0), [], time.time()
    model.train()
    for step in range(1, steps + 1):
        problems = [make_problem(tasks[i % len(tasks)], rng) for i in range(args.batch)]
        model(**batch(tok, problems)).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        sched.step()
        if step % args.every == 0 or step == steps:
            curve.append((step, accuracy(model, tok, test)))
            print(
                f"  {len(tasks)} task(s) step {step:5d}: {args.task} held-out accuracy {curve[-1][1]:.2f}"
                f"  ({time.time() - t0:.0f} s)",
                flush=True,
            )
    return curve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.task_budget", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--checkpoint", default="runs/minigpt/pretrain", help="the demo's pretrained MiniGPT")
    ap.add_argument("--task", default="add", choices=list(TASKS))
    ap.add_argument("--steps", type=int, default=500, help="steps for the task alone")
    ap.add_argument("--mix-factor", type=int, default=4, help="the mix gets this many times --steps")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--every", type=int, default=250, help="evaluate every this many steps")
    ap.add_argument("--n-test", type=int, default=60, help="held-out problems of --task")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 steps, 8 test problems")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.every, args.n_test = 10, 10, 8
    if not Path(args.checkpoint, "config.json").is_file():
        print(
            f"task_budget: no checkpoint at {args.checkpoint}; run `make demo` first or pass --checkpoint",
            file=sys.stderr,
        )
        return 1
    test = [make_problem(args.task, random.Random(f"test:{i}"), held_out=True) for i in range(args.n_test)]
    print(f"{args.task} alone, {args.steps} steps of {args.batch}:")
    alone = train(args.checkpoint, [args.task], args.steps, args, test)
    mix_steps = args.steps * args.mix_factor
    print(f"all {len(TASKS)} tasks, {mix_steps} steps of {args.batch}:")
    mixed = train(args.checkpoint, list(TASKS), mix_steps, args, test)
    result = {
        "checkpoint": args.checkpoint,
        "task": args.task,
        "batch": args.batch,
        "lr": args.lr,
        "n_test": args.n_test,
        "alone": {"steps": args.steps, "task_examples": args.steps * args.batch, "curve": alone},
        "mixed": {
            "steps": mix_steps,
            "tasks": list(TASKS),
            "task_examples": mix_steps * args.batch // len(TASKS),
            "curve": mixed,
        },
    }
    print(
        f"{args.task}: alone {alone[-1][1]:.2f} after {args.steps} steps; "
        f"in the mix {mixed[-1][1]:.2f} after {mix_steps} steps"
    )
    save_result(result, "task_budget" if not args.quick else "task_budget_quick")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
