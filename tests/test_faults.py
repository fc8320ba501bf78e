"""Faults a careful user runs into: run directories that are not alignpipe's, stale resumes, secrets, bad input.

Each test provokes one fault and checks that nothing is lost (files outside what alignpipe made are never
deleted), nothing stale is kept (a checkpoint or eval result of other settings or inputs is redone), nothing
leaks (a Hub token reaches no file), and bad input ends in one clear line naming the file, row and field (or
the setting) with exit code 2 and earlier results intact. The kill -9 resume test of a whole stage is in
tests/test_orchestrate.py; here a killed run is resumed at the points between steps and between stages.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import common_args, write_jsonl
from safetensors.torch import load_file

from alignpipe import cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.outputs import STAMP, safetensors_problem, usable_checkpoint
from alignpipe.run.manifest import MARK
from alignpipe.run.recipe import ROOT

TINY = ROOT / "recipes" / "tiny"
TOKEN = "hf_" + "Zq9SecretTokenForTests0123456789"


def run(*argv) -> int:
    return cli.main([*map(str, argv)])


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def char_tokenizer_pipeline(tmp_path: Path, **stages) -> Path:
    """A pipeline whose one stage trains a character tokenizer on a small file: a run in about a second."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 20)
    spec = {"tokenizer": {"overrides": {"input": str(corpus), "kind": "char"}}, **stages}
    return write_yaml(tmp_path / "pipeline.yaml", {"stages": spec})


def sft_args(base, data, out, *extra, seed=0) -> list[str]:
    return [
        "sft",
        "--model_name_or_path",
        str(base),
        "--dataset_name",
        str(data),
        "--output_dir",
        str(out),
        "--max_steps",
        "6",
        "--learning_rate",
        "3e-3",
        "--max_length",
        "64",
        *common_args(seed),
        *map(str, extra),
    ]


# --- run directories are owned ----------------------------------------------------------------------


def test_run_refuses_the_project_tree_and_foreign_folders(tmp_path, capsys):
    pipeline = char_tokenizer_pipeline(tmp_path)
    assert run("run", pipeline, "--output", ROOT) == 2
    assert "alignpipe project" in capsys.readouterr().err
    assert (ROOT / "eval" / "runner.py").is_file() and not (ROOT / "manifest.json").exists()

    foreign = tmp_path / "mine"
    (foreign / "tokenizer").mkdir(parents=True)
    (foreign / "tokenizer" / "notes.txt").write_text("my notes")
    assert run("run", pipeline, "--output", foreign) == 2
    err = capsys.readouterr().err
    assert "is not empty and is not an alignpipe run directory" in err and "tokenizer" in err
    assert (foreign / "tokenizer" / "notes.txt").read_text() == "my notes"
    assert not (foreign / "manifest.json").exists()


def test_run_never_deletes_a_stage_folder_it_did_not_make(tmp_path, capsys):
    pipeline = char_tokenizer_pipeline(tmp_path)
    run_dir = tmp_path / "run"
    assert run("run", pipeline, "--output", run_dir) == 0
    assert (run_dir / "tokenizer" / MARK).is_file()
    # the user replaces the stage's folder with their own: the next run must not wipe it
    shutil.rmtree(run_dir / "tokenizer")
    (run_dir / "tokenizer").mkdir()
    (run_dir / "tokenizer" / "notes.txt").write_text("mine")
    assert run("run", pipeline, "--output", run_dir) == 2
    assert "alignpipe did not make it" in capsys.readouterr().err
    assert (run_dir / "tokenizer" / "notes.txt").read_text() == "mine"


# --- resume is honest -------------------------------------------------------------------------------


