"""How `chat` and `generate` pick tokens: named presets plus flags, turned into the one settings object the
eval uses (`alignpipe.inference.generation.GenerationSettings`).

Presets (``--preset``, default ``balanced``):

| preset     | decoding                                   | for                                          |
|------------|--------------------------------------------|----------------------------------------------|
| `greedy`   | the most likely token each step            | reproducible answers, tests, benchmarks      |
| `balanced` | temperature 0.7, top-p 0.9                 | the usual production default for chat        |
| `creative` | temperature 1.0, top-p 0.95                | varied drafts, brainstorming                 |

Flags given on top of a preset replace its values: ``--temperature``, ``--top-k`` (0 = off), ``--top-p``
(1 = off), ``--repetition-penalty`` (1 = off), ``--max-new-tokens``; ``--greedy`` is the `greedy` preset.
A sampling flag (temperature, top-k, top-p) with ``--greedy`` is refused: greedy decoding ignores them.
``--seed`` (default 0) seeds sampling: the same seed, prompts and settings give the same output.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from alignpipe.core.errors import AlignpipeError

if TYPE_CHECKING:  # the settings class loads torch; flags are checked without it
    from alignpipe.inference.generation import GenerationSettings

PRESETS: dict[str, dict] = {
    "greedy": {"greedy": True},
    "balanced": {"greedy": False, "temperature": 0.7, "top_p": 0.9, "top_k": 0},
    "creative": {"greedy": False, "temperature": 1.0, "top_p": 0.95, "top_k": 0},
}
DEFAULT_PRESET = "balanced"
SAMPLING_FLAGS = ("temperature", "top_k", "top_p")


def add_sampling_args(parser: argparse.ArgumentParser, *, max_new_tokens: int) -> None:
    g = parser.add_argument_group("sampling (a preset, then flags that replace its values)")
    g.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET, help="default: %(default)s")
    g.add_argument("--greedy", action="store_true", help="greedy decoding (the `greedy` preset)")
    g.add_argument("--temperature", type=float, help="> 0; lower is more deterministic")
    g.add_argument("--top-k", type=int, help="sample from the k most likely tokens (0 = off)")
    g.add_argument("--top-p", type=float, help="nucleus sampling: the smallest set with this mass, in (0, 1]")
    g.add_argument("--repetition-penalty", type=float, help="> 0; 1 = off, > 1 discourages repeats")
    g.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="default: %(default)s")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")


def settings_from_args(args: argparse.Namespace, batch_size: int = 16) -> GenerationSettings:
    """The preset, with every flag given replacing its value; a clear error for a bad or contradictory one."""
    values = check_sampling(args)
    from alignpipe.inference.generation import GenerationSettings

    return GenerationSettings(**values, max_new_tokens=args.max_new_tokens, batch_size=batch_size)


def check_sampling(args: argparse.Namespace) -> dict:
    """The sampling values the flags give (preset, then flags), checked; no torch needed."""
    greedy = args.greedy or args.preset == "greedy"
    given = {k: getattr(args, k) for k in SAMPLING_FLAGS if getattr(args, k) is not None}
    if greedy and given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise AlignpipeError(
            f"{flags} has no effect with greedy decoding; drop it or choose a sampling preset"
        )
    checks = [
        ("temperature", lambda v: v > 0, "must be > 0 (use --greedy for deterministic decoding)"),
        ("top_k", lambda v: v >= 0, "must be >= 0 (0 = off)"),
        ("top_p", lambda v: 0 < v <= 1, "must be in (0, 1] (1 = off)"),
        ("repetition_penalty", lambda v: v > 0, "must be > 0 (1 = off)"),
        ("max_new_tokens", lambda v: v >= 1, "must be >= 1"),
    ]
    for name, ok, expected in checks:
        value = getattr(args, name)
        if value is not None and not ok(value):
            raise AlignpipeError(f"--{name.replace('_', '-')} {expected}, got {value}")
    values = {**PRESETS["greedy" if greedy else args.preset], **given}
    if args.repetition_penalty is not None:
        values["repetition_penalty"] = args.repetition_penalty
    return values


def describe(settings: GenerationSettings) -> str:
    """One line for a banner or a log: how tokens are picked."""
    if settings.greedy:
        how = "greedy"
    else:
        parts = [f"temperature {settings.temperature:g}"]
        if settings.top_k:
            parts.append(f"top-k {settings.top_k}")
        if settings.top_p < 1:
            parts.append(f"top-p {settings.top_p:g}")
        how = ", ".join(parts)
    if settings.repetition_penalty != 1:
        how += f", repetition penalty {settings.repetition_penalty:g}"
    return f"{how}, at most {settings.max_new_tokens} new tokens"
