"""Every command as careful as `run` (README, "Reliability"): the one output-path policy, weights checked where
they load, local paths before the Hub, nothing the user typed lost, and arguments checked before torch loads."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alignpipe import cli
from alignpipe.core.registry import BY_NAME, COMMANDS, STAGES

ROOT = Path(__file__).resolve().parents[1]


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def err_of(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def truncate(path: Path) -> int:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return size


@pytest.fixture
def model_copy(tiny_minigpt, tmp_path):
    d = tmp_path / "model"
    shutil.copytree(tiny_minigpt, d)
    return d


# --------------------------------------------------------------------------- the output-path policy

# (command that writes a FILE, with the output path as {out}): refused for a folder, and for an existing file
# without --overwrite; a parent that is a file is named.
FILE_OUTPUTS = {
    "generate": lambda m, out: ["generate", m, "--prompt", "hi", "--greedy", "-o", out],
    "data convert": lambda m, out: ["data", "convert", "default", "--kind", "sft", "-o", out],
    "export --to gguf": lambda m, out: ["export", m, "--to", "gguf", "-o", out],
}
DIR_OUTPUTS = {
    "export": lambda m, out: ["export", m, "-o", out],
    "merge": lambda m, out: ["merge", m, "-o", out],
    "eval": lambda m, out: ["eval", "--model", m, "--output", out],
    "publish --dry-run": lambda m, out: ["publish", m, "--repo-id", "me/x", "--dry-run", out],
}


@pytest.mark.parametrize("name", sorted(FILE_OUTPUTS))
def test_a_file_output_refuses_a_folder_an_existing_file_and_a_file_as_parent(
    name, model_copy, tmp_path, capsys
):
    argv = FILE_OUTPUTS[name]
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert run(*argv(model_copy, folder)) == 2
    assert f"{folder} is a folder; give the path of a file" in err_of(capsys)
    existing = tmp_path / "old.jsonl"
    existing.write_text("keep me\n")
    assert run(*argv(model_copy, existing)) == 2
    assert f"{existing} exists; pass --overwrite to replace it" in err_of(capsys)
    assert existing.read_text() == "keep me\n"
    assert run(*argv(model_copy, existing / "below.jsonl")) == 2
    assert f"{existing} is a file, so nothing can be written under it" in err_of(capsys)


@pytest.mark.parametrize("name", sorted(DIR_OUTPUTS))
def test_a_folder_output_refuses_a_file_and_a_non_empty_folder(name, model_copy, tmp_path, capsys):
    argv = DIR_OUTPUTS[name]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert run(*argv(model_copy, a_file)) == 2
    assert f"{a_file} is a file; give the path of a folder" in err_of(capsys)
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.txt").write_text("keep me")
    assert run(*argv(model_copy, full)) == 2
    assert f"{full} exists and is not empty; pass --overwrite to replace it" in err_of(capsys)
    assert [p.name for p in full.iterdir()] == ["old.txt"]


def test_a_training_stage_refuses_a_file_as_its_output_folder(tiny_minigpt, tmp_path, capsys):
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"p{i}", "label": "benign"}) + "\n" for i in range(8)))
    a_file = tmp_path / "out"
    a_file.write_text("keep me")
    argv = ["guard", "--model_name_or_path", tiny_minigpt, "--dataset_name", data, "--output_dir", a_file]
    assert run(*argv, "--use_cpu", "true") == 2
    assert f"guard: output_dir {a_file} is a file; give the path of a folder" in err_of(capsys)
    assert a_file.read_text() == "keep me"


def test_overwrite_replaces_a_folder_whole_and_files_follow_the_umask(model_copy, tmp_path, capsys):
    out = tmp_path / "export"
    out.mkdir()
    (out / "stale.bin").write_text("from an older export")
    assert run("export", model_copy, "-o", out, "--overwrite") == 0
    names = {p.name for p in out.iterdir()}
    assert "stale.bin" not in names and "model.safetensors" in names  # replaced, never mixed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export.")]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask
    from alignpipe.core.io import write_text

    assert write_text(tmp_path / "new.txt", "x").stat().st_mode & 0o777 == 0o666 & ~umask
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    assert write_text(kept, "new").stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode


# --------------------------------------------------------------------------- weights checked where they load


def test_truncated_weights_are_one_line_for_every_loader(model_copy, tmp_path, capsys):
    weights = model_copy / "model.safetensors"
    truncate(weights)
    for argv in (
        ["export", model_copy, "-o", tmp_path / "e1"],
        ["export", model_copy, "--to", "gguf", "-o", tmp_path / "e2.gguf"],
        ["generate", model_copy, "--prompt", "hi", "--greedy"],
        ["generate", ROOT / "no-such-model-here", "--guard", model_copy, "--prompt", "hi", "--greedy"],
    ):
        assert run(*argv) == 2, argv
        err = err_of(capsys)
        assert f"{weights} is corrupt" in err or "no-such-model-here does not exist" in err, (argv, err)
    assert not (tmp_path / "e1").exists() and not (tmp_path / "e2.gguf").exists()


def _adapter(base: Path, out: Path, base_as: str, seed=0):
    """A LoRA adapter on `base`, saved with `base_as` as the base path it records."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False),
    )
    model.peft_config["default"].base_model_name_or_path = base_as
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return model


