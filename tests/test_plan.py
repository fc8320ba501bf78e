"""`alignpipe plan`: Chinchilla arithmetic, MiniGPT shapes and the memory table, against hand computations."""

import json
import math
import subprocess
import sys

import pytest

from alignpipe.cli import main as cli_main
from alignpipe.core.errors import AlignpipeError
from alignpipe.tools.plan import (
    REFERENCE_ARCHS,
    arch_for_params,
    chinchilla_optimal,
    memory_row,
    memory_table,
    minigpt_shape,
    parse_count,
    predicted_loss,
    solve_plan,
)


@pytest.mark.parametrize("compute", [1e15, 1e20, 5.76e23, 1e26])
def test_chinchilla_optimal_satisfies_c_6nd_and_d_20n(compute):
    n, d = chinchilla_optimal(compute)
    assert 6 * n * d == pytest.approx(compute, rel=1e-12)
    assert d == pytest.approx(20 * n, rel=1e-12)


def test_chinchilla_70b_on_1_4t_tokens():
    # Chinchilla (70B params, 1.4T tokens) was trained on Gopher's budget, 5.76e23 FLOPs.
    c, _, _ = solve_plan(params=70e9, tokens=1.4e12)
    assert c == pytest.approx(6 * 70e9 * 1.4e12)  # 5.88e23
    assert c == pytest.approx(5.76e23, rel=0.03)
    n_opt, d_opt = chinchilla_optimal(5.76e23)  # and that budget gives back ~70B / ~1.4T
    assert n_opt == pytest.approx(70e9, rel=0.02)
    assert d_opt == pytest.approx(1.4e12, rel=0.02)


def test_solve_plan_completes_each_combination():
    assert solve_plan(params=1e9) == pytest.approx((6 * 1e9 * 20e9, 1e9, 20e9))
    assert solve_plan(tokens=20e9) == pytest.approx((6 * 1e9 * 20e9, 1e9, 20e9))
    assert solve_plan(compute=6e20, params=1e9) == pytest.approx((6e20, 1e9, 1e11))
    assert solve_plan(compute=6e20, tokens=1e11) == pytest.approx((6e20, 1e9, 1e11))
    with pytest.raises(AlignpipeError, match="at most two"):
        solve_plan(1e20, 1e9, 1e10)
    with pytest.raises(AlignpipeError):
        solve_plan()


def test_predicted_loss_by_hand():
    # N = 1e9, D = 2e10: 406.4 / 1e9^0.34 = 406.4 / 10^3.06, 410.7 / 2e10^0.28 = 410.7 / 10^(0.28*10.30103)
    expected = 1.69 + 406.4 / 10**3.06 + 410.7 / 10 ** (0.28 * (10 + math.log10(2)))
    assert predicted_loss(1e9, 2e10) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.69 + 0.35396 + 0.53609, abs=1e-4)  # = 2.580
    # more parameters or more tokens never hurt, and the loss tends to E
    assert predicted_loss(1e10, 2e10) < predicted_loss(1e9, 2e10)
    assert predicted_loss(1e9, 2e11) < predicted_loss(1e9, 2e10)
    assert predicted_loss(1e30, 1e30) == pytest.approx(1.69, abs=1e-3)


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e20", 1e20),
        ("7e9", 7e9),
        ("7B", 7e9),
        ("1.4T", 1.4e12),
        ("500M", 5e8),
        ("500m", 5e8),
        ("8k", 8e3),
        ("989T", 9.89e14),
        ("2.5e3", 2500.0),
        ("1_000", 1000.0),
        (42, 42.0),
    ],
)
def test_parse_count(text, value):
    assert parse_count(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "7X", "", "-5", "0", "1e400", "nan", "7BB", "B"])
def test_parse_count_rejects(text):
    with pytest.raises(AlignpipeError):
        parse_count(text, "--params")


@pytest.mark.parametrize("n", [1e6, 3e6, 1e7, 1e8, 1e9, 1e10])
def test_shape_matches_params_with_sane_proportions(n):
    s = minigpt_shape(n)
    assert s["non_embedding_params"] == pytest.approx(n, rel=0.30)
    d, layers = s["d_model"], s["n_layers"]
    assert d % 64 == 0 and s["n_heads"] * 64 == d
    assert 12 * layers * d * d == pytest.approx(s["non_embedding_params"], rel=0.05)  # the 12·L·d² rule
    assert 32 <= d / layers <= 160
    assert s["embedding_params"] == (8192 + 1024) * d
    assert s["total_params"] == s["non_embedding_params"] + s["embedding_params"]


