"""Where online RL has headroom: per task, a model's greedy accuracy beside its pass@k (k samples at
temperature 1; a prompt passes when one of them is right), on the first held-out task prompts of each task.

    python -m benchmarks.pass_at_k --model runs/smollm2-135m/sft [--per-task 20] [--k 8] [--out FILE]

RL that rewards the task checker can raise greedy accuracy towards pass@k: a task whose pass@k far exceeds
its greedy accuracy is one to train GRPO on; a task where both are low has little to sharpen (issue 26).
Prints a table and writes JSON (default benchmarks/results/pass_at_k.json).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from benchmarks import save_result


def pass_at_k(
    model_path: str, per_task: int = 20, k: int = 8, max_new_tokens: int = 16, seed: int = 0
) -> dict:
    from alignpipe.defaults import load_default
    from alignpipe.inference.generation import GenerationSettings, generate, prompt_ids
    from alignpipe.inference.loading import load_lm
    from alignpipe.tasks import grade

    rows = load_default("prompt", "test", seed).to_list()
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("answer") is not None and len(by_task[r["task"]]) < per_task:
            by_task[r["task"]].append(r)
    chosen = [r for task in sorted(by_task) for r in by_task[task]]
    lm = load_lm(model_path)
    ids = prompt_ids(lm.tokenizer, [r["prompt"] for r in chosen])
    greedy = generate(
        lm.model, lm.tokenizer, ids, GenerationSettings(max_new_tokens=max_new_tokens, batch_size=64)
    )
    sampled = generate(
        lm.model,
        lm.tokenizer,
        [p for p in ids for _ in range(k)],
        GenerationSettings(greedy=False, temperature=1.0, max_new_tokens=max_new_tokens, batch_size=64),
        seed=seed,
        desc=f"{k} samples per prompt",
    )
    out: dict = {}
    for task in sorted(by_task):
        idx = [i for i, r in enumerate(chosen) if r["task"] == task]
        g = [grade(chosen[i], greedy[i].text) for i in idx]
        s = [[grade(chosen[i], sampled[i * k + j].text) for j in range(k)] for i in idx]
        out[task] = {
            "n": len(idx),
            "greedy": sum(g) / len(idx),
            "sample_accuracy": sum(map(sum, s)) / (len(idx) * k),
            f"pass@{k}": sum(any(x) for x in s) / len(idx),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pass_at_k", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--per-task", type=int, default=20)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/results/pass_at_k.json)")
    args = ap.parse_args(argv)
    result = pass_at_k(args.model, args.per_task, args.k, args.max_new_tokens)
    print(f"{'task':14s} {'n':>4s} {'greedy':>7s} {'sample':>7s} {'pass@' + str(args.k):>7s}")
    for task, r in result.items():
        print(
            f"{task:14s} {r['n']:4d} {r['greedy']:7.3f} {r['sample_accuracy']:7.3f} {r[f'pass@{args.k}']:7.3f}"
        )
    record = {"model": args.model, "k": args.k, "per_task": args.per_task, "tasks": result}
    save_result(record, args.out or "pass_at_k")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
