"""SFT, reward and DPO stages on tiny models: losses fall, outputs reload to the same logits, LoRA/QLoRA, bad data."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import COMMON_ARGS, EPS32, WORDS, common_args, write_jsonl
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

import alignpipe  # noqa: F401
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import is_secret_key
from alignpipe.stages import dpo, reward, sft
from alignpipe.training import stage


@pytest.fixture
def capture(monkeypatch):
    """Keeps the trained in-memory model of a stage run, to compare with what it saved."""
    held = {}
    orig = stage.finish

    def spy(trainer, *a, **kw):
        out = orig(trainer, *a, **kw)
        held["trainer"] = trainer
        held["model"] = trainer.model
        held["metrics"] = out
        return out

    monkeypatch.setattr(stage, "finish", spy)
    return held


def losses(out_dir, key="loss"):
    state = json.loads((out_dir / "trainer_state.json").read_text())
    return [h[key] for h in state["log_history"] if key in h]


def falls(values, k=3):
    assert len(values) >= 2 * k, values
    return sum(values[-k:]) / k < sum(values[:k]) / k


def probe_ids(model, n=10):
    g = torch.Generator().manual_seed(1)
    return torch.randint(7, model.config.vocab_size, (2, n), generator=g)


@torch.no_grad()
def same_logits(trained, reloaded, atol=1e-5):
    """The in-memory model and what was saved: the same float32 weights and forward, so equal up to rounding
    (bitwise where the two run the same code; a merged LoRA does not)."""
    trained.eval()
    reloaded.eval()
    x = probe_ids(reloaded)
    return torch.allclose(trained(x).logits.float(), reloaded(x).logits.float(), atol=atol)


def run_sft(base, data, out, *extra, seed=0):
    return sft.main(
        [
            "--model_name_or_path",
            str(base),
            "--dataset_name",
            str(data["sft"]),
            "--output_dir",
            str(out),
            "--max_steps",
            "24",
            "--learning_rate",
            "3e-3",
            "--max_length",
            "64",
            "--assistant_only_loss",
            "true",
            *common_args(seed),
            *extra,
        ]
    )


@pytest.mark.numerics
def test_sft_minigpt_loss_falls_and_reloads(tiny_minigpt, tiny_data, tmp_path, capture, seed):
    out = tmp_path / "sft"
    assert run_sft(tiny_minigpt, tiny_data, out, seed=seed) == 0
    assert falls(losses(out))
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert same_logits(capture["model"], reloaded)
    record = json.loads((out / "run_record.json").read_text())
    assert record["stage"] == "sft" and "eval_loss" in record["metrics"]
    secrets = {k: v for k, v in record["config"]["training"].items() if is_secret_key(k)}
    assert "hub_token" in secrets and all(v in (None, "***") for v in secrets.values())
    assert (out / "README.md").is_file()  # model card
    umask = os.umask(0)
    os.umask(umask)
    assert {f.stat().st_mode & 0o777 for f in out.iterdir() if f.is_file()} == {0o666 & ~umask}  # weights too
    assert (
        reloaded.generation_config.eos_token_id
        == reloaded.config.eos_token_id
        != reloaded.config.pad_token_id
    )


def mixed_lengths_sft(folder: Path, n: int = 96) -> dict:
    """Short arithmetic and long echoes, as in the embedded tasks: rows of very different lengths."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i % 9} plus {i % 7}?"},
                {"role": "assistant", "content": str(i % 9 + i % 7)},
            ]
        }
        if i % 2
        else {
            "messages": [
                {"role": "user", "content": "Say " + " ".join(WORDS[i % 5 : i % 5 + 6])},
                {"role": "assistant", "content": " ".join(WORDS[i % 5 : i % 5 + 6])},
            ]
        }
        for i in range(n)
    ]
    return {"sft": write_jsonl(folder / "mixed.jsonl", rows)}


def batching(strategy: str, batch: int, accumulation: int) -> list[str]:
    return [
        "--train_sampling_strategy",
        strategy,
        "--per_device_train_batch_size",
        str(batch),
        "--gradient_accumulation_steps",
        str(accumulation),
        "--max_length",
        "128",
    ]


