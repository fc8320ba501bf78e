"""Where a PPO step's time goes on this machine: rollout generation (KV cache on and off) vs the whole step.

    python -m benchmarks.ppo_rollout [--recipe recipes/minigpt/ppo.yaml] [--steps 4] [--repeats 3]

Uses the recipe's rollout shape (per_device_train_batch_size prompts, response_length new tokens,
num_ppo_epochs x num_mini_batches updates, local_rollout_forward_batch_size) and the model shape of
its `model_name_or_path` when that checkpoint exists, else a stand-in MiniGPT of the demo's size
(`FALLBACK_SHAPE`). Weights are random and responses are forced to full length (no stop token), so
every step does the same work. Measured in one process, side by side:

- generation tokens/s of the policy sampling `batch x response_length` tokens, with and without the
  KV cache (median of `--repeats`);
- the PPO step (alignpipe.training.ppo.PPOTrainer: rollout, reference/value/reward forwards, PPO epochs),
  median over `--steps` after one warm-up step.

Prints a table and writes JSON to benchmarks/results/ppo_rollout.json.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml
from datasets import Dataset
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, TrainerCallback

import alignpipe  # noqa: F401  (registers MiniGPT)
from alignpipe.core.tokenizers import train_tokenizer
from alignpipe.models.minigpt import MiniGPTConfig
from benchmarks import save_result

# recipes/minigpt/pretrain.yaml's MiniGPT (vocab 4096, block 128, 192 wide, 4 layers, 6 heads): 2.6M params
FALLBACK_SHAPE = {"vocab_size": 4096, "d_model": 192, "n_layers": 4, "n_heads": 6, "max_seq": 128}
PROMPT_LENGTH = 24
ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "minigpt" / "ppo.yaml"
OUT = ROOT / "benchmarks" / "results" / "ppo_rollout.json"


def model_config(recipe: dict):
    path = recipe.get("model_name_or_path")
    if path and Path(path, "config.json").is_file():
        return AutoConfig.from_pretrained(path), path
    return MiniGPTConfig(**FALLBACK_SHAPE), f"stand-in MiniGPT {FALLBACK_SHAPE}"


def stand_in_tokenizer():
    """Only its pad/eos/bos ids matter here: prompts are random ids and responses are never decoded."""
    return train_tokenizer(["abcdefghijklmnopqrstuvwxyz 0123456789?"], "char")


def random_prompts(n: int, tokenizer, vocab_size: int, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    first = len(tokenizer.all_special_ids) + 1  # keep clear of pad/eos/bos and the role tokens
    return torch.randint(first, vocab_size, (n, PROMPT_LENGTH), generator=g).tolist()


@torch.no_grad()
def generation_tokens_per_s(
    policy, queries, response_length: int, temperature: float, use_cache: bool, repeats: int
) -> float:
    policy.eval()
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        t0 = time.perf_counter()
        out = policy.generate(
            input_ids=queries,
            attention_mask=torch.ones_like(queries),
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=response_length,
            min_new_tokens=response_length,
            use_cache=use_cache,
        )
        times.append(time.perf_counter() - t0)
    assert out.shape[1] == queries.shape[1] + response_length
    return queries.numel() / queries.shape[1] * response_length / statistics.median(times[1:])


class StepTimer(TrainerCallback):
    def __init__(self):
        self.marks = []

    def on_train_begin(self, args, state, control, **kw):
        self.marks.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kw):
        self.marks.append(time.perf_counter())

    def step_times(self) -> list[float]:
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


def ppo_step_seconds(config, tokenizer, recipe: dict, steps: int) -> tuple[float, float]:
    """Median seconds per PPO step (after a warm-up step), and the first step's seconds."""
    from trl.experimental.ppo import PPOConfig

    from alignpipe.training.ppo import PPOTrainer, PromptCollator

    batch = recipe["per_device_train_batch_size"]
    torch.manual_seed(0)
    policy = AutoModelForCausalLM.from_config(config)
    scalar = copy.deepcopy(config)
    scalar.num_labels = 1
    reward, value = (AutoModelForSequenceClassification.from_config(scalar) for _ in range(2))
    for m in (policy, reward, value):
        m.config.pad_token_id = tokenizer.pad_token_id
    data = Dataset.from_dict({"input_ids": random_prompts(batch * (steps + 1), tokenizer, config.vocab_size)})
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        args = PPOConfig(
            output_dir=out,
            per_device_train_batch_size=batch,
            total_episodes=batch * (steps + 1),
            response_length=recipe["response_length"],
            temperature=recipe["temperature"],
            num_ppo_epochs=recipe["num_ppo_epochs"],
            num_mini_batches=recipe["num_mini_batches"],
            local_rollout_forward_batch_size=recipe["local_rollout_forward_batch_size"],
            gradient_accumulation_steps=recipe.get("gradient_accumulation_steps", 1),
            learning_rate=recipe["learning_rate"],
            stop_token=None,
            num_sample_generations=0,
            activation_checkpointing=False,
            save_strategy="no",
            report_to=[],
            logging_steps=1,
            disable_tqdm=True,
            bf16=False,
            use_cpu=not torch.cuda.is_available(),
            seed=0,
        )
        trainer = PPOTrainer(
            args=args,
            processing_class=tokenizer,
            model=policy,
            ref_model=None,
            reward_model=reward,
            value_model=value,
            train_dataset=data,
            data_collator=PromptCollator(tokenizer),
            callbacks=[timer],
        )
        trainer.train()
    times = timer.step_times()
    return statistics.median(times[1:]), times[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.ppo_rollout", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--recipe", default=str(RECIPE))
    ap.add_argument("--steps", type=int, default=4, help="timed PPO steps (after one warm-up step)")
    ap.add_argument("--repeats", type=int, default=3, help="timed generate calls per setting")
    ap.add_argument("--batch-size", type=int, help="override the recipe's per_device_train_batch_size")
    ap.add_argument("--response-length", type=int, help="override the recipe's response_length")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's; on a busy CPU 1 can win)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = yaml.safe_load(Path(args.recipe).read_text())
    if args.batch_size:
        recipe["per_device_train_batch_size"] = recipe["local_rollout_forward_batch_size"] = args.batch_size
    if args.response_length:
        recipe["response_length"] = args.response_length
    config, source = model_config(recipe)
    tokenizer = stand_in_tokenizer()
    tokenizer.padding_side = "left"
    batch, length = recipe["per_device_train_batch_size"], recipe["response_length"]
    gen_batch = min(batch, recipe["local_rollout_forward_batch_size"])

    torch.manual_seed(0)
    policy = AutoModelForCausalLM.from_config(config)
    params = sum(p.numel() for p in policy.parameters())
    queries = torch.tensor(random_prompts(gen_batch, tokenizer, config.vocab_size))
    cached = generation_tokens_per_s(policy, queries, length, recipe["temperature"], True, args.repeats)
    uncached = generation_tokens_per_s(policy, queries, length, recipe["temperature"], False, args.repeats)
    step, first_step = ppo_step_seconds(config, tokenizer, recipe, args.steps)
    rollout_s = batch * length / cached

    result = {
        "model": source,
        "parameters": params,
        "prompt_length": PROMPT_LENGTH,
        "rollout_batch": batch,
        "generate_batch": gen_batch,
        "response_length": length,
        "num_ppo_epochs": recipe["num_ppo_epochs"],
        "num_mini_batches": recipe["num_mini_batches"],
        "generate_tokens_per_s_kv_cache": round(cached, 1),
        "generate_tokens_per_s_no_cache": round(uncached, 1),
        "kv_cache_speedup": round(cached / uncached, 2),
        "ppo_step_s": round(step, 3),
        "ppo_first_step_s": round(first_step, 3),
        "rollout_generation_s_per_step": round(rollout_s, 3),
        "generation_share_of_step": round(rollout_s / step, 3),
        "steps_timed": args.steps,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    rows = [
        ("model", f"{source} ({params / 1e6:.2f}M parameters)"),
        ("device", f"{result['device']}, {result['torch_threads']} torch threads, {result['cpus']} CPUs"),
        ("rollout", f"{batch} prompts x {length} new tokens, generated {gen_batch} at a time"),
        ("generate, KV cache", f"{cached:,.0f} tokens/s"),
        ("generate, no cache", f"{uncached:,.0f} tokens/s  (cache: x{cached / uncached:.2f})"),
        ("PPO step", f"{step:.2f} s  (first step {first_step:.2f} s)"),
        ("generation in a step", f"{rollout_s:.2f} s = {rollout_s / step:.0%} of the step"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    save_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
