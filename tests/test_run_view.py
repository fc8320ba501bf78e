"""What `alignpipe run` shows: plain lines, one per event, when stdout is not a terminal, with each stage's own
output (Trainer dicts, progress bars, warnings, load reports) in its log file only, unless --verbose; the live
table's rendering; the progress callback's step counts; `--report-to tensorboard` logging the same losses as
trainer_state.json."""

import contextlib
import io
import json
import re
import time
import warnings
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from alignpipe import cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.run import recipe as run_recipe
from alignpipe.run.view import RunView, StageState, headline, render


def alignpipe(*argv) -> int:
    return cli.main(["run", *map(str, argv)])


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sft_reward_pipeline(tmp_path: Path, model: Path, data: dict, sft_steps: int = 8, **sft) -> Path:
    """SFT (a Trainer progress bar on: it must stay in the log) then a reward model (its new `score` head makes
    Transformers print a load report): a run of a few seconds on the tiny model and data."""
    common = {"max_length": 64, "logging_steps": 1, "save_strategy": "no", "report_to": "none", "seed": 0}
    sft_recipe = write_yaml(
        tmp_path / "sft.yaml",
        {
            "model_name_or_path": str(model),
            "dataset_name": str(data["sft"]),
            "max_steps": sft_steps,
            "disable_tqdm": False,
            **common,
            **sft,
        },
    )
    reward_recipe = write_yaml(
        tmp_path / "reward.yaml",
        {"dataset_name": str(data["preference"]), "max_steps": 4, "disable_tqdm": True, **common},
    )
    stages = {"sft": {"recipe": str(sft_recipe)}, "reward": {"recipe": str(reward_recipe)}}
    return write_yaml(tmp_path / "pipeline.yaml", {"stages": stages})


