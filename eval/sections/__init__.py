"""The sections of `alignpipe eval`: one module per metric family, one entry per section in `SECTIONS`.

`alignpipe.eval.runner` walks `SECTIONS` in order. For each entry it records, in eval.json's ``skipped``, why
the section did not run (the suite lacks it, or a model it needs was not given), or runs ``section.run(ctx)``
timed under the section's name. A section writes its figures to ``ctx.rec.metrics[name]`` and may add
per-sample lists (``ctx.rec.per_sample``) and warnings. The sections that read answers to the held-out
prompts share them through ``ctx.responses()`` (generated once, `alignpipe.eval.context`).

Adding a section:
1. a module here with the metric as plain functions (tested against a hand computation) and ``run(ctx)``;
2. its settings as a dataclass in `alignpipe.eval.suite` (with the packaged suites' YAML);
3. an entry in `SECTIONS` below (what it needs, why it may be absent);
4. its headline figure in `alignpipe.eval.schema.summary` and its table in `alignpipe.eval.report.model`;
5. docs/eval.md (what it measures, exactly) and a test in tests/test_eval_runner.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alignpipe.eval.context import Context
from alignpipe.eval.sections import (
    harness,
    kl,
    multiple_choice,
    perplexity,
    reward,
    safety,
    tasks,
    verbosity,
    win_rate,
)
from alignpipe.eval.suite import Suite

#: Why a section that needs a model did not run.
MISSING = {"model": "no --model given", "ref": "no reference model", "reward_model": "no reward model"}


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[Context], None]
    configured: Callable[[Suite], bool]  # does the suite ask for it?
    absent: str | None  # the reason recorded when it does not (None: nothing recorded)
    needs: tuple[str, ...] = ("model",)  # of "model", "ref", "reward_model"
    missing: str | None = None  # the reason when a need is unmet (default: MISSING of the first one)
    off: Callable[[Suite], str | None] | None = None  # the suite has it but turned it off: why
    check: Callable[[Context], object] | None = None  # validates its inputs before any section runs

    def why_not(self, ctx: Context) -> str | None:
        """The reason this section does not run on `ctx`, or None when it runs."""
        if not self.configured(ctx.suite):
            return self.absent
        reason = self.off(ctx.suite) if self.off is not None else None
        if reason is None:
            unmet = [need for need in self.needs if not ctx.has(need)]
            reason = (self.missing or MISSING[unmet[0]]) if unmet else None
        return reason


def _prompts(suite: Suite) -> bool:
    return suite.prompts is not None


NO_PROMPTS = "the suite has no prompts section"
NOT_IN_SUITE = "not in the suite"

SECTIONS: tuple[Section, ...] = (
    Section("perplexity", perplexity.run, lambda s: s.perplexity is not None, NOT_IN_SUITE),
    Section("multiple_choice", multiple_choice.run, lambda s: bool(s.multiple_choice), None),
    Section("harness", harness.run, lambda s: s.harness is not None and bool(s.harness.tasks), None),
    Section("task_accuracy", tasks.run, _prompts, NO_PROMPTS),
    Section(
        "win_rate",
        win_rate.run,
        _prompts,
        NO_PROMPTS,
        needs=("model", "ref", "reward_model"),
        missing="needs a reference model and a reward model",
        off=lambda s: None if s.win_rate else "turned off in the suite",
    ),
    Section("verbosity", verbosity.run, _prompts, NO_PROMPTS),
    Section(
        "safety",
        safety.run,
        lambda s: s.safety is not None,
        NOT_IN_SUITE,
        check=lambda ctx: safety.safety_rows(ctx, say=False),
    ),
    Section(
        "kl",
        kl.run,
        lambda s: s.kl is not None,
        NOT_IN_SUITE,
        needs=("model", "ref"),
        missing="needs --model and a reference model",
    ),
    Section(
        "reward_accuracy",
        reward.run,
        lambda s: s.reward_accuracy is not None,
        NOT_IN_SUITE,
        needs=("reward_model",),
    ),
)
