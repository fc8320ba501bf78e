"""What `alignpipe run` shows while it works.

On a terminal: one live table (rich), a line per stage with its status (pending, running, done, skipped,
failed) and duration; the running stage shows a progress bar with step/max_steps, the latest loss and the time
left, a finished stage its held-out headline figure (`HEADLINES`). When stdout is not a terminal (CI, a pipe)
or with `--verbose`: plain lines, one per event (a stage started; each tenth of its steps, with step/max, loss,
elapsed time and time left; a stage finished, with its duration and headline figure; a stage failed, with its
reason). The stages' own output goes to their log files (`run.launch`), and to the console only with --verbose.

Training progress comes from `run.progress.ProgressCallback`: `RunView.watch` puts one in
`alignpipe.training.stage.CALLBACKS`, so every trainer a stage trains in this process reports to the view. A stage
run under `accelerate launch` (a subprocess) reports no steps: its line shows it running, with its duration.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from alignpipe.core.io import read_json
from alignpipe.core.registry import STAGES, TRAINING

#: A finished stage's headline figure: stage -> (metric key in RUN_DIR/<stage>/run_record.json, label); for
#: eval, the key in the summary of each RUN_DIR/eval/<model>/eval.json.
HEADLINES = {s.name: s.headline for s in STAGES if s.headline}  # from the stage registry
#: What a running stage's line shows from the trainer's logs: the first of these keys a log has (PPO logs no
#: `loss`; its reward says more than its policy loss).
FIGURES = (("loss", "loss"), ("objective/rlhf_reward", "reward"))
STYLES = {
    "pending": "dim",
    "running": "bold cyan",
    "done": "green",
    "skipped": "yellow",
    "failed": "bold red",
}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def fmt_number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.4g}"


def headline(run_dir: Path, name: str, models: list[str] = ()) -> str | None:
    """A finished stage's held-out figure (`HEADLINES`), or None when it has none or did not record it."""
    if name not in HEADLINES:
        return None
    key, label = HEADLINES[name]
    if name == "eval":
        values = [
            (m, ((read_json(run_dir / "eval" / m / "eval.json") or {}).get("summary") or {}).get(key))
            for m in models
        ]
        shown = [f"{m} {fmt_number(v)}" for m, v in values if isinstance(v, (int, float))]
        return f"{label}: {', '.join(shown)}" if shown else None
    value = ((read_json(run_dir / name / "run_record.json") or {}).get("metrics") or {}).get(key)
    return f"{label} {fmt_number(value)}" if isinstance(value, (int, float)) else None


@dataclass
class StageState:
    """What the view knows of one stage."""

    name: str
    status: str = "pending"
    started: float | None = None
    duration: float | None = None
    text: str = ""  # why it was skipped, why it failed, its headline, what eval is doing
    step: int = 0
    max_steps: int = 0
    first_step: int = 0  # where training (re)started: the time left is measured from there
    train_started: float | None = None
    figure: tuple[str, float] | None = None  # the latest logged loss: (label, value)
    figure_step: int = -1
    tenth: int = 0  # plain lines: the last tenth of max_steps a line was written for
    held: bool = False  # plain lines: a progress line waits for its step's log

    def seconds(self, now: float) -> float | None:
        if self.duration is not None or self.started is None:
            return self.duration
        return now - self.started

    def eta(self, now: float) -> float | None:
        if self.train_started is None or self.step <= self.first_step or not self.max_steps:
            return None
        per_step = (now - self.train_started) / (self.step - self.first_step)
        return per_step * max(self.max_steps - self.step, 0)

    def progress(self, now: float) -> str:
        """`step/max  loss 5.930  ETA 12.0s`."""
        parts = [f"{self.step}/{self.max_steps}"]
        if self.figure is not None:
            parts.append(f"{self.figure[0]} {fmt_number(self.figure[1])}")
        eta = self.eta(now)
        if self.max_steps and self.step >= self.max_steps:
            parts.append("evaluating, saving")
        elif eta is not None:
            parts.append(f"ETA {fmt_duration(eta)}")
        return "  ".join(parts)


def render(states: list[StageState], now: float) -> Table:
    """The live view of `states` at time `now`."""
    table = Table.grid(padding=(0, 2))
    for justify in ("left", "left", "left", "right", "left"):
        table.add_column(justify=justify, no_wrap=True)
    for i, s in enumerate(states, 1):
        seconds = s.seconds(now)
        table.add_row(
            Text(f"[{i}/{len(states)}]", style="dim"),
            Text(s.name, style="bold"),
            Text(s.status, style=STYLES.get(s.status, "")),
            Text(fmt_duration(seconds) if seconds is not None else ""),
            _detail(s, now),
        )
    return table


def _detail(s: StageState, now: float):
    if s.status == "running" and s.max_steps:
        row = Table.grid(padding=(0, 1))
        row.add_row(
            ProgressBar(total=s.max_steps, completed=min(s.step, s.max_steps), width=24), s.progress(now)
        )
        return row
    if s.status == "running" and not s.text:
        return Text("loading data and models" if s.name in TRAINING else "", style="dim")
    return Text(s.text, style={"failed": "red", "skipped": "dim"}.get(s.status, ""))