@pytest.mark.parametrize("pos_embedding", ["learned", "rope"])
def test_shape_count_is_minigpt_exact(pos_embedding):
    import torch

    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM

    s = minigpt_shape(1e6, vocab_size=500, seq_len=128, pos_embedding=pos_embedding)
    config = MiniGPTConfig(
        vocab_size=500,
        d_model=s["d_model"],
        n_layers=s["n_layers"],
        n_heads=s["n_heads"],
        max_seq=128,
        pos_embedding=pos_embedding,
    )
    with torch.device("meta"):
        model = MiniGPTForCausalLM(config)
    assert sum(p.numel() for p in model.parameters()) == s["total_params"]
    assert model.flops_per_token(128) == s["train_flops_per_token"]  # same FLOPs as the benchmarks' MFU
    assert (
        sum(p.numel() for p in model.transformer.h.parameters()) + 2 * s["d_model"]
        == s["non_embedding_params"]
    )


def test_reference_arch_counts_match_transformers():
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    qwen, llama7, llama70 = REFERENCE_ARCHS
    configs = {
        qwen: Qwen2Config(
            hidden_size=896,
            intermediate_size=4864,
            num_attention_heads=14,
            num_hidden_layers=24,
            num_key_value_heads=2,
            vocab_size=151936,
            tie_word_embeddings=True,
        ),
        llama7: LlamaConfig(
            hidden_size=4096,
            intermediate_size=11008,
            num_attention_heads=32,
            num_hidden_layers=32,
            num_key_value_heads=32,
            vocab_size=32000,
        ),
        llama70: LlamaConfig(
            hidden_size=8192,
            intermediate_size=28672,
            num_attention_heads=64,
            num_hidden_layers=80,
            num_key_value_heads=8,
            vocab_size=32000,
        ),
    }
    for arch, config in configs.items():
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        assert arch.n_params == sum(p.numel() for p in model.parameters()), arch.name
    # the published sizes: 0.49B, 6.74B, 68.98B
    assert [round(a.n_params / 1e9, 2) for a in REFERENCE_ARCHS] == [0.49, 6.74, 68.98]


def test_memory_row_llama2_7b_bf16_by_hand():
    llama7 = arch_for_params(7e9)
    assert llama7.name == "Llama-2-7B"
    row = memory_row(llama7, "bf16", seq_len=4096, batch_size=2, lora_rank=16)
    p = 6_738_415_616  # Llama-2-7B's parameter count
    assert row["params"] == p
    assert row["weights"] == 2 * p
    assert row["full_finetune_states"] == (2 + 2 + 4 + 8) * p  # bf16 w, bf16 g, fp32 master, fp32 m and v
    assert row["kv_cache_per_token"] == 2 * 32 * 32 * 128 * 2 == 512 * 1024  # K and V, 32 layers, bf16
    assert row["kv_cache"] == 512 * 1024 * 4096 * 2  # 4 GiB for 2 x 4096 tokens
    # LoRA r=16 on q,k,v,o (4096->4096) and gate,up (4096->11008), down (11008->4096), 32 layers
    lora = 32 * 16 * (4 * (4096 + 4096) + 3 * (4096 + 11008))
    assert row["lora_params"] == lora == 39_976_960  # what PEFT prints for this model
    assert row["lora_states"] == 2 * p + 16 * lora
    assert row["activations"] == 34 * 32 * 4096 * 2 * 4096
    assert row["activations_checkpointed"] == (2 * 32 + 34) * 4096 * 2 * 4096


def test_memory_table_dtypes_and_gqa():
    rows = {(r["model"], r["dtype"]): r for r in memory_table(seq_len=1024)}
    assert len(rows) == 3 * 4
    llama70 = rows["Llama-2-70B", "int4"]
    assert llama70["weights"] == llama70["params"] / 2
    assert llama70["full_finetune_states"] is None  # quantised weights are not trained: QLoRA instead
    assert llama70["kv_cache_per_token"] == 2 * 80 * 8 * 128 * 2  # GQA: 8 KV heads, cache stays bf16
    assert rows["Qwen2.5-0.5B", "bf16"]["kv_cache_per_token"] == 2 * 24 * 2 * 64 * 2
    assert (
        rows["Llama-2-7B", "fp32"]["full_finetune_states"]
        == rows["Llama-2-7B", "bf16"]["full_finetune_states"]
    )
    # QLoRA of a 70B model fits in one 80 GB GPU; bf16 full fine-tuning needs over 1 TB
    assert llama70["lora_states"] < 40 * 2**30 < rows["Llama-2-70B", "bf16"]["full_finetune_states"] / 25


