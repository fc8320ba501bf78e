"""`alignpipe publish`: the folder --dry-run writes (GPT-2 export of MiniGPT, tokenizer with chat template,
generation config, model card with a model-index), LoRA adapters and merged adapters, the upload through
HfApi (monkeypatched: no network), and the token, which is never written anywhere."""

import json
from pathlib import Path

import pytest
import torch
from conftest import COMMON_ARGS
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel, LlamaForCausalLM

import alignpipe  # noqa: F401
from alignpipe import cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.stages import sft
from alignpipe.tools import publish

FAKE_TOKEN = "hf_FakeTokenForTests0123456789abcdef"
SUMMARY = {
    "perplexity": 41.5,
    "task_accuracy": 0.25,
    "win_rate": 62.5,
    "win_rate_se": 4.0,
    "lc_win_rate": 58.0,
    "mc/tasks_mc/acc": 0.5,
    "mean_tokens": 17.25,
    "ref_mean_tokens": 12.5,
    "length_ratio": 1.38,
    "eos_share": 0.75,
    "distinct_2": None,
}
MINIGPT_FILES = [
    "README.md",
    "chat_template.jinja",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
]


@pytest.fixture(autouse=True)
def fake_token(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no saved login of the developer's
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)


def sft_args(tiny_minigpt, tiny_data, out, *extra):
    return [
        "--model_name_or_path",
        str(tiny_minigpt),
        "--dataset_name",
        str(tiny_data["sft"]),
        "--output_dir",
        str(out),
        "--max_steps",
        "2",
        "--max_length",
        "64",
        *COMMON_ARGS,
        *extra,
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_minigpt, tiny_data):
    """A run directory with a short SFT stage of a MiniGPT and a fake eval.json for it."""
    run = tmp_path_factory.mktemp("run")
    assert sft.main(sft_args(tiny_minigpt, tiny_data, run / "sft", "--learning_rate", "3e-3")) == 0
    (run / "eval" / "sft").mkdir(parents=True)
    (run / "eval" / "sft" / "eval.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "suite": {"name": "quick"},
                "summary": SUMMARY,
                "metrics": {},
                "ref": {"path": str(run / "sft")},
                "warnings": ["the answers got longer than the reference's"],
            }
        )
    )
    return run


def publish_main(*argv) -> int:
    return cli.main(["publish", *map(str, argv)])


