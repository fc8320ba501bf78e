"""The shared rules of alignpipe.core.io: atomic writes, which settings are secrets, local path or Hub id."""

import json

import pytest

from alignpipe.cli import main as cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import (
    MASK,
    atomic_open,
    is_secret_key,
    locate,
    mask_argv,
    mask_secrets,
    write_json,
)
from alignpipe.core.runrecord import RunRecord


@pytest.mark.parametrize(
    "name",
    [
        "hub_token",
        "token",
        "use_auth_token",
        "api_key",
        "wandb_api_key",
        "OPENAI_API_KEY",
        "password",
        "db_password",
        "client_secret",
        "hubToken",
        "--hub-token",
        "apiKey",
        "access_token",
        "aws_secret_access_key",
    ],
)
def test_secret_names(name):
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "pad_token",
        "eos_token",
        "bos_token",
        "stop_token",
        "pad_token_id",
        "eos_token_ids",
        "max_new_tokens",
        "tokenizer_name_or_path",
        "dataset_kwargs",
        "monkey",
        "keep_end",
        "num_tokens",
        "hub_model_id",
    ],
)
def test_settings_that_are_not_secrets(name):
    assert not is_secret_key(name)


def test_masking_nested_settings_and_argv():
    cfg = {
        "hub_token": "hf_abc",
        "pad_token": "<pad>",
        "nested": {"api_key": "sk-1", "lr": 1e-3},
        "token": None,
    }
    assert mask_secrets(cfg) == {
        "hub_token": MASK,
        "pad_token": "<pad>",
        "nested": {"api_key": MASK, "lr": 1e-3},
        "token": None,
    }
    argv = ["--hub_token", "hf_abc", "--lr", "1", "--api-key=sk-1", "--pad_token", "<pad>"]
    assert mask_argv(argv) == ["--hub_token", MASK, "--lr", "1", f"--api-key={MASK}", "--pad_token", "<pad>"]


def test_run_record_masks_api_keys_and_keeps_tokenizer_fields(tmp_path):
    """Every secret-like setting is masked (the old rule kept `api_key`) and `pad_token` is kept (it dropped it)."""
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        api_key: str = "sk-secret"
        hub_token: str = "hf_secret"
        pad_token: str = "<pad>"
        learning_rate: float = 0.1

    rec = RunRecord("sft", str(tmp_path), {"script": Cfg()}, seed=0)
    text = rec.write().read_text()
    assert "sk-secret" not in text and "hf_secret" not in text
    assert json.loads(text)["config"]["script"] == {
        "api_key": MASK,
        "hub_token": MASK,
        "pad_token": "<pad>",
        "learning_rate": 0.1,
    }


def test_atomic_write_leaves_the_old_file_on_error(tmp_path):
    path = write_json(tmp_path / "a" / "x.json", {"v": 1, "nan": float("nan")})
    assert json.loads(path.read_text()) == {"v": 1, "nan": None}
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("half")
        raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"v": 1, "nan": None}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # no temporary file left


def test_local_path_or_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths below must not exist, whatever the checkout holds
    (tmp_path / "model").mkdir()
    assert locate(tmp_path / "model", "model") == tmp_path / "model"
    assert locate("model", "model", base_dir=tmp_path) == tmp_path / "model"
    for hub_id in ("openai-community/gpt2", "Qwen/Qwen2.5-0.5B", "some-org/some_model.v2"):
        assert locate(hub_id, "model") == hub_id
    for missing in ("./gpt2", str(tmp_path / "nope"), "data.jsonl", "~/x", "runs/minigpt/sft/x"):
        with pytest.raises(AlignpipeError, match="does not exist"):
            locate(missing, "model")
    for bare in ("gpt2", "nope"):  # local paths before the Hub: a bare name is a folder that is not there
        with pytest.raises(
            AlignpipeError, match="no local file or folder of that name; a Hub repo is named owner"
        ):
            locate(bare, "model")


def test_eval_of_a_hub_id_says_the_hub_is_not_reachable(tmp_path, capsys, monkeypatch):
    """`alignpipe eval --model org/name` is a Hub id, not a missing folder: offline, the error says so at once,
    and that no local folder of that name exists."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for ref in ("openai-community/gpt2-not-cached", "some-org/some-model"):
        assert cli(["eval", "--model", ref, "--output", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert f"'{ref}' from the Hugging Face Hub" in err and "HF_HUB_OFFLINE" in err
        assert f"no local folder {ref} exists" in err


def test_a_typo_offline_fails_at_once_naming_the_missing_folder(tmp_path, capsys, monkeypatch):
    """`alignpipe generate nope` offline: one line that no such folder exists, and the Hub is never asked (no
    library retry loop: transformers' loaders are not called at all)."""
    import transformers

    asked = []
    for cls in (transformers.AutoTokenizer, transformers.AutoModelForCausalLM):
        monkeypatch.setattr(cls, "from_pretrained", lambda *a, **k: asked.append(a) or 1 / 0)
    monkeypatch.chdir(tmp_path)
    for env in ("1", ""):
        monkeypatch.setenv("HF_HUB_OFFLINE", env)
        assert cli(["generate", "nope", "--prompt", "hi"]) == 2
        err = capsys.readouterr().err
        assert "nope does not exist" in err and "a Hub repo is named owner/name" in err, err
        assert "Traceback" not in err
    assert asked == []
