"""Every recipe parses, and every GPU recipe runs 2 steps with its model swapped for a tiny locally built model of
the same architecture and its Hub data swapped for local rows of the same format (the Hub is unreachable here)."""

import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, write_jsonl
from transformers import TrainingArguments
from trl import DPOConfig, RewardConfig, SFTConfig

from alignpipe.stages import dpo, grpo, reward, sft
from alignpipe.stages.dpo import DPOArguments
from alignpipe.stages.pretrain import PretrainArguments
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args

RECIPES = sorted(p for p in (ROOT / "recipes").rglob("*.yaml") if p.parent.name != "tiny")
STAGES = {
    "sft": (DataArguments, SFTConfig, sft.main),
    "reward": (DataArguments, RewardConfig, reward.main),
    "dpo": (DPOArguments, DPOConfig, dpo.main),
    "grpo": (grpo.OnlineRLArguments, grpo.GRPOConfig, grpo.main),
}
# recipe folder -> the architecture of its model family, built tiny from a config
FAMILIES = {"qwen2.5-0.5b": "qwen2", "hh-rlhf": "qwen2"}
GPU_RECIPES = [p for p in RECIPES if p.parent.name in FAMILIES]


def stage_of(path: Path) -> str:
    if path.name == "pipeline.yaml":
        return "pipeline"
    if path.stem.startswith("eval"):
        return "eval"
    if path.parent.name == "minigpt" and path.stem in ("pretrain", "shakespeare_char"):
        return "pretrain"
    return path.stem.split("_")[0]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_recipe_parses(path, tmp_path, monkeypatch):
    stage = stage_of(path)
    if stage == "pipeline":  # every stage recipe it names exists, every key and wired input is one run knows
        from alignpipe.run.recipe import load_pipeline

        assert load_pipeline(path).stages
        return
    # a GGUF model (SmolLM2's pypi: reference) is imported when a stage runs, not when its recipe is checked
    monkeypatch.setattr("alignpipe.training.configs.resolve", lambda ref: ref)
    if stage == "eval":  # an eval suite: every section it names is one eval knows, with valid values
        from alignpipe.eval.suite import load_suite

        assert load_suite(str(path)).name
        return
    if stage == "ppo":
        from trl.experimental.ppo import PPOConfig

        from alignpipe.stages.ppo import PPOArguments

        types = (PPOArguments, PPOConfig, ModelConfig)
    elif stage == "pretrain":
        types = (PretrainArguments, TrainingArguments, ModelConfig)
    elif stage == "guard":
        from alignpipe.stages.guard import GuardArguments

        types = (GuardArguments, TrainingArguments, ModelConfig)
    elif stage in ("grpo", "rloo"):
        from alignpipe.stages.grpo import TRAINERS, OnlineRLArguments
        from alignpipe.training.rewards import resolve_rewards

        types = (OnlineRLArguments, TRAINERS[stage][0], ModelConfig)
        script, _, _ = parse_stage_args(types, ["--config", str(path), "--output_dir", str(tmp_path)])
        assert len(resolve_rewards(script.reward_funcs, script.reward_model_path or str(tmp_path))) >= 1
    else:
        types = (STAGES[stage][0], STAGES[stage][1], ModelConfig)
    script, training, _model = parse_stage_args(types, ["--config", str(path), "--output_dir", str(tmp_path)])
    assert training.output_dir == str(tmp_path)
    assert (
        not training.bf16 or __import__("torch").cuda.is_available()
    )  # CPU: bf16 switched off by the parser
    assert script.dataset_name or script.dataset_mixture


