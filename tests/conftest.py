import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data; skips the test on a fresh clone that lacks it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real data sets are only beside a developer's checkout)")
    return SHARED_DATA


# ---- tiny models and data for stage tests (built once per session, offline) ----
import json
import random

WORDS = [
    "what",
    "is",
    "plus",
    "minus",
    "the",
    "answer",
    "reverse",
    "sort",
    "list",
    "count",
    "letters",
    "in",
    "word",
    "copy",
    "this",
    "compare",
    "larger",
]


def _arith_rows(n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        yield a, b


def write_jsonl(path, rows):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Small SFT, preference and prompt files in TRL's conversational format (a learnable addition task)."""
    d = tmp_path_factory.mktemp("data")
    sft = [
        {
            "messages": [
                {"role": "user", "content": f"What is {a} plus {b}?"},
                {"role": "assistant", "content": str(a + b)},
            ]
        }
        for a, b in _arith_rows(160, 0)
    ]
    pref = [
        {
            "prompt": [{"role": "user", "content": f"What is {a} plus {b}?"}],
            "chosen": [{"role": "assistant", "content": str(a + b)}],
            "rejected": [{"role": "assistant", "content": str(a + b + 1)}],
        }
        for a, b in _arith_rows(160, 1)
    ]
    prompts = [
        {"prompt": [{"role": "user", "content": f"What is {a} plus {b}?"}], "answer": str(a + b)}
        for a, b in _arith_rows(64, 2)
    ]
    return {
        "sft": write_jsonl(d / "sft.jsonl", sft),
        "preference": write_jsonl(d / "pref.jsonl", pref),
        "prompt": write_jsonl(d / "prompt.jsonl", prompts),
        "dir": d,
    }


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from alignpipe.core.tokenizers import train_tokenizer

    text = " ".join(WORDS) + " 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 ? . ,"
    return train_tokenizer([text] * 20, "bpe", vocab_size=320)


@pytest.fixture(scope="session")
def tiny_minigpt(tmp_path_factory, tiny_tokenizer):
    """A saved, untrained MiniGPT with its tokenizer: the 'pretrained' base for stage tests."""
    import torch

    from alignpipe.core.modeling import align_with_tokenizer
    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("minigpt")
    m = MiniGPTForCausalLM(
        MiniGPTConfig(vocab_size=len(tiny_tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq=128)
    )
    align_with_tokenizer(m, tiny_tokenizer)
    m.save_pretrained(d)
    tiny_tokenizer.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, tiny_tokenizer):
    """A tiny Llama (a stock Transformers architecture) sharing the tokenizer: 'any HF causal LM'."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("llama")
    cfg = LlamaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tiny_tokenizer.pad_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
        bos_token_id=tiny_tokenizer.bos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).save_pretrained(d)
    tiny_tokenizer.save_pretrained(d)
    return d


COMMON_ARGS = [
    "--report_to",
    "none",
    "--save_strategy",
    "no",
    "--gradient_checkpointing",
    "false",
    "--logging_steps",
    "1",
    "--per_device_train_batch_size",
    "8",
    "--per_device_eval_batch_size",
    "16",
    "--disable_tqdm",
    "true",
    "--seed",
    "0",
]