@pytest.mark.numerics
def test_an_adapter_merges_from_another_folder_and_a_broken_one_is_named(
    model_copy, tmp_path, monkeypatch, capsys
):
    import torch
    from transformers import AutoModelForCausalLM

    run_dir = tmp_path / "run"
    shutil.copytree(model_copy, run_dir / "sft")
    peft_model = _adapter(run_dir / "sft", run_dir / "dpo", "../sft")  # relative to the adapter folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # "../sft" from here is not the base
    assert run("merge", run_dir / "dpo", "-o", "merged") == 0
    merged = AutoModelForCausalLM.from_pretrained(elsewhere / "merged")
    x = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.allclose(peft_model(x).logits, merged(x).logits, atol=1e-5)
    truncate(run_dir / "dpo" / "adapter_model.safetensors")
    assert run("merge", run_dir / "dpo", "-o", "merged2") == 2
    assert f"{run_dir / 'dpo' / 'adapter_model.safetensors'} is corrupt" in err_of(capsys)


def test_portable_base_is_adapter_relative_inside_a_run_and_absolute_outside(tmp_path):
    from alignpipe.inference.adapters import portable_base, resolve_base

    (tmp_path / "run" / "sft").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    for base, expected in (
        (tmp_path / "run" / "sft", "../sft"),
        (tmp_path / "other", str(tmp_path / "other")),
    ):
        adapter = tmp_path / "run" / "dpo"
        adapter.mkdir(exist_ok=True)
        (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
        portable_base(adapter)
        recorded = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
        assert recorded == expected
        assert resolve_base(adapter, recorded) == str(base.resolve())


def test_export_and_publish_refuse_a_model_without_its_tokenizer(model_copy, tmp_path, capsys):
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (model_copy / f).unlink()
    assert run("export", model_copy, "-o", tmp_path / "e") == 2
    err = err_of(capsys)
    assert f"{model_copy} holds no tokenizer (tokenizer_config.json, tokenizer.json missing)" in err
    assert run("publish", model_copy, "--repo-id", "me/x", "--dry-run", tmp_path / "p") == 2
    assert "holds no tokenizer" in err_of(capsys)
    assert not (tmp_path / "e").exists() and not (tmp_path / "p").exists()


# --------------------------------------------------------------------------- nothing the user typed lost


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_interrupted_generate_keeps_its_answers_and_resumes(tiny_minigpt, tmp_path, monkeypatch, capsys):
    from alignpipe.inference import generation

    prompts = ["What is 1 + 2?", "Sort: 3 1 2", "Reverse: a b c", "Copy: x y"]
    argv = ["generate", tiny_minigpt, *(a for p in prompts for a in ("--prompt", p))]
    argv += ["--batch-size", "1", "--num-return-sequences", "2", "--max-new-tokens", "6", "--seed", "3"]
    assert run(*argv, "-o", tmp_path / "whole.jsonl") == 0
    whole = _rows(tmp_path / "whole.jsonl")
    assert len(whole) == 8

    real, calls = generation.generate, []

    def dies_on_the_third_batch(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(generation, "generate", dies_on_the_third_batch)
    out = tmp_path / "answers.jsonl"
    assert run(*argv, "-o", out) == 130  # Ctrl-C: "alignpipe: interrupted"
    partial = tmp_path / "answers.jsonl.partial"
    assert not out.exists() and _rows(partial) == whole[:4]  # two batches of two answers, kept
    assert "4 answers kept" in capsys.readouterr().err
    monkeypatch.setattr(generation, "generate", real)
    assert run(*argv, "-o", out) == 2  # a partial file is never silently thrown away
    assert "pass --resume to continue it or --overwrite" in err_of(capsys)
    assert run(*argv, "-o", out, "--resume") == 0
    assert _rows(out) == whole and not partial.exists()  # the rows of an uninterrupted run


def test_chat_save_writes_the_whole_conversation_after_trimming(tiny_minigpt, tmp_path):
    import argparse

    from alignpipe.inference.loading import load_lm
    from alignpipe.serve.chat import Chat
    from alignpipe.serve.sampling import settings_from_args
    from alignpipe.serve.session import Session

    args = argparse.Namespace(
        greedy=True,
        preset="greedy",
        temperature=None,
        top_k=None,
        top_p=None,
        repetition_penalty=None,
        max_new_tokens=40,
    )
    import io

    out = io.StringIO()
    chat = Chat(Session(load_lm(str(tiny_minigpt)), None, 0.0), settings_from_args(args), "be brief", out=out)
    said = [f"count the letters in word number {i} " * 4 for i in range(4)]
    for text in said:
        chat.reply(text)
    assert "dropped the oldest" in out.getvalue()
    assert len(chat.turns) < 8  # the model sees fewer turns than were said
    path = tmp_path / "chat.json"
    assert chat.command(f"/save {path}")
    saved = json.loads(path.read_text())
    assert saved[0] == {"role": "system", "content": "be brief"}
    assert [m["content"] for m in saved[1:] if m["role"] == "user"] == said  # every turn, trimmed ones too
    trimmed = [m for m in saved if m.get("trimmed")]
    assert len(trimmed) == 8 - len(chat.turns) and all(m in saved[1 : 1 + len(trimmed)] for m in trimmed)
    path.write_text("older")
    chat.command(f"/save {path}")
    assert path.read_text() == "older" and "exists; pass /save! FILE to replace it" in out.getvalue()
    chat.command(f"/save! {path}")
    assert len(json.loads(path.read_text())) == len(saved)


# --------------------------------------------------------------------------- fast to say no and to help

# every command but the training stages (their --help is answered from remembered options, below)
LIGHT = [name for name in COMMANDS if not (name in BY_NAME and BY_NAME[name].trains)]
BAD_FLAGS = [
    (["generate", "m", "--prompt", "x", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["generate", "m", "--prompt", "x", "--load-in-4bit", "--load-in-8bit"], "not allowed with argument"),
    (["generate", "m", "--prompt", "x", "--greedy", "--num-return-sequences", "3"], "3 identical answers"),
    (["generate", "m", "--prompt", ""], "--prompt 1 is empty"),
    (["chat", "m", "--temperature", "0"], "--temperature must be > 0"),
    (["eval", "--output", "o"], "give --model"),
    (["export", "m", "-o", "o", "--to", "onnx"], "invalid choice"),
]


def _in_fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _cli_in_fresh_python(cases: list[list[str]]) -> tuple[list, str]:
    """Each `alignpipe ARGV` of `cases` in one fresh interpreter: [(argv, exit code, whether torch,
    transformers or trl had been imported by then, the start of what it printed)], and its stderr."""
    code = (
        "import sys, json, io, contextlib\nfrom alignpipe import cli\nout = []\n"
        f"for argv in {cases!r}:\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        try:\n            rc = cli.main(argv)\n        except SystemExit as e:\n            rc = e.code\n"
        "    heavy = any(m in sys.modules for m in ('torch', 'transformers', 'trl'))\n"
        "    out.append([argv, rc, heavy, buf.getvalue()[:200]])\n"
        "print(json.dumps(out))\n"
    )
    done = _in_fresh_python(code)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_help_and_bad_flags_are_answered_without_importing_torch(tmp_path):
    results, stderr = _cli_in_fresh_python([[name, "--help"] for name in LIGHT] + [a for a, _ in BAD_FLAGS])
    for argv, rc, heavy, _ in results:
        assert not heavy, argv
        assert rc == (0 if argv[-1] == "--help" else 2), (argv, rc)
    for _, message in BAD_FLAGS:
        assert message in stderr, (message, stderr[-3000:])


# A training stage's options are remembered the first time its TRL parser is built (core.options); from then
# on its --help and bad flags are answered before TRL loads. Each case: argv, what the message says.
STAGE_BAD_FLAGS = [
    (
        ["sft", "--config", "recipes/minigpt/sft.yaml", "--lerning_rate", "1e-3"],
        "did you mean --learning_rate",
    ),
    (
        ["dpo", "--config", "recipes/minigpt/dpo.yaml", "--learning_rate", "0"],
        "learning_rate: expected a positive",
    ),
    (["grpo", "--lr_scheduler_type", "sometimes"], "invalid choice: 'sometimes'"),
    (["reward", "--bf16", "maybe"], "Truthy value expected"),
    (["ppo", "--per_device_train_batch_size", "two"], "invalid int value: 'two'"),
    (["pretrain", "--config", "BAD_RECIPE"], "unknown key learning_rat (did you mean learning_rate?)"),
    (["guard", "--config", "no/such/recipe.yaml"], "recipe no/such/recipe.yaml does not exist"),
]


@pytest.fixture(scope="module")
def remembered_options(tmp_path_factory):
    """A cache in which every training stage's options are remembered, as `make` leaves it."""
    from alignpipe.stages.__main__ import main as remember_all  # python -m alignpipe.stages

    cache = tmp_path_factory.mktemp("options-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALIGNPIPE_CACHE", str(cache))
        assert remember_all() == 0
    recipe = cache / "bad.yaml"
    recipe.write_text("output_dir: x\nlearning_rat: 0.1\n", encoding="utf-8")
    return cache, recipe


def _stage_cases(recipe: Path) -> list[list[str]]:
    return [[str(recipe) if a == "BAD_RECIPE" else a for a in argv] for argv, _ in STAGE_BAD_FLAGS]


def test_stage_help_and_bad_flags_are_answered_without_importing_torch(remembered_options, monkeypatch):
    cache, recipe = remembered_options
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(cache))
    helps = [[s.name, "--help"] for s in STAGES if s.trains]
    results, stderr = _cli_in_fresh_python(helps + _stage_cases(recipe))
    for argv, rc, heavy, printed in results:
        assert not heavy, argv
        if argv[-1] == "--help":
            assert rc == 0 and printed.startswith(f"usage: alignpipe {argv[0]} "), (argv, printed)
        else:
            assert rc == 2, argv
    for _, message in STAGE_BAD_FLAGS:
        assert message in stderr, (message, stderr[-3000:])
    assert "Traceback" not in stderr


def test_the_stages_own_parser_refuses_what_the_remembered_one_refuses(
    remembered_options, monkeypatch, capsys
):
    """The early answer is no stricter than the stage: every case is refused by the stage's TRL parser too
    (here with nothing remembered), and every stage recipe we ship passes the early check."""
    from alignpipe.core.options import precheck

    cache, recipe = remembered_options
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(cache / "empty"))
    for argv in _stage_cases(recipe):
        assert run(*argv) == 2, argv
        assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(cache))
    checked = 0
    for path in sorted(ROOT.glob("recipes/*/*.yaml")):
        stage = path.stem.split("_")[0]
        if stage in BY_NAME and BY_NAME[stage].trains:
            assert precheck(stage, ["--config", str(path)]) is False, path
            checked += 1
    assert checked >= 20


def test_device_cuda_without_cuda_is_one_line(tiny_minigpt, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert run("generate", tiny_minigpt, "--prompt", "hi", "--greedy", "--device", "cuda") == 2
    assert "--device cuda: this machine has no CUDA device" in err_of(capsys)
