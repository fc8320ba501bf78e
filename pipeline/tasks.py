"""The task registry: a task owns its grader, and through it its reward (nanochat's Task, as a table).

A data row says which task it is in its ``task`` field and carries its reference ``answer``. Everything that
grades a response asks this registry, by the row's task: eval's task accuracy (`alignpipe.eval.sections.tasks`,
which PPO's held-out evaluation uses too) and the rewards of GRPO and RLOO (`task_correctness` and friends in
`alignpipe.training.rewards`). So a task added here is evaluated and rewardable with no other edit.

- the embedded tasks (`alignpipe.defaults.tasks.TASKS`: add, subtract, compare, ..., and `letters`, the
  verifiable benign safety questions): the embedded rule, `core.graders.check_answer`;
- ``gsm8k``: GSM8K's rule, `core.graders.check_gsm8k` (the number after ``####``);
- your own: a row whose ``task`` is ``package.module:function`` is graded by that function,
  ``function(answer: str, response: str) -> bool``, imported on first use (a function that cannot be imported
  is an error naming it). `alignpipe.tasks.register(Task(...))` adds one by name from your own code.

A row whose task the registry does not know (or that has none) is graded by the embedded rule, unless its
reference is in GSM8K's form ("... #### 42", as the Hub's GSM8K rows are), which GSM8K's rule grades; a row
without an ``answer`` is not graded.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.graders import check_answer, check_gsm8k

Grader = Callable[[str, str], bool]  # (reference answer, response) -> correct


@dataclass(frozen=True)
class Task:
    name: str
    grade: Grader
    help: str = ""

    def reward(self, answer, response: str) -> float | None:
        """1.0 when the response is right, 0.0 when wrong, None when the row has no answer to check."""
        return None if answer is None else float(self.grade(str(answer), response))


def _embedded() -> dict[str, Task]:
    from alignpipe.defaults.tasks import TASKS as GENERATORS

    rows = {
        name: Task(name, check_answer, "an embedded task (alignpipe.defaults.tasks)") for name in GENERATORS
    }
    rows["letters"] = Task("letters", check_answer, "the embedded safety set's verifiable benign questions")
    return rows


#: THE TASK TABLE: name -> Task. (The embedded generators are read once, on first use.)
TASKS: dict[str, Task] = {}
DEFAULT = Task("default", check_answer, "the embedded rule, for rows of no known task")


def _table() -> dict[str, Task]:
    if not TASKS:
        TASKS.update(_embedded())
        TASKS["gsm8k"] = Task("gsm8k", check_gsm8k, "GSM8K: the number after '####' (else the last number)")
    return TASKS


def register(task: Task) -> None:
    """Add (or replace) a task by name: its rows are then graded, and rewarded, by `task.grade`."""
    _table()[task.name] = task


@functools.cache
def _imported(spec: str) -> Task:
    module, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise AlignpipeError(
            f"task {spec!r}: cannot import the grader {name!r} from {module!r} ({e}); a task named "
            "'package.module:function' is graded by that function (answer, response) -> bool"
        ) from None
    if not callable(fn):
        raise AlignpipeError(f"task {spec!r}: {name} in {module} is not a function")
    return Task(spec, lambda answer, response: bool(fn(answer, response)), f"graded by {spec}")


def task(name: str | None) -> Task:
    """The task of a row's ``task`` field: a registered one, an importable `module:function`, else the default."""
    if name and ":" in name and name not in _table():
        return _imported(name)
    return _table().get(name or "", DEFAULT)


def task_of(name: str | None, answer) -> Task:
    """The task that grades a row: by its ``task``; a row of no known task whose reference is in GSM8K's form
    (a worked solution ending "#### 42", as Hub GSM8K rows are) is graded as GSM8K."""
    found = task(name)
    if found is DEFAULT and "####" in str(answer):
        return _table()["gsm8k"]
    return found


def grade(row: dict, response: str) -> bool:
    """Whether `response` answers `row` (its ``answer``, by its task's grader)."""
    return task_of(row.get("task"), row["answer"]).grade(str(row["answer"]), response)


def score(rows: Iterable[dict], responses: Sequence[str]) -> float:
    """Accuracy: the share of `responses` their row's task accepts."""
    rows = list(rows)
    if len(rows) != len(responses):
        raise AlignpipeError(f"score: {len(rows)} records but {len(responses)} responses")
    if not rows:
        raise AlignpipeError("score: no records to score")
    return sum(map(grade, rows, responses)) / len(rows)