@pytest.mark.numerics
def test_rebalanced_micro_batches_take_the_big_batchs_steps_with_less_padding(
    tiny_minigpt, tmp_path, capture, seed
):
    """`train_sampling_strategy: batch_rebalance` (Transformers' sampler, given the run's seed by
    stage.seed_rebalanced_batches): 2 accumulated micro-batches of similar length train the rows that one
    batch of 8 from the default sampler would (the same permutation of the same seed), with SFT's loss
    normalised by the tokens of the whole step: the same loss at every step, through fewer padded positions."""
    data = mixed_lengths_sft(tmp_path)

    def run(out, *flags):
        assert run_sft(tiny_minigpt, data, out, "--max_steps", "3", *flags, seed=seed) == 0
        loader = capture["trainer"].get_train_dataloader()
        sizes = [len(b["input_ids"]) for b in loader]
        return losses(out), sum(b["input_ids"].numel() for b in loader), sizes, loader

    default, default_positions, default_sizes, _ = run(tmp_path / "default", *batching("random", 8, 1))
    split, split_positions, split_sizes, loader = run(tmp_path / "split", *batching("batch_rebalance", 4, 2))
    assert loader.batch_sampler.seed == seed  # the run's seed, not the Trainer's fixed 42
    assert set(default_sizes[:-1]) == {8} and len(set(split_sizes)) > 2  # the micro-batches vary in size
    assert sum(split_sizes) == sum(default_sizes)  # the same rows per epoch
    assert len(default) == len(split) == 3
    for a, b in zip(default, split, strict=True):  # a token mean over the same rows; Adam moves both alike
        assert abs(a - b) <= 1e-4 * abs(a), (default, split)
    assert split_positions < 0.9 * default_positions, (split_positions, default_positions)


@pytest.mark.numerics
def test_rebalanced_batches_resume_with_the_same_losses(tiny_minigpt, tmp_path, seed):
    """A run under batch_rebalance stopped at a checkpoint in its second epoch and resumed gives the losses
    of the run that was not stopped: the resumed sampler replays the same epoch's order from the same step."""
    data = mixed_lengths_sft(tmp_path)
    flags = [*batching("batch_rebalance", 4, 2), "--num_train_epochs", "2", "--max_steps", "-1"]
    flags += ["--save_strategy", "steps", "--save_steps", "16"]
    whole = tmp_path / "whole"
    assert run_sft(tiny_minigpt, data, whole, *flags, seed=seed) == 0
    steps = json.loads((whole / "trainer_state.json").read_text())["global_step"]
    assert steps / 2 < 16 < steps  # the checkpoint lies inside the second epoch
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(whole / "checkpoint-16", resumed / "checkpoint-16")
    for stamp in whole.glob(".alignpipe*"):  # the folder's settings stamp: the same settings resume
        shutil.copy2(stamp, resumed / stamp.name)
    state_path = resumed / "checkpoint-16" / "trainer_state.json"  # marked: only a resumed run carries it on
    state = json.loads(state_path.read_text())
    state["log_history"][0]["resumed_mark"] = 1
    state_path.write_text(json.dumps(state))
    assert run_sft(tiny_minigpt, data, resumed, *flags, seed=seed) == 0
    final = json.loads((resumed / "trainer_state.json").read_text())["log_history"]
    assert final[0].get("resumed_mark") == 1
    after = [h for h in final if "loss" in h]
    expected = {
        h["step"]: h["loss"]
        for h in json.loads((whole / "trainer_state.json").read_text())["log_history"]
        if "loss" in h
    }
    assert [h["step"] for h in after if h["step"] > 16] == [s for s in expected if s > 16]
    for h in after:
        if h["step"] > 16:
            assert abs(h["loss"] - expected[h["step"]]) <= 1e-4 * abs(expected[h["step"]]), (h, expected)


@pytest.mark.numerics
def test_sft_any_hf_causal_lm(tiny_llama, tiny_data, tmp_path, capture, seed):
    out = tmp_path / "sft_llama"
    assert run_sft(tiny_llama, tiny_data, out, seed=seed) == 0
    assert falls(losses(out))
    assert same_logits(capture["model"], AutoModelForCausalLM.from_pretrained(out))


@pytest.mark.numerics
def test_reward_model_learns_and_reloads(tiny_minigpt, tiny_data, tmp_path, capture, seed):
    out = tmp_path / "rm"
    rc = reward.main(
        [
            "--model_name_or_path",
            str(tiny_minigpt),
            "--dataset_name",
            str(tiny_data["preference"]),
            "--output_dir",
            str(out),
            "--max_steps",
            "30",
            "--learning_rate",
            "3e-3",
            "--max_length",
            "64",
            *common_args(seed),
        ]
    )
    assert rc == 0
    assert falls(losses(out))
    rm = AutoModelForSequenceClassification.from_pretrained(out)
    assert rm.config.num_labels == 1
    assert same_logits(capture["model"], rm)


