"""The one exception type users see instead of a library traceback.

Anything the user can fix (a bad data row, a missing file, an incompatible
tokenizer) raises `AlignpipeError` with a message that says where and what was
expected. `cli.main` and each stage's `__main__` print it and exit with code 2.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable

from alignpipe.core.log import say_error


class AlignpipeError(Exception):
    """A problem in the user's input or configuration, with a clear message."""


class DataError(AlignpipeError):
    """A bad data row: names the file, the row (1-based, as editors count lines) and the field."""

    def __init__(self, source: str, row: int | None, field: str | None, expected: str):
        self.source, self.row, self.field, self.expected = source, row, field, expected
        where = str(source)
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {expected}")


def run_cli(main: Callable[..., int | None], argv: list[str] | None = None) -> int:
    """Run a command's `main`, turning an AlignpipeError into a message and exit code 2. Under
    `accelerate launch` the process group is destroyed before the process exits: gloo's threads left
    running at interpreter shutdown can abort a rank that has finished its work (SIGABRT)."""
    try:
        return int(main(argv) or 0)
    except AlignpipeError as e:
        say_error(f"alignpipe: error: {e}")
        return 2
    except KeyboardInterrupt:
        say_error("alignpipe: interrupted")
        return 130
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" while writing {e.filename}" if e.filename else ""
        say_error(
            f"alignpipe: error: the disk is full{where}; free some space and run again (files written "
            "atomically, such as manifests and run records, keep their previous version)"
        )
        return 2
    finally:
        _destroy_process_group()


def _destroy_process_group() -> None:
    dist = sys.modules.get("torch.distributed")  # imported only if something set up distributed work
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
