"""A training stage's command-line options, remembered, so that `alignpipe STAGE --help` and a bad flag or
recipe key are answered without importing torch, Transformers or TRL (which takes ~10 s here).

A stage parses `--config RECIPE.yaml [--key value ...]` with TRL's `TrlParser` over its dataclasses
(`alignpipe.training.configs`); building that parser needs TRL. Each time one is built, `remember` saves
its options (names, types, choices) and its help text under `cache_dir()/options/KEY.json`, where KEY
digests the installed trl and transformers versions and alignpipe's own stage and training sources (and
this file): any change to them is a new key, so a remembered parser is never stale. `make`'s install step
fills it for every stage (`python -m alignpipe.stages`, ~12 s); any run of a stage fills it for that one.

`precheck(stage, argv)` runs in the CLI before the stage's module is imported. With the stage remembered it
prints the help, or refuses an unknown option, a value of the wrong type or out of range (`VALUE_RULES`), or
an unknown recipe key, each in one line; otherwise (nothing remembered, or all is well) the stage parses
for real, with the same rules. This module imports nothing heavy.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from alignpipe.core.cache import cache_dir
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import atomic_open, read_yaml

DTYPES = (None, "auto", "float32", "bfloat16", "float16")

#: field -> (is the value acceptable, what is expected). Checked on every parsed config that has the field,
#: by the stage's own parser (`training.configs.check_values`) and, before anything heavy, by `precheck`.
VALUE_RULES = {
    "learning_rate": (lambda v: v > 0, "a positive number (0 would train nothing)"),
    "average_with_start": (lambda v: 0 < v <= 1, "a weight in (0, 1] for the trained model (1 = off)"),
    "per_device_train_batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "per_device_eval_batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, "an integer >= 1"),
    "num_train_epochs": (lambda v: v > 0, "a positive number"),
    "max_steps": (lambda v: v == -1 or v >= 1, "an integer >= 1, or -1 (use num_train_epochs)"),
    "max_train_samples": (lambda v: v >= 1, "an integer >= 1, or null for every row"),
    "max_eval_samples": (
        lambda v: v >= 0,
        "an integer >= 0 (0: no held-out evaluation), or null for every row",
    ),
    "max_length": (lambda v: v >= 1, "an integer >= 1, or null"),
    "max_prompt_length": (lambda v: v >= 1, "an integer >= 1, or null"),
    "max_completion_length": (lambda v: v >= 1, "an integer >= 1, or null"),
    "response_length": (lambda v: v >= 1, "an integer >= 1 (tokens PPO generates per answer)"),
    "total_episodes": (lambda v: v >= 1, "an integer >= 1, or null"),
    "warmup_ratio": (lambda v: 0 <= v < 1, "a fraction in [0, 1)"),
    "threshold_split": (
        lambda v: 0 <= v < 1,
        "a share of the training goals in [0, 1) (0: no threshold chosen)",
    ),
    "max_benign_flagged": (lambda v: 0 <= v < 1, "a share in [0, 1)"),
    "weight_decay": (lambda v: v >= 0, "a number >= 0"),
    "beta": (lambda v: v >= 0, "a number >= 0"),
    "kl_coef": (lambda v: v >= 0, "a number >= 0"),
    "temperature": (lambda v: v > 0, "a positive number"),
    "logging_steps": (lambda v: v > 0, "a positive number"),
    "dtype": (lambda v: v in DTYPES, f"one of {', '.join(str(d) for d in DTYPES[1:])}"),
}


def value_problems(values: dict) -> list[str]:
    """`VALUE_RULES` applied to {field: value}: one "field: expected X, got Y" per value out of range."""
    problems = []
    for name, value in values.items():
        rule = VALUE_RULES.get(name)
        if rule is None or value is None or isinstance(value, bool):
            continue
        ok, expected = rule
        try:
            good = ok(value)
        except TypeError:
            good = False
        if not good:
            problems.append(f"{name}: expected {expected}, got {value!r}")
    return list(dict.fromkeys(problems))


# ---- the cache -------------------------------------------------------------------------------------------

_SOURCES = ("stages", "training")  # alignpipe's folders whose code defines what a stage's parser accepts


@functools.cache  # the sources and versions do not change within a process
def _key() -> str:
    h = hashlib.sha256()
    for dist in ("trl", "transformers"):
        try:
            h.update(f"{dist}=={metadata.version(dist)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist} missing;".encode())
    root = Path(__file__).resolve().parent.parent
    for path in [Path(__file__).resolve()] + [p for f in _SOURCES for p in sorted((root / f).glob("*.py"))]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())  # this file too: it writes the description
    return h.hexdigest()[:24]


def _cache_file() -> Path:
    return cache_dir() / "options" / f"{_key()}.json"


def _load() -> dict:
    try:
        return json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _type_name(action: argparse.Action) -> str | None:
    if action.choices is not None:
        return "choice"
    # TRL wraps the converter of a `T | None` field to read "none"/"null" as None, keeping T's name
    name = getattr(action.type, "__name__", "")
    name = {"string_to_bool": "bool"}.get(name, name)
    return name if name in ("int", "float", "str", "bool") else None  # others are checked by the real parse


def _accepts_none(action: argparse.Action) -> bool:
    return "_accept_none" in getattr(action.type, "__qualname__", "")


def _choice_text(c) -> str:
    return str(getattr(c, "value", c))


def describe(parser: argparse.ArgumentParser) -> dict:
    """What `precheck` needs of a parser: its help text and each option's spelling, kind, type and choices."""
    actions = []
    for a in parser._actions:
        if not a.option_strings or isinstance(a, argparse._HelpAction):
            continue
        actions.append(
            {
                "flags": list(a.option_strings),
                "dest": a.dest,
                "kind": type(a).__name__,
                "nargs": a.nargs,
                "const": a.const if isinstance(a.const, (bool, int, float, str, type(None))) else None,
                "type": _type_name(a),
                "none": _accepts_none(a),
                "choices": [_choice_text(c) for c in a.choices] if a.choices is not None else None,
            }
        )
    return {"help": parser.format_help(), "actions": actions}


