"""SFT and DPO on two real data-parallel ranks (gloo on CPU), launched by `alignpipe run --accelerate-config
accelerate_configs/cpu_ddp.yaml`, i.e. `accelerate launch --config_file ... pipeline/stages/<stage>.py --config ...`.

Two ranks each take half of every global batch: after 4 steps of 4 rows per rank over 64 rows, an epoch is
8 steps, so the stages record epoch 0.5 (one process would record 0.25). With gradients all-reduced, DPO on
2 ranks x 4 rows follows the same losses as one process with batches of 8 (DPO's loss is a mean over pairs).
"""

import json
import math
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

import alignpipe  # noqa: F401
from alignpipe import cli
from alignpipe.stages import dpo

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "tiny"
CPU_DDP = ROOT / "accelerate_configs" / "cpu_ddp.yaml"
ROWS, PER_RANK, STEPS, RANKS = 64, 4, 4, 2
SMALL = {
    "max_train_samples": ROWS,
    "per_device_train_batch_size": PER_RANK,
    "max_steps": STEPS,
    "eval_strategy": "no",
    "logging_steps": 1,
}

pytestmark = pytest.mark.slow


def log_losses(stage_dir) -> list[float]:
    state = json.loads((Path(stage_dir) / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, tiny_minigpt, seed):
    d = tmp_path_factory.mktemp("ddp")
    pipeline_file = d / "pipeline.yaml"
    pipeline_file.write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "sft": {
                        "recipe": str(TINY / "sft.yaml"),
                        "overrides": {"model_name_or_path": str(tiny_minigpt), **SMALL},
                    },
                    "dpo": {"recipe": str(TINY / "dpo.yaml"), "overrides": SMALL},
                },
                "seed": seed,  # the stages' seed (the tiny recipes' is 0)
            }
        )
    )
    rc = cli.main(
        ["run", str(pipeline_file), "--output", str(d / "run"), "--accelerate-config", str(CPU_DDP)]
    )
    assert rc == 0
    return d / "run"


def test_stages_ran_under_accelerate_launch_on_two_ranks(ddp_run):
    manifest = json.loads((ddp_run / "manifest.json").read_text())
    for stage in ("sft", "dpo"):
        entry = manifest["stages"][stage]
        assert entry["status"] == "done"
        assert entry["config"]["launcher"] == [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(CPU_DDP),
            str(ROOT / "pipeline" / "stages" / f"{stage}.py"),
            "--config",
            str(ddp_run / stage / "recipe.yaml"),
        ]
        record = json.loads((ddp_run / stage / "run_record.json").read_text())
        steps_per_epoch = math.ceil(ROWS / (PER_RANK * RANKS))
        assert record["metrics"]["epoch"] == pytest.approx(STEPS / steps_per_epoch)  # 0.5; one process: 0.25
        assert json.loads((ddp_run / stage / "trainer_state.json").read_text())["global_step"] == STEPS


@pytest.mark.numerics
def test_ddp_dpo_follows_one_process_with_the_global_batch(ddp_run, tmp_path, seed):
    out = tmp_path / "dpo_one_process"
    assert (
        dpo.main(
            [
                "--config",
                str(TINY / "dpo.yaml"),
                "--model_name_or_path",
                str(ddp_run / "sft"),
                "--output_dir",
                str(out),
                "--max_train_samples",
                str(ROWS),
                "--max_steps",
                str(STEPS),
                "--per_device_train_batch_size",
                str(PER_RANK * RANKS),
                "--eval_strategy",
                "no",
                "--logging_steps",
                "1",
                "--seed",
                str(seed),
            ]
        )
        == 0
    )
    two, one = log_losses(ddp_run / "dpo"), log_losses(out)
    assert len(two) == len(one) == STEPS
    # gloo sums the two ranks' gradients, one process all 8 rows': the same up to float32 rounding, which 4
    # Adam steps carry into the losses (of size 0.7; 1.2e-7 apart, measured); a wrong split or scale of the
    # gradients is off by 1e-2 or more
    assert two == pytest.approx(one, abs=1e-4)
    assert two[0] == pytest.approx(math.log(2), abs=1e-4)  # the policy starts as its reference
    assert len(set(two)) > 1  # and then learns


@pytest.mark.numerics
@torch.no_grad()
def test_models_saved_by_rank_zero_reload(ddp_run, tiny_minigpt):
    base = AutoModelForCausalLM.from_pretrained(tiny_minigpt).eval()
    x = torch.randint(7, base.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    for stage in ("sft", "dpo"):
        model = AutoModelForCausalLM.from_pretrained(ddp_run / stage).eval()
        logits = model(x).logits
        assert torch.isfinite(logits).all()
        assert not torch.allclose(logits, base(x).logits, atol=1e-4)  # trained, not the base model