@pytest.mark.numerics
def test_dpo_with_rpo_loss_falls_and_reloads(tiny_minigpt, tiny_data, tmp_path, capture, seed):
    out = tmp_path / "dpo"
    rc = dpo.main(
        [
            "--model_name_or_path",
            str(tiny_minigpt),
            "--dataset_name",
            str(tiny_data["preference"]),
            "--output_dir",
            str(out),
            "--max_steps",
            "24",
            "--learning_rate",
            "3e-3",
            "--beta",
            "0.1",
            "--rpo_alpha",
            "0.5",
            "--max_length",
            "64",
            *common_args(seed),
        ]
    )
    assert rc == 0
    assert falls(losses(out))
    assert same_logits(capture["model"], AutoModelForCausalLM.from_pretrained(out))
    record = json.loads((out / "run_record.json").read_text())
    assert record["config"]["training"]["loss_type"] == ["sigmoid", "sft"]
    assert record["config"]["training"]["loss_weights"] == [1.0, 0.5]


@pytest.mark.numerics
def test_sft_lora_adapter_reloads_and_merges(tiny_minigpt, tiny_data, tmp_path, capture, seed):
    from peft import PeftModel

    from alignpipe.tools.merge import merge

    out = tmp_path / "sft_lora"
    assert (
        run_sft(
            tiny_minigpt,
            tiny_data,
            out,
            "--use_peft",
            "true",
            "--lora_r",
            "8",
            "--lora_alpha",
            "16",
            "--lora_target_modules",
            "c_attn",
            "c_proj",
            "c_fc",
            seed=seed,
        )
        == 0
    )
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_minigpt)
    adapter = PeftModel.from_pretrained(base, out)
    assert same_logits(capture["model"], adapter)
    merged = AutoModelForCausalLM.from_pretrained(merge(str(out), str(tmp_path / "merged")))
    # merged, (W + s B A) x is computed instead of W x + s B (A x): other roundings (logits of size ~0.6
    # measured 1.3e-7 apart), so not the bitwise equality of the reloads above
    assert same_logits(capture["model"], merged, atol=1e-4)
    with torch.no_grad():  # and the adapter really changed the model
        x = probe_ids(merged)
        assert not torch.allclose(
            merged(x).logits, AutoModelForCausalLM.from_pretrained(tiny_minigpt)(x).logits
        )


@pytest.mark.numerics
def test_reward_lora_saves_score_head(tiny_minigpt, tiny_data, tmp_path, capture, seed):
    from alignpipe.inference.adapters import load_adapter_model

    out = tmp_path / "rm_lora"
    rc = reward.main(
        [
            "--model_name_or_path",
            str(tiny_minigpt),
            "--dataset_name",
            str(tiny_data["preference"]),
            "--output_dir",
            str(out),
            "--max_steps",
            "6",
            "--learning_rate",
            "3e-3",
            "--max_length",
            "64",
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--lora_target_modules",
            "c_attn",
            *common_args(seed),
        ]
    )
    assert rc == 0
    reloaded = load_adapter_model(str(out))
    assert same_logits(capture["model"], reloaded)


@pytest.mark.parametrize("stage_name", ["sft", "reward", "dpo"])
def test_qlora_4bit_runs_on_cpu(stage_name, tiny_minigpt, tiny_data, tmp_path):
    pytest.importorskip("bitsandbytes")
    main = {"sft": sft.main, "reward": reward.main, "dpo": dpo.main}[stage_name]
    data = tiny_data["sft" if stage_name == "sft" else "preference"]
    out = tmp_path / f"q{stage_name}"
    rc = main(
        [
            "--model_name_or_path",
            str(tiny_minigpt),
            "--dataset_name",
            str(data),
            "--output_dir",
            str(out),
            "--max_steps",
            "3",
            "--max_length",
            "64",
            "--load_in_4bit",
            "true",
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--lora_target_modules",
            "c_attn",
            "c_fc",
            *COMMON_ARGS,
        ]
    )
    assert rc == 0
    record = json.loads((out / "run_record.json").read_text())
    assert all(math.isfinite(v) for v in record["metrics"].values() if isinstance(v, float))
    assert (out / "adapter_model.safetensors").is_file()


BAD_ROWS = [
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}, "content"),
    ({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "ok"}]}, "messages"),
    ({"messages": "hi there"}, "messages"),
    (
        {"messages": [{"role": "user", "content": "hi " * 200}, {"role": "assistant", "content": "ok"}]},
        "messages",
    ),
]


@pytest.mark.parametrize("bad,field", BAD_ROWS)
def test_bad_sft_data_is_a_clear_error_before_training(bad, field, tiny_minigpt, tiny_data, tmp_path):
    good = [json.loads(line) for line in Path(tiny_data["sft"]).read_text().splitlines()][:5]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [*good, bad]) + "\n")
    out = tmp_path / "never"
    with pytest.raises(AlignpipeError) as e:
        run_sft(tiny_minigpt, {"sft": path}, out)
    msg = str(e.value)
    assert "bad.jsonl" in msg and "row 6" in msg and field in msg
    assert not out.exists()


