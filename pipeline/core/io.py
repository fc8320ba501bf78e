"""Small rules every part of alignpipe shares, each written once.

- `write_json` / `write_text` / `atomic_open`: atomic writes (a temporary file beside the target, then `os.replace`), so a
  reader never sees half a file and a crash leaves the previous version;
- `is_secret_key`, `mask_secrets`, `mask_argv`: which settings are secrets (Hub tokens, passwords, API keys)
  and how every file the project writes (manifest, recipes, run records, cards, logs) leaves them out;
- `locate`: whether a model or data reference is a local path or a Hub id, and a clear error for a local
  path that does not exist.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from alignpipe.core.errors import AlignpipeError

# --------------------------------------------------------------------------- reading text and YAML

BOM = b"\xef\xbb\xbf"


def utf8_problem(data: bytes) -> str | None:
    """Where `data` stops being UTF-8 ("line L, column C: byte 0xNN"), or None when all of it is."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return (
            f"line {line}, column {column}: byte 0x{data[e.start]:02x} is not UTF-8; save the file as UTF-8"
        )
    return None


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file (a byte-order mark is dropped); a clear error naming the line that is not UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AlignpipeError(f"{what} {path} does not exist") from None
    except OSError as e:
        raise AlignpipeError(f"{what} {path}: cannot read it ({e.strerror or e})") from None
    problem = utf8_problem(data)
    if problem:
        raise AlignpipeError(f"{what} {path}: {problem}")
    return data.removeprefix(BOM).decode("utf-8")


