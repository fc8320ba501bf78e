"""`alignpipe run`: one command runs a whole pipeline recipe, stage after stage, into one run directory.

    alignpipe run [PIPELINE.yaml] [--output DIR] [--stages a,b] [--resume] [--accelerate-config FILE]

PIPELINE.yaml (default: recipes/minigpt/pipeline.yaml of this project) names the stages and, for
each training stage, its own stage recipe plus overrides (flag -> value):

    output_dir: runs/minigpt          # the run directory (RUN_DIR); --output wins
    seed: 42                          # optional: every training stage's seed (a stage's overrides win)
    stages:                           # always run in the order tokenizer, pretrain, sft, reward, ppo, dpo,
      pretrain:                       # eval, report; leave out the ones you do not want
        recipe: pretrain.yaml         # relative to PIPELINE.yaml
        overrides: {max_steps: 2000}
      sft: {recipe: sft.yaml}
      reward: {recipe: reward.yaml}
      ppo: {recipe: ppo.yaml}
      dpo: {recipe: dpo.yaml}
      eval: {suite: default}          # a packaged suite or a suite .yaml (relative to PIPELINE.yaml); also
                                      # models, ref, reward_model, overrides (extra `alignpipe eval` flags)
      report: {}

Each stage's inputs default to the outputs of the earlier stages of the pipeline (`INPUTS`): SFT
starts from the pretrained model, the reward model from SFT, PPO's policy and reference from SFT
and its reward and value models from the reward stage, DPO's policy and reference from SFT; eval
scores every model stage against the SFT model with the reward model, into RUN_DIR/eval/<stage>/;
the report reads RUN_DIR. Precedence: stage recipe < wired inputs < pipeline seed < overrides;
`output_dir` is always RUN_DIR/<stage>. The resolved recipe is written to RUN_DIR/<stage>/recipe.yaml
and the stage runs as `alignpipe <stage> --config RUN_DIR/<stage>/recipe.yaml`, so any stage can
be re-run by hand.

Behaviour (the run directory layout and manifest schema are in docs/run_layout.md):
- RUN_DIR/manifest.json records every stage's status (pending, running, done, failed, skipped),
  resolved config, times and error; it is rewritten atomically after every change.
- A stage whose status is done and whose outputs are present is skipped. When a stage does run,
  the done stages that depend on it become pending again (their inputs changed).
- A stage that was interrupted or failed restarts from scratch (its folder is cleared), unless
  `--resume`: then it continues from its newest complete checkpoint-* (the stage scripts resume by
  themselves; an incomplete checkpoint, cut off while saving, is removed first). TRL's PPOTrainer
  cannot resume and starts over.
- A failing stage is marked failed with its reason; the stages after it do not run and the command
  exits with code 2 and a one-line reason. Its full output is in RUN_DIR/<stage>/logs/<stage>.log.
- Without --accelerate-config every stage runs in this process (its `main(argv)`); with it, each
  training stage runs as `accelerate launch --config_file FILE pipeline/stages/<stage>.py --config ...`
  in a subprocess (tokenizer, eval and report stay in this process).
- One `alignpipe run` at a time per run directory (an advisory lock on RUN_DIR/.lock).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import hashlib
import importlib
import importlib.util
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.runrecord import git_commit, now, versions

SCHEMA = 1
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PIPELINE = ROOT / "recipes" / "minigpt" / "pipeline.yaml"
MANIFEST = "manifest.json"

ORDER = ("tokenizer", "pretrain", "sft", "reward", "ppo", "dpo", "eval", "report")
TRAINING = ("pretrain", "sft", "reward", "ppo", "dpo")
MODEL_STAGES = ("pretrain", "sft", "ppo", "dpo")  # causal LMs that eval scores
MODULES = {
    "tokenizer": "alignpipe.stages.tokenizer",
    "pretrain": "alignpipe.stages.pretrain",
    "sft": "alignpipe.stages.sft",
    "reward": "alignpipe.stages.reward",
    "ppo": "alignpipe.stages.ppo",
    "dpo": "alignpipe.stages.dpo",
    "eval": "alignpipe.eval.cli",
    "report": "alignpipe.eval.report",
}
# Recipe field <- the earlier stage whose output folder it gets (when that stage is in the pipeline).
INPUTS: dict[str, dict[str, str]] = {
    "pretrain": {"tokenizer_name_or_path": "tokenizer"},
    "sft": {"model_name_or_path": "pretrain"},
    "reward": {"model_name_or_path": "sft"},
    "ppo": {
        "model_name_or_path": "sft",
        "ref_model_name_or_path": "sft",
        "reward_model_path": "reward",
        "value_model_path": "reward",
    },
    "dpo": {"model_name_or_path": "sft", "ref_model_name_or_path": "sft"},
}
STAGE_KEYS = {
    "training": {"recipe", "overrides", "enabled"},
    "tokenizer": {"overrides", "enabled"},
    "eval": {"suite", "models", "ref", "reward_model", "overrides", "enabled"},
    "report": {"overrides", "enabled"},
}
_SECRET_KEYS = ("token", "hub_token", "use_auth_token", "api_key")


class StageFailed(Exception):
    """A stage did not finish; the message is the one-line reason."""


# --- the pipeline recipe ---------------------------------------------------------------------------


@dataclass
class StageSpec:
    name: str
    recipe: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # eval: suite, models, ref, reward_model


@dataclass
class Pipeline:
    path: Path
    contents: dict
    output_dir: str
    seed: int | None
    stages: dict[str, StageSpec]  # in ORDER

    def has(self, name: str) -> bool:
        return name in self.stages and self.stages[name].enabled


def _kind(name: str) -> str:
    return "training" if name in TRAINING else name


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and check a pipeline recipe; every stage recipe it names must exist."""
    path = Path(path)
    if not path.is_file():
        raise AlignpipeError(f"pipeline recipe {path} does not exist")
    try:
        contents = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise AlignpipeError(f"{path}: not valid YAML: {e}") from e
    if (
        not isinstance(contents, dict)
        or not isinstance(contents.get("stages"), dict)
        or not contents["stages"]
    ):
        raise AlignpipeError(
            f"{path}: expected a mapping with a non-empty 'stages' mapping (stage name -> settings)"
        )
    unknown = set(contents) - {"output_dir", "seed", "stages", "description"}
    if unknown:
        raise AlignpipeError(
            f"{path}: unknown top-level keys {sorted(unknown)}; "
            "allowed: output_dir, seed, stages, description"
        )
    stages = {}
    for name, spec in contents["stages"].items():
        if name not in ORDER:
            raise AlignpipeError(f"{path}: unknown stage {name!r}; stages are {', '.join(ORDER)}")
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            raise AlignpipeError(f"{path}: stage {name}: expected a mapping of settings, got {spec!r}")
        allowed = STAGE_KEYS[_kind(name)]
        if set(spec) - allowed:
            raise AlignpipeError(
                f"{path}: stage {name}: unknown keys {sorted(set(spec) - allowed)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        overrides = spec.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise AlignpipeError(f"{path}: stage {name}: overrides must be a mapping (flag -> value)")
        if "output_dir" in overrides or "output" in overrides:
            raise AlignpipeError(
                f"{path}: stage {name}: its output folder is RUN_DIR/{name}; "
                "set output_dir at the top of the pipeline recipe instead"
            )
        recipe = None
        if name in TRAINING:
            if not spec.get("recipe"):
                raise AlignpipeError(f"{path}: stage {name}: set 'recipe' (the stage's own recipe YAML)")
            recipe = Path(spec["recipe"])
            recipe = recipe if recipe.is_absolute() else (path.resolve().parent / recipe)
            if not recipe.is_file():
                raise AlignpipeError(f"{path}: stage {name}: recipe {recipe} does not exist")
        options = {k: spec[k] for k in ("suite", "models", "ref", "reward_model") if k in spec}
        suite = str(options.get("suite", ""))
        if (
            suite.endswith((".yaml", ".yml")) and not Path(suite).is_absolute()
        ):  # a suite file beside the recipe
            options["suite"] = str(path.resolve().parent / suite)
        stages[name] = StageSpec(name, recipe, dict(overrides), bool(spec.get("enabled", True)), options)
    seed = contents.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise AlignpipeError(f"{path}: seed must be an integer, got {seed!r}")
    ordered = {n: stages[n] for n in ORDER if n in stages}
    return Pipeline(
        path.resolve(), contents, str(contents.get("output_dir") or "runs/alignpipe"), seed, ordered
    )


def dependencies(pipeline: Pipeline, name: str) -> list[str]:
    """The earlier stages of `pipeline` whose outputs `name` reads."""
    if name in INPUTS:
        deps = set(INPUTS[name].values())
    elif name == "eval":
        deps = set(eval_models(pipeline)) | set(eval_refs(pipeline))
    elif name == "report":
        deps = set(ORDER[:-1])
    else:
        deps = set()
    return [d for d in ORDER if d in deps and pipeline.has(d)]


def eval_refs(pipeline: Pipeline) -> tuple[str | None, str | None]:
    """(reference, reward model) of the eval stage: stage names or paths; by default sft and reward when the
    pipeline has them."""
    spec = pipeline.stages.get("eval")
    if spec is None:
        return None, None
    ref = spec.options.get("ref", "sft" if pipeline.has("sft") else None)
    rm = spec.options.get("reward_model", "reward" if pipeline.has("reward") else None)
    return ref, rm


def eval_models(pipeline: Pipeline) -> list[str]:
    """What the eval stage scores: model stage names (RUN_DIR/<stage>) or other paths / Hub ids."""
    spec = pipeline.stages.get("eval")
    if spec is None:
        return []
    models = spec.options.get("models")
    if models is None:
        return [m for m in MODEL_STAGES if pipeline.has(m)]
    return [str(m) for m in ([models] if isinstance(models, str) else models)]


# --- resolving a stage into a command --------------------------------------------------------------


def _flags(overrides: dict[str, Any]) -> list[str]:
    """argparse flags for the tokenizer, eval and report commands: key -> --key (underscores as dashes);
    True -> a bare flag, False/None -> left out, a list -> several values."""
    argv = []
    for key, value in overrides.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def _stage_path(run_dir: Path, ref: str | None) -> str | None:
    """A stage name -> RUN_DIR/<stage>; anything else is a path or Hub id, passed on as it is."""
    if ref is None:
        return None
    return str(run_dir / ref) if ref in MODEL_STAGES + ("reward",) else str(ref)


@dataclass
class Resolved:
    """What a stage will run: its argv (for the stage's main) and, for training stages, its recipe."""

    argv: list[str]
    recipe: dict | None = None  # the resolved recipe, written to RUN_DIR/<stage>/recipe.yaml
    source: str | None = None  # the stage recipe it came from
    inputs: dict[str, str] = field(default_factory=dict)  # recipe field -> stage it was wired from
    overrides: dict[str, Any] = field(default_factory=dict)  # the pipeline's overrides for the stage
    parts: dict[str, list[str]] = field(default_factory=dict)  # eval: model -> argv

    def digest(self) -> str:
        blob = json.dumps(
            {"argv": self.argv, "recipe": self.recipe, "parts": self.parts}, sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def record(self) -> dict:
        out: dict[str, Any] = {"argv": _redact_argv(self.argv)}
        if self.recipe is not None:
            out.update(
                recipe=self.source,
                overrides=_redact(self.overrides),
                inputs=self.inputs,
                resolved_recipe=_redact(self.recipe),
                seed=self.recipe.get("seed"),
            )
        if self.parts:
            out["evaluations"] = {m: _redact_argv(a) for m, a in self.parts.items()}
        out["digest"] = self.digest()
        return out


def resolve(pipeline: Pipeline, name: str, run_dir: Path) -> Resolved:
    spec = pipeline.stages[name]
    out = run_dir / name
    if name in TRAINING:
        try:
            recipe = yaml.safe_load(spec.recipe.read_text()) or {}
        except yaml.YAMLError as e:
            raise StageFailed(f"recipe {spec.recipe} is not valid YAML: {e}") from e
        if not isinstance(recipe, dict):
            raise StageFailed(f"recipe {spec.recipe} is not a mapping of settings")
        inputs = {
            f: src for f, src in INPUTS.get(name, {}).items() if pipeline.has(src) and f not in spec.overrides
        }
        for f, src in inputs.items():
            recipe[f] = str(run_dir / src)
        if pipeline.seed is not None:
            recipe["seed"] = pipeline.seed
        recipe.update(spec.overrides)
        recipe["output_dir"] = str(out)
        return Resolved(
            ["--config", str(out / "recipe.yaml")], recipe, str(spec.recipe), inputs, spec.overrides
        )
    if name == "tokenizer":
        return Resolved(["--output", str(out), *_flags(spec.overrides)])
    if name == "report":
        return Resolved([str(run_dir), "--output", str(out), *_flags(spec.overrides)])
    # eval: one evaluation per model, against the reference with the reward model
    ref, rm = (_stage_path(run_dir, r) for r in eval_refs(pipeline))
    parts = {}
    for m in eval_models(pipeline):
        model = _stage_path(run_dir, m)
        argv = ["--model", model]
        if ref:
            argv += ["--ref", ref if ref != model else "none"]  # the reference is not compared with itself
        if rm:
            argv += ["--reward-model", rm]
        argv += ["--suite", str(spec.options.get("suite", "default")), "--output", str(out / Path(m).name)]
        parts[Path(m).name] = argv + _flags(spec.overrides)
    return Resolved([], parts=parts)


def _redact(d: dict) -> dict:
    return {
        k: ("***" if str(k).lower() in _SECRET_KEYS or "password" in str(k).lower() else v)
        for k, v in d.items()
    }


def _redact_argv(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a.lstrip("-").replace("-", "_").lower() in _SECRET_KEYS:
            out[i + 1] = "***"
    return out


# --- outputs ---------------------------------------------------------------------------------------


def outputs_present(pipeline: Pipeline, name: str, run_dir: Path) -> bool:
    d = run_dir / name
    if name in TRAINING:
        return (d / "run_record.json").is_file() and any(d.glob("*.safetensors"))
    if name == "tokenizer":
        return (d / "tokenizer.json").is_file() or (d / "tokenizer_config.json").is_file()
    if name == "eval":
        return all((d / Path(m).name / "eval.json").is_file() for m in eval_models(pipeline))
    return d.is_dir() and any(p.is_file() for p in d.iterdir())  # report


def report_file(run_dir: Path) -> Path | None:
    d = run_dir / "report"
    for candidate in (d / "report.html", d / "index.html"):
        if candidate.is_file():
            return candidate
    htmls = sorted(d.glob("*.html")) if d.is_dir() else []
    return htmls[0] if htmls else (d if d.is_dir() else None)


def complete_checkpoint(stage_dir: Path) -> str | None:
    """Remove checkpoints cut off while saving (Trainer writes trainer_state.json last) and name the newest
    complete one, which the stage script resumes from."""
    if not stage_dir.is_dir():
        return None
    steps = []
    for p in stage_dir.glob("checkpoint-*"):
        if p.is_dir() and p.name.split("-", 1)[1].isdigit():
            if (p / "trainer_state.json").is_file():
                steps.append(int(p.name.split("-", 1)[1]))
            else:
                shutil.rmtree(p)
    return f"checkpoint-{max(steps)}" if steps else None


# --- the manifest ----------------------------------------------------------------------------------


class Manifest:
    """RUN_DIR/manifest.json: the run's state, rewritten atomically after every change."""

    def __init__(self, path: Path, data: dict):
        self.path, self.data = path, data

    @classmethod
    def open(cls, run_dir: Path, pipeline: Pipeline, command: list[str]) -> Manifest:
        path = run_dir / MANIFEST
        data: dict = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise AlignpipeError(
                    f"{path} is not valid JSON ({e}); delete it to start the run afresh"
                ) from e
        data.setdefault("schema", SCHEMA)
        data.setdefault("created", now())
        data.setdefault("stages", {})
        data.update(
            run_dir=str(run_dir),
            pipeline=str(pipeline.path),
            pipeline_recipe=pipeline.contents,
            seed=pipeline.seed,
            command=_redact_argv(command),
            versions=versions(),
            git_commit=git_commit(),
            host=socket.gethostname(),
            python=sys.version.split()[0],
        )
        stages = {}
        for name in pipeline.stages:  # this pipeline's stages, in order; others recorded earlier stay after
            stages[name] = data["stages"].get(name) or {"status": "pending"}
        stages.update({k: v for k, v in data["stages"].items() if k not in stages})
        data["stages"] = stages
        m = cls(path, data)
        m.write()
        return m

    def stage(self, name: str) -> dict:
        return self.data["stages"][name]

    def set(self, name: str, **fields) -> None:
        entry = self.data["stages"][name]
        for k, v in fields.items():
            if v is None:
                entry.pop(k, None)
            else:
                entry[k] = v
        self.write()

    def write(self) -> None:
        self.data["updated"] = now()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        os.replace(tmp, self.path)


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """One `alignpipe run` per run directory; the OS drops the lock when the process dies (even killed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(run_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise AlignpipeError(
                f"another `alignpipe run` is using {run_dir}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- running one stage -----------------------------------------------------------------------------


class _Tail:
    """The last lines written, to find an error message a stage printed."""

    def __init__(self, n: int = 200):
        self.lines: collections.deque[str] = collections.deque(maxlen=n)
        self._partial = ""

    def feed(self, s: str) -> None:
        parts = (self._partial + s).replace("\r", "\n").split("\n")
        self._partial = parts.pop()
        self.lines.extend(p for p in parts if p.strip())

    def error_line(self) -> str | None:
        """The last line that reads as an error message (argparse's `prog: error: ...`, `XError: ...`)."""
        for line in reversed(self.lines):
            if (": error: " in line and not line.startswith("alignpipe: error: ")) or line.split(":", 1)[
                0
            ].endswith("Error"):
                return line.strip()
        return None


class _Tee(io.TextIOBase):
    def __init__(self, stream, log, tail: _Tail):
        self.stream, self.log, self.tail = stream, log, tail

    def write(self, s: str) -> int:
        self.stream.write(s)
        if not self.log.closed:  # a library may keep this stream after the stage ends
            self.log.write(s)
            self.tail.feed(s)
        return len(s)

    def flush(self) -> None:
        self.stream.flush()
        if not self.log.closed:
            self.log.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


@contextlib.contextmanager
def _captured(log_path: Path, tail: _Tail):
    """Copy stdout, stderr and library logging to the stage's log file while it runs in this process."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        loggers = [logging.getLogger(), logging.getLogger("transformers")]
        for lg in loggers:
            lg.addHandler(handler)
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, log, tail), _Tee(err, log, tail)
        try:
            yield log
        finally:
            sys.stdout, sys.stderr = out, err
            for lg in loggers:
                lg.removeHandler(handler)


def reset_process_state() -> None:
    """Let the next in-process stage build its own Accelerator (accelerate keeps process-wide singletons)."""
    try:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    except ImportError:
        pass
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _reason(e: BaseException, tail: _Tail) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if not isinstance(e, AlignpipeError):
        msg = f"{type(e).__name__}: {msg}"
    if "see the message above" in msg and tail.error_line():
        msg = f"{msg.replace(' (see the message above)', '')}: {tail.error_line()}"
    return msg


def run_in_process(stage: str, argv: list[str], log_path: Path) -> None:
    """Call the stage's `main(argv)`; raise StageFailed with a one-line reason if it does not succeed."""
    tail = _Tail()
    module_name, saved_argv = MODULES[stage], sys.argv
    sys.argv = [
        f"alignpipe {stage}",
        *argv,
    ]  # as `alignpipe <stage>` presents it (argparse names it in errors)
    with _captured(log_path, tail) as log:
        try:
            module = importlib.import_module(module_name)
            rc = module.main(list(argv))
        except SystemExit as e:  # argparse-based commands exit on bad flags
            rc = e.code if isinstance(e.code, int) else 2
        except KeyboardInterrupt:
            raise
        except Exception as e:
            log.write(traceback.format_exc())
            raise StageFailed(_reason(e, tail)) from e
        finally:
            sys.argv = saved_argv
            reset_process_state()
    if rc:
        line = tail.error_line()
        raise StageFailed(f"exited with code {rc}" + (f": {line}" if line else ""))


def launch_command(stage: str, argv: list[str], accelerate_config: Path) -> list[str]:
    script = Path(importlib.util.find_spec(MODULES[stage]).origin)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(accelerate_config),
        str(script),
        *argv,
    ]


def run_subprocess(cmd: list[str], log_path: Path) -> None:
    """Run `cmd` (an argument list, no shell), streaming its output to the console and the log file."""
    tail = _Tail()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
                tail.feed(line)
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
    if rc:
        errors = [ln for ln in tail.lines if ln.startswith("alignpipe: error:")]
        line = errors[-1][len("alignpipe: error:") :].strip() if errors else tail.error_line()
        raise StageFailed(line or f"exited with code {rc} (see {log_path})")


# --- the run ---------------------------------------------------------------------------------------


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def _say(msg: str) -> None:
    print(msg, flush=True)


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
    ):
        self.pipeline, self.run_dir, self.resume = pipeline, run_dir, resume
        self.selected = selected or [n for n in pipeline.stages if pipeline.stages[n].enabled]
        self.accelerate_config = accelerate_config
        self.manifest = Manifest.open(run_dir, pipeline, command)
        self.notes: dict[str, str] = {}
        self.width = max(map(len, pipeline.stages))

    def line(self, i: int, name: str, text: str) -> None:
        _say(f"[{i}/{len(self.pipeline.stages)}] {name:<{self.width}}  {text}")

    def run(self) -> tuple[str, str] | None:
        """Run the selected stages in order; return (stage, reason) of a failure, else None."""
        failure = None
        for i, name in enumerate(self.pipeline.stages, 1):
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
                    self.line(i, name, f"skipped ({why})")
                continue
            try:
                resolved = resolve(self.pipeline, name, self.run_dir)
            except StageFailed as e:
                failure = self.fail(i, name, str(e), 0.0)
                continue
            if entry["status"] == "done" and outputs_present(self.pipeline, name, self.run_dir):
                note = "done earlier"
                if entry.get("config", {}).get("digest") not in (None, resolved.digest()):
                    note += f"; its settings changed since (delete {self.run_dir / name} to redo it)"
                self.notes[name] = note
                self.line(i, name, f"skipped ({note})")
                continue
            failure = self.run_stage(i, name, resolved)
        return failure

    def invalidate_dependents(self, name: str) -> None:
        later = list(self.pipeline.stages)[list(self.pipeline.stages).index(name) + 1 :]
        stale = {name}
        for other in later:
            if stale & set(dependencies(self.pipeline, other)):
                stale.add(other)
                if self.manifest.stage(other)["status"] == "done":
                    self.manifest.set(other, status="pending", note=f"inputs changed: {name} re-ran")
                    _say(f"      {other}: marked pending (its input {name} is being re-run)")

    def prepare_dir(self, name: str, entry: dict) -> str | None:
        """Clear the stage folder for a fresh start, or keep it to resume; name the checkpoint resumed from."""
        d = self.run_dir / name
        if self.resume and d.is_dir():
            ckpt = complete_checkpoint(d) if name in TRAINING else None
            return ckpt or ("partial outputs" if name == "eval" else None)
        if d.exists():
            if entry["status"] in ("running", "failed"):
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

    def run_stage(self, i: int, name: str, resolved: Resolved) -> tuple[str, str] | None:
        entry = self.manifest.stage(name)
        self.invalidate_dependents(name)
        start = time.time()
        try:
            self.check_inputs(name)
            resumed = self.prepare_dir(name, entry)
        except StageFailed as e:
            return self.fail(i, name, str(e), time.time() - start)
        d = self.run_dir / name
        d.mkdir(parents=True, exist_ok=True)
        log = d / "logs" / f"{name}.log"
        launcher = "in-process"
        if resolved.recipe is not None:
            (d / "recipe.yaml").write_text(yaml.safe_dump(resolved.recipe, sort_keys=False))
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
        self.line(i, name, "running" + (f" (resuming from {resumed})" if resumed else "") + f"; log: {log}")
        try:
            if name == "eval":
                self.run_eval(resolved, log)
            elif launcher == "in-process":
                run_in_process(name, resolved.argv, log)
            else:
                run_subprocess(launcher, log)
            if not outputs_present(self.pipeline, name, self.run_dir):
                raise StageFailed(f"finished without writing its outputs to {d}")
        except StageFailed as e:
            return self.fail(i, name, str(e), time.time() - start)
        except KeyboardInterrupt:
            self.fail(i, name, "interrupted", time.time() - start)
            raise
        duration = time.time() - start
        self.manifest.set(name, status="done", finished=now(), duration_s=round(duration, 2))
        self.line(i, name, f"done in {_fmt_duration(duration)}")
        return None

    def run_eval(self, resolved: Resolved, log: Path) -> None:
        entry = self.manifest.stage("eval")
        parts = entry["evaluations"] = entry.get("evaluations", {}) if self.resume else {}
        for model, argv in resolved.parts.items():
            out = Path(argv[argv.index("--output") + 1])
            if self.resume and (out / "eval.json").is_file():
                _say(f"      eval {model}: kept (eval.json exists)")
                continue
            start = time.time()
            _say(f"      eval {model}: running")
            try:
                run_in_process("eval", argv, log)
            except StageFailed as e:
                parts[model] = {"status": "failed", "error": str(e)}
                self.manifest.write()
                raise StageFailed(f"evaluating {model}: {e}") from e
            parts[model] = {"status": "done", "duration_s": round(time.time() - start, 2)}
            self.manifest.write()
            _say(f"      eval {model}: done in {_fmt_duration(time.time() - start)}")

    def fail(self, i: int, name: str, reason: str, duration: float) -> tuple[str, str]:
        self.manifest.set(name, status="failed", finished=now(), duration_s=round(duration, 2), error=reason)
        self.line(i, name, f"FAILED after {_fmt_duration(duration)}: {reason}")
        return name, reason

    def summary(self) -> str:
        rows = [("stage", "status", "duration", "output")]
        for name in self.pipeline.stages:
            e = self.manifest.stage(name)
            status = e["status"] + (
                " (earlier)" if self.notes.get(name, "").startswith("done earlier") else ""
            )
            out = e.get("output_dir", "-") if e["status"] in ("done", "failed", "running") else "-"
            rows.append((name, status, _fmt_duration(e.get("duration_s")), out))
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
) -> Path:
    """Run `pipeline` into `run_dir`; raise AlignpipeError naming the stage that failed. Returns the manifest path."""
    with run_lock(run_dir):
        runner = Runner(
            pipeline,
            run_dir,
            selected=stages,
            resume=resume,
            accelerate_config=accelerate_config,
            command=command or [],
        )
        _say(f"alignpipe run: {pipeline.path} -> {run_dir}")
        failure = runner.run()
        _say(runner.summary())
        _say(f"manifest: {runner.manifest.path}")
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
    args = ap.parse_args(argv)

    pipeline = load_pipeline(args.pipeline)
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
    )
    return 0


if __name__ == "__main__":
    from alignpipe.core.errors import run_cli

    raise SystemExit(run_cli(main))
