"""Running one stage of `alignpipe run`: in this process (its `main(argv)`, output copied to the stage's log)
or as `accelerate launch` in a subprocess (output streamed to the console and the log); either way a stage
that does not succeed raises `StageFailed` with a one-line reason."""

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
    def __init__(self, stream, log, tail: _Tail):
        self.stream, self.log, self.tail = stream, log, tail

    def write(self, s: str) -> int:
        self.stream.write(s)
        if not self.log.closed:  # a library may keep this stream after the stage ends
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


@contextlib.contextmanager
def _captured(log_path: Path, tail: _Tail):
    """Copy stdout, stderr and library logging to the stage's log file while it runs in this process."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        loggers = [logging.getLogger(), logging.getLogger("transformers")]
        for lg in loggers:
            lg.addHandler(handler)
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, log, tail), _Tee(err, log, tail)
        try:
            yield log
        finally:
            sys.stdout, sys.stderr = out, err
            for lg in loggers:
                lg.removeHandler(handler)


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


def run_in_process(stage: str, argv: list[str], log_path: Path) -> None:
    """Call the stage's `main(argv)`; raise StageFailed with a one-line reason if it does not succeed."""
    tail = _Tail()
    with _captured(log_path, tail) as log:
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


def run_subprocess(cmd: list[str], log_path: Path) -> None:
    """Run `cmd` (an argument list, no shell), streaming its output to the console and the log file."""
    tail = _Tail()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            for line in proc.stdout:
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
