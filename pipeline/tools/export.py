"""`alignpipe export CHECKPOINT -o OUT`: a MiniGPT checkpoint as a plain Transformers model (GPT-2 or GPT-NeoX
layout, `alignpipe.models.export`) or as a GGUF file for llama.cpp (`--to gguf`, `alignpipe.models.gguf`).

The output follows the output-path policy (README, "Reliability"): a folder for `--to transformers`, a file for
`--to gguf`; an existing one is replaced, whole, only with `--overwrite`. Arguments and the output path are
checked before torch loads.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from alignpipe.core.io import output_dir, output_file, replacing_dir
from alignpipe.core.log import echo
from alignpipe.core.outputs import check_tokenizer_saved
from alignpipe.models.gguf import OUTTYPES  # numpy only: --help stays light


@contextlib.contextmanager
def merged_if_adapter(checkpoint: str) -> Iterator[str]:
    """The checkpoint itself, or, for a LoRA adapter, its base with the adapter merged in (a temporary folder
    with the adapter's tokenizer): llama.cpp runs plain weights."""
    if not (Path(checkpoint) / "adapter_config.json").is_file():
        yield checkpoint
        return
    from alignpipe.tools.merge import merge

    with tempfile.TemporaryDirectory(prefix="alignpipe-merge-") as tmp:
        merge(checkpoint, tmp)  # `alignpipe merge`'s own: the base with the adapter in, and the tokenizer
        yield tmp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="alignpipe export", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("-o", "--output", required=True, help="a folder (transformers) or a .gguf file (gguf)")
    ap.add_argument(
        "--to", choices=("transformers", "gguf"), default="transformers", help="default: %(default)s"
    )
    ap.add_argument(
        "--outtype", choices=OUTTYPES, default="f16", help="GGUF weight type (default: %(default)s)"
    )
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)
    check_tokenizer_saved(args.checkpoint, "export")  # an export without its tokenizer answers nothing
    if args.to == "gguf":
        from alignpipe.models.gguf import export_gguf, write_modelfile

        output_file(args.output, "export: -o", overwrite=args.overwrite)
        with merged_if_adapter(args.checkpoint) as source:
            info = export_gguf(source, args.output, args.outtype)
            modelfile = write_modelfile(source, args.output)
        echo(
            f"exported {args.checkpoint} -> {info['file']} (GGUF, llama.cpp architecture {info['architecture']}, "
            f"{args.outtype}, {info['bytes'] / 1e6:.1f} MB); Ollama: {modelfile}"
        )
        return 0
    out = output_dir(args.output, "export: -o", overwrite=args.overwrite)
    from alignpipe.models.export import export

    with replacing_dir(out) as tmp:  # whole or not at all, never mixed with what was there
        diff = export(args.checkpoint, str(tmp), args.atol)
    from transformers import AutoConfig

    arch = AutoConfig.from_pretrained(args.output).architectures[0]
    echo(f"exported {args.checkpoint} -> {args.output} as {arch} (max |logit diff| {diff:.2e})")
    return 0
