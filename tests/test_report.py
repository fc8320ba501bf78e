"""`alignpipe report RUN_DIR` (and each eval's report): tables, highlights, warnings, plots, and the HTML in a browser."""

import json
import re
import shutil
import subprocess

import pytest
import torch
import yaml

import alignpipe  # noqa: F401
from alignpipe.cli import main as cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.eval.report.run import collect, length_warnings, metric_cells, metric_table
from alignpipe.inference.modeling import align_with_tokenizer
from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM, MiniGPTForSequenceClassification

SUITE = {
    "name": "tiny",
    "seed": 0,
    "generation": {"greedy": True, "max_new_tokens": 10, "batch_size": 8},
    "perplexity": {"source": "default", "max_documents": 2, "window": 64},
    "prompts": {"source": "default", "n": 8},
    "win_rate": True,
    "reward_accuracy": {"source": "default", "n": 8},
    "kl": {"n_prompts": 4},
}


def _config(tokenizer, **kw):
    return MiniGPTConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq=128, **kw)


def _save(model, tokenizer, folder, log_history, metrics):
    align_with_tokenizer(model, tokenizer)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": log_history}))
    (folder / "run_record.json").write_text(
        json.dumps({"schema": 1, "stage": folder.name, "duration_s": 1.5, "metrics": metrics})
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_tokenizer):
    """A fake run: tiny sft/dpo policies, a reward model, a PPO record without a model, their evals, the report."""
    run = tmp_path_factory.mktemp("run")
    steps = range(1, 9)
    torch.manual_seed(0)
    _save(
        MiniGPTForCausalLM(_config(tiny_tokenizer)),
        tiny_tokenizer,
        run / "sft",
        [{"step": s, "loss": 3 / s} for s in steps],
        {"eval_loss": 1.1},
    )
    torch.manual_seed(1)
    _save(
        MiniGPTForCausalLM(_config(tiny_tokenizer)),
        tiny_tokenizer,
        run / "dpo",
        [
            {"step": s, "loss": 0.7 - s / 40, "rewards/accuracies": 0.5 + s / 20, "rewards/margins": s / 10}
            for s in steps
        ],
        {"eval_loss": 0.6},
    )
    torch.manual_seed(2)
    _save(
        MiniGPTForSequenceClassification(_config(tiny_tokenizer, num_labels=1)),
        tiny_tokenizer,
        run / "reward",
        [{"step": s, "loss": 0.7 - s / 50, "accuracy": 0.5 + s / 25} for s in steps],
        {"eval_accuracy": 0.625},
    )
    (run / "ppo").mkdir()
    (run / "ppo" / "trainer_state.json").write_text(
        json.dumps(
            {
                "log_history": [
                    {
                        "step": s,
                        "objective/scores": s / 8,
                        "objective/kl": s / 100,
                        "loss/policy_avg": -s / 100,
                    }
                    for s in steps
                ]
            }
        )
    )
    (run / "ppo" / "run_record.json").write_text(
        json.dumps(
            {
                "schema": 1,
                "stage": "ppo",
                "metrics": {
                    "heldout/score_ppo": 1.25,
                    "heldout/score_sft": 0.5,
                    "heldout/accuracy_ppo": 0.4,
                    "heldout/accuracy_sft": 0.3,
                    "heldout/kl": 7.5,
                    "kl_bound": 5.0,
                    "kl_within_bound": False,
                },
            }
        )
    )
    (run / "manifest.json").write_text(
        json.dumps(
            {
                "stages": [
                    {"name": n, "status": "done", "duration_s": 2.0} for n in ("sft", "reward", "ppo", "dpo")
                ]
            }
        )
    )
    suite = run / "suite.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    for stage in ("sft", "dpo"):  # reference and reward model found beside the model
        assert (
            cli(
                [
                    "eval",
                    "--model",
                    str(run / stage),
                    "--suite",
                    str(suite),
                    "--output",
                    str(run / "eval" / stage),
                ]
            )
            == 0
        )
    assert (
        cli(
            [
                "eval",
                "--reward-model",
                str(run / "reward"),
                "--suite",
                str(suite),
                "--output",
                str(run / "eval" / "reward"),
            ]
        )
        == 0
    )
    return run


@pytest.fixture(scope="module")
def report(run_dir):
    assert cli(["report", str(run_dir)]) == 0
    return run_dir / "report"


def test_eval_finds_the_runs_reference_and_reward_model(run_dir):
    dpo = json.loads((run_dir / "eval" / "dpo" / "eval.json").read_text())
    assert dpo["ref"]["path"] == str(run_dir / "sft") and dpo["ref_source"] == "auto: the run's sft stage"
    assert dpo["reward_model"]["path"] == str(run_dir / "reward")
    assert {"win_rate", "kl", "verbosity", "perplexity"} <= set(dpo["metrics"])
    sft = json.loads((run_dir / "eval" / "sft" / "eval.json").read_text())
    assert sft["ref"] is None and "win_rate" in sft["skipped"] and "kl" in sft["skipped"]