def tiny_family_model(family: str, tokenizer, out: Path) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    assert family == "qwen2"
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def local_rows(hub_id: str, tmp: Path, shared: Path) -> Path:
    """Rows in the format of the Hub data set a recipe names."""
    q = [("What is 2 plus 3?", "5", "6"), ("Name a colour.", "Red.", "Seven."), ("Say hi.", "Hi!", "No.")] * 6
    if hub_id == "HuggingFaceH4/ultrachat_200k":
        rows = [
            {
                "prompt": p,
                "prompt_id": str(i),
                "messages": [{"role": "user", "content": p}, {"role": "assistant", "content": c}],
            }
            for i, (p, c, _) in enumerate(q)
        ]
    elif hub_id == "trl-lib/ultrafeedback_binarized":
        rows = [
            {
                "chosen": [{"role": "user", "content": p}, {"role": "assistant", "content": c}],
                "rejected": [{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                "score_chosen": 8.0,
                "score_rejected": 3.0,
            }
            for p, c, r in q
        ]
    elif hub_id == "Anthropic/hh-rlhf":
        hh = shared / "hh-rlhf-harmless" / "dev.jsonl"
        if hh.is_file():
            rows = [json.loads(line) for line in hh.open()][:40]
        else:
            rows = [
                {
                    "chosen": f"\n\nHuman: {p}\n\nAssistant: {c}",
                    "rejected": f"\n\nHuman: {p}\n\nAssistant: {r}",
                }
                for p, c, r in q
            ]
    elif hub_id == "openai/gsm8k":
        rows = [
            {
                "question": f"Tom has {a} apples and buys {b} more. How many apples does he have?",
                "answer": f"Tom has {a} + {b} = {a + b} apples.\n#### {a + b}",
            }
            for a in range(3, 9)
            for b in range(2, 5)
        ]
    else:
        raise AssertionError(f"no local stand-in for {hub_id}: add one here")
    return write_jsonl(tmp / f"{hub_id.replace('/', '_')}.jsonl", rows)


@pytest.mark.slow
@pytest.mark.parametrize("path", GPU_RECIPES, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_gpu_recipe_runs_two_steps_on_a_tiny_model(path, tmp_path, tiny_tokenizer):
    from conftest import SHARED_DATA

    recipe = yaml.safe_load(path.read_text())
    for entry in recipe["dataset_mixture"]["datasets"]:
        entry["id"] = str(local_rows(entry["id"], tmp_path, SHARED_DATA))
        entry.pop("test_split", None)
        entry["split"] = "train"
    recipe["dataset_mixture"]["test_split_size"] = 4
    model = tiny_family_model(FAMILIES[path.parent.name], tiny_tokenizer, tmp_path / "tiny")
    recipe.update(
        model_name_or_path=str(model),
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        per_device_eval_batch_size=2,
        gradient_accumulation_steps=1,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=1,
        dtype="float32",
    )
    if stage_of(path) == "grpo":  # vLLM needs a CUDA GPU; the tiny run generates with Transformers
        recipe.update(
            use_vllm=False, num_generations=2, max_completion_length=8, activation_checkpointing=False
        )
    tmp_recipe = tmp_path / path.name
    tmp_recipe.write_text(yaml.safe_dump(recipe))
    main = STAGES[stage_of(path)][2]
    assert main(["--config", str(tmp_recipe)]) == 0
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert losses and all(math.isfinite(loss) for loss in losses)  # logged and finite


def test_vllm_grpo_recipe_asks_for_colocated_vllm(tmp_path):
    """The GPU recipe's vLLM settings reach GRPOConfig as written (it parses here; vLLM itself needs a GPU)."""
    path = ROOT / "recipes" / "qwen2.5-0.5b" / "grpo_vllm.yaml"
    script, training, _ = parse_stage_args(
        (grpo.OnlineRLArguments, grpo.GRPOConfig, ModelConfig),
        ["--config", str(path), "--output_dir", str(tmp_path)],
    )
    assert training.use_vllm and training.vllm_mode == "colocate"
    assert script.reward_funcs == ["gsm8k_correctness"]
    assert training.per_device_train_batch_size % training.num_generations == 0


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--pos_embedding", "alibi"], "'learned' or 'rope'"),
        (["--pos_embedding", "rope", "--d_model", "36"], "even head size"),
        (["--d_model", "130"], "divisible by n_heads"),
    ],
)
def test_bad_model_shape_is_a_clear_error_before_any_work(flags, expected, tmp_path, capsys):
    from alignpipe.core.errors import run_cli
    from alignpipe.stages import pretrain

    out = tmp_path / "pt"
    argv = ["--config", str(ROOT / "recipes/minigpt/pretrain.yaml"), "--output_dir", str(out), *flags]
    assert run_cli(pretrain.main, argv) == 2
    err = capsys.readouterr().err
    assert "pretrain recipe:" in err and expected in err and "Traceback" not in err
    assert not out.exists()
