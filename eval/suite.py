"""Evaluation suites: YAML files that say what `alignpipe eval` measures and with which settings.

`--suite NAME` picks a packaged suite, ``eval/suites/NAME.yaml`` (`default`, `quick`); anything that
ends in ``.yaml``/``.yml`` or names an existing file is read as a suite file. A suite is a mapping;
every section is optional, and a section that is absent, ``null`` or ``false`` is not run (``{}``
runs it with the defaults below). Data ``source`` values are ``default`` (the project's embedded
held-out data, `alignpipe.defaults`, split "test") or a local file/folder in any format
`alignpipe.core.data` reads, relative paths resolved against the suite file's folder (packaged suites:
the working directory).

```yaml
name: my-suite                  # defaults to the file name
description: what it is for
seed: 0                         # sampling and shuffling seed
generation:                     # alignpipe.inference.generation.GenerationSettings
  greedy: true                  # false: sample with temperature / top_k / top_p
  temperature: 1.0
  top_k: 0                      # 0 = off
  top_p: 1.0
  repetition_penalty: 1.0
  max_new_tokens: 48
  batch_size: 16
perplexity:                     # held-out perplexity, token-weighted
  source: default               # default: the embedded corpus' test split; or a text file
  max_documents: null           # first N documents (null = all)
  window: null                  # tokens per window (null = the model's context length)
  batch_size: 8
prompts:                        # held-out prompts the model (and the reference) answer:
  source: default               #   task accuracy (rows with an `answer`), win rate, verbosity
  n: 64
win_rate: true                  # judge model vs reference with the reward model (needs both)
multiple_choice:                # log-likelihood multiple choice, one entry per benchmark
  - name: tasks_mc
    source: default             # default: held-out preference pairs as 2-way questions; or a jsonl file
    chat: true                  # wrap the question in the chat template (default: plain text)
    n: 64
reward_accuracy:                # reward model's pairwise accuracy on held-out preference pairs
  source: default
  n: 128
  batch_size: 16
kl:                             # KL(model || reference), sampled from the model at temperature 1
  n_prompts: 32                 #   (first N of `prompts`)
  samples_per_prompt: 1
  max_new_tokens: null          # null = generation.max_new_tokens
safety:                         # refusal of unsafe requests, over-refusal of benign look-alikes
  source: default               # default / harms (wide, for real models): embedded held-out safety prompts;
                                #   or a jsonl of {prompt, label}
  n: null                       # per set (unsafe, benign); null = all
  classifier: string_match      # XSTest's string match, or module:function (str -> bool)
harness:                        # lm-evaluation-harness tasks (optional extra `lm-eval`)
  tasks: []                     # e.g. [mmlu, arc_easy]; --harness-tasks adds to these
  include_path: null            # folder of extra task YAMLs (local tasks)
  limit: null
  num_fewshot: null
  batch_size: 8
  apply_chat_template: false
verbosity:                      # the verbosity warning's thresholds (alignpipe.eval.sections.verbosity)
  max_ratio: 1.3
  margin: 2.0
```

A bad suite (unreadable YAML, an unknown key, a value of the wrong type) raises `AlignpipeError`
naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import read_yaml
from alignpipe.inference.generation import GenerationSettings

SUITES_DIR = Path(__file__).resolve().parent / "suites"


@dataclass
class PerplexitySection:
    source: str = "default"
    max_documents: int | None = None
    window: int | None = None
    batch_size: int = 8


@dataclass
class PromptsSection:
    source: str = "default"
    n: int | None = 64


@dataclass
class MultipleChoiceSection:
    name: str = ""
    source: str = "default"
    chat: bool = False
    n: int | None = None


@dataclass
class RewardAccuracySection:
    source: str = "default"
    n: int | None = 128
    batch_size: int = 16


@dataclass
class KLSection:
    n_prompts: int | None = 32
    samples_per_prompt: int = 1
    max_new_tokens: int | None = None


@dataclass
class SafetySection:
    source: str = "default"
    n: int | None = None  # per set (unsafe, benign); null = all
    classifier: str = "string_match"  # XSTest's string match, or module:function (str -> bool)


@dataclass
class HarnessSection:
    tasks: list[str] = field(default_factory=list)
    include_path: str | None = None
    limit: int | None = None
    num_fewshot: int | None = None
    batch_size: int = 8
    apply_chat_template: bool = False


@dataclass
class VerbositySection:
    max_ratio: float = 1.3
    margin: float = 2.0


@dataclass
class Suite:
    name: str = "custom"
    description: str = ""
    seed: int = 0
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    perplexity: PerplexitySection | None = None
    prompts: PromptsSection | None = None
    win_rate: bool = False
    multiple_choice: list[MultipleChoiceSection] = field(default_factory=list)
    reward_accuracy: RewardAccuracySection | None = None
    kl: KLSection | None = None
    safety: SafetySection | None = None
    harness: HarnessSection | None = None
    verbosity: VerbositySection = field(default_factory=VerbositySection)
    #: the file it was read from, and the folder relative sources are resolved against (None: cwd)
    path: str | None = None
    base_dir: str | None = None

    def to_dict(self) -> dict:
        """The resolved suite as plain data (what eval.json records)."""
        out = dataclasses.asdict(self)
        out.pop("base_dir")
        return out

    def cap(self, max_samples: int | None) -> None:
        """Cap every section's number of samples at `max_samples` (`--max-samples`)."""
        if max_samples is None:
            return
        if max_samples < 1:
            raise AlignpipeError(f"--max-samples must be at least 1, got {max_samples}")

        def capped(n):
            return max_samples if n is None else min(n, max_samples)

        if self.perplexity:
            self.perplexity.max_documents = capped(self.perplexity.max_documents)
        if self.prompts:
            self.prompts.n = capped(self.prompts.n)
        for mc in self.multiple_choice:
            mc.n = capped(mc.n)
        if self.reward_accuracy:
            self.reward_accuracy.n = capped(self.reward_accuracy.n)
        if self.kl:
            self.kl.n_prompts = capped(self.kl.n_prompts)
        if self.safety:
            self.safety.n = capped(self.safety.n)
        if self.harness:
            self.harness.limit = capped(self.harness.limit)


