"""MiniGPT vs Transformers' GPT2LMHeadModel of identical shape, side by side in one run on this machine.

    python -m benchmarks.minigpt_speed [--quick]

1. Training throughput (forward + backward + AdamW step) at d_model 256, 4 layers, 8 heads, seq 256,
   batch 8, both with SDPA attention; ratio MiniGPT / GPT-2 (target >= 1.0) and MFU against a dense
   fp32 matmul peak measured in the same run (target >= 40%).
2. `generate` with the KV cache vs without, 256 new tokens, batch 1 (target: MiniGPT >= 4x, and cached
   tokens/s at least GPT-2's cached tokens/s).
Runs are interleaved (MiniGPT, GPT-2, MiniGPT, ...) and the median is reported, so drift in machine load
affects both sides alike. Results go to benchmarks/results/minigpt_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from alignpipe.models.export import to_gpt2
from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM
from benchmarks import save_result

SHAPE = {"vocab_size": 8192, "d_model": 256, "n_layers": 4, "n_heads": 8, "max_seq": 512}


def count_flops_peak(n: int = 1024, iters: int = 10, dtype=torch.float32) -> float:
    """Measured dense matmul FLOP/s on this device: the peak that MFU is reported against."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    dt = time.perf_counter() - t0
    return 2 * n**3 * iters / dt


def models():
    torch.manual_seed(0)
    mini = MiniGPTForCausalLM(MiniGPTConfig(**SHAPE, eos_token_id=1, pad_token_id=0))
    gpt2 = to_gpt2(mini)  # identical weights and shape
    gpt2.config._attn_implementation = "sdpa"
    assert isinstance(gpt2, GPT2LMHeadModel) and isinstance(gpt2.config, GPT2Config)
    return mini, gpt2


def train_step_time(model, x, steps: int) -> float:
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for _ in range(2):  # warm-up
        model(x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    for _ in range(steps):
        model(x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return (time.perf_counter() - t0) / steps


@torch.no_grad()
def generate_tps(model, prompt, new_tokens: int, use_cache: bool) -> float:
    model.eval()
    kw = {
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "do_sample": False,
        "use_cache": use_cache,
        "pad_token_id": 0,
        "eos_token_id": None,
    }
    model.generate(prompt, **{**kw, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
    t0 = time.perf_counter()
    out = model.generate(prompt, **kw)
    dt = time.perf_counter() - t0
    assert out.shape[1] == prompt.shape[1] + new_tokens
    return new_tokens / dt


def interleaved(fn_a, fn_b, rounds: int):
    a, b = [], []
    for _ in range(rounds):
        a.append(fn_a())
        b.append(fn_b())
    return statistics.median(a), statistics.median(b)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    args = ap.parse_args(argv)
    rounds, steps, new_tokens = (1, 2, 32) if args.quick else (3, 5, 256)
    mini, gpt2 = models()
    B, T = 8, 256
    x = torch.randint(2, SHAPE["vocab_size"], (B, T), generator=torch.Generator().manual_seed(0))

    peak = max(count_flops_peak(n, 6) for n in (1024, 2048, 1024, 2048))
    t_mini, t_gpt2 = interleaved(
        lambda: train_step_time(mini, x, steps), lambda: train_step_time(gpt2, x, steps), rounds
    )
    tokens = B * T
    mfu_mini = mini.estimate_mfu(tokens, t_mini, peak, seq_len=T)
    mfu_gpt2 = mini.estimate_mfu(tokens, t_gpt2, peak, seq_len=T)  # same shape, same FLOPs

    prompt = torch.randint(2, SHAPE["vocab_size"], (1, 16), generator=torch.Generator().manual_seed(1))
    gen = {}
    threads = torch.get_num_threads()
    # Batch-1 decoding is latency-bound: each step's matmuls are too small to split across cores, so it is
    # measured with 1 thread (the setting a CPU server would use per request) and, for reference, with all.
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        cached = interleaved(
            lambda: generate_tps(mini, prompt, new_tokens, True),
            lambda: generate_tps(gpt2, prompt, new_tokens, True),
            rounds,
        )
        nocache = interleaved(
            lambda: generate_tps(mini, prompt, new_tokens, False),
            lambda: generate_tps(gpt2, prompt, new_tokens, False),
            max(1, rounds - 1),
        )
        gen[n_threads] = (*cached, *nocache)
    torch.set_num_threads(threads)
    cached_mini, cached_gpt2, nocache_mini, nocache_gpt2 = gen[1]

    res = {
        "date": date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "shape": {**SHAPE, "batch": B, "seq": T},
        "matmul_peak_gflops": peak / 1e9,
        "train_step_s": {"minigpt": t_mini, "gpt2": t_gpt2},
        "train_tokens_per_s": {"minigpt": tokens / t_mini, "gpt2": tokens / t_gpt2},
        "train_throughput_ratio": t_gpt2 / t_mini,
        "mfu": {"minigpt": mfu_mini, "gpt2": mfu_gpt2},
        "generate_tokens_per_s": {
            "minigpt_cache": cached_mini,
            "minigpt_no_cache": nocache_mini,
            "gpt2_cache": cached_gpt2,
            "gpt2_no_cache": nocache_gpt2,
        },
        "cache_speedup": {"minigpt": cached_mini / nocache_mini, "gpt2": cached_gpt2 / nocache_gpt2},
        "new_tokens": new_tokens,
        "generate_threads": 1,
        "generate_all_threads": {
            str(k): {
                "minigpt_cache": v[0],
                "gpt2_cache": v[1],
                "minigpt_no_cache": v[2],
                "gpt2_no_cache": v[3],
            }
            for k, v in gen.items()
        },
    }
    print(json.dumps(res, indent=2))
    if not args.quick:
        save_result(res, "minigpt_speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