def test_changed_settings_rerun_a_done_stage_instead_of_skipping_it(tmp_path, capsys):
    pipeline = char_tokenizer_pipeline(tmp_path)
    run_dir = tmp_path / "run"
    assert run("run", pipeline, "--output", run_dir) == 0
    assert run("run", pipeline, "--output", run_dir, "--resume") == 0
    assert "skipped (done earlier)" in capsys.readouterr().out
    spec = yaml.safe_load(pipeline.read_text())
    spec["stages"]["tokenizer"]["overrides"]["input"] = str(tmp_path / "other.txt")
    (tmp_path / "other.txt").write_text("zyxwvu tsrq " * 30)
    write_yaml(pipeline, spec)
    assert run("run", pipeline, "--output", run_dir, "--resume") == 0
    out = capsys.readouterr().out
    assert "running it again: its settings (input) changed since it ran" in out  # what changed, by name
    vocab = json.loads((run_dir / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    assert "z" in vocab and "q" in vocab and "b" not in vocab  # the new corpus's characters, not the old


def test_hand_run_refuses_a_checkpoint_of_other_settings(tiny_minigpt, tiny_data, tmp_path, capsys):
    out = tmp_path / "sft"
    first = sft_args(tiny_minigpt, tiny_data["sft"], out, "--save_strategy", "steps", "--save_steps", "3")
    assert run(*first) == 0
    assert (out / "checkpoint-6").is_dir() and (out / STAMP).is_file()
    weights = (out / "model.safetensors").read_bytes()
    other = sft_args(tiny_minigpt, tiny_data["sft"], out, "--save_strategy", "steps", "--save_steps", "3")
    other[other.index("--learning_rate") + 1] = "1e-3"
    assert run(*other) == 2
    err = capsys.readouterr().err
    assert "made with other settings (changed: learning_rate)" in err and "--overwrite_output_dir" in err
    assert (out / "model.safetensors").read_bytes() == weights  # the finished model is untouched
    assert run(*other, "--overwrite_output_dir", "true") == 0  # on purpose: starts over
    record = json.loads((out / "run_record.json").read_text())
    assert record["config"]["training"]["learning_rate"] == 1e-3
    assert json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())["global_step"] == 6


def test_corrupt_newest_checkpoint_is_named_and_the_previous_one_used(
    tiny_minigpt, tiny_data, tmp_path, capsys
):
    out = tmp_path / "sft"
    full = sft_args(tiny_minigpt, tiny_data["sft"], out, "--save_strategy", "steps", "--save_steps", "2")
    full[full.index("--max_steps") + 1] = "4"
    assert run(*full) == 0  # checkpoints 2 and 4
    newest = out / "checkpoint-4" / "model.safetensors"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # a disk that filled up, a copy cut short
    assert "truncated" in safetensors_problem(newest)
    assert usable_checkpoint(out).name == "checkpoint-2"
    capsys.readouterr()
    longer = list(full)
    longer[longer.index("--max_steps") + 1] = "4"
    assert run(*longer) == 0
    err = capsys.readouterr()
    assert "checkpoint-4" in err.err and "cannot be resumed from" in err.err
    assert "resuming from" in err.out and "checkpoint-2" in err.out
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def test_truncated_input_model_is_named(tiny_minigpt, tiny_data, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_minigpt, broken)
    w = broken / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    assert run(*sft_args(broken, tiny_data["sft"], tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(w) in err and "truncated" in err and "Traceback" not in err


@pytest.mark.numerics
def test_train_loss_after_a_resume_covers_the_whole_run(tiny_minigpt, tiny_data, tmp_path, seed):
    """An uninterrupted run and one resumed from its middle checkpoint report the same train_loss."""
    whole, part = tmp_path / "whole", tmp_path / "part"
    args = ("--save_strategy", "steps", "--save_steps", "3", "--logging_steps", "1")
    assert run(*sft_args(tiny_minigpt, tiny_data["sft"], whole, *args, seed=seed)) == 0
    assert run(*sft_args(tiny_minigpt, tiny_data["sft"], part, *args, seed=seed)) == 0
    for p in part.iterdir():  # leave only checkpoint-3, as a run killed after step 3 would
        if p.name not in ("checkpoint-3", STAMP):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    assert run(*sft_args(tiny_minigpt, tiny_data["sft"], part, *args, seed=seed)) == 0
    a = json.loads((whole / "run_record.json").read_text())["metrics"]["train_loss"]
    b = json.loads((part / "run_record.json").read_text())["metrics"]["train_loss"]
    # `a` is Trainer's running mean, `b` the mean of the six logged step losses, three of them from a resumed
    # run: the same numbers up to float32 rounding and a resume that need not be bitwise (they were equal to
    # the last digit when measured, so 2e-3 is loose); what it must reject is Trainer's own figure after a
    # resume, about half of `a` (steps 4-6 over 6 steps)
    assert b == pytest.approx(a, rel=2e-3)


def test_hand_run_takes_the_run_lock(tmp_path, capsys):
    """A stage run by hand into a run directory takes the lock `alignpipe run` holds (and the reverse)."""
    from alignpipe.core.outputs import hold_lock, release_lock

    run_dir = tmp_path / "run"
    (run_dir / "sft").mkdir(parents=True)
    (run_dir / "manifest.json").write_text("{}")
    code = (
        "import sys, time; from alignpipe.core.outputs import hold_lock; "
        f"hold_lock({str(run_dir)!r}, 'test'); print('held', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AlignpipeError, match="another alignpipe process is writing"):
            hold_lock(run_dir, "alignpipe sft")
        assert (
            run(
                "sft",
                "--model_name_or_path",
                "x",
                "--output_dir",
                run_dir / "sft",
                "--dataset_name",
                "default",
            )
            == 2
        )
        assert "another alignpipe process is writing" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    hold_lock(run_dir, "alignpipe sft")  # free again once the holder is gone
    release_lock(run_dir)


# --- secrets never touch disk -----------------------------------------------------------------------


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_hub_token_reaches_no_file_of_a_run(tiny_minigpt, tiny_data, tmp_path, monkeypatch, capsys):
    """The token given in the pipeline's overrides and, separately, in the environment: grep every file."""
    recipe = write_yaml(
        tmp_path / "sft.yaml",
        {
            "model_name_or_path": str(tiny_minigpt),
            "dataset_name": str(tiny_data["sft"]),
            "max_steps": 2,
            "learning_rate": 3e-3,
            "max_length": 64,
            "save_strategy": "steps",
            "save_steps": 1,
            "report_to": "none",
            "disable_tqdm": True,
        },
    )
    pipeline = write_yaml(
        tmp_path / "pipeline.yaml",
        {"stages": {"sft": {"recipe": str(recipe), "overrides": {"hub_token": TOKEN}}}},
    )
    run_dir = tmp_path / "run"
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert run("run", pipeline, "--output", run_dir) == 0
    assert os.environ.get("HF_TOKEN") is None  # handed to the stage, then put back
    assert (run_dir / "sft" / "checkpoint-2" / "training_args.bin").is_file()
    assert _files_holding(run_dir, TOKEN.encode()) == []
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["pipeline_recipe"]["stages"]["sft"]["overrides"]["hub_token"] == "***"
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err

    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the other way: only in the environment
    by_hand = tmp_path / "by_hand"
    assert run("sft", "--config", recipe, "--output_dir", by_hand, "--hub_token", TOKEN) == 0
    assert _files_holding(by_hand, TOKEN.encode()) == []
    record = json.loads((by_hand / "run_record.json").read_text())
    assert record["config"]["training"]["hub_token"] in (None, "***")
    assert record["config"]["script"].get("tokenizer_name_or_path", "kept") != "***"  # not a secret


# --- every bad input is a clear error ---------------------------------------------------------------


def _bad_data_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (data file, words the error must hold)."""
    good = {
        "messages": [{"role": "user", "content": "What is 1 plus 2?"}, {"role": "assistant", "content": "3"}]
    }
    cases = {}
    p = tmp / "latin1.jsonl"
    p.write_bytes(json.dumps(good).encode() + b"\n" + '{"text": "caf\xe9"}'.encode("latin-1") + b"\n")
    cases["non-UTF-8 JSONL"] = (p, "line 2")
    p = tmp / "latin1.txt"
    p.write_bytes("fine\ncaf\xe9\n".encode("latin-1"))
    cases["non-UTF-8 text"] = (p, "line 2")
    p = tmp / "empty.jsonl"
    p.write_bytes(b"")
    cases["empty file"] = (p, "empty")
    p = tmp / "blank.jsonl"
    p.write_text("   \n\n  \n")
    cases["whitespace-only file"] = (p, "whitespace only")
    p = tmp / "bad.jsonl"
    p.write_text(json.dumps(good) + "\n{not json\n")
    cases["invalid JSON line"] = (p, "row 2")
    p = tmp / "corrupt.parquet"
    p.write_bytes(b"PAR1 this is not really parquet")
    cases["corrupt parquet"] = (p, "parquet")
    p = tmp / "wrong_field.jsonl"
    write_jsonl(p, [good, {"messages": [{"role": "user", "content": 5}]}])
    cases["wrong field type"] = (p, "row 2")
    p = tmp / "one_number.jsonl"  # the JSON loader would turn row 1's "2" into a number too and blame it
    write_jsonl(
        p, [{"prompt": "What is 1+1?", "completion": "2"}, {"prompt": "What is 2+2?", "completion": 4}]
    )
    cases["one number among strings"] = (p, "row 2, field 'completion'")
    mixed = tmp / "mixed"
    mixed.mkdir()
    write_jsonl(mixed / "train.jsonl", [good])
    (mixed / "test.csv").write_text("prompt,completion\nhi,there\n")
    cases["folder of mixed formats"] = (mixed, "mixes data formats")
    return cases


def test_bad_data_files_give_clear_errors(tiny_minigpt, tmp_path, capsys):
    cases = _bad_data_cases(tmp_path)
    clear = []
    for name, (path, words) in cases.items():
        out = tmp_path / f"out_{len(clear)}"
        rc = run(*sft_args(tiny_minigpt, path, out))
        err = capsys.readouterr().err.strip().splitlines()
        last = err[-1] if err else ""
        ok = rc == 2 and str(path) in last and words in last and not (out / "model.safetensors").exists()
        clear.append((name, ok, last))
    print("\n".join(f"{'clear' if ok else 'UNCLEAR'}: {name}: {last}" for name, ok, last in clear))
    assert all(ok for _, ok, _ in clear), [c for c in clear if not c[1]]


def test_bom_data_file_is_read(tiny_minigpt, tiny_data, tmp_path):
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + Path(tiny_data["sft"]).read_bytes())
    assert run(*sft_args(tiny_minigpt, bom, tmp_path / "out", "--max_steps", "1")) == 0


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--learning_rate", "-1e-3", "learning_rate: expected a positive number"),
        ("--learning_rate", "0", "learning_rate: expected a positive number"),
        ("--per_device_train_batch_size", "0", "per_device_train_batch_size: expected an integer >= 1"),
        ("--max_train_samples", "0", "max_train_samples: expected an integer >= 1"),
        ("--max_steps", "0", "max_steps: expected an integer >= 1, or -1"),
        ("--dtype", "float8", "argument --dtype: invalid choice: 'float8'"),
    ],
)
def test_bad_settings_stop_before_any_model_loads(tmp_path, capsys, flag, value, words):
    missing_model = tmp_path / "no_model_here"  # loading it would fail: the value check must come first
    args = sft_args(missing_model, tmp_path / "no_data.jsonl", tmp_path / "out")
    if flag in args:
        i = args.index(flag)
        del args[i : i + 2]
    args.append(f"{flag}={value}")  # "=": a negative number is not taken for a flag
    assert run(*args) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert words in last and "Traceback" not in last
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.safetensors"))


def test_ppo_response_length_zero_is_refused(tmp_path, capsys):
    assert (
        run("ppo", "--config", TINY / "ppo.yaml", "--response_length", "0", "--output_dir", tmp_path / "o")
        == 2
    )
    assert "response_length: expected an integer >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"learning_rate: [1, 2\n", "line 2"),  # unclosed list
        ("learning_rate: 1e-3\nnote: caf\xe9\n".encode("latin-1"), "line 2, column 10"),
        (b"- just\n- a list\n", "expected a mapping"),
    ],
)
def test_bad_recipe_files_name_the_line(tmp_path, capsys, content, words):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(content)
    assert run("sft", "--config", recipe) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(recipe) in last and words in last


def test_bad_pipeline_recipes(tmp_path, capsys):
    base = {"tokenizer": {"overrides": {"kind": "char"}}}
    cases = {
        "enabled as a string": (
            {"stages": {**base, "report": {"enabled": "false"}}},
            "enabled must be true or false",
        ),
        "an input from a later stage": (
            {
                "stages": {
                    **base,
                    "sft": {"recipe": str(TINY / "sft.yaml"), "overrides": {"model_name_or_path": "RUN/dpo"}},
                    "dpo": {"recipe": str(TINY / "dpo.yaml")},
                }
            },
            "the output of stage dpo, which runs after sft",
        ),
    }
    for name, (data, words) in cases.items():
        text = yaml.safe_dump(data).replace("RUN/", str(tmp_path / "run") + "/")
        pipeline = tmp_path / "p.yaml"
        pipeline.write_text(text)
        assert run("run", pipeline, "--output", tmp_path / "run") == 2, name
        assert words in capsys.readouterr().err, name
    assert not (tmp_path / "run" / "sft").exists()
    (tmp_path / "p.yaml").write_bytes(b"stages:\n  tokenizer: {kind: \xff}\n")
    assert run("run", tmp_path / "p.yaml", "--output", tmp_path / "run") == 2
    assert "line 2" in capsys.readouterr().err


def test_eval_unknown_dtype_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run("eval", "--model", tmp_path, "--output", tmp_path / "o", "--dtype", "float8")
    assert e.value.code == 2 and "invalid choice: 'float8'" in capsys.readouterr().err


def test_disk_full_is_one_clear_line(monkeypatch, capsys):
    import errno

    from alignpipe.core.errors import run_cli

    def full(_argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/run/sft/model.safetensors")

    assert run_cli(full) == 2
    assert "the disk is full while writing /data/run/sft/model.safetensors" in capsys.readouterr().err


# --- kill -9 at several points, then --resume --------------------------------------------------------


def _kill_when(cmd: list[str], ready, deadline_s: float = 240) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + deadline_s
    try:
        while not ready():
            assert proc.poll() is None, "the run ended before the kill point"
            assert time.time() < deadline, "the kill point never came"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def sft_dpo_pipeline(tiny_minigpt, tiny_data, tmp_path, lr: float = 3e-3) -> Path:
    """SFT (8 steps, a checkpoint every 2) then DPO (2 steps) on the tiny data: a run of a few seconds."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    sft_recipe = write_yaml(
        tmp_path / "sft.yaml",
        {
            "model_name_or_path": str(tiny_minigpt),
            "dataset_name": str(tiny_data["sft"]),
            "max_steps": 8,
            "learning_rate": lr,
            "max_length": 64,
            "save_strategy": "steps",
            "save_steps": 2,
            "logging_steps": 1,
            "report_to": "none",
            "use_cpu": True,
            "seed": 0,
        },
    )
    dpo_recipe = write_yaml(
        tmp_path / "dpo.yaml",
        {
            "dataset_name": str(tiny_data["preference"]),
            "max_steps": 2,
            "learning_rate": 1e-4,
            "max_length": 64,
            "save_strategy": "no",
            "report_to": "none",
            "use_cpu": True,
            "seed": 0,
        },
    )
    pipeline = write_yaml(
        tmp_path / "pipeline.yaml",
        {"stages": {"sft": {"recipe": str(sft_recipe)}, "dpo": {"recipe": str(dpo_recipe)}}},
    )
    return pipeline


def test_kill_between_steps_and_between_stages_then_resume(tiny_minigpt, tiny_data, tmp_path):
    """Killed mid-training (once step losses are logged and a checkpoint is saved) and between two stages
    (as soon as the first is done), `--resume` ends with the weights an uninterrupted run has."""
    pipeline = sft_dpo_pipeline(tiny_minigpt, tiny_data, tmp_path)
    ref = tmp_path / "uninterrupted"
    assert run("run", pipeline, "--output", ref) == 0

    cmd = lambda d: [sys.executable, "-m", "alignpipe.cli", "run", str(pipeline), "--output", str(d)]
    mid = tmp_path / "mid_step"
    log = mid / "sft" / "logs" / "sft.log"
    _kill_when(
        cmd(mid),
        lambda: (
            log.is_file()
            and "'loss'" in log.read_text(errors="ignore")
            and (mid / "sft" / "checkpoint-2").is_dir()
        ),
    )
    between = tmp_path / "between_stages"

    def sft_done():
        m = between / "manifest.json"
        return (
            m.is_file()
            and json.loads(m.read_text() or "{}").get("stages", {}).get("sft", {}).get("status") == "done"
        )

    _kill_when(cmd(between), sft_done)
    for d in (mid, between):
        assert run("run", pipeline, "--output", d, "--resume") == 0
        for name in ("sft", "dpo"):
            assert _same_weights(ref / name, d / name) < 1e-5, (d.name, name)


def _same_weights(a_dir: Path, b_dir: Path) -> float:
    a, b = load_file(a_dir / "model.safetensors"), load_file(b_dir / "model.safetensors")
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_changed_upstream_stage_redoes_its_dependents_on_resume(tiny_minigpt, tiny_data, tmp_path, capsys):
    """SFT's settings change after a finished run; `--resume` redoes SFT and then DPO (whose input changed)
    and ends with what a fresh run of the new settings gives, not with the old DPO model."""
    run_dir = tmp_path / "run"
    old = sft_dpo_pipeline(tiny_minigpt, tiny_data, tmp_path / "old")
    assert run("run", old, "--output", run_dir) == 0
    old_dpo = (run_dir / "dpo" / "model.safetensors").read_bytes()
    new = sft_dpo_pipeline(tiny_minigpt, tiny_data, tmp_path / "new", lr=1e-3)
    capsys.readouterr()
    assert run("run", new, "--output", run_dir, "--resume") == 0
    out = capsys.readouterr().out
    assert "sft  running it again: its settings (learning_rate) changed since it ran" in out
    assert "dpo: marked pending (its input sft is being re-run)" in out
    fresh = tmp_path / "fresh"
    assert run("run", new, "--output", fresh) == 0
    for name in ("sft", "dpo"):
        assert _same_weights(run_dir / name, fresh / name) < 1e-6, name
    assert (run_dir / "dpo" / "model.safetensors").read_bytes() != old_dpo


def test_resume_redoes_an_eval_of_a_model_that_changed(tiny_minigpt, tiny_data, tmp_path, capsys):
    """An eval.json is kept on --resume only when it is of the very model and settings: after SFT's settings
    change, the evaluations of SFT and DPO (whose input changed) are done again, not kept."""
    pipeline = sft_dpo_pipeline(tiny_minigpt, tiny_data, tmp_path / "old")
    spec = yaml.safe_load(pipeline.read_text())
    spec["stages"]["eval"] = {"suite": str(TINY / "eval_suite.yaml"), "overrides": {"no-report": True}}
    write_yaml(pipeline, spec)
    run_dir = tmp_path / "run"
    assert run("run", pipeline, "--output", run_dir) == 0
    before = (run_dir / "eval" / "dpo" / "eval.json").read_text()
    assert run("run", pipeline, "--output", run_dir, "--resume") == 0  # nothing changed: kept
    assert "skipped (done earlier)" in capsys.readouterr().out
    new = sft_dpo_pipeline(tiny_minigpt, tiny_data, tmp_path / "new", lr=1e-3)
    spec["stages"]["sft"]["recipe"] = yaml.safe_load(new.read_text())["stages"]["sft"]["recipe"]
    write_yaml(pipeline, spec)
    assert run("run", pipeline, "--output", run_dir, "--resume") == 0
    out = capsys.readouterr().out
    assert "eval dpo: its eval.json is of another model or settings; evaluating again" in out
    assert "kept (eval.json" not in out
    after = json.loads((run_dir / "eval" / "dpo" / "eval.json").read_text())
    old_ppl = json.loads(before)["metrics"]["perplexity"]
    assert after["metrics"]["perplexity"] != old_ppl  # the eval is of the new DPO model
    assert (run_dir / "eval" / "dpo" / MARK).is_file()