SECTIONS = {
    "generation": GenerationSettings,
    "perplexity": PerplexitySection,
    "prompts": PromptsSection,
    "reward_accuracy": RewardAccuracySection,
    "kl": KLSection,
    "safety": SafetySection,
    "harness": HarnessSection,
    "verbosity": VerbositySection,
}


def packaged_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _build(cls, data: Any, where: str, key: str):
    """`cls(**data)` with every key and value type checked; errors name the file and the key."""
    if data is None or data is False:
        return None
    if data is True:
        data = {}
    if not isinstance(data, dict):
        raise AlignpipeError(
            f"{where}: '{key}' must be a mapping (or null/false to skip it), got {type(data).__name__}"
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k, v in data.items():
        if k not in names:
            raise AlignpipeError(f"{where}: unknown key '{key}.{k}'; expected one of {', '.join(names)}")
        if not _type_ok(v, hints[k]):
            raise AlignpipeError(f"{where}: '{key}.{k}' must be {_type_name(hints[k])}, got {v!r}")
    try:
        return cls(**data)
    except (ValueError, AlignpipeError) as e:
        raise AlignpipeError(f"{where}: '{key}': {e}") from None


def suite_from_dict(data: Any, where: str = "<suite>", base_dir: str | None = None) -> Suite:
    """Validate a parsed suite mapping into a `Suite`."""
    if not isinstance(data, dict):
        raise AlignpipeError(f"{where}: a suite must be a YAML mapping, got {type(data).__name__}")
    top = {f.name for f in dataclasses.fields(Suite)} - {"path", "base_dir"}
    unknown = sorted(set(data) - top)
    if unknown:
        raise AlignpipeError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; a suite has {', '.join(sorted(top))}"
        )
    kw: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in data:
            if not isinstance(data[key], str):
                raise AlignpipeError(f"{where}: '{key}' must be a string, got {data[key]!r}")
            kw[key] = data[key]
    for key in ("seed",):
        if key in data:
            if not _type_ok(data[key], int):
                raise AlignpipeError(f"{where}: '{key}' must be an integer, got {data[key]!r}")
            kw[key] = data[key]
    if "win_rate" in data:
        if not isinstance(data["win_rate"], bool):
            raise AlignpipeError(f"{where}: 'win_rate' must be true or false, got {data['win_rate']!r}")
        kw["win_rate"] = data["win_rate"]
    for key, cls in SECTIONS.items():
        if key in data:
            built = _build(cls, data[key], where, key)
            if built is None and key in ("generation", "verbosity"):
                built = cls()
            kw[key] = built
    mcs = data.get("multiple_choice") or []
    if not isinstance(mcs, list):
        raise AlignpipeError(
            f"{where}: 'multiple_choice' must be a list of benchmarks, got {type(mcs).__name__}"
        )
    kw["multiple_choice"] = []
    for i, entry in enumerate(mcs):
        mc = _build(MultipleChoiceSection, entry, where, f"multiple_choice[{i}]")
        if mc is None:
            continue
        mc.name = mc.name or (Path(mc.source).stem if mc.source != "default" else "tasks_mc")
        kw["multiple_choice"].append(mc)
    names = [mc.name for mc in kw["multiple_choice"]]
    if len(set(names)) != len(names):
        raise AlignpipeError(f"{where}: multiple_choice benchmark names must be unique, got {names}")
    return Suite(**kw, path=None if where.startswith("<") else where, base_dir=base_dir)


def load_suite(spec: str | None) -> Suite:
    """The suite `spec` names: a packaged suite's name (default "default") or a YAML file."""
    spec = spec or "default"
    path = Path(spec).expanduser()
    packaged = not (spec.endswith((".yaml", ".yml")) or path.is_file() or "/" in spec)
    if packaged:
        if spec not in packaged_suites():
            raise AlignpipeError(
                f"unknown suite {spec!r}: the packaged suites are "
                f"{', '.join(packaged_suites())}; or give a path to a suite .yaml file"
            )
        path = SUITES_DIR / f"{spec}.yaml"
    if not path.is_file():
        raise AlignpipeError(f"suite file {path} does not exist")
    data = read_yaml(path, "suite file", mapping=False)
    if data is None:
        data = {}
    suite = suite_from_dict(data, str(path), base_dir=None if packaged else str(path.parent))
    if isinstance(data, dict) and "name" not in data:
        suite.name = path.stem
    return suite