class RunView:
    """The stages of one `alignpipe run`, shown live (`live`) or as plain lines written to `out`."""

    def __init__(self, stages: list[str], *, live: bool = False, out=None):
        self.out = out if out is not None else sys.stdout  # kept: a running stage replaces sys.stdout
        self.states = {n: StageState(n) for n in stages}
        self.index = {n: i for i, n in enumerate(stages, 1)}
        self.width = max(map(len, stages))
        self.live = None
        if live:
            console = Console(file=self.out)
            self.live = Live(console=console, get_renderable=self.renderable, refresh_per_second=4)

    @classmethod
    def for_console(cls, stages: list[str], verbose: bool = False) -> RunView:
        """Live on a terminal, plain lines otherwise or with `verbose` (the stages' output is shown then)."""
        tty = getattr(sys.stdout, "isatty", lambda: False)() and os.environ.get("TERM") != "dumb"
        return cls(stages, live=tty and not verbose)

    def renderable(self) -> Table:
        return render(list(self.states.values()), time.time())

    def __enter__(self):
        if self.live is not None:
            self.live.start()  # sys.stdout and sys.stderr print above the table until it stops
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()

    # --- events ------------------------------------------------------------------------------------

    def say(self, name: str, text: str) -> None:
        """A line about stage `name` (`[i/n] name  text`): above the live table, or a plain line."""
        self.note(f"[{self.index[name]}/{len(self.index)}] {name:<{self.width}}  {text}")

    def note(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(Text(text))
        else:
            print(text, file=self.out, flush=True)

    def _set(self, name: str, status: str, text: str, plain: str) -> None:
        s = self.states[name]
        s.status, s.text = status, text
        if self.live is None:
            self.say(name, plain)

    def skipped(self, name: str, why: str) -> None:
        self._set(name, "skipped", why, f"skipped ({why})")

    def started(self, name: str, detail: str = "") -> None:
        self.states[name] = StageState(name, started=time.time())
        self._set(name, "running", "", "running" + detail)

    def finished(self, name: str, duration: float, figure: str | None) -> None:
        self.states[name].duration = duration
        self._set(
            name,
            "done",
            figure or "",
            f"done in {fmt_duration(duration)}" + (f"; {figure}" if figure else ""),
        )

    def failed(self, name: str, duration: float, reason: str) -> None:
        self._flush(self.states[name])
        self.states[name].duration = duration
        self._set(name, "failed", reason, f"FAILED after {fmt_duration(duration)}: {reason}")

    def part(self, name: str, text: str) -> None:
        """What a stage made of parts (eval: one evaluation per model) is doing."""
        self.states[name].text = text
        if self.live is None:
            self.note(f"      {text}")

    # --- training progress (from run.progress.ProgressCallback) ------------------------------------

    @contextlib.contextmanager
    def watch(self, name: str):
        """While stage `name` runs in this process, every trainer `training.stage.finish` trains reports here."""
        if name not in TRAINING:
            yield
            return
        from alignpipe.run.progress import ProgressCallback
        from alignpipe.training import stage

        callback = ProgressCallback(self, name)
        stage.CALLBACKS.append(callback)
        try:
            yield
        finally:
            stage.CALLBACKS.remove(callback)

    def train_begin(self, name: str, step: int, max_steps: int) -> None:
        s = self.states[name]
        s.step = s.first_step = step
        s.max_steps, s.train_started = max_steps, time.time()
        s.tenth = step * 10 // max_steps if max_steps else 0

    def train_step(self, name: str, step: int, max_steps: int) -> None:
        s = self.states[name]
        self._flush(s)  # its step's log did not come
        s.step, s.max_steps = step, max_steps
        tenth = step * 10 // max_steps if max_steps else 0
        if self.live is None and tenth > s.tenth:
            s.tenth, s.held = tenth, True
            if s.figure_step == step:  # PPOTrainer logs before its step ends
                self._flush(s)

    def train_log(self, name: str, step: int, logs: dict) -> None:
        s = self.states[name]
        if step != s.step:  # a later step's log (PPOTrainer logs before its step ends)
            self._flush(s)
        for key, label in FIGURES:
            if isinstance(logs.get(key), (int, float)):
                s.figure, s.figure_step = (label, float(logs[key])), step
                break
        if s.figure_step == step:
            self._flush(s)

    def train_end(self, name: str) -> None:
        self._flush(self.states[name])

    def _flush(self, s: StageState) -> None:
        """Write the progress line held back for its step's log."""
        if not s.held:
            return
        s.held = False
        now = time.time()
        pct = 100 * s.step // s.max_steps
        elapsed = fmt_duration(now - s.train_started) if s.train_started is not None else "-"
        eta = s.eta(now)
        figure = f"  {s.figure[0]} {fmt_number(s.figure[1])}" if s.figure is not None else ""
        self.say(
            s.name,
            f"step {s.step}/{s.max_steps} ({pct}%){figure}  elapsed {elapsed}"
            + (f", ETA {fmt_duration(eta)}" if eta is not None else ""),
        )
