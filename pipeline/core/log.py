"""Output, rank-aware: one printer (`echo`) and one warning channel (`warn`) for all of alignpipe.

Under `accelerate launch` or `torchrun` every rank runs the same script; only the main process
(`RANK` 0, or no `RANK` at all) prints, so a message appears once, not once per process. Libraries'
own logs (Trainer, TRL) keep their own rank handling.

- `echo(*parts, err=False)`: a line for the user, on stdout (or stderr), flushed;
- `say_error(text)`: an error line on stderr from every rank (the others prefixed "[rank N]");
- `warn(text)`: "warning: text" on stderr, through the `alignpipe` logger, so a caller that collects
  warnings (eval) or a log file (`alignpipe run`) sees the same line.
The stream is looked up when a line is written, so `alignpipe run`'s log capture sees it.
"""

from __future__ import annotations

import logging
import os
import sys


def is_main_process() -> bool:
    """Rank 0 of a distributed launch, or a plain single process."""
    for var in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value not in (None, ""):
            return int(value) == 0
    return True


def echo(*parts: object, err: bool = False, end: str = "\n") -> None:
    """`print` on the main process only, flushed at once."""
    if is_main_process():
        print(*parts, file=sys.stderr if err else sys.stdout, end=end, flush=True)


def say_error(text: str) -> None:
    """An error line on stderr from every process (each rank may fail for its own reason); ranks other
    than the main one name themselves."""
    rank = os.environ.get("RANK")
    prefix = f"[rank {rank}] " if rank not in (None, "", "0") else ""
    print(prefix + text, file=sys.stderr, flush=True)


class _CurrentStderr(logging.StreamHandler):
    """A handler that writes to whatever `sys.stderr` is at the time (a run's log capture replaces it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _logger() -> logging.Logger:
    log = logging.getLogger("alignpipe")
    if not any(isinstance(h, _CurrentStderr) for h in log.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(levelname_lower)s: %(message)s"))
        handler.addFilter(_lower_level)
        handler.addFilter(lambda _record: is_main_process())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # a run's log file gets it through stderr, once
    return log


def _lower_level(record: logging.LogRecord) -> bool:
    record.levelname_lower = record.levelname.lower()
    return True


def warn(text: str) -> str:
    """Say `text` as a warning (main process only); returns it, for callers that also record it."""
    _logger().warning(text)
    return text
