"""What `chat` and `generate` share: the loading flags, the model (any checkpoint `alignpipe eval` loads:
MiniGPT or any causal LM folder, an exported checkpoint, a LoRA adapter on its base, a Hub id; quantised
with bitsandbytes on request), the optional guard, and prompt rendering with the model's chat template."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alignpipe.core.errors import AlignpipeError

if TYPE_CHECKING:  # torch and Transformers load only when a model does (`open_session`): --help is instant
    from alignpipe.inference.guard import Guard
    from alignpipe.inference.loading import Loaded


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", help="a checkpoint folder (e.g. runs/minigpt/dpo), a LoRA adapter, or a Hub id"
    )
    g = parser.add_argument_group("loading")
    bits = g.add_mutually_exclusive_group()
    bits.add_argument("--load-in-4bit", action="store_true", help="NF4 weights (bitsandbytes)")
    bits.add_argument("--load-in-8bit", action="store_true", help="int8 weights (bitsandbytes LLM.int8)")
    g.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    g.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    g.add_argument("--guard", metavar="DIR", help="a guard classifier (alignpipe guard) that screens prompts")
    g.add_argument(
        "--guard-threshold",
        type=float,
        default=None,
        help="flag at P(unsafe) >= this (default: the threshold the guard stage chose, else 0.5)",
    )


def check_model_args(args: argparse.Namespace) -> None:
    """The loading flags' checks that need no model (before torch loads)."""
    from alignpipe.inference.guard import check_threshold

    check_threshold(args.guard_threshold, args.guard)


@dataclass
class Session:
    lm: Loaded
    guard: Guard | None
    load_s: float

    @property
    def context(self) -> int | None:
        from alignpipe.inference.generation import max_positions

        return max_positions(self.lm.model)

    def prompt_ids(self, messages: list[dict], raw: bool = False) -> list[int]:
        """The tokens the model sees: the conversation in its chat template with the generation prompt, or
        (`raw`) the text as it is, for plain completion."""
        from alignpipe.inference.generation import encode, render

        tok = self.lm.tokenizer
        text = "".join(m["content"] for m in messages) if raw else render(tok, messages, True)
        return encode(tok, text)


def open_session(args: argparse.Namespace) -> Session:
    import torch

    from alignpipe.inference.guard import Guard
    from alignpipe.inference.loading import load_lm

    start = time.perf_counter()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AlignpipeError(
            f"--device {device}: this machine has no CUDA device torch can use; use --device cpu"
        )
    precision = "nf4" if args.load_in_4bit else "int8" if args.load_in_8bit else "none"
    guard = Guard.load(args.guard, device=device, threshold=args.guard_threshold) if args.guard else None
    lm = load_lm(args.model, device=device, dtype=args.dtype, precision=precision)
    return Session(lm, guard, time.perf_counter() - start)
