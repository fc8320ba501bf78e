"""The pipeline recipe of `alignpipe run`: reading and checking it (`load_pipeline`), which stages feed which
(`INPUTS`, `dependencies`), and turning one stage into the argv and resolved recipe it runs with (`resolve`).

The recipe format and the precedence of settings are described in `alignpipe.run.runner`'s docstring.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import MASK, is_secret_key, mask_argv, mask_secrets, read_yaml
from alignpipe.core.registry import MODEL_STAGES, ORDER, TRAINING
from alignpipe.core.registry import stage as stage_row

ROOT = Path(__file__).resolve().parents[2]  # the project checkout
DEFAULT_PIPELINE = ROOT / "recipes" / "minigpt" / "pipeline.yaml"

#: The module each stage runs (its `main(argv)`), from the one stage registry.
MODULES = {name: stage_row(name).module for name in ORDER}
#: Recipe field <- the earlier stage whose output folder it gets (when that stage is in the pipeline).
INPUTS: dict[str, dict[str, str]] = {
    name: dict(stage_row(name).inputs) for name in ORDER if stage_row(name).inputs
}
STAGE_KEYS = {
    "training": {"recipe", "overrides", "enabled", "inputs"},
    "tokenizer": {"overrides", "enabled"},
    "eval": {"suite", "models", "ref", "reward_model", "guard", "overrides", "enabled"},
    "report": {"overrides", "enabled"},
}


#: `report_to` values `alignpipe run --report-to` offers, and the package each needs.
REPORTERS = ("trackio", "tensorboard", "wandb", "none")
REPORTER_PACKAGES = {"trackio": "trackio", "tensorboard": "tensorboard", "wandb": "wandb"}


class StageFailed(Exception):
    """A stage did not finish; the message is the one-line reason."""


# --- the pipeline recipe ---------------------------------------------------------------------------


@dataclass
class StageSpec:
    name: str
    recipe: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # eval: suite, models, ref, reward_model, guard
    # training: recipe field -> the earlier stage it is wired from, on top of INPUTS
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Pipeline:
    path: Path
    contents: dict
    output_dir: str
    seed: int | None
    stages: dict[str, StageSpec]  # in ORDER
    report_to: str | list[str] | None = None  # every training stage's report_to (a stage's overrides win)

    def has(self, name: str) -> bool:
        return name in self.stages and self.stages[name].enabled


def _kind(name: str) -> str:
    return "training" if name in TRAINING else name


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and check a pipeline recipe; every stage recipe it names must exist."""
    path = Path(path)
    if not path.is_file():
        raise AlignpipeError(f"pipeline recipe {path} does not exist")
    contents = read_yaml(path, "pipeline recipe", mapping=False) or {}
    if (
        not isinstance(contents, dict)
        or not isinstance(contents.get("stages"), dict)
        or not contents["stages"]
    ):
        raise AlignpipeError(
            f"{path}: expected a mapping with a non-empty 'stages' mapping (stage name -> settings)"
        )
    unknown = set(contents) - {"output_dir", "seed", "report_to", "stages", "description"}
    if unknown:
        raise AlignpipeError(
            f"{path}: unknown top-level keys {sorted(unknown)}; "
            "allowed: output_dir, seed, report_to, stages, description"
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
        options = {k: spec[k] for k in ("suite", "models", "ref", "reward_model", "guard") if k in spec}
        suite = str(options.get("suite", ""))
        if (
            suite.endswith((".yaml", ".yml")) and not Path(suite).is_absolute()
        ):  # a suite file beside the recipe
            options["suite"] = str(path.resolve().parent / suite)
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            raise AlignpipeError(f"{path}: stage {name}: enabled must be true or false, got {enabled!r}")
        inputs = spec.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise AlignpipeError(f"{path}: stage {name}: inputs must be a mapping (recipe field -> stage)")
        earlier = list(TRAINING[: TRAINING.index(name)]) if name in TRAINING else []
        for f, src in inputs.items():
            if not str(f).endswith(("_name_or_path", "_model_path")) or src not in earlier:
                raise AlignpipeError(
                    f"{path}: stage {name}: inputs {f}: {src}: expected a model path field "
                    f"(…_name_or_path, …_model_path) -> an earlier training stage ({', '.join(earlier) or 'none'})"
                )
        stages[name] = StageSpec(name, recipe, dict(overrides), enabled, options, dict(inputs))
    seed = contents.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise AlignpipeError(f"{path}: seed must be an integer, got {seed!r}")
    report_to = contents.get("report_to")
    names = [report_to] if isinstance(report_to, str) else report_to
    if report_to is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise AlignpipeError(
            f"{path}: report_to must be a name or a list of names (e.g. tensorboard), got {report_to!r}"
        )
    ordered = {n: stages[n] for n in ORDER if n in stages}
    guard = stages["eval"].options.get("guard") if "eval" in stages else None
    if guard is not None and (not isinstance(guard, str) or guard in ORDER and guard != "guard"):
        raise AlignpipeError(
            f"{path}: stage eval: guard is {guard!r}; expected the guard stage (guard) or a guard's folder"
        )
    if guard == "guard" and "guard" not in stages:
        raise AlignpipeError(
            f"{path}: stage eval: guard: guard names the guard stage, which this pipeline does not have "
            "(add `guard: {recipe: ...}` to its stages, or give a trained guard's folder)"
        )
    return Pipeline(
        path.resolve(),
        contents,
        str(contents.get("output_dir") or "runs/alignpipe"),
        seed,
        ordered,
        report_to,
    )


def check_reporters(report_to: str | list[str] | None) -> None:
    """Refuse, before anything runs, a `report_to` whose package is not installed (the Trainer would fail
    only once a stage has loaded its data and models)."""
    import importlib.util

    for name in [report_to] if isinstance(report_to, str) else report_to or []:
        package = REPORTER_PACKAGES.get(name)
        if package and importlib.util.find_spec(package) is None:
            raise AlignpipeError(f"report_to {name} needs the {package} package: pip install {package}")


def stage_inputs(pipeline: Pipeline, name: str) -> dict[str, str]:
    """Recipe field -> the earlier stage whose output folder it gets: `INPUTS`, with the stage's own `inputs`
    on top (e.g. GRPO from DPO: `inputs: {model_name_or_path: dpo}`)."""
    spec = pipeline.stages.get(name)
    return {**INPUTS.get(name, {}), **(spec.inputs if spec is not None else {})}


def dependencies(pipeline: Pipeline, name: str) -> list[str]:
    """The earlier stages of `pipeline` whose outputs `name` reads."""
    if name in INPUTS:
        deps = set(stage_inputs(pipeline, name).values())
    elif name == "eval":
        deps = set(eval_models(pipeline).values()) | set(eval_refs(pipeline)) | {eval_guard(pipeline)}
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


def eval_guard(pipeline: Pipeline) -> str | None:
    """The guard in front of every model the eval stage scores (`guard:` a stage name, usually `guard`, or a
    path), or None. Each evaluation then reports the guard + model pair and the model's own figures."""
    spec = pipeline.stages.get("eval")
    guard = spec.options.get("guard") if spec is not None else None
    return str(guard) if guard else None


def eval_models(pipeline: Pipeline) -> dict[str, str]:
    """What the eval stage scores, by the name of its folder RUN_DIR/eval/<name>: model stage names
    (RUN_DIR/<stage>) or other paths / Hub ids / GGUF references. `models` is a list (each named by its last
    path part) or a mapping name -> model (`shipped: pypi:...gguf`)."""
    spec = pipeline.stages.get("eval")
    if spec is None:
        return {}
    models = spec.options.get("models")
    if models is None:
        return {m: m for m in MODEL_STAGES if pipeline.has(m)}
    if isinstance(models, dict):
        return {str(k): str(v) for k, v in models.items()}
    return {Path(str(m)).name: str(m) for m in ([models] if isinstance(models, str) else models)}


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
    return str(run_dir / ref) if ref in TRAINING else str(ref)


RUN_DIR_TOKEN = "<RUN_DIR>"


def relative_to_run(text: str, run_dir: Path | None) -> str:
    """`text` (JSON) with the run directory's absolute path written as <RUN_DIR>."""
    if run_dir is None:
        return text
    for form in {str(Path(run_dir).resolve()), str(Path(run_dir).absolute())}:
        text = text.replace(json.dumps(form)[1:-1], RUN_DIR_TOKEN)
    return text


@dataclass
class Resolved:
    """What a stage will run: its argv (for the stage's main) and, for training stages, its recipe."""

    argv: list[str]
    recipe: dict | None = None  # the resolved recipe, written to RUN_DIR/<stage>/recipe.yaml
    source: str | None = None  # the stage recipe it came from
    inputs: dict[str, str] = field(default_factory=dict)  # recipe field -> stage it was wired from
    overrides: dict[str, Any] = field(default_factory=dict)  # the pipeline's overrides for the stage
    parts: dict[str, list[str]] = field(default_factory=dict)  # eval: model -> argv
    env: dict[str, str] = field(default_factory=dict)  # for the stage's environment: secrets, never a file
    identity: dict | None = None  # `recipe` less the pipeline's report_to: where metrics go changes nothing

    def made_from(self, run_dir: Path | None = None) -> dict:
        """What the stage computes from, with paths inside the run directory written relative to it (so a run
        directory copied or moved elsewhere keeps its identities) and secrets masked."""
        recipe = self.identity if self.identity is not None else self.recipe
        out = {"argv": mask_argv(self.argv), "recipe": mask_secrets(recipe), "parts": self.parts}
        return json.loads(relative_to_run(json.dumps(out, sort_keys=True, default=str), run_dir))

    def digest(self, run_dir: Path | None = None) -> str:
        blob = json.dumps(self.made_from(run_dir), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def legacy_digest(self) -> str:
        """The digest marks written before run directories were relocatable hold (absolute paths, unmasked):
        a run made by an earlier alignpipe is still skipped where nothing changed."""
        recipe = self.identity if self.identity is not None else self.recipe
        blob = json.dumps(
            {"argv": self.argv, "recipe": recipe, "parts": self.parts}, sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def record(self) -> dict:
        out: dict[str, Any] = {"argv": mask_argv(self.argv)}
        if self.recipe is not None:
            out.update(
                recipe=self.source,
                overrides=mask_secrets(self.overrides),
                inputs=self.inputs,
                resolved_recipe=mask_secrets(self.recipe),
                seed=self.recipe.get("seed"),
            )
        if self.parts:
            out["evaluations"] = {m: mask_argv(a) for m, a in self.parts.items()}
        out["digest"] = self.digest()
        return out


#: Secret settings a stage can take from the environment instead: recipe field -> environment variable.
SECRET_ENV = {"hub_token": "HF_TOKEN"}


def _secrets_out(recipe: dict, where: str) -> dict[str, str]:
    """Take secret settings out of a resolved recipe (it is written to disk) and return them as the
    environment variables the stage reads instead."""
    env = {}
    for key in [k for k in recipe if is_secret_key(k)]:
        value = recipe.pop(key)
        if value in (None, "", MASK):
            continue
        if key not in SECRET_ENV:
            raise StageFailed(
                f"{where}: {key} looks like a secret, and the run writes every stage's recipe to disk; give it "
                "through an environment variable instead"
            )
        env[SECRET_ENV[key]] = str(value)
    return env


def _reporting(pipeline: Pipeline, name: str, run_dir: Path, overrides: dict) -> tuple[dict, dict]:
    """The pipeline's `report_to` for training stage `name` (unless its overrides set one): the recipe keys
    (report_to, run_name `<run dir name>/<stage>`) and the environment (tensorboard's folder,
    RUN_DIR/<stage>/runs; Transformers reads it from TENSORBOARD_LOGGING_DIR)."""
    if pipeline.report_to is None or "report_to" in overrides:
        return {}, {}
    reporting = {"report_to": pipeline.report_to}
    if pipeline.report_to not in ("none", ["none"], []):
        if "run_name" not in overrides:
            reporting["run_name"] = f"{run_dir.name}/{name}"
        return reporting, {"TENSORBOARD_LOGGING_DIR": str(run_dir / name / "runs")}
    return reporting, {}


def resolve(pipeline: Pipeline, name: str, run_dir: Path) -> Resolved:
    spec = pipeline.stages[name]
    out = run_dir / name
    if name in TRAINING:
        try:
            recipe = read_yaml(spec.recipe, f"stage {name}: recipe")
        except AlignpipeError as e:
            raise StageFailed(str(e)) from e
        inputs = {
            f: src
            for f, src in stage_inputs(pipeline, name).items()
            if pipeline.has(src) and f not in spec.overrides
        }
        for f, src in inputs.items():
            recipe[f] = str(run_dir / src)
        if pipeline.seed is not None:
            recipe["seed"] = pipeline.seed
        recipe.update(spec.overrides)
        recipe["output_dir"] = str(out)
        later = {str((run_dir / n).resolve()): n for n in ORDER[ORDER.index(name) :] if n in pipeline.stages}
        for f, value in recipe.items():
            if f != "output_dir" and isinstance(value, str) and value and str(Path(value).resolve()) in later:
                raise StageFailed(
                    f"stage {name}: {f} is {value}, the output of stage {later[str(Path(value).resolve())]}, which "
                    f"runs after {name} (stages run in the order {', '.join(pipeline.stages)})"
                )
        env = _secrets_out(recipe, f"stage {name}")
        identity = dict(recipe)
        reporting, reporting_env = _reporting(pipeline, name, run_dir, spec.overrides)
        recipe.update(reporting)
        env.update(reporting_env)
        return Resolved(
            ["--config", str(out / "recipe.yaml")],
            recipe,
            str(spec.recipe),
            inputs,
            spec.overrides,
            env=env,
            identity=identity,
        )
    if name == "tokenizer":
        return Resolved(["--output", str(out), *_flags(spec.overrides)])
    if name == "report":
        return Resolved([str(run_dir), "--output", str(out), *_flags(spec.overrides)])
    # eval: one evaluation per model, against the reference with the reward model
    models = eval_models(pipeline)
    ref, rm = (_stage_path(run_dir, models.get(r, r) if r else r) for r in eval_refs(pipeline))
    guard = _stage_path(run_dir, eval_guard(pipeline))
    parts = {}
    for label, m in models.items():
        model = _stage_path(run_dir, m)
        argv = ["--model", model]
        if ref:
            argv += ["--ref", ref if ref != model else "none"]  # the reference is not compared with itself
        if rm:
            argv += ["--reward-model", rm]
        if guard:
            argv += ["--guard", guard]
        argv += ["--suite", str(spec.options.get("suite", "default")), "--output", str(out / label)]
        parts[label] = argv + _flags(spec.overrides)
    return Resolved([], parts=parts)
