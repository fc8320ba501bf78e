"""What every eval section works with: the loaded models, the suite, where results go, and the held-out
responses computed once and shared.

- `Recorder`: what an evaluation found (metrics, skipped sections with reasons, warnings, timings,
  per-sample lists for plots and samples.jsonl);
- `Context`: one evaluation's inputs and the `Recorder`; `ctx.responses()` generates the model's (and the
  reference's) answers to the suite's held-out prompts on first use and scores them with the reward
  model when there is one, so task accuracy, win rate, verbosity and KL all read the same answers;
- `load_rows`: held-out rows of a kind from "default" (the embedded test split) or a local file/folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import warn
from alignpipe.eval.suite import Suite
from alignpipe.inference.generation import Generation, generate_cached, prompt_ids
from alignpipe.inference.loading import Loaded


class Recorder:
    """What an evaluation found: metrics, skipped sections with reasons, warnings and timings."""

    def __init__(self):
        self.metrics: dict = {}
        self.skipped: dict[str, str] = {}
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self.per_sample: dict[str, list] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)

    def skip(self, name: str, reason: str) -> None:
        self.skipped[name] = reason

    def warn(self, text: str) -> None:
        self.warnings.append(warn(text))


def load_rows(source: str, kind: str, n: int | None, suite: Suite) -> tuple[list[dict], str]:
    """The first `n` held-out rows of `kind` from a data source as `alignpipe.core.data` reads it ("default" is
    the embedded data): its test split when it has one, else all its rows."""
    from alignpipe.core.data import load_source

    one_document = kind == "text" and str(source).endswith((".txt", ".txt.gz"))
    src = load_source(
        {"id": source}, kind, seed=suite.seed, base_dir=suite.base_dir, n=None if one_document else n
    )
    ds = src.test if src.test is not None else src.train
    where = src.test_label if src.test is not None else src.label
    if one_document:
        rows = [{"text": "".join(ds["text"])}]  # a text file's lines keep their breaks: one document
    else:
        rows = ds.to_list()
    if not rows:
        raise AlignpipeError(f"{where}: no rows to evaluate on")
    return rows, where


def resolve_path(path: str, suite: Suite) -> Path:
    """A path from a suite, relative to the suite file's folder."""
    p = Path(path).expanduser()
    if not p.is_absolute() and suite.base_dir is not None:
        p = Path(suite.base_dir) / p
    return p


def conversation_with(prompt: list[dict], reply: str) -> list[dict]:
    return [*prompt, {"role": "assistant", "content": reply}]


@dataclass
class Responses:
    """The held-out prompts of the suite's `prompts` section and both models' answers to them."""

    rows: list[dict]
    where: str
    conversations: list[list[dict]]
    model_ids: list[list[int]]  # the prompts in the model's tokens
    model: list[Generation]
    ref: list[Generation] | None
    model_scores: np.ndarray | None = None  # reward-model scores of the whole conversations
    ref_scores: np.ndarray | None = None

    @property
    def model_texts(self) -> list[str]:
        return [g.text for g in self.model]

    @property
    def ref_texts(self) -> list[str] | None:
        return [g.text for g in self.ref] if self.ref is not None else None


@dataclass
class Context:
    """One evaluation: the suite, the loaded models (None where not given), the output folder, the seed."""

    suite: Suite
    out_dir: Path
    seed: int
    lm: Loaded | None = None
    ref: Loaded | None = None
    rm: Loaded | None = None
    guard: object | None = None  # alignpipe.inference.guard.Guard: screens the safety section's prompts
    names: dict[str, str] = field(default_factory=dict)  # model / ref / rm: how judgments name them
    rec: Recorder = field(default_factory=Recorder)
    _responses: Responses | None = None

    def has(self, need: str) -> bool:
        return {"model": self.lm, "ref": self.ref, "reward_model": self.rm}[need] is not None

    @property
    def responses_ready(self) -> bool:
        return self._responses is not None

    def responses(self) -> Responses:
        """The model's and the reference's answers to the held-out prompts (generated on first use)."""
        if self._responses is None:
            self._responses = self._respond()
        return self._responses

    def _respond(self) -> Responses:
        suite, rec = self.suite, self.rec
        rows, where = load_rows(suite.prompts.source, "prompt", suite.prompts.n, suite)
        conversations = [list(r["prompt"]) for r in rows]
        gen = suite.generation
        with rec.timed("generation_model"):
            model_ids = prompt_ids(self.lm.tokenizer, conversations)
            model_gens = generate_cached(self.lm, model_ids, gen, seed=self.seed, desc="model responses")
        ref_gens = None
        if self.ref is not None:
            with rec.timed("generation_ref"):
                ref_ids = prompt_ids(self.ref.tokenizer, conversations)
                ref_gens = generate_cached(self.ref, ref_ids, gen, seed=self.seed, desc="reference responses")
        out = Responses(rows, where, conversations, model_ids, model_gens, ref_gens)
        if self.rm is not None:
            from alignpipe.inference.generation import reward_scores

            with rec.timed("reward_scoring"):
                rm = self.rm
                out.model_scores = reward_scores(
                    rm.model,
                    rm.tokenizer,
                    [conversation_with(c, t) for c, t in zip(conversations, out.model_texts)],
                )
                if ref_gens is not None:
                    out.ref_scores = reward_scores(
                        rm.model,
                        rm.tokenizer,
                        [conversation_with(c, t) for c, t in zip(conversations, out.ref_texts)],
                    )
        return out
