"""`alignpipe run`: one command runs a whole pipeline recipe, stage after stage, into one run directory.

    alignpipe run [PIPELINE.yaml] [--output DIR] [--stages a,b] [--resume] [--accelerate-config FILE]
                  [--report-to trackio|tensorboard|wandb|none] [--verbose]

PIPELINE.yaml (default: recipes/minigpt/pipeline.yaml of this project) names the stages and, for
each training stage, its own stage recipe plus overrides (flag -> value):

    output_dir: runs/minigpt          # the run directory (RUN_DIR); --output wins
    seed: 42                          # optional: every training stage's seed (a stage's overrides win)
    report_to: tensorboard            # optional: every training stage's report_to (--report-to wins)
    stages:                           # always run in the stage registry's order (alignpipe.core.registry): tokenizer,
      pretrain:                       # pretrain, sft, reward, ppo, dpo, grpo, rloo, guard, eval, report;
                                      # leave out the ones you do not want
        recipe: pretrain.yaml         # relative to PIPELINE.yaml
        overrides: {max_steps: 2000}
      sft: {recipe: sft.yaml}         # `enabled: false` leaves a stage out
      reward: {recipe: reward.yaml}
      ppo: {recipe: ppo.yaml}
      dpo: {recipe: dpo.yaml}
      grpo:
        recipe: grpo.yaml
        inputs: {model_name_or_path: dpo}   # wire an input from another earlier stage than INPUTS' (sft)
      guard: {recipe: guard.yaml}     # a prompt classifier (alignpipe guard) that screens harmful requests
      eval: {suite: default}          # a packaged suite or a suite .yaml (relative to PIPELINE.yaml); also
                                      # models, ref, reward_model, overrides (extra `alignpipe eval` flags),
                                      # guard (`guard`: the guard stage in front of every model, or a folder)
      report: {}

Each stage's inputs default to the outputs of the earlier stages of the pipeline (`INPUTS`): SFT
starts from the pretrained model, the reward model from SFT, PPO's policy and reference from SFT
and its reward and value models from the reward stage, DPO's policy and reference from SFT, GRPO's and
RLOO's policy from SFT and their reward model (when they name one) from the reward stage; eval
scores every model stage against the SFT model with the reward model, into RUN_DIR/eval/<stage>/ (with
`guard: guard`, each behind the run's guard, at the threshold its stage chose, and alone: `unguarded`);
the report reads RUN_DIR. Precedence: stage recipe < wired inputs < pipeline seed < overrides;
`output_dir` is always RUN_DIR/<stage>. The resolved recipe is written to RUN_DIR/<stage>/recipe.yaml
and the stage runs as `alignpipe <stage> --config RUN_DIR/<stage>/recipe.yaml`, so any stage can
be re-run by hand.

Behaviour (the run directory layout and manifest schema are in docs/run_layout.md):
- RUN_DIR/manifest.json records every stage's status (pending, running, done, failed, skipped),
  resolved config, times and error; it is rewritten atomically after every change.
- A stage whose status is done, whose outputs are present and whose identity (resolved config and
  its inputs' output ids, recorded in RUN_DIR/<stage>/.alignpipe.json) is unchanged is skipped; one
  whose settings or inputs changed runs again. When a stage does run, the done stages that depend on
  it become pending again (their inputs changed).
- `run` only writes into a new, empty or alignpipe run directory, never the project tree, and only
  deletes stage folders it made (they hold .alignpipe.json).
- A stage that was interrupted or failed restarts from scratch (its folder is cleared), unless
  `--resume`: then it continues from its newest whole checkpoint-* made under the same identity (the
  stage scripts resume by themselves; an incomplete checkpoint, cut off while saving, is removed first,
  a corrupt one is named and passed over). TRL's PPOTrainer cannot resume and starts over.
- A failing stage is marked failed with its reason; the stages after it do not run and the command
  exits with code 2 and a one-line reason. Its full output is in RUN_DIR/<stage>/logs/<stage>.log.
- Without --accelerate-config every stage runs in this process (its `main(argv)`); with it, each
  training stage runs as `accelerate launch --config_file FILE pipeline/stages/<stage>.py --config ...`
  in a subprocess (tokenizer, eval and report stay in this process).
- One `alignpipe run` at a time per run directory (an advisory lock on RUN_DIR/.lock).
- On a terminal the run is one live table (`run.view`): each stage's status and duration, the running stage's
  steps, loss and time left, each finished stage's held-out figure; elsewhere (a pipe, CI) one plain line per
  event. Each stage's own output (Trainer logs, progress bars, warnings) goes to its log file, and to the
  console as well only with --verbose.
- `report_to` (--report-to): every training stage reports to trackio, tensorboard or wandb as run
  `<run dir name>/<stage>`; tensorboard's event files go to RUN_DIR/<stage>/runs. A stage's own overrides win;
  it is not part of a stage's identity (turning it on re-runs nothing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import yaml

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import write_json, write_text
from alignpipe.core.log import echo
from alignpipe.core.runrecord import now
from alignpipe.run.launch import launch_command, run_in_process, run_subprocess
from alignpipe.run.manifest import (
    MARK,
    Manifest,
    check_run_dir,
    complete_checkpoint,
    digest,
    outputs_present,
    read_mark,
    report_file,
    run_lock,
    secrets_in_environment,
    weight_files,
    weights_problem,
    write_mark,
)
from alignpipe.run.recipe import (
    DEFAULT_PIPELINE,
    REPORTERS,
    ROOT,
    TRAINING,
    Pipeline,
    Resolved,
    StageFailed,
    check_reporters,
    dependencies,
    load_pipeline,
    relative_to_run,
    resolve,
)
from alignpipe.run.view import RunView, fmt_duration, headline


def _flags(argv: list[str]) -> dict[str, str | bool]:
    """`--name value` / `--name` pairs of an argv (the stage's settings given as flags), by name."""
    out: dict[str, str | bool] = {}
    for i, word in enumerate(argv):
        if word.startswith("--"):
            following = argv[i + 1] if i + 1 < len(argv) else None
            out[word[2:]] = following if following is not None and not following.startswith("--") else True
    return out


# --- the run ---------------------------------------------------------------------------------------


_say = echo


def _process_seconds() -> float:
    """Seconds since this process started (its imports included)."""
    import psutil  # accelerate's dependency

    return time.time() - psutil.Process().create_time()


class Runner:
    def __init__(
        self,
        pipeline: Pipeline,
        run_dir: Path,
        *,
        selected: list[str] | None,
        resume: bool,
        accelerate_config: Path | None,
        command: list[str],
        view: RunView | None = None,
        verbose: bool = False,
    ):
        self.pipeline, self.run_dir, self.resume = pipeline, run_dir, resume
        self.selected = selected or [n for n in pipeline.stages if pipeline.stages[n].enabled]
        self.accelerate_config = accelerate_config
        self.manifest = Manifest.open(run_dir, pipeline, command)
        self.notes: dict[str, str] = {}
        self.view = view if view is not None else RunView(list(pipeline.stages))
        self.verbose = verbose  # the stages' own output on the console too

    def run(self) -> tuple[str, str] | None:
        """Run the selected stages in order; return (stage, reason) of a failure, else None."""
        failure = None
        for name in self.pipeline.stages:
            spec, entry = self.pipeline.stages[name], self.manifest.stage(name)
            if failure is not None:
                continue
            if not spec.enabled or name not in self.selected:
                if entry["status"] != "done":
                    why = (
                        "disabled in the pipeline recipe"
                        if not spec.enabled
                        else "not selected with --stages"
                    )
                    self.manifest.set(name, status="skipped", error=None, note=why)
                    self.notes[name] = why
                    self.view.skipped(name, why)
                continue
            try:
                resolved = resolve(self.pipeline, name, self.run_dir)
            except StageFailed as e:
                failure = self.fail(name, str(e), 0.0)
                continue
            ident = self.identity(name, resolved)
            if entry["status"] == "done" and outputs_present(self.pipeline, name, self.run_dir):
                mark = read_mark(self.run_dir / name)
                damaged = weights_problem(self.run_dir / name, (mark or {}).get("weights"))
                same = mark is not None and mark.get("identity") in (
                    ident,
                    self.legacy_identity(name, resolved),
                )
                if same and damaged is None:
                    self.notes[name] = "done earlier"
                    self.view.skipped(name, "done earlier")
                    continue
                if damaged:
                    why = f"its output changed since it finished: {damaged}"
                elif mark:
                    why = "its " + self.what_changed(name, mark, resolved) + " changed since it ran"
                else:
                    why = "nothing records what made it"
                self.view.say(name, f"running it again: {why}")
            failure = self.run_stage(name, resolved, ident)
        return failure

    def output_id(self, name: str) -> str | None:
        """What identifies stage `name`'s finished output: set when it last finished (None if it has not)."""
        mark = read_mark(self.run_dir / name)
        return mark.get("output") if mark else None

    def identity(self, name: str, resolved: Resolved) -> str:
        """The digest of what stage `name` computes from: its resolved config and its inputs' output ids.
        A checkpoint, output or eval result made under another identity is never resumed or kept."""
        return digest({"config": resolved.digest(self.run_dir), "inputs": self.input_ids(name)})

    def input_ids(self, name: str) -> dict[str, str | None]:
        """The output ids of the stages `name` reads."""
        return {dep: self.output_id(dep) for dep in dependencies(self.pipeline, name)}

    def legacy_identity(self, name: str, resolved: Resolved) -> str:
        return digest({"config": resolved.legacy_digest(), "inputs": self.input_ids(name)})

    def what_changed(self, name: str, mark: dict, resolved: Resolved) -> str:
        """Which of a stage's settings or inputs differ from those it last ran with (its mark's `made_from`)."""
        old = mark.get("made_from")
        if not old:
            return "settings or inputs"
        new = self.made_from(name, resolved)
        inputs = [
            d
            for d in sorted(set(old["inputs"]) | set(new["inputs"]))
            if old["inputs"].get(d) != new["inputs"].get(d)
        ]
        was, now_ = old["config"].get("recipe") or {}, new["config"].get("recipe") or {}
        keys = [k for k in sorted(set(was) | set(now_)) if was.get(k) != now_.get(k)]
        a, b = _flags(old["config"].get("argv") or []), _flags(new["config"].get("argv") or [])
        keys += [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in keys]
        if old["config"].get("parts") != new["config"].get("parts"):
            keys.append("evaluations")
        said = ([f"settings ({', '.join(keys)})"] if keys else []) + (
            [f"inputs ({', '.join(f'{d} was re-run' for d in inputs)})"] if inputs else []
        )
        return " and ".join(said) or "settings or inputs"

    def made_from(self, name: str, resolved: Resolved) -> dict:
        return {"config": resolved.made_from(self.run_dir), "inputs": self.input_ids(name)}

    def part_identity(self, argv: list[str]) -> str:
        """One evaluation's identity: its argv and the output ids of the run's stages it reads."""
        used = {str(self.run_dir / d): d for d in dependencies(self.pipeline, "eval")}
        ins = {used[a]: self.output_id(used[a]) for a in argv if a in used}
        return digest({"argv": json.loads(relative_to_run(json.dumps(argv), self.run_dir)), "inputs": ins})

    def invalidate_dependents(self, name: str) -> None:
        later = list(self.pipeline.stages)[list(self.pipeline.stages).index(name) + 1 :]
        stale = {name}
        for other in later:
            if stale & set(dependencies(self.pipeline, other)):
                stale.add(other)
                if self.manifest.stage(other)["status"] == "done":
                    self.manifest.set(other, status="pending", note=f"inputs changed: {name} re-ran")
                    _say(f"      {other}: marked pending (its input {name} is being re-run)")

    def prepare_dir(self, name: str, entry: dict, ident: str) -> str | None:
        """Clear the stage folder for a fresh start, or keep it to resume when it was made under the same
        identity; name the checkpoint resumed from. Only folders this run made are ever deleted."""
        d = self.run_dir / name
        if not d.exists():
            return None
        mark = read_mark(d)
        if mark is None:
            raise StageFailed(
                f"{d} exists but alignpipe did not make it (no {MARK}); move it out of the run directory so "
                "the stage can write there"
            )
        if self.resume and name == "eval":
            return "partial outputs"  # each evaluation is kept or redone by its own identity
        if self.resume and mark is not None and mark.get("identity") == ident:
            return complete_checkpoint(d) if name in TRAINING else None
        if self.resume:
            _say(f"      {name}: its folder was made with other settings or inputs; starting it over")
        elif entry["status"] in ("running", "failed"):
            _say(
                f"      {name}: {entry['status']} earlier; starting it over"
                + (" (--resume continues from its last checkpoint)" if name in TRAINING else "")
            )
        shutil.rmtree(d)
        return None

    def check_inputs(self, name: str) -> None:
        for dep in dependencies(self.pipeline, name):
            if name == "report":
                continue  # the report shows what exists
            if not outputs_present(self.pipeline, dep, self.run_dir):
                raise StageFailed(
                    f"needs the output of {dep} ({self.run_dir / dep}), which is not done; run {dep} first"
                )

    def run_stage(self, name: str, resolved: Resolved, ident: str) -> tuple[str, str] | None:
        entry = self.manifest.stage(name)
        self.invalidate_dependents(name)
        start = time.time()
        try:
            self.check_inputs(name)
            resumed = self.prepare_dir(name, entry, ident)
        except StageFailed as e:
            return self.fail(name, str(e), time.time() - start)
        d = self.run_dir / name
        write_json(
            d / MARK,
            {"stage": name, "identity": ident, "made_from": self.made_from(name, resolved), "started": now()},
        )
        log = d / "logs" / f"{name}.log"
        launcher = "in-process"
        if resolved.recipe is not None:
            write_text(d / "recipe.yaml", yaml.safe_dump(resolved.recipe, sort_keys=False))
            if self.accelerate_config is not None:
                launcher = launch_command(name, resolved.argv, self.accelerate_config)
        self.manifest.set(
            name,
            status="running",
            started=now(),
            finished=None,
            duration_s=None,
            error=None,
            note=None,
            resumed_from=resumed,
            output_dir=str(d),
            log=str(log),
            config={**resolved.record(), "launcher": launcher},
            attempts=entry.get("attempts", 0) + 1,
        )
        self.view.started(name, (f" (resuming from {resumed})" if resumed else "") + f"; log: {log}")
        try:
            with secrets_in_environment(resolved.env):
                if name == "eval":
                    self.run_eval(resolved, log)
                elif launcher == "in-process":
                    self.run_in_process(name, resolved.argv, log)
                else:
                    run_subprocess(launcher, log, echo=self.verbose)
            if not outputs_present(self.pipeline, name, self.run_dir):
                raise StageFailed(f"finished without writing its outputs to {d}")
        except StageFailed as e:
            return self.fail(name, str(e), time.time() - start)
        except KeyboardInterrupt:
            self.fail(name, "interrupted", time.time() - start)
            raise
        duration = time.time() - start
        finished = now()
        write_mark(
            d,
            output=digest({"identity": ident, "finished": finished}),
            finished=finished,
            weights=weight_files(d),  # checked again before the stage is ever skipped
        )
        self.manifest.set(name, status="done", finished=finished, duration_s=round(duration, 2))
        self.view.finished(name, duration, headline(self.run_dir, name, list(resolved.parts)))
        return None

    def run_in_process(self, name: str, argv: list[str], log: Path) -> None:
        """Run a stage in this process: its output to its log (the console too with --verbose), its training
        progress and alignpipe's own warnings to the view."""
        with self.view.watch(name):
            run_in_process(
                name, argv, log, echo=self.verbose, on_warning=lambda text: self.view.note(f"      {text}")
            )

    def run_eval(self, resolved: Resolved, log: Path) -> None:
        entry = self.manifest.stage("eval")
        parts = entry["evaluations"] = entry.get("evaluations", {}) if self.resume else {}
        for model, argv in resolved.parts.items():
            out = Path(argv[argv.index("--output") + 1])
            ident = self.part_identity(argv)
            mark = read_mark(out)
            if self.resume and (out / "eval.json").is_file():
                if mark is not None and mark.get("identity") == ident:
                    self.view.part(
                        "eval", f"eval {model}: kept (eval.json of this very model and settings exists)"
                    )
                    continue
                self.view.part(
                    "eval", f"eval {model}: its eval.json is of another model or settings; evaluating again"
                )
            start = time.time()
            self.view.part("eval", f"eval {model}: running")
            try:
                self.run_in_process("eval", [*argv, "--overwrite"], log)  # the run owns its eval folders
            except StageFailed as e:
                parts[model] = {"status": "failed", "error": str(e)}
                self.manifest.write()
                raise StageFailed(f"evaluating {model}: {e}") from e
            write_mark(out, identity=ident)
            parts[model] = {"status": "done", "duration_s": round(time.time() - start, 2)}
            self.manifest.write()
            self.view.part("eval", f"eval {model}: done in {fmt_duration(time.time() - start)}")

    def fail(self, name: str, reason: str, duration: float) -> tuple[str, str]:
        self.manifest.set(name, status="failed", finished=now(), duration_s=round(duration, 2), error=reason)
        self.view.failed(name, duration, reason)
        return name, reason

    def summary(self) -> str:
        rows = [("stage", "status", "duration", "output")]
        for name in self.pipeline.stages:
            e = self.manifest.stage(name)
            status = e["status"] + (
                " (earlier)" if self.notes.get(name, "").startswith("done earlier") else ""
            )
            out = e.get("output_dir", "-") if e["status"] in ("done", "failed", "running") else "-"
            rows.append((name, status, fmt_duration(e.get("duration_s")), out))
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        lines = ["", "summary of " + str(self.run_dir)]
        for r in rows:
            lines.append(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
        return "\n".join(lines)


def run_pipeline(
    pipeline: Pipeline,
    run_dir: Path,
    *,
    stages: list[str] | None = None,
    resume: bool = False,
    accelerate_config: Path | None = None,
    command: list[str] | None = None,
    verbose: bool = False,
) -> Path:
    """Run `pipeline` into `run_dir`; raise AlignpipeError naming the stage that failed. Returns the manifest path.
    `verbose`: the stages' own output on the console too (plain lines instead of the live view)."""
    check_run_dir(run_dir)
    with run_lock(run_dir):
        view = RunView.for_console(list(pipeline.stages), verbose)
        runner = Runner(
            pipeline,
            run_dir,
            selected=stages,
            resume=resume,
            accelerate_config=accelerate_config,
            command=command or [],
            view=view,
            verbose=verbose,
        )
        _say(f"alignpipe run: {pipeline.path} -> {run_dir}")
        with view:
            failure = runner.run()
        _say(runner.summary())
        _say(f"manifest: {runner.manifest.path}")
        _say(f"wall time: {fmt_duration(_process_seconds())} (this command, imports included)")
        if failure is not None:
            name, reason = failure
            raise AlignpipeError(
                f"stage {name} failed: {reason} (full log: {run_dir / name / 'logs' / (name + '.log')})"
            )
        if pipeline.has("report") and runner.manifest.stage("report")["status"] == "done":
            _say(f"report: {report_file(run_dir)}")
        return runner.manifest.path


def _parse_stages(value: str | None, pipeline: Pipeline) -> list[str] | None:
    if not value:
        return None
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in pipeline.stages]
    if unknown:
        raise AlignpipeError(
            f"--stages: {', '.join(unknown)} not in {pipeline.path} "
            f"(its stages: {', '.join(pipeline.stages)})"
        )
    disabled = [s for s in names if not pipeline.stages[s].enabled]
    if disabled:
        raise AlignpipeError(f"--stages: {', '.join(disabled)} disabled in {pipeline.path} (enabled: false)")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="alignpipe run", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "pipeline",
        nargs="?",
        default=str(DEFAULT_PIPELINE),
        help=f"pipeline recipe (default: {DEFAULT_PIPELINE.relative_to(ROOT)})",
    )
    ap.add_argument("--output", help="run directory (default: the recipe's output_dir)")
    ap.add_argument(
        "--stages", help="comma-separated stages to run (default: all); the others are left as they are"
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue interrupted or failed stages from their last checkpoint instead of starting over",
    )
    ap.add_argument(
        "--accelerate-config", help="run training stages under `accelerate launch --config_file FILE`"
    )
    ap.add_argument(
        "--report-to",
        choices=REPORTERS,
        help="where every training stage logs its metrics (default: the pipeline's report_to, else each "
        "stage recipe's); runs are named <run dir name>/<stage>",
    )
    ap.add_argument(
        "--verbose",
        action="store_true",
        help="show each stage's own output (Trainer logs, progress bars, warnings) on the console too, in "
        "plain lines; it always goes to RUN_DIR/<stage>/logs/<stage>.log",
    )
    args = ap.parse_args(argv)

    pipeline = load_pipeline(args.pipeline)
    if args.report_to:
        pipeline.report_to = args.report_to
    check_reporters(pipeline.report_to)
    accelerate_config = None
    if args.accelerate_config:
        accelerate_config = Path(args.accelerate_config).resolve()
        if not accelerate_config.is_file():
            raise AlignpipeError(f"accelerate config {args.accelerate_config} does not exist")
    run_dir = Path(args.output or pipeline.output_dir).resolve()
    command = ["alignpipe", "run", *(sys.argv[1:] if argv is None else argv)]
    run_pipeline(
        pipeline,
        run_dir,
        stages=_parse_stages(args.stages, pipeline),
        resume=args.resume,
        accelerate_config=accelerate_config,
        command=command,
        verbose=args.verbose,
    )
    return 0


if __name__ == "__main__":
    from alignpipe.core.errors import run_cli

    raise SystemExit(run_cli(main))
