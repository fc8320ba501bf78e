"""Recipe parsing shared by every stage: one YAML file per recipe, command-line flags override it.

Each stage parses `(DataArguments | a subclass, <TRL config class>, trl.ModelConfig)` with
`parse_stage_args`, a thin layer over TRL's `TrlParser` that also:
- makes fp32 on CPU the default when no CUDA device is present (TRL's configs
  default to bf16, which fails on CPU), after the recipe's own values;
- turns bad recipes and flags into an `AlignpipeError` that names the recipe;
- turns every model or tokenizer path that names a `.gguf` file (`model_name_or_path`,
  `ref_model_name_or_path`, `reward_model_path`, ...) into the checkpoint folder it is imported to
  (`alignpipe.models.gguf_import.resolve`), so the stage sees a folder.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

from trl import ModelConfig, ScriptArguments, TrlParser

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import read_yaml
from alignpipe.core.options import remember, value_problems
from alignpipe.models.gguf_import import is_gguf, resolve


@dataclass
class DataArguments(ScriptArguments):
    """Data and tokenizer settings common to all stages (TRL's ScriptArguments plus a mixture)."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub id, local file/folder, or 'default' (the embedded data)."}
    )
    dataset_mixture: dict[str, Any] | None = field(
        default=None,
        metadata={"help": "Weighted mixture of sources with a held-out split; see pipeline/core/data.py."},
    )
    chat_template: str | None = field(
        default=None,
        metadata={"help": "A template name ('minigpt', 'chatml'), a .jinja file, or inline Jinja."},
    )
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "Tokenizer to use; defaults to the model's own."}
    )
    test_split_size: float | None = field(
        default=0.05, metadata={"help": "Held-out fraction of a source that has no test split."}
    )
    drop_long_rows: bool = field(
        default=False,
        metadata={"help": "Leave out rows longer than max_length (counted on stderr) instead of stopping."},
    )
    max_eval_samples: int | None = field(
        default=None,
        metadata={"help": "Cap on held-out rows used for eval (0: none; eval is `alignpipe eval`'s)."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Cap on training rows (smoke tests)."}
    )
    average_with_start: float = field(
        default=1.0,
        metadata={
            "help": "Save average_with_start x the trained weights + (1 - it) x the starting checkpoint's "
            "(model averaging, which keeps more of what the start knew; 1 = off)."
        },
    )
    merge_adapter: bool = field(
        default=False,
        metadata={
            "help": "Under LoRA (use_peft): save the base with the trained adapter merged in, a full checkpoint "
            "that the next stage, eval and from_pretrained load as it is, instead of the adapter alone."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Start over in an output_dir that holds checkpoints or a model of other settings (its "
            "checkpoints are removed); without it such a folder is refused."
        },
    )


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class StageParser(TrlParser):
    """TrlParser that picks working precision on CPU and reports bad recipes clearly."""

    def __init__(self, dataclass_types, **kwargs):
        super().__init__(dataclass_types, **kwargs)
        self._cpu_defaults()

    def _cpu_defaults(self) -> None:
        if not _has_cuda():
            self.set_defaults(bf16=False, fp16=False, use_cpu=True)

    def error(self, message: str):  # argparse would print the whole usage and exit; say the one thing wrong
        raise ValueError(message)

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        rest = super().set_defaults_with_config(**kwargs)
        self._cpu_defaults()  # a recipe written for GPUs (bf16: true) still runs here
        return rest


def parse_stage_args(dataclass_types, argv: list[str] | None = None, *, prog: str | None = None):
    """Parse `--config RECIPE.yaml [--key value ...]` into one instance of each dataclass type; `prog` names
    the command in usage and error messages (e.g. "alignpipe sft")."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = StageParser(dataclass_types, prog=prog)
    if prog and prog.startswith("alignpipe "):
        remember(prog.split()[-1], parser)  # `alignpipe STAGE --help` and bad flags answered without TRL
    recipe = argv[argv.index("--config") + 1] if "--config" in argv[:-1] else "command line"
    if recipe != "command line":
        read_yaml(recipe, "recipe")  # UTF-8, valid YAML, a mapping: or an error naming the line
    try:
        parsed = parser.parse_args_and_config(argv)
    except FileNotFoundError as e:
        raise AlignpipeError(f"recipe {e.filename} does not exist") from e
    except (ValueError, TypeError) as e:
        raise AlignpipeError(f"{recipe}: {e}") from e
    except SystemExit as e:  # argparse: unknown flag or bad value; it printed the reason already
        if e.code:
            raise AlignpipeError(f"{recipe}: invalid arguments (see the message above)") from e
        raise
    for obj in parsed:
        if isinstance(obj, ModelConfig):
            _normalise_lora_targets(obj)
    check_values(parsed, recipe)
    resolve_gguf_paths(parsed)
    return parsed


#: fields that name a model or tokenizer to load, in every config class a stage parses
MODEL_PATH_SUFFIXES = ("_name_or_path", "_model_path")


def resolve_gguf_paths(parsed) -> None:
    """Each model path field that names a `.gguf` file now names its imported checkpoint folder."""
    for obj in parsed:
        if not dataclasses.is_dataclass(obj):
            continue
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name, None)
            if f.name.endswith(MODEL_PATH_SUFFIXES) and is_gguf(value):
                setattr(obj, f.name, resolve(value))


def check_values(parsed, recipe: str = "command line") -> None:
    """Settings that would fail late (or, worse, train silently wrong) stop here, before any model loads:
    numbers out of range (`core.options.VALUE_RULES`, which the CLI also checks before importing TRL).
    (Booleans need no check here: the parser turns "false" into False; the pipeline recipe's `enabled` is
    checked where it is read.)"""
    problems = []
    for obj in parsed:
        if dataclasses.is_dataclass(obj):
            problems += value_problems({f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)})
    if problems:
        raise AlignpipeError(f"{recipe}: " + "; ".join(dict.fromkeys(problems)))


def _normalise_lora_targets(model_args: ModelConfig) -> None:
    """One module name on the command line arrives as a string, which PEFT would read as a full-match regex
    over whole module paths (matching nothing); a list of names is what users mean. 'all-linear' stays."""
    t = model_args.lora_target_modules
    if isinstance(t, str) and t != "all-linear":
        model_args.lora_target_modules = [t]


__all__ = ["DataArguments", "ModelConfig", "StageParser", "parse_stage_args"]