@pytest.fixture(scope="module")
def plain_run(tiny_minigpt, tiny_data, tmp_path_factory):
    """sft + reward with stdout not a terminal; while SFT runs it raises a Python warning, logs a Transformers
    warning and an alignpipe warning; every step the progress callback reports is recorded."""
    from alignpipe.core.log import warn
    from alignpipe.training import stage

    tmp = tmp_path_factory.mktemp("view")
    pipeline = sft_reward_pipeline(tmp, tiny_minigpt, tiny_data)
    steps = []
    train_step, match = RunView.train_step, stage.match_trainable_dtype

    def noisy(model):
        if stage._record.stage == "sft":
            from transformers.utils import logging as hf_logging

            warnings.warn("test-warning: a deprecated setting", FutureWarning)
            hf_logging.get_logger("transformers.modeling_utils").warning(
                "test LOAD REPORT: score.weight MISSING"
            )
            warn("test alignpipe warning")
        return match(model)

    def recording(view, name, step, max_steps):
        steps.append((name, step, max_steps))
        train_step(view, name, step, max_steps)

    out, err = io.StringIO(), io.StringIO()
    start = time.time()
    with (
        pytest.MonkeyPatch.context() as mp,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("default")  # pytest's configuration ignores FutureWarning
        mp.setattr(stage, "match_trainable_dtype", noisy)
        mp.setattr(RunView, "train_step", recording)
        rc = alignpipe(pipeline, "--output", tmp / "run")
    return {
        "run": tmp / "run",
        "rc": rc,
        "out": out.getvalue(),
        "err": err.getvalue(),
        "steps": steps,
        "seconds": time.time() - start,
    }


def test_plain_lines_one_per_event(plain_run):
    print(f"sft + reward, plain lines: {plain_run['seconds']:.1f}s")
    assert plain_run["rc"] == 0, plain_run["out"] + plain_run["err"]
    out, run = plain_run["out"], plain_run["run"]
    for noise in ("{'loss'", "it/s", "examples/s", "Warning", "LOAD REPORT", "score.weight", "Traceback"):
        assert noise not in out + plain_run["err"], noise
    assert plain_run["err"].strip() == ""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    events = [ln for ln in lines if ln.startswith("[")]
    assert events[0] == f"[1/2] sft     running; log: {run / 'sft' / 'logs' / 'sft.log'}"
    progress = [ln for ln in events if ln.startswith("[1/2] sft     step ")]
    assert [re.search(r"step (\d+)/8", ln).group(1) for ln in progress] == [str(i) for i in range(1, 9)]
    assert all(re.search(r"\(\d+%\)  loss \d+\.\d{3}  elapsed [\d.]+s, ETA [\d.]+s$", ln) for ln in progress)
    sft_done = [ln for ln in events if ln.startswith("[1/2] sft     done in ")]
    assert len(sft_done) == 1 and re.search(r"; held-out loss \d+\.\d{3}$", sft_done[0])
    reward_done = [ln for ln in events if ln.startswith("[2/2] reward  done in ")]
    assert len(reward_done) == 1 and re.search(r"; held-out accuracy \d\.\d{3}$", reward_done[0])
    assert len([ln for ln in events if ln.startswith("[2/2] reward  step ")]) == 4
    assert len(events) == 2 * 2 + 8 + 4  # running and done for each stage, one line per tenth of the steps
    assert (
        "      warning: test alignpipe warning" in lines
    )  # alignpipe's own warnings still reach the console


def test_stage_logs_keep_the_full_output(plain_run):
    sft = (plain_run["run"] / "sft" / "logs" / "sft.log").read_text()
    for text in (
        "{'loss'",
        "it/s",
        "FutureWarning: test-warning",
        "test LOAD REPORT",
        "test alignpipe warning",
    ):
        assert text in sft, text
    reward = (plain_run["run"] / "reward" / "logs" / "reward.log").read_text()
    assert "LOAD REPORT" in reward and "score.weight" in reward
    assert "test-warning" not in reward and "FutureWarning: test-warning" not in plain_run["out"]


def test_progress_callback_counts_every_step(plain_run):
    steps = plain_run["steps"]
    assert [s for s in steps if s[0] == "sft"] == [("sft", i, 8) for i in range(1, 9)]
    assert [s for s in steps if s[0] == "reward"] == [("reward", i, 4) for i in range(1, 5)]
    state = json.loads((plain_run["run"] / "sft" / "trainer_state.json").read_text())
    assert state["max_steps"] == 8 and state["global_step"] == 8


def test_verbose_shows_the_stage_output(tiny_minigpt, tiny_data, tmp_path, capsys):
    pipeline = sft_reward_pipeline(tmp_path, tiny_minigpt, tiny_data, sft_steps=2)
    assert alignpipe(pipeline, "--output", tmp_path / "run", "--stages", "sft", "--verbose") == 0
    captured = capsys.readouterr()
    assert "{'loss'" in captured.out and "it/s" in captured.err  # the Trainer's dicts and its progress bar
    assert "[1/2] sft     step 2/2 (100%)" in captured.out  # the run's own lines too
    assert "{'loss'" in (tmp_path / "run" / "sft" / "logs" / "sft.log").read_text()


def test_failed_stage_prints_its_reason(tiny_minigpt, tiny_data, tmp_path, capsys):
    pipeline = sft_reward_pipeline(tmp_path, tiny_minigpt, tiny_data, learning_rate=-1.0)
    assert alignpipe(pipeline, "--output", tmp_path / "run", "--stages", "sft") == 2
    captured = capsys.readouterr()
    failed = [ln for ln in captured.out.splitlines() if ln.startswith("[1/2] sft     FAILED after ")]
    assert len(failed) == 1 and "learning_rate: expected a positive number" in failed[0], captured.out
    assert "Traceback" not in captured.out + captured.err
    assert captured.err.strip().splitlines()[-1].startswith("alignpipe: error: stage sft failed: ")


def test_report_to_tensorboard_logs_the_trainer_losses(tiny_minigpt, tiny_data, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pipeline = sft_reward_pipeline(tmp_path, tiny_minigpt, tiny_data, sft_steps=6)
    run = tmp_path / "tb"
    assert alignpipe(pipeline, "--output", run, "--stages", "sft", "--report-to", "tensorboard") == 0
    recipe = yaml.safe_load((run / "sft" / "recipe.yaml").read_text())
    assert recipe["report_to"] == "tensorboard" and recipe["run_name"] == "tb/sft"
    events = EventAccumulator(str(run / "sft" / "runs"))
    events.Reload()
    logged = {e.step: e.value for e in events.Scalars("train/loss")}
    state = json.loads((run / "sft" / "trainer_state.json").read_text())
    losses = {h["step"]: h["loss"] for h in state["log_history"] if "loss" in h}
    assert sorted(logged) == sorted(losses) == list(range(1, 7))
    assert all(logged[s] == pytest.approx(losses[s], rel=1e-6) for s in losses)  # float32 in the event file
    capsys.readouterr()
    assert (
        alignpipe(pipeline, "--output", run, "--stages", "sft") == 0
    )  # where it reports is not its identity
    assert "[1/2] sft     skipped (done earlier)" in capsys.readouterr().out


def test_report_to_reaches_every_training_stage(tmp_path, monkeypatch):
    for name in ("sft", "dpo"):
        write_yaml(tmp_path / f"{name}.yaml", {"learning_rate": 1e-3, "report_to": "none"})
    stages = {
        "sft": {"recipe": "sft.yaml"},
        "dpo": {"recipe": "dpo.yaml", "overrides": {"report_to": "none"}},
    }
    plain = run_recipe.load_pipeline(write_yaml(tmp_path / "a.yaml", {"stages": stages}))
    reporting = run_recipe.load_pipeline(
        write_yaml(tmp_path / "b.yaml", {"report_to": "wandb", "stages": stages})
    )
    run = tmp_path / "myrun"
    sft = run_recipe.resolve(reporting, "sft", run)
    assert sft.recipe["report_to"] == "wandb" and sft.recipe["run_name"] == "myrun/sft"
    assert sft.env == {"TENSORBOARD_LOGGING_DIR": str(run / "sft" / "runs")}
    assert sft.digest() == run_recipe.resolve(plain, "sft", run).digest()  # turning it on re-runs nothing
    dpo = run_recipe.resolve(reporting, "dpo", run)
    assert dpo.recipe["report_to"] == "none" and "run_name" not in dpo.recipe  # the stage's override wins
    with pytest.raises(AlignpipeError, match="report_to must be a name or a list"):
        run_recipe.load_pipeline(write_yaml(tmp_path / "c.yaml", {"report_to": 3, "stages": stages}))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(AlignpipeError, match="needs the wandb package: pip install wandb"):
        run_recipe.check_reporters(["wandb"])


def test_live_table_renders_each_status():
    now = 1000.0
    states = [
        StageState("pretrain", "done", started=900.0, duration=15.7, text="held-out loss 5.961"),
        StageState(
            "sft", "running", started=990.0, step=4, max_steps=8, train_started=992.0, figure=("loss", 5.93)
        ),
        StageState("reward", "pending"),
        StageState("ppo", "skipped", text="not selected with --stages"),
        StageState("dpo", "failed", started=950.0, duration=1.2, text="--beta: not-a-number"),
    ]
    console = Console(file=io.StringIO(), force_terminal=True, width=120, record=True)
    console.print(render(states, now))
    lines = [ln.rstrip() for ln in console.export_text().splitlines()]
    assert re.match(r"\[1/5\]\s+pretrain\s+done\s+15\.7s\s+held-out loss 5\.961$", lines[0])
    bar = "━" * 12 + "╺" + "━" * 11  # 4 of 8 steps: half of the 24 cells, then the rest (another colour)
    assert re.match(rf"\[2/5\]\s+sft\s+running\s+10\.0s  {bar} 4/8  loss 5\.930  ETA 8\.0s$", lines[1])
    assert re.match(r"\[3/5\]\s+reward\s+pending$", lines[2])
    assert re.match(r"\[4/5\]\s+ppo\s+skipped\s+not selected with --stages$", lines[3])
    assert re.match(r"\[5/5\]\s+dpo\s+failed\s+1\.2s\s+--beta: not-a-number$", lines[4])


@pytest.mark.parametrize("order", ["trainer", "ppo"])
def test_plain_progress_lines_pair_a_step_with_its_loss(order):
    """Trainer calls on_step_end then on_log for a step; PPOTrainer on_log then on_step_end."""
    out = io.StringIO()
    view = RunView(["ppo"], out=out)
    view.started("ppo")
    view.train_begin("ppo", 0, 20)
    for step in range(1, 21):
        logs = {"loss": float(step)} if step % 5 == 0 else {}
        if order == "ppo":
            view.train_log("ppo", step, logs)
        view.train_step("ppo", step, 20)
        if order == "trainer":
            view.train_log("ppo", step, logs)
    view.train_end("ppo")
    progress = [ln for ln in out.getvalue().splitlines() if " step " in ln]
    assert len(progress) == 10  # one per tenth of the steps
    pairs = [re.search(r"step (\d+)/20 \(\d+%\)(?:  loss (\d+)\.000)?", ln).groups() for ln in progress]
    assert pairs == [(str(s), str(s // 5 * 5) if s >= 5 else None) for s in range(2, 21, 2)]


def test_headlines(tmp_path):
    (tmp_path / "ppo").mkdir()
    record = {"metrics": {"heldout/score_ppo": -0.4341, "train_loss": 1.0}}
    (tmp_path / "ppo" / "run_record.json").write_text(json.dumps(record))
    assert headline(tmp_path, "ppo") == "held-out reward -0.434"
    assert headline(tmp_path, "sft") is None and headline(tmp_path, "tokenizer") is None
    for model, accuracy in (("sft", 0.25), ("dpo", 0.5)):
        (tmp_path / "eval" / model).mkdir(parents=True)
        (tmp_path / "eval" / model / "eval.json").write_text(
            json.dumps({"summary": {"task_accuracy": accuracy}})
        )
    assert headline(tmp_path, "eval", ["sft", "dpo", "missing"]) == "task accuracy: sft 0.250, dpo 0.500"