def test_memory_for_an_unlisted_size_uses_a_minigpt_shape():
    (row,) = memory_table(1e8, dtypes=("bf16",))
    s = minigpt_shape(1e8)
    assert row["model"] == f"MiniGPT {s['n_layers']}x{s['d_model']}"
    assert row["params"] == s["total_params"]
    assert row["kv_cache_per_token"] == 2 * s["n_layers"] * s["d_model"] * 2
    (rope_row,) = memory_table(1e8, dtypes=("bf16",), pos_embedding="rope")
    assert row["params"] - rope_row["params"] == 1024 * s["d_model"]  # no position table to store


def test_plan_cli_counts_rope_positions(capsys):
    import json

    plans = {}
    for pos in ("learned", "rope"):
        code, out = _run(
            ["--params", "1M", "--seq-len", "128", "--vocab-size", "2048", "--pos-embedding", pos, "--json"],
            capsys,
        )
        assert code == 0
        plans[pos] = json.loads(out.out)["plan"]["minigpt"]
    learned, rope = plans["learned"], plans["rope"]
    assert rope["pos_embedding"] == "rope" and learned["d_model"] == rope["d_model"]
    assert learned["embedding_params"] - rope["embedding_params"] == 128 * rope["d_model"]
    assert rope["embedding_params"] == 2048 * rope["d_model"]
    with pytest.raises(AlignpipeError, match="pos_embedding"):
        minigpt_shape(1e6, pos_embedding="alibi")


def _run(argv, capsys):
    code = cli_main(["plan", *argv])
    return code, capsys.readouterr()


def test_cli_json_parses_and_agrees(capsys):
    code, out = _run(["--compute", "1e20", "--flops-per-second", "989T", "--mfu", "0.5", "--json"], capsys)
    assert code == 0
    plan = json.loads(out.out)["plan"]
    assert plan["compute"] == 1e20
    assert 6 * plan["params"] * plan["tokens"] == pytest.approx(1e20)
    assert plan["tokens"] == pytest.approx(20 * plan["params"])
    assert plan["predicted_loss"] == pytest.approx(predicted_loss(plan["params"], plan["tokens"]))
    assert plan["device"]["seconds"] == pytest.approx(plan["train_flops"] / (989e12 * 0.5))
    assert plan["minigpt"] == minigpt_shape(plan["params"])


def test_cli_memory_json(capsys):
    code, out = _run(["--memory", "--params", "70B", "--seq-len", "4096", "--json"], capsys)
    assert code == 0
    rows = json.loads(out.out)["memory"]
    assert {r["model"] for r in rows} == {"Llama-2-70B"} and [r["dtype"] for r in rows] == [
        "fp32",
        "bf16",
        "int8",
        "int4",
    ]
    assert rows[1]["kv_cache"] == 2 * 80 * 8 * 128 * 2 * 4096


def test_cli_tables(capsys):
    code, out = _run(["--params", "500M"], capsys)
    assert code == 0 and "tokens D          10B" in out.out and "MiniGPT shape" in out.out
    code, out = _run(["--memory"], capsys)
    assert (
        code == 0 and "Llama-2-70B" in out.out and "Qwen2.5-0.5B" in out.out and "Chinchilla" not in out.out
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--compute", "lots"],
        ["--params=-7B"],
        ["--compute", "1e20", "--params", "1B", "--tokens", "1T"],
        [],
        ["--params", "7B", "--seq-len", "1.5"],
        ["--params", "7B", "--mfu", "1.5"],
    ],
)
def test_cli_bad_input_exits_2(argv, capsys):
    code, out = _run(argv, capsys)
    assert code == 2
    assert out.err.startswith("alignpipe: error:")


def test_plan_needs_no_torch():
    """plan.py imports nothing heavy (skipped while the `pipeline` package itself imports transformers)."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers'):
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
try:
    import alignpipe
except ImportError:
    print('PACKAGE-NEEDS-TORCH')
    raise SystemExit(0)
from alignpipe.tools.plan import main
raise SystemExit(main(['--compute', '1e20', '--memory', '--json']))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    if "PACKAGE-NEEDS-TORCH" in result.stdout:
        pytest.skip("pipeline/__init__.py imports transformers, so no subcommand can avoid it")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["plan"]["compute"] == 1e20


def test_a_plan_outside_the_fit_says_so():
    from alignpipe.tools.plan import build_plan

    tiny = build_plan(None, 10, None)["notes"]
    assert any("outside the models the loss fit was made on" in n for n in tiny)
    assert any("no shape of this family is near N" in n for n in tiny)
    assert build_plan(None, 5e8, None)["notes"] == []  # 500M and its 10B tokens: inside the fit