def remember(stage: str, parser: argparse.ArgumentParser) -> None:
    """Save `parser`'s description as `stage`'s (atomically; a cache that cannot be written is skipped)."""
    path = _cache_file()
    known = _load()
    if known.get(stage) is not None:
        return
    known[stage] = describe(parser)
    try:
        with atomic_open(path) as f:
            json.dump(known, f)
    except OSError:
        pass


def remembered(stage: str) -> dict | None:
    return _load().get(stage)


# ---- the check -------------------------------------------------------------------------------------------


def _to_bool(text: str) -> bool:  # transformers' string_to_bool
    if isinstance(text, bool):
        return text
    if text.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if text.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(
        f"Truthy value expected: got {text} but expected one of yes/no, true/false"
    )


_TYPES = {"int": int, "float": float, "str": str, "bool": _to_bool, "choice": str, None: None}
_KINDS = {
    "_StoreFalseAction": "store_false",
    "_StoreTrueAction": "store_true",
    "_StoreConstAction": "store_const",
}


def _converter(action: dict):
    convert = _TYPES[action["type"]]
    if convert is None or not action["none"]:
        return convert

    def or_none(text: str):
        return None if text.lower() in ("none", "null") else convert(text)

    or_none.__name__ = convert.__name__  # argparse names the type in "invalid int value"
    return or_none


class _Refused(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _Refused(message)


def _parser(prog: str, described: dict) -> _Parser:
    p = _Parser(prog=prog, add_help=False)
    for a in described["actions"]:
        kind = _KINDS.get(a["kind"])
        if kind in ("store_false", "store_true"):
            p.add_argument(*a["flags"], dest=a["dest"], action=kind)
        elif kind == "store_const":
            p.add_argument(*a["flags"], dest=a["dest"], action=kind, const=a["const"])
        else:
            kw = {"dest": a["dest"], "nargs": a["nargs"], "type": _converter(a), "choices": a["choices"]}
            if a["nargs"] == "?":
                kw["const"] = a["const"]
            p.add_argument(*a["flags"], **kw)
    return p


def _unknown(flag: str, flags: list[str], what: str = "option") -> str:
    close = difflib.get_close_matches(flag, flags, n=1)
    return f"unknown {what} {flag}" + (f" (did you mean {close[0]}?)" if close else "")


def _recipe_values(path: str, described: dict) -> dict:
    """The recipe's settings, converted as the real parser converts a string default (YAML reads `1e-4` as
    a string), each key checked against the options."""
    config = dict(read_yaml(path, "recipe"))  # UTF-8, YAML, a mapping: or an error naming the line
    config.pop("env", None)
    by_dest = {a["dest"]: a for a in described["actions"]}
    unknown = [k for k in config if k not in by_dest]
    if unknown:
        dests = list(by_dest)
        raise AlignpipeError(f"{path}: " + "; ".join(_unknown(k, dests, "key") for k in unknown))
    values = {}
    for key, value in config.items():
        convert = _TYPES[by_dest[key]["type"]]
        if isinstance(value, str) and convert in (int, float, _to_bool):
            convert = _converter(by_dest[key])
            try:
                value = convert(value)
            except (ValueError, argparse.ArgumentTypeError):
                raise AlignpipeError(
                    f"{path}: {key}: expected {by_dest[key]['type']}, got {value!r}"
                ) from None
        choices = by_dest[key]["choices"]
        if choices is not None and value is not None and _choice_text(value) not in choices:
            raise AlignpipeError(f"{path}: {key}: expected one of {', '.join(choices)}, got {value!r}")
        values[key] = value
    return values


def precheck(stage: str, argv: list[str]) -> bool:
    """Answer `alignpipe STAGE ARGV` from the remembered parser where it can: True after printing the help,
    AlignpipeError for a bad option, value or recipe key; False to go on to the stage (all is well, or this
    stage's parser is not remembered yet)."""
    described = remembered(stage)
    if described is None:
        return False
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(described["help"])
        return True
    argv = list(argv)
    recipe, values = "command line", {}
    if "--config" in argv[:-1]:
        i = argv.index("--config")
        recipe = argv[i + 1]
        del argv[i : i + 2]
        if not os.path.isfile(recipe):
            raise AlignpipeError(f"recipe {recipe} does not exist")
        values = _recipe_values(recipe, described)
    parser = _parser(f"alignpipe {stage}", described)
    try:
        namespace, rest = parser.parse_known_args(argv)
    except _Refused as e:
        raise AlignpipeError(f"{recipe}: {e}") from None
    if rest:
        flags = [f for a in described["actions"] for f in a["flags"]]
        unknown = [_unknown(r, flags) for r in rest if r.startswith("-")]
        raise AlignpipeError(f"{recipe}: " + ("; ".join(unknown) or f"unexpected arguments {' '.join(rest)}"))
    given = {k: v for k, v in vars(namespace).items() if v is not None}
    problems = value_problems({**values, **given})
    if problems:
        raise AlignpipeError(f"{recipe}: " + "; ".join(problems))
    return False
