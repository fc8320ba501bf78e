import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
# eval answers are generated afresh in tests (tests/test_eval_cache.py turns the cache on in its own folder)
os.environ.setdefault("ALIGNPIPE_GENERATION_CACHE", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


# ---- numerics: thread count, seed and float32 tolerances (issue 28) ----
#
# Tests whose outcome depends on float reductions or kernels (forward/backward comparisons, metrics computed
# from model outputs, losses that must fall, greedy generations that must match) carry the `numerics` marker.
# Two environment variables vary what those results depend on, so that a tolerance that holds only by luck on
# one machine fails here instead of on someone else's (.ci/run runs `pytest -m numerics` again with both set):
#   ALIGNPIPE_TEST_THREADS=N  torch.set_num_threads(N) for the session, and OMP/MKL_NUM_THREADS=N for the
#                             subprocesses tests start: another thread count splits reductions differently
#                             and picks other kernels.
#                             Unset under `pytest -n W` (make test), each worker gets cores // W threads, so
#                             the workers do not fight over cores (on 2 cores: one thread each, and .ci/run's
#                             second pass of the numerics tests uses 2).
#   ALIGNPIPE_TEST_SEED=K     the `seed` fixture, used by the tests whose claim holds for any seed (a loss
#                             that falls, a KL never below zero, padding that changes no logit); unset, it is
#                             0, the seed those tests always used, so a default run is unchanged.


def _env_int(name: str, minimum: int) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < minimum:
        raise pytest.UsageError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


TEST_THREADS: int | None = None
TEST_SEED: int | None = None


def pytest_configure(config):
    global TEST_THREADS, TEST_SEED
    TEST_THREADS = _env_int("ALIGNPIPE_TEST_THREADS", 1)
    TEST_SEED = _env_int("ALIGNPIPE_TEST_SEED", 0)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if TEST_THREADS is None and workers > 1:  # `pytest -n N` (make test): the cores shared between workers
        TEST_THREADS = max(1, (os.cpu_count() or 1) // workers)
    if TEST_THREADS is not None:
        import torch

        torch.set_num_threads(TEST_THREADS)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the subprocesses tests start (CLI, launch, pty)
            os.environ[var] = str(TEST_THREADS)


def _numerics_line() -> str:
    threads = TEST_THREADS if TEST_THREADS is not None else f"unset ({os.cpu_count()} CPUs)"
    seed = TEST_SEED if TEST_SEED is not None else "unset (0)"
    return f"alignpipe numerics: ALIGNPIPE_TEST_THREADS={threads}, ALIGNPIPE_TEST_SEED={seed}"


def pytest_report_header(config):
    return _numerics_line()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Under -q (addopts) the header is not shown: what a failure needs to be repeated goes at the end."""
    if TEST_THREADS is not None or TEST_SEED is not None:
        terminalreporter.write_line(_numerics_line())
    if config.pluginmanager.hasplugin("randomly"):
        seed = config.getoption("randomly_seed", None)
        terminalreporter.write_line(
            f"test order shuffled by pytest-randomly; repeat it: pytest -p randomly --randomly-seed={seed}"
        )


@pytest.fixture(scope="session")
def seed() -> int:
    """The seed of tests whose property holds for any seed: ALIGNPIPE_TEST_SEED, else 0 (their old value)."""
    return TEST_SEED if TEST_SEED is not None else 0


# float32's machine epsilon (the gap between 1 and the next float32), 2^-23 = 1.19e-7.
EPS32 = 2.0**-23


def f32_tol(magnitude: float, terms: int = 1, safety: float = 8.0) -> float:
    """An absolute tolerance for comparing two float32 computations of one value (or a float32 computation
    with an exact float64 one) that differ in summation order, batching, padding or kernel: a sum of `terms`
    float32 terms, each of size at most `magnitude`, is off by at most about terms x magnitude x eps (errors
    add at most linearly), and `safety` covers the few roundings inside each term (a log-softmax is a max, an
    exp-sum, a log and a subtraction). Meant for values whose true difference is 0; a bug moves them by far
    more."""
    return safety * terms * float(magnitude) * EPS32


# Two float32 computations of the same logits (other padding, batching, cache, kernels, thread counts) give
# these tiny models' logits (of size about 1) 0 to 2e-7 apart (measured); a greedy choice whose top two logits
# are closer than NEAR_TIE, 50x that, could go either way on another machine. A test that compares greedy
# tokens first checks that no step of the path is that close: if one is, the comparison says nothing at that
# seed and input, and the test says so instead of reporting a difference that is only rounding.
NEAR_TIE = 1e-5


def greedy_margin(model, ids, start: int) -> float:
    """The smallest gap between the two largest next-token logits over the tokens of `ids` (one sequence)
    from position `start` on, each predicted from the ones before it (teacher-forced): how far a greedy
    continuation is from a tie that rounding could flip."""
    import torch

    with torch.no_grad():
        logits = model(torch.as_tensor(ids)[None]).logits[0, start - 1 : -1].float()
    top = logits.topk(2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


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

    from alignpipe.inference.modeling import align_with_tokenizer
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


def common_args(seed: int = 0) -> list[str]:
    """The flags every stage test passes; tests whose claim holds for any seed pass the `seed` fixture."""
    return [
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--activation_checkpointing",
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
        str(seed),
    ]


COMMON_ARGS = common_args(0)