def test_bad_preference_pair_via_cli_exits_2(tiny_minigpt, tmp_path):
    pair = {"prompt": "What is 1 plus 1?", "chosen": "2", "rejected": "2"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(pair) + "\n")
    out = tmp_path / "never"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "alignpipe.stages.dpo",
            "--model_name_or_path",
            str(tiny_minigpt),
            "--dataset_name",
            str(path),
            "--output_dir",
            str(out),
            *COMMON_ARGS,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert p.returncode == 2, p.stderr[-2000:]
    assert "pairs.jsonl" in p.stderr and "row 1" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()


def test_missing_model_is_a_clear_error(tiny_data, tmp_path):
    with pytest.raises(AlignpipeError, match="cannot load tokenizer: .* does not exist"):
        sft.main(
            [
                "--model_name_or_path",
                str(tmp_path / "nope"),
                "--dataset_name",
                str(tiny_data["sft"]),
                "--output_dir",
                str(tmp_path / "o"),
                *COMMON_ARGS,
            ]
        )


@pytest.mark.numerics
def test_a_stage_gives_the_same_result_whatever_drew_random_numbers_before(
    tiny_minigpt, tiny_data, tmp_path, seed
):
    """The reward model's score head is initialised at random: seeded before the model is built, the stage
    gives identical weights and metrics alone and after other code drew random numbers."""
    import random

    import numpy as np
    from safetensors.torch import load_file

    def run(out):
        args = ["--model_name_or_path", str(tiny_minigpt), "--dataset_name", str(tiny_data["preference"])]
        args += ["--output_dir", str(out), "--max_steps", "3", "--max_length", "64", *common_args(seed)]
        assert reward.main(args) == 0
        return load_file(out / "model.safetensors"), json.loads((out / "run_record.json").read_text())[
            "metrics"
        ]

    alone, alone_metrics = run(tmp_path / "alone")
    torch.rand(1000), random.random(), np.random.rand(10)  # what a previous stage might draw
    after, after_metrics = run(tmp_path / "after")
    # bitwise: two runs of the same code on the same data in one process (same threads, deterministic CPU
    # kernels); any difference is a random draw that the seed does not fix
    assert alone.keys() == after.keys() and all(torch.equal(alone[k], after[k]) for k in alone)
    assert alone_metrics["train_loss"] == after_metrics["train_loss"]


@pytest.mark.numerics
def test_average_with_start_saves_the_interpolated_weights(tiny_minigpt, tiny_data, tmp_path, seed):
    """average_with_start 0.25 saves 0.25 x (what the same run saves without it) + 0.75 x the start."""
    from safetensors.torch import load_file

    from alignpipe.training.stage import start_weight_files

    def args(out, *extra):
        return [
            *("--model_name_or_path", str(tiny_minigpt), "--dataset_name", str(tiny_data["preference"])),
            *("--output_dir", str(out), "--max_steps", "6", "--learning_rate", "3e-3", "--max_length", "64"),
            *extra,
            *common_args(seed),
        ]

    def run(out, *extra):
        assert dpo.main(args(out, *extra)) == 0
        return load_file(str(out / "model.safetensors"))

    trained, averaged = run(tmp_path / "full"), run(tmp_path / "avg", "--average_with_start", "0.25")
    start = load_file(str(tiny_minigpt / "model.safetensors"))
    moved = 0
    for name, w in start.items():
        # stage.py computes 0.25 t + 0.75 w as t.mul_(0.25).add_(w, alpha=0.75) (a fused multiply-add, maybe):
        # each side rounds at most twice, so they differ by at most 2 eps x (0.25 |t| + 0.75 |w|) per weight
        # (the old atol=1e-6 is 2 ulps only for weights below 4); `trained` is the same training, bitwise
        t = trained[name]
        bound = 2 * EPS32 * (0.25 * t.abs() + 0.75 * w.abs())
        assert ((averaged[name] - (0.25 * t + 0.75 * w)).abs() <= bound).all(), name
        moved += not torch.equal(t, w)
    assert moved > 0  # training changed weights, so the average is a real interpolation
    record = json.loads((tmp_path / "avg" / "run_record.json").read_text())
    assert record["metrics"]["average_with_start"] == 0.25
    with pytest.raises(AlignpipeError, match=r"average_with_start.*\(0, 1\]"):
        dpo.main(args(tmp_path / "bad", "--average_with_start", "0"))
    assert not (tmp_path / "bad").exists()
    # the start's weights are looked up before training: a start without them stops the stage before any work
    assert start_weight_files(str(tiny_minigpt)) == [tiny_minigpt / "model.safetensors"]
    (tmp_path / "empty").mkdir()
    for bad_start in (str(tmp_path / "empty"), "some-org/some-hub-model", None):
        with pytest.raises(AlignpipeError, match="needs the starting checkpoint's safetensors files"):
            start_weight_files(bad_start)