def test_report_files_and_printed_path(report, run_dir, capsys):
    assert cli(["report", str(run_dir), "--output", str(run_dir / "report2")]) == 0
    assert capsys.readouterr().out.strip().endswith(str((run_dir / "report2" / "report.html").resolve()))
    names = {p.name for p in report.iterdir()}
    assert {
        "report.md",
        "report.html",
        "length_hist.png",
        "reward_vs_length.png",
        "curves_sft.png",
        "curves_dpo.png",
        "curves_reward.png",
        "curves_ppo.png",
    } <= names
    md = (report / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert linked and all((report / name).is_file() for name in linked)
    html = (report / "report.html").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(sources) == len(linked) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_report_content(report):
    md = (report / "report.md").read_text()
    assert "| metric | sft | reward | ppo | dpo |" in md
    reward_row = next(line for line in md.splitlines() if line.startswith("| reward accuracy"))
    cells = [c.strip() for c in reward_row.strip("|").split("|")]
    assert cells[1] == "–" and cells[2] != "–" and cells[4] == "–"  # the reward model's own column
    assert "PPO on held-out prompts" in md and "| reward-model score | 1.250 | 0.500 | +0.75 |" in md
    assert "held-out KL 7.500 exceeds kl_bound 5.000" in md
    assert "vs SFT" in md  # deltas against SFT
    assert "| sft | done | 2.0 |" in md  # the manifest


def test_training_curve_panels():
    from alignpipe.eval.report.plots import curve_panels

    history = [
        {"step": 1, "loss": 1.0, "accuracy": 0.5},
        {"step": 2, "loss": 0.5, "eval_loss": 0.7},
        {"step": 2, "objective/kl": float("nan")},
    ]
    panels = dict(curve_panels(history))
    assert panels["loss"] == {"loss": ([1, 2], [1.0, 0.5]), "eval_loss": ([2], [0.7])}
    assert panels["reward-model accuracy"] == {"accuracy": ([1], [0.5])}
    assert "PPO KL to reference" not in panels  # NaN only


def _fake_eval(folder, summary, ref=None, warnings=()):
    folder.mkdir(parents=True)
    (folder / "eval.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "model": {"path": str(folder)},
                "ref": {"path": ref} if ref else None,
                "reward_model": None,
                "summary": summary,
                "per_sample": {},
                "warnings": list(warnings),
            }
        )
    )


def test_best_values_deltas_and_length_creep(tmp_path):
    run = tmp_path / "run"
    _fake_eval(run / "eval" / "sft", {"perplexity": 10.0, "task_accuracy": 0.5, "mean_tokens": 20.0})
    _fake_eval(
        run / "eval" / "dpo",
        {"perplexity": 12.0, "task_accuracy": 0.6, "mean_tokens": 30.0, "lc_win_rate": 50.0},
        ref="/elsewhere",
        warnings=["dpo's own warning"],
    )
    _fake_eval(
        run / "eval" / "ppo",
        {"perplexity": 11.0, "task_accuracy": 0.7, "mean_tokens": 22.0, "lc_win_rate": 60.0},
        ref="/elsewhere",
    )
    stages = collect(run)
    assert [s.name for s in stages] == ["sft", "ppo", "dpo"]
    columns, table = metric_table(stages)
    rows = {row[0].split(" ")[0]: row[1:] for row in metric_cells(stages, columns, table)}
    sft, ppo, dpo = rows["perplexity"]
    assert sft.best and not ppo.best and not dpo.best  # lowest perplexity
    assert dpo.note == "+2 vs SFT" and dpo.tone == "bad"
    sft, ppo, dpo = rows["task"]
    assert ppo.best and ppo.note == "+0.2 vs SFT" and ppo.tone == "good"
    sft, ppo, dpo = rows["mean"]
    assert not any(c.best for c in (sft, ppo, dpo))  # length is neither better nor worse
    assert "1.50x SFT: length crept up" in dpo.note and dpo.tone == "bad" and "crept" not in ppo.note
    warnings = length_warnings(stages)
    assert len(warnings) == 1 and warnings[0].startswith("dpo vs SFT") and "1.50x" in warnings[0]


def test_ties_are_not_highlighted(tmp_path):
    run = tmp_path / "run"
    _fake_eval(run / "eval" / "sft", {"task_accuracy": 0.5})
    _fake_eval(run / "eval" / "dpo", {"task_accuracy": 0.5})
    stages = collect(run)
    (row,) = metric_cells(stages, *metric_table(stages))
    assert not row[1].best and not row[2].best


def test_report_errors(tmp_path, capsys):
    assert cli(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli(["report", str(tmp_path / "empty")]) == 2
    assert "no stage outputs" in capsys.readouterr().err
    (tmp_path / "old" / "eval" / "sft").mkdir(parents=True)
    (tmp_path / "old" / "eval" / "sft" / "eval.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(AlignpipeError, match="schema_version 99"):
        collect(tmp_path / "old")


def _chromium() -> str | None:
    return next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )


MARKER_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const decoded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.body.setAttribute("data-images", decoded + "/" + images.length);
});
</script></body>"""


@pytest.mark.parametrize("which", ["report/report.html", "eval/dpo/report.html"])
def test_html_opens_in_headless_chromium_with_its_images(report, run_dir, tmp_path, which):
    browser = _chromium()
    if browser is None:
        pytest.skip("no headless Chromium here (Debian: apt-get install -y chromium)")
    page = tmp_path / "page.html"
    html = (run_dir / which).read_text()
    n_images = html.count("<img ")
    assert n_images >= 2
    page.write_text(html.replace("</body>", MARKER_SCRIPT))
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'data-images="(\d+)/(\d+)"', result.stdout)
    assert found, f"no marker in the DOM; stderr: {result.stderr[-2000:]}"
    assert int(found.group(1)) == int(found.group(2)) == n_images
