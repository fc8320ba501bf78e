"""alignpipe's cache folder, and data sets kept there by content so that no stage tokenises the same rows twice.

`cache_dir()` is `$ALIGNPIPE_CACHE`, else `$XDG_CACHE_HOME/alignpipe`, else `~/.cache/alignpipe`. It holds
what can be made again: the embedded corpus, imported GGUF models, data sets, and results of inference
(`cached_rows`: eval's answers by weights, prompts and settings; a guard's scores). Deleting it costs time only.

`disk_backed(dd)`: a stage's train/test splits are built in memory (rows made, converted, validated). An
in-memory `datasets.Dataset` has no cache file, so the trainer's own `map` (TRL's chat template and tokeniser)
runs again on every run. Saved under `cache_dir()/datasets/<content digest>/` and loaded back, the same rows
become a disk-backed data set, and `datasets` then caches every `map` on it next to it, keyed by the
transform's fingerprint (its function and arguments, the tokenizer included): a re-run, a resumed stage or
another seed on the same rows loads the tokenised rows instead of making them again. The digest is of the
rows' Arrow table and features, so different rows never share a folder. With `datasets.disable_caching()`
the splits are returned as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    """Where alignpipe keeps what it can make again."""
    if os.environ.get("ALIGNPIPE_CACHE"):
        return Path(os.environ["ALIGNPIPE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alignpipe"


def inference_cache_on() -> bool:
    """Whether inference results are read from and written to the cache (ALIGNPIPE_GENERATION_CACHE=0: off)."""
    return os.environ.get("ALIGNPIPE_GENERATION_CACHE", "1") != "0"


def cached_rows(folder: str, identity: dict, n: int, make: Callable[[], list]) -> tuple[list, bool]:
    """(rows, read from the cache): the `n` JSON rows stored under `cache_dir()/folder/` for `identity` (everything
    the rows depend on), else `make()`'s, stored for next time. Off (`inference_cache_on`): `make()`'s. An
    unreadable entry is made again; a read-only cache costs time, not results."""
    from alignpipe.core.io import write_json

    if not inference_cache_on():
        return make(), False
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
    path = cache_dir() / folder / f"{key}.json"
    try:
        rows = json.loads(path.read_text())
        if isinstance(rows, list) and len(rows) == n:
            return rows, True
    except (OSError, ValueError, TypeError):
        pass  # absent or unreadable: make them again
    rows = make()
    try:
        write_json(path, rows)
    except OSError:
        pass
    return rows, False


def content_digest(ds) -> str:
    """sha256 of a data set's rows (its Arrow table, as IPC bytes) and features."""
    import pyarrow as pa

    h = hashlib.sha256(repr(ds.features).encode())
    sink = pa.BufferOutputStream()
    table = ds.with_format(None).data.table.combine_chunks()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    h.update(sink.getvalue())
    return h.hexdigest()


def _disk_backed(ds):
    import datasets

    if ds.cache_files or not datasets.is_caching_enabled() or len(ds) == 0:
        return ds  # an empty split (max_eval_samples: 0) has nothing to tokenise, and saves no shard to load
    ds = ds.flatten_indices() if ds._indices is not None else ds  # `select` keeps an index map over the rows
    folder = cache_dir() / "datasets" / content_digest(ds)[:32]
    if not (folder / "state.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
        try:
            ds.save_to_disk(str(tmp))
            os.replace(tmp, folder)  # atomic; another process that got there first wins
        except OSError:
            if not (folder / "state.json").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return datasets.load_from_disk(str(folder))


def disk_backed(dd):
    """`dd` (a DatasetDict) with each split replaced by the same rows loaded from the content cache."""
    import datasets

    return datasets.DatasetDict({name: _disk_backed(ds) for name, ds in dd.items()})
