"""How fast a served model answers on this machine: streaming chat's first token, and `alignpipe generate`'s
tokens per second against Transformers' own `generate` on the same exported checkpoint.

    python -m benchmarks.serve_speed [--model runs/minigpt/dpo] [--prompts 96] [--repeats 5]

Models: the demo's DPO model when `make demo` has run (rope: it exports to GPT-NeoX), and a stand-in MiniGPT
of the same shape with learned positions (random weights: it exports to GPT-2), so both plain targets of
`alignpipe export` are measured. Measured in one process, side by side, greedy, `--max-new-tokens` 48:

- first token: `alignpipe.serve.chat.Chat.reply` on held-out prompts, from the call to the first streamed
  token (chat template, one sequence, KV cache); the first reply of a fresh session (cold) and the median
  and maximum of the rest; the model's load time apart, and the start-up of a fresh `alignpipe chat`
  process until its first prompt (Python, torch and Transformers imports included);
- throughput: the same held-out prompts answered (a) by `alignpipe generate`'s path
  (`alignpipe.inference.generation.generate`: batches of 16 sorted by length, left-padded, KV cache) on the
  MiniGPT checkpoint and (b) on its plain export, and (c) by Transformers' `model.generate` on the export,
  batches of 16 in the given order, the tokenizer left-padding: generated tokens (stop token included) per
  second, median over `--repeats` (5) rounds that alternate the three. Ratios a/c and b/c.

Prints a table and writes benchmarks/results/serve_speed.json.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

import alignpipe  # noqa: F401
from alignpipe.defaults import default_rows
from alignpipe.inference.generation import GenerationSettings, generate, pad_id, prompt_ids, stop_token_ids
from alignpipe.inference.loading import load_lm
from benchmarks import save_result

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "runs" / "minigpt" / "dpo"


def held_out(n: int) -> list[list[dict]]:
    return [list(r["prompt"]) for r in default_rows("prompt", "test", n=n)]


def startup_to_prompt(path: str) -> float:
    """Seconds from starting `alignpipe chat PATH` to its first `>>> ` prompt (imports and loading)."""
    import subprocess
    import sys

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "alignpipe.cli", "chat", path, "--greedy"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    seen = b""
    while b">>> " not in seen:
        chunk = proc.stdout.read1(4096)
        if not chunk:
            break
        seen += chunk
    elapsed = time.perf_counter() - t0
    proc.communicate(b"/exit\n", timeout=60)
    return round(elapsed, 2)


def first_token(path: str, conversations: list[list[dict]], max_new_tokens: int) -> dict:
    from alignpipe.serve.chat import Chat
    from alignpipe.serve.session import Session

    t0 = time.perf_counter()
    lm = load_lm(path)
    load_s = time.perf_counter() - t0
    settings = GenerationSettings(greedy=True, max_new_tokens=max_new_tokens, batch_size=1)
    times = []
    for conv in conversations:
        chat = Chat(Session(lm, None, load_s), settings, None, out=io.StringIO())
        chat.reply(conv[-1]["content"])
        times.append(chat.last_first_token_s)
    warm = times[1:]
    return {
        "load_s": round(load_s, 3),
        "cold_first_token_s": round(times[0], 4),
        "median_first_token_s": round(statistics.median(warm), 4),
        "max_first_token_s": round(max(warm), 4),
        "replies": len(times),
    }


@torch.no_grad()
def ours(lm, conversations, settings) -> tuple[int, float]:
    ids = prompt_ids(lm.tokenizer, conversations)
    t0 = time.perf_counter()
    gens = generate(lm.model, lm.tokenizer, ids, settings)
    return sum(len(g.token_ids) for g in gens), time.perf_counter() - t0


@torch.no_grad()
def transformers_generate(lm, conversations, settings) -> tuple[int, float]:
    """Transformers' own batched generate, as its docs show it: tokenizer(padding=True) left-padded."""
    tok, model = lm.tokenizer, lm.model
    texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    stops = stop_token_ids(model, tok)
    t0 = time.perf_counter()
    tokens = 0
    tok.padding_side = "left"
    for start in range(0, len(texts), settings.batch_size):
        batch = tok(
            texts[start : start + settings.batch_size],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        out = model.generate(
            **batch,
            max_new_tokens=settings.max_new_tokens,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=pad_id(tok),
        )[:, batch["input_ids"].shape[1] :]
        for row in out.tolist():
            end = next((k for k, t in enumerate(row) if t in stops), None)
            tokens += len(row) if end is None else end + 1
    return tokens, time.perf_counter() - t0


def stand_in(folder: Path, like: str | None) -> Path:
    """A learned-position MiniGPT of the demo's shape (random weights) with the demo's or a fresh tokenizer."""
    from transformers import AutoConfig, AutoTokenizer

    from alignpipe.core.tokenizers import train_tokenizer
    from alignpipe.inference.modeling import align_with_tokenizer
    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM

    if like and Path(like, "config.json").is_file():
        base = AutoConfig.from_pretrained(like)
        tok = AutoTokenizer.from_pretrained(like)
        shape = {k: getattr(base, k) for k in ("vocab_size", "d_model", "n_layers", "n_heads", "max_seq")}
    else:
        tok = train_tokenizer(
            [" ".join(r["prompt"][0]["content"] for r in default_rows("prompt", "train", n=2000))],
            "bpe",
            2048,
        )
        shape = {"vocab_size": len(tok), "d_model": 128, "n_layers": 4, "n_heads": 4, "max_seq": 128}
    torch.manual_seed(0)
    model = MiniGPTForCausalLM(MiniGPTConfig(**shape, pos_embedding="learned"))
    align_with_tokenizer(model, tok)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def throughput(path: str, export_dir: Path, conversations, settings, repeats: int) -> dict:
    from alignpipe.models.export import export

    export(path, str(export_dir))
    mini, plain = load_lm(path), load_lm(str(export_dir))
    runs = {"alignpipe_minigpt": [], "alignpipe_export": [], "transformers_export": []}
    counts = {}
    ours(mini, conversations[:4], settings)  # warm-up
    transformers_generate(plain, conversations[:4], settings)
    for _ in range(repeats):
        for name, fn, lm in (
            ("alignpipe_minigpt", ours, mini),
            ("alignpipe_export", ours, plain),
            ("transformers_export", transformers_generate, plain),
        ):
            tokens, seconds = fn(lm, conversations, settings)
            runs[name].append(tokens / seconds)
            counts[name] = tokens
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "export": plain.info["architecture"],
        "tokens": counts,
        "tokens_per_s": {k: round(v, 1) for k, v in med.items()},
        "all_runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
        "ratio_alignpipe_minigpt_vs_transformers": round(
            med["alignpipe_minigpt"] / med["transformers_export"], 3
        ),
        "ratio_alignpipe_export_vs_transformers": round(
            med["alignpipe_export"] / med["transformers_export"], 3
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(DEMO) if DEMO.is_dir() else None)
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--chat-prompts", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    conversations = held_out(args.prompts)
    settings = GenerationSettings(greedy=True, max_new_tokens=args.max_new_tokens, batch_size=16)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "settings": {
            "prompts": args.prompts,
            "max_new_tokens": args.max_new_tokens,
            "batch_size": 16,
            "greedy": True,
        },
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        if args.model:
            models["demo_dpo" if Path(args.model).resolve() == DEMO.resolve() else "given"] = args.model
        models["stand_in_learned_positions"] = str(stand_in(Path(tmp) / "stand_in", args.model))
        for name, path in models.items():
            print(f"== {name}: {path}", flush=True)
            entry = {"path": path if name != "stand_in_learned_positions" else "stand-in (random weights)"}
            if name != "stand_in_learned_positions":
                entry["chat"] = first_token(path, held_out(args.chat_prompts), args.max_new_tokens)
                entry["chat"]["startup_to_prompt_s"] = startup_to_prompt(path)
                print(f"   chat first token: {entry['chat']}", flush=True)
            entry["generate"] = throughput(
                path, Path(tmp) / f"{name}-export", conversations, settings, args.repeats
            )
            print(f"   generate: {entry['generate']['tokens_per_s']}", flush=True)
            result["models"][name] = entry
    save_result(result, "serve_speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
