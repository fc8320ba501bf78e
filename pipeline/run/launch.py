"""Running one stage of `alignpipe run`: in this process (its `main(argv)`) or as `accelerate launch` in a
subprocess; either way a stage that does not succeed raises `StageFailed` with a one-line reason.

Everything a stage writes (its prints, Trainer dicts, progress bars, Python warnings, library log records such
as load reports) goes to its log file; to the console as well only with `echo` (`alignpipe run --verbose`)."""

from __future__ import annotations

import collections
import contextlib
import gc
import importlib
import importlib.util
import io
import logging
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.run.recipe import MODULES, StageFailed

# --- running one stage -----------------------------------------------------------------------------


class _Tail:
    """The last lines written, to find an error message a stage printed."""

    def __init__(self, n: int = 200):
        self.lines: collections.deque[str] = collections.deque(maxlen=n)
        self._partial = ""

    def feed(self, s: str) -> None:
        parts = (self._partial + s).replace("\r", "\n").split("\n")
        self._partial = parts.pop()
        self.lines.extend(p for p in parts if p.strip())

    def error_line(self) -> str | None:
        """The last line that reads as an error message (argparse's `prog: error: ...`, `XError: ...`)."""
        for line in reversed(self.lines):
            if (": error: " in line and not line.startswith("alignpipe: error: ")) or line.split(":", 1)[
                0
            ].endswith("Error"):
                return line.strip()
        return None


class _Tee(io.TextIOBase):
    """A console stream while a stage runs: what is written goes to the log (and the tail), and to the console
    only with `echo`. A library may keep this stream after the stage ends: then it writes to the console."""

    def __init__(self, stream, log, tail: _Tail, echo: bool = True):
        self.stream, self.log, self.tail, self.echo = stream, log, tail, echo

    def write(self, s: str) -> int:
        if self.echo or self.log.closed:
            self.stream.write(s)
        if not self.log.closed:
            self.log.write(s)
            self.tail.feed(s)
        return len(s)

    def flush(self) -> None:
        self.stream.flush()
        if not self.log.closed:
            self.log.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


def _console_handlers() -> list[logging.StreamHandler]:
    """Library log handlers that write to a console rather than a file: transformers, datasets and
    huggingface_hub each add one to their logger, bound to the `sys.stderr` of the moment it is made (an
    earlier stage's `_Tee` when that was during the stage)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [
        h
        for lg in loggers
        for h in getattr(lg, "handlers", [])
        if type(h) is logging.StreamHandler and not _is_file(h.stream)
    ]


def _is_file(stream) -> bool:
    """A file on disk (its `name` a path), not a console, pipe or capture (`<stderr>`, a descriptor, none)."""
    name = getattr(stream, "name", None)
    return isinstance(name, str) and not name.startswith("<")


class _Forward(logging.Handler):
    """alignpipe's own warnings (`core.log.warn`) while a stage's output goes to its log only: to `say` too."""

    def __init__(self, say: Callable[[str], None]):
        super().__init__(logging.WARNING)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        self.say(f"warning: {record.getMessage()}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings while a stage runs: to the stage's stderr, whoever recorded them before (pytest)."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextlib.contextmanager
def _captured(
    log_path: Path, tail: _Tail, echo: bool = True, on_warning: Callable[[str], None] | None = None
):
    """Copy stdout, stderr, Python warnings and library logging to the stage's log file while it runs in this
    process; to the console as well only with `echo`. Without it alignpipe's own warnings go to `on_warning`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log, warnings.catch_warnings():  # each stage logs its own
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)  # libraries' own handlers write to the stage's stderr (below)
        forward = _Forward(on_warning) if on_warning is not None and not echo else None
        if forward is not None:
            logging.getLogger("alignpipe").addHandler(forward)
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, log, tail, echo), _Tee(err, log, tail, echo)
        bound = {h: h.stream for h in _console_handlers()}
        for h in bound:
            h.setStream(sys.stderr)
        warnings.showwarning = _show_warning  # put back by catch_warnings
        try:
            yield log
        finally:
            for h in _console_handlers():  # those made during the stage are bound to its _Tee
                stream = bound.get(h, h.stream)
                while isinstance(stream, _Tee):
                    stream = stream.stream
                h.setStream(stream)
            sys.stdout, sys.stderr = out, err
            logging.getLogger().removeHandler(handler)
            if forward is not None:
                logging.getLogger("alignpipe").removeHandler(forward)


def reset_process_state() -> None:
    """Let the next in-process stage build its own Accelerator (accelerate keeps process-wide singletons)."""
    try:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    except ImportError:
        pass
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _reason(e: BaseException, tail: _Tail) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if not isinstance(e, AlignpipeError):
        msg = f"{type(e).__name__}: {msg}"
    if "see the message above" in msg and tail.error_line():
        msg = f"{msg.replace(' (see the message above)', '')}: {tail.error_line()}"
    return msg


def run_in_process(
    stage: str,
    argv: list[str],
    log_path: Path,
    *,
    echo: bool = True,
    on_warning: Callable[[str], None] | None = None,
) -> None:
    """Call the stage's `main(argv)`, its output going to `log_path` (and the console with `echo`); raise
    StageFailed with a one-line reason if it does not succeed."""
    tail = _Tail()
    with _captured(log_path, tail, echo, on_warning) as log:
        try:
            module = importlib.import_module(MODULES[stage])
            rc = module.main(list(argv))
        except SystemExit as e:  # argparse-based commands exit on bad flags
            rc = e.code if isinstance(e.code, int) else 2
        except KeyboardInterrupt:
            raise
        except Exception as e:
            log.write(traceback.format_exc())
            raise StageFailed(_reason(e, tail)) from e
        finally:
            reset_process_state()
    if rc:
        line = tail.error_line()
        raise StageFailed(f"exited with code {rc}" + (f": {line}" if line else ""))


def launch_command(stage: str, argv: list[str], accelerate_config: Path) -> list[str]:
    script = Path(importlib.util.find_spec(MODULES[stage]).origin)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(accelerate_config),
        str(script),
        *argv,
    ]


def run_subprocess(cmd: list[str], log_path: Path, *, echo: bool = True) -> None:
    """Run `cmd` (an argument list, no shell), streaming its output to the log file (and the console with
    `echo`)."""
    tail = _Tail()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            for line in proc.stdout:
                if echo:
                    sys.stdout.write(line)
                log.write(line)
                tail.feed(line)
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
    if rc:
        errors = [ln for ln in tail.lines if ln.startswith("alignpipe: error:")]
        line = errors[-1][len("alignpipe: error:") :].strip() if errors else tail.error_line()
        raise StageFailed(line or f"exited with code {rc} (see {log_path})")