def read_json(path: str | Path) -> Any:
    """A JSON file's content, or None when it is absent or unreadable (bookkeeping files that a crash may have
    left half-written are read as missing; files a user gives are read with errors that say what is wrong)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_yaml(path: str | Path, what: str = "recipe", *, mapping: bool = True) -> Any:
    """A YAML file read safely; errors name the file, the line and what is wrong. `mapping`: it must be one."""
    import yaml

    text = read_text(path, what)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise AlignpipeError(f"{what} {path}: not valid YAML{at}: {problem}") from None
    if mapping and data is not None and not isinstance(data, dict):
        raise AlignpipeError(
            f"{what} {path}: expected a mapping of settings (key: value), got {type(data).__name__}"
        )
    return {} if mapping and data is None else data


# --------------------------------------------------------------------------- atomic writes


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy/torch scalars as numbers, NaN/inf as null, tuples as lists, other objects as
    their string."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[IO[str]]:
    """A text file to write that replaces `path` only when the block ends without an error (parent folders
    are created; on an error the temporary file is removed and `path` is left as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        os.chmod(tmp, file_mode(path))  # mkstemp makes 0600; the file gets what any other tool would give it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def _umask() -> int:
    """The process's umask (read by setting it and putting it back: the only way; once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def follow_umask(folder: str | Path) -> None:
    """Every file and folder under `folder` gets what the umask gives (0666/0777 less it): libraries that write
    through mkstemp (Transformers' weight shards) leave 0600, which no other tool would."""
    for f in Path(folder).rglob("*"):
        if not f.is_symlink():
            os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~_umask())


def file_mode(path: Path) -> int:
    """The permissions a written file gets: those of the file it replaces, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


# --------------------------------------------------------------------------- the output-path policy
#
# One rule for every command that writes (generate, chat /save, export, merge, eval, data convert, publish
# --dry-run): a file output refuses an existing folder and a folder output refuses an existing file; an
# existing output (a file, or a folder with anything in it) is replaced only with --overwrite, and then whole,
# never mixed with what was there; missing parent folders are created; files follow the umask.


def _parents_are_folders(path: Path, what: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise AlignpipeError(f"{what} {path}: {parent} is a file, so nothing can be written under it")
            return


def output_file(path: str | Path, what: str, *, overwrite: bool = False, flag: str = "--overwrite") -> Path:
    """Check a file output before any work is done (see the policy above); returns it as a Path."""
    path = Path(path).expanduser()
    _parents_are_folders(path, what)
    if path.is_dir():
        raise AlignpipeError(f"{what} {path} is a folder; give the path of a file to write")
    if path.exists() and not overwrite:
        raise AlignpipeError(f"{what} {path} exists; pass {flag} to replace it")
    return path


def output_dir(path: str | Path, what: str, *, overwrite: bool = False, flag: str = "--overwrite") -> Path:
    """Check a folder output before any work is done (see the policy above); returns it as a Path."""
    path = Path(path).expanduser()
    _parents_are_folders(path, what)
    if path.exists() and not path.is_dir():
        raise AlignpipeError(f"{what} {path} is a file; give the path of a folder to write")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise AlignpipeError(f"{what} {path} exists and is not empty; pass {flag} to replace it")
    return path


@contextlib.contextmanager
def replacing_dir(path: str | Path) -> Iterator[Path]:
    """A fresh folder beside `path` to write the output into; when the block ends without an error it takes
    `path`'s place (what was there is removed, never mixed in), else it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        follow_umask(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """`data` as indented JSON (see `jsonable`), written atomically."""
    return write_text(path, json.dumps(jsonable(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- secrets

MASK = "***"
#: A setting is a secret when one of the words of its name (split at `_`, `-`, `.` and case changes) is one
#: of these, or the name contains one of `SECRET_PHRASES`...
SECRET_WORDS = frozenset(
    {"token", "password", "passwd", "secret", "key", "apikey", "credential", "credentials"}
)
SECRET_PHRASES = ("api_key", "apikey", "access_token", "auth_token", "hf_token")
#: ...unless it names a tokenizer's special token or counts tokens (`pad_token`, `eos_token_id`, `stop_token`,
#: `max_new_tokens` are settings, not secrets).
SPECIAL_TOKEN_FIELDS = frozenset(
    f"{w}_token" for w in ("pad", "bos", "eos", "unk", "sep", "cls", "mask", "stop", "additional_special")
)


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_key(name: object) -> bool:
    """Whether a setting called `name` holds a secret (the one rule: run records, manifest, recipes, publish)."""
    words = _words(str(name))
    key = "_".join(words)
    if key in SPECIAL_TOKEN_FIELDS or key.endswith(("_token_id", "_token_ids")):
        return False
    if any(p in key for p in SECRET_PHRASES):
        return True
    return any(w in SECRET_WORDS for w in words)


def mask_secrets(obj: Any) -> Any:
    """A copy of `obj` (nested dicts and lists) with every secret setting's value replaced by `MASK`."""
    if isinstance(obj, dict):
        return {
            k: (MASK if is_secret_key(k) and v not in (None, "") else mask_secrets(v)) for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [mask_secrets(v) for v in obj]
    return obj


def mask_argv(argv: list[str]) -> list[str]:
    """Command-line arguments with the value after a secret flag (`--hub_token X`, `--api-key=X`) masked."""
    out = list(argv)
    for i, a in enumerate(out):
        if not a.startswith("-"):
            continue
        flag, eq, _ = a.partition("=")
        if not is_secret_key(flag):
            continue
        if eq:
            out[i] = f"{flag}={MASK}"
        elif i + 1 < len(out):
            out[i + 1] = MASK
    return out


# --------------------------------------------------------------------------- local path or Hub id

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_FILE_SUFFIXES = (
    ".json",
    ".jsonl",
    ".parquet",
    ".csv",
    ".txt",
    ".gz",
    ".yaml",
    ".yml",
    ".safetensors",
    ".bin",
)


def looks_like_hub_id(ref: str) -> bool:
    """`Qwen/Qwen2.5-0.5B`, `openai-community/gpt2`: an owner and a name, nothing that only a path has. A bare
    name (`gpt2`, `nope`) is not taken for a Hub id: it is far likelier a local folder that is not there."""
    s = str(ref)
    return (
        bool(_HUB_ID.match(s))
        and "/" in s
        and not s.startswith((".", "~"))
        and ".." not in s
        and not s.lower().endswith(_FILE_SUFFIXES)
    )


def locate(
    ref: str | os.PathLike, what: str, base_dir: str | Path | None = None, hint: str = ""
) -> Path | str:
    """The existing local file or folder `ref` names (a `Path`), else `ref` itself as a Hub id (a `str`).

    A reference that exists locally (relative to `base_dir` when given) is local; one that does not and is
    shaped like a Hub id is a Hub id; anything else is a local path that does not exist: an AlignpipeError
    naming `what` and the path, followed by `hint`."""
    ref = str(ref)
    path = Path(ref).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if path.exists():
        return path
    if looks_like_hub_id(ref):
        return ref
    shown = "" if str(path.resolve()) == ref else f" ({path.resolve()})"
    bare = "/" not in ref and _HUB_ID.match(ref)
    note = " (no local file or folder of that name; a Hub repo is named owner/name)" if bare else ""
    raise AlignpipeError(f"{what} {ref} does not exist{shown}{note}" + (f"; {hint}" if hint else ""))


_HUB_STATE: dict[str, str | None] = {}


def hub_offline_reason() -> str | None:
    """Why the Hugging Face Hub cannot be reached from here (HF_HUB_OFFLINE, or no route to it within a few
    seconds), or None when it can. Asked once per process."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    if "reason" not in _HUB_STATE:
        import socket

        try:
            socket.create_connection(("huggingface.co", 443), timeout=3).close()
            _HUB_STATE["reason"] = None
        except OSError as e:
            _HUB_STATE["reason"] = f"huggingface.co is not reachable: {e.strerror or e}"
    return _HUB_STATE["reason"]


def check_hub_model(ref: str, what: str) -> None:
    """Before a Hub model is asked for (minutes of retries when offline): when the Hub cannot be reached and no
    copy of `ref` is in the local Hub cache, an AlignpipeError at once that says so."""
    why = hub_offline_reason()
    if why is None:
        return
    from huggingface_hub import try_to_load_from_cache

    for name in ("config.json", "tokenizer_config.json", "adapter_config.json"):
        if isinstance(try_to_load_from_cache(ref, name), str):
            return  # cached: transformers reads it from the cache
    raise AlignpipeError(
        f"cannot load {what} {ref!r} from the Hugging Face Hub ({why}): no local folder {ref} exists and no copy "
        "is in the Hub cache; give a local path, or download it where the Hub is reachable"
    )


def hub_unreachable(what: str, ref: str, error: Exception) -> AlignpipeError:
    """The error for a Hub id that could not be loaded: offline, unknown, or gated."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else "is the Hub reachable?"
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return AlignpipeError(f"cannot load {what} {ref!r} from the Hugging Face Hub ({why}): {first}")


def check_source(
    ref, what: str, hint: str = "run the stage that writes it first?", label: str | None = None
) -> Path | str:
    """Local paths before the Hub, before anything is loaded: an existing path is local; a name shaped
    `owner/name` is a Hub id, refused at once when the Hub is out of reach and nothing is cached; anything else
    does not exist (one line each, naming it as `label`, by default "cannot load WHAT:"). Returns what `locate`
    does."""
    where = locate(ref, label or f"cannot load {what}:", hint=hint)
    if isinstance(where, str):
        check_hub_model(where, what)
    return where