def files_in(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def token_free(folder) -> bool:
    return all(FAKE_TOKEN.encode() not in p.read_bytes() for p in Path(folder).rglob("*") if p.is_file())


@torch.no_grad()
def logits(model, vocab_size):
    x = torch.randint(7, vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    return model.eval()(x).logits


@pytest.mark.numerics
def test_dry_run_writes_a_gpt2_folder_that_reloads_to_the_same_logits(run_dir, tmp_path):
    out = tmp_path / "out"
    assert publish_main(run_dir / "sft", "--repo-id", "me/tiny-sft", "--dry-run", out) == 0
    assert files_in(out) == MINIGPT_FILES
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gpt2" and "auto_map" not in config  # no remote code needed
    stage_model = AutoModelForCausalLM.from_pretrained(run_dir / "sft")
    gpt2 = GPT2LMHeadModel.from_pretrained(out)
    # GPT-2's code on MiniGPT's weights: the same matmuls in the same order here (bitwise equal, measured);
    # another build could order them differently, which moves logits of size ~1 by ~1e-7
    assert torch.allclose(
        logits(gpt2, gpt2.config.vocab_size), logits(stage_model, gpt2.config.vocab_size), atol=1e-5
    )

    tok, stage_tok = AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(run_dir / "sft")
    chat = [{"role": "user", "content": "What is 2 plus 3?"}]
    assert tok.chat_template and tok.apply_chat_template(
        chat, tokenize=False, add_generation_prompt=True
    ) == stage_tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["eos_token_id"] == tok.eos_token_id and gen["pad_token_id"] == tok.pad_token_id
    assert token_free(out)


def test_card_metadata_and_model_index_parse_with_huggingface_hub(run_dir, tmp_path):
    out = tmp_path / "out"
    assert (
        publish_main(run_dir / "sft", "--repo-id", "me/tiny-sft", "--license", "mit", "--dry-run", out) == 0
    )
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert (
        data.library_name == "transformers"
        and data.license == "mit"
        and data.pipeline_tag == "text-generation"
    )
    assert {"alignpipe", "trl", "sft"} <= set(data.tags)
    assert data.base_model is None  # MiniGPT trained from scratch here
    results = {r.metric_type: r.metric_value for r in data.eval_results}
    expected = {k: v for k, v in SUMMARY.items() if v is not None and not k.endswith("_se")}
    assert results == expected
    assert all(r.task_type == "text-generation" and r.dataset_name for r in data.eval_results)
    assert data.to_dict()["model-index"][0]["name"] == "tiny-sft"
    text = card.text
    assert "### Verbosity" in text and "17.25" in text and "1.38" in text and "got longer" in text
    assert "learning_rate: 0.003" in text and "| sft |" in text  # the recipe and the stage table


def test_upload_passes_the_token_to_hfapi_and_writes_it_nowhere(run_dir, monkeypatch, capsys):
    calls = {}

    def create_repo(self, repo_id, **kw):
        calls["create_repo"] = (repo_id, kw)
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kw):
        calls["upload_folder"] = kw
        calls["files"] = files_in(kw["folder_path"])
        calls["token_free"] = token_free(kw["folder_path"])

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert publish_main(run_dir / "sft", "--repo-id", "me/tiny-sft", "--private") == 0
    repo_id, kw = calls["create_repo"]
    assert repo_id == "me/tiny-sft" and kw == {"private": True, "exist_ok": True, "token": FAKE_TOKEN}
    assert (
        calls["upload_folder"]["repo_id"] == "me/tiny-sft" and calls["upload_folder"]["token"] == FAKE_TOKEN
    )
    assert calls["files"] == MINIGPT_FILES and calls["token_free"]
    out = capsys.readouterr()
    assert FAKE_TOKEN not in out.out + out.err
    assert "https://huggingface.co/me/tiny-sft" in out.out


def test_without_a_token_only_dry_run_works(run_dir, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **k: pytest.fail("must not reach the Hub"))
    assert publish_main(run_dir / "sft", "--repo-id", "me/tiny-sft") == 2
    assert "no Hugging Face token" in capsys.readouterr().err


@pytest.fixture(scope="module")
def lora_stage(tmp_path_factory, tiny_llama, seed):
    """A LoRA adapter (non-zero, so merging changes the weights) on a local tiny Llama, as a run's stage."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    stage = tmp_path_factory.mktemp("lora_run") / "sft"
    base = LlamaForCausalLM.from_pretrained(tiny_llama)
    model = get_peft_model(
        base,
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"),
    )
    model.save_pretrained(stage)
    AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(stage)
    return stage


def test_lora_adapter_is_published_with_its_hub_base(lora_stage, tmp_path):
    with pytest.raises(AlignpipeError, match="local folder"):
        publish.main([str(lora_stage), "--repo-id", "me/lora", "--dry-run", str(tmp_path / "a")])
    out = tmp_path / "b"
    assert (
        publish.main(
            [str(lora_stage), "--repo-id", "me/lora", "--base-model", "org/tiny-llama", "--dry-run", str(out)]
        )
        == 0
    )
    assert files_in(out) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "chat_template.jinja",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert (
        json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "org/tiny-llama"
    )
    data = ModelCard.load(out / "README.md").data
    assert data.base_model == "org/tiny-llama" and data.library_name == "peft" and "lora" in data.tags


@pytest.mark.numerics
def test_merged_lora_reloads_to_the_adapter_models_logits(lora_stage, tmp_path):
    from peft import AutoPeftModelForCausalLM

    out = tmp_path / "merged"
    assert (
        publish.main([str(lora_stage), "--repo-id", "me/merged", "--merge-lora", "--dry-run", str(out)]) == 0
    )
    assert "adapter_config.json" not in files_in(out) and (out / "model.safetensors").is_file()
    merged = LlamaForCausalLM.from_pretrained(out)
    adapter = AutoPeftModelForCausalLM.from_pretrained(lora_stage)
    base = LlamaForCausalLM.from_pretrained(adapter.peft_config["default"].base_model_name_or_path)
    v = merged.config.vocab_size
    # (W + s B A) x against W x + s B (A x): other roundings; logits of size ~0.5 came out 1.5e-7 apart
    assert torch.allclose(logits(merged, v), logits(adapter, v), atol=1e-5)
    assert not torch.allclose(logits(merged, v), logits(base, v), atol=1e-4)  # the adapter is in the weights


@pytest.mark.numerics
@pytest.mark.parametrize(
    ("pos", "arch"),
    [("learned", "GPT2ForSequenceClassification"), ("rope", "GPTNeoXForSequenceClassification")],
)
def test_minigpt_reward_model_publishes_as_a_plain_classifier_with_the_same_rewards(
    tmp_path, tiny_tokenizer, pos, arch, seed
):
    import transformers
    from transformers import AutoModelForSequenceClassification

    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForSequenceClassification

    stage = tmp_path / "reward"
    torch.manual_seed(seed)
    rm = MiniGPTForSequenceClassification(
        MiniGPTConfig(
            vocab_size=len(tiny_tokenizer),
            d_model=32,
            n_layers=2,
            n_heads=4,
            max_seq=32,
            num_labels=1,
            pad_token_id=tiny_tokenizer.pad_token_id,
            pos_embedding=pos,
        )
    ).eval()
    torch.nn.init.normal_(rm.score.weight, std=1.0)  # a head that is not near zero, so a wrong pooling shows
    rm.save_pretrained(stage)
    tiny_tokenizer.save_pretrained(stage)
    out = tmp_path / "out"
    assert publish_main(str(stage), "--repo-id", "me/rm", "--dry-run", str(out)) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == [arch] and "auto_map" not in config
    exported = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert isinstance(exported, getattr(transformers, arch))
    # right-padded rows of different lengths: each scored at its last real token, as in training
    pad = tiny_tokenizer.pad_token_id
    rows = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]
    ids = torch.tensor([r + [pad] * (6 - len(r)) for r in rows])
    mask = (ids != pad).long()
    with torch.no_grad():
        want, got = (
            rm(input_ids=ids, attention_mask=mask).logits,
            exported(input_ids=ids, attention_mask=mask).logits,
        )
    assert got.shape == (2, 1) and torch.allclose(got, want, atol=1e-4)
    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "text-classification"
    assert "AutoModelForSequenceClassification" in card.text and "generate(" not in card.text


def test_lineage_finds_the_hub_base_model_and_hub_datasets(tmp_path):
    from alignpipe.tools.cards import hub_datasets, lineage, tags_for

    def record(stage, model, data):
        d = tmp_path / stage
        d.mkdir()
        (d / "run_record.json").write_text(
            json.dumps({"stage": stage, "config": {"model": {"model_name_or_path": model}, "script": data}})
        )
        return d

    record("sft", "Qwen/Qwen2.5-0.5B", {"dataset_name": "HuggingFaceH4/ultrachat_200k"})
    dpo = record(
        "dpo",
        str(tmp_path / "sft"),
        {
            "dataset_name": None,
            "dataset_mixture": {
                "datasets": [
                    {"id": "default"},
                    {"id": str(tmp_path / "local.jsonl")},
                    {"id": "trl-lib/ultrafeedback_binarized"},
                ]
            },
        },
    )
    lin = lineage(dpo)
    assert lin.stages == ["sft", "dpo"] and lin.base_model == "Qwen/Qwen2.5-0.5B"
    assert hub_datasets(lin.records) == ["HuggingFaceH4/ultrachat_200k", "trl-lib/ultrafeedback_binarized"]
    assert tags_for(lin.stages) == ["alignpipe", "trl", "sft", "dpo"]


def test_a_stage_with_push_to_hub_uploads_the_publish_folder_once(
    tiny_minigpt, tiny_data, tmp_path, monkeypatch
):
    uploads = []

    def create_repo(self, repo_id, **kw):
        assert kw["token"] == FAKE_TOKEN and kw["private"] is True
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kw):
        uploads.append((kw["repo_id"], files_in(kw["folder_path"]), token_free(kw["folder_path"])))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    push = ["--push_to_hub", "true", "--hub_model_id", "me/tiny-pushed", "--hub_private_repo", "true"]
    # a checkpoint each step: Trainer's own push would upload each of them (and training_args.bin)
    extra = ["--save_strategy", "steps", "--save_steps", "1"]
    assert sft.main(sft_args(tiny_minigpt, tiny_data, tmp_path / "sft", *push, *extra)) == 0
    assert uploads == [("me/tiny-pushed", MINIGPT_FILES, True)]  # once, the exported model, no pickles
    assert (tmp_path / "sft" / "training_args.bin").is_file()  # the local folder keeps everything
    assert token_free(tmp_path / "sft")


def test_push_to_hub_without_a_token_or_with_a_bad_repo_id_stops_before_training(
    tiny_minigpt, tiny_data, tmp_path, monkeypatch
):
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **k: pytest.fail("must not reach the Hub"))
    bad_id = ["--push_to_hub", "true", "--hub_model_id", "me/two/slashes"]
    with pytest.raises(AlignpipeError, match="hub_model_id 'me/two/slashes' is not a repository id"):
        sft.main(sft_args(tiny_minigpt, tiny_data, tmp_path / "sft", *bad_id))
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(AlignpipeError, match="no Hugging Face token.*push_to_hub: false"):
        sft.main(sft_args(tiny_minigpt, tiny_data, tmp_path / "sft", "--push_to_hub", "true"))
    assert not (tmp_path / "sft" / "model.safetensors").exists()
