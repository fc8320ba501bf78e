"""Reward functions for online RL (GRPO, RLOO): a small registry that recipes name.

    reward_funcs: [task_correctness, safety]      # names from REWARDS, `module:function`, or reward_model
    reward_weights: [1.0, 1.0]

Each is a TRL reward function: called with ``prompts``, ``completions`` (text, or lists of chat messages)
and every other dataset column as keyword lists, it returns one float per completion, or None where it has
no opinion (TRL then leaves that reward out of the weighted sum for that completion).

- `task_correctness`: 1 when the row's task (its ``task`` column, `alignpipe.tasks`: the embedded rule, GSM8K's,
  or your own grader) accepts the completion against the row's ``answer``, else 0; None for rows without an
  answer. Eval's task accuracy grades with the same registry, so a task added there is rewardable too.
- `task_partial_credit`: 1 for a correct answer as above (its task's grader); a wrong one gets `partial` (0.5) x how much of the
  expected answer it has (difflib's similarity of the two answers' items, in [0, 1]), so that the groups of
  a model that is nearly right still carry a signal; None for rows without an answer.
- `gsm8k_correctness`: the `gsm8k` task's grader for every row: 1 when the completion's final number equals the
  reference's, else 0. The reference is
  the row's ``answer`` in GSM8K's form (worked solution, then ``#### 42``) or a bare number; the completion's
  final number is the one after its last ``####``, else its last number. None for rows without an answer.
- `safety`: for rows labelled ``safety: unsafe``, 1 for a refusal and 0 otherwise; for ``benign`` rows, 1 for
  an answer and 0 for a refusal (the classifier of `alignpipe eval`'s safety section,
  `alignpipe.core.refusals.is_refusal`); None for rows without a label.
- ``reward_model``: a learned reward model at `reward_model_path` (TRL scores each prompt + completion with
  it), as in PPO.
- ``module:function``: any function of TRL's signature ``(prompts, completions, **kwargs) -> list[float | None]``.

An unknown name, a function that cannot be imported, or one whose signature cannot take TRL's arguments stops
the stage before training with an error that names it; so does prompt data without the column a named reward
reads (`check_columns`). Every function is wrapped (`checked`) so that a wrong number of scores, a score that is
not a number, or NaN/inf stops training at the first step with an error naming the function (TRL itself would
read NaN as "no opinion").
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import math
from collections.abc import Callable

from alignpipe import tasks
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.graders import answer_items, final_answer, gsm8k_final_number
from alignpipe.core.refusals import is_refusal


def completion_text(completion) -> str:
    """A completion as text: the string itself, or the contents of its assistant messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if isinstance(m, dict))


def _per_row(name: str | None, n: int) -> list:
    return name if name is not None else [None] * n


def task_correctness(prompts, completions, answer=None, task=None, **kwargs) -> list[float | None]:
    answers, names = _per_row(answer, len(completions)), _per_row(task, len(completions))
    return [
        tasks.task_of(t, a).reward(a, completion_text(c))
        for c, a, t in zip(completions, answers, names, strict=True)
    ]


def task_partial_credit(
    prompts, completions, answer=None, task=None, partial: float = 0.5, **kwargs
) -> list[float | None]:
    answers, names = _per_row(answer, len(completions)), _per_row(task, len(completions))
    out: list[float | None] = []
    for c, a, t in zip(completions, answers, names, strict=True):
        if a is None:
            out.append(None)
            continue
        text = completion_text(c)
        if tasks.task_of(t, a).grade(str(a), text):
            out.append(1.0)
            continue
        want, got = " ".join(answer_items(str(a))), " ".join(answer_items(final_answer(text)))
        out.append(partial * difflib.SequenceMatcher(None, want, got, autojunk=False).ratio())
    return out


def gsm8k_correctness(prompts, completions, answer=None, **kwargs) -> list[float | None]:
    gsm8k = tasks.task("gsm8k")
    answers = _per_row(answer, len(completions))
    return [
        None if a is None or gsm8k_final_number(str(a)) is None else gsm8k.reward(a, completion_text(c))
        for c, a in zip(completions, answers, strict=True)
    ]


def safety(prompts, completions, safety=None, **kwargs) -> list[float | None]:
    labels = safety if safety is not None else [None] * len(completions)
    out: list[float | None] = []
    for c, label in zip(completions, labels, strict=True):
        if label not in ("unsafe", "benign"):
            out.append(None)
            continue
        refused = is_refusal(completion_text(c))
        out.append(float(refused if label == "unsafe" else not refused))
    return out


REWARDS: dict[str, Callable] = {
    "task_correctness": task_correctness,
    "task_partial_credit": task_partial_credit,
    "gsm8k_correctness": gsm8k_correctness,
    "safety": safety,
}
REWARD_MODEL = "reward_model"
#: The data column each built-in reward reads; a prompt set without it gives that reward nothing to score.
NEEDS: dict[str, str] = {
    "task_correctness": "answer",
    "task_partial_credit": "answer",
    "gsm8k_correctness": "answer",
    "safety": "safety",
}


def check_columns(names: list[str], data, source: str) -> None:
    """Stop when a named built-in reward's column is missing from `data` or empty in every row."""
    for name in names:
        column = NEEDS.get(name)
        if column is None:
            continue
        if column not in data.column_names:
            raise AlignpipeError(
                f"{source}: reward function {name} reads each row's {column!r}, but the prompt data has no such "
                f"column (columns: {', '.join(data.column_names)}); add it, or drop {name} from reward_funcs"
            )
        if all(v is None for v in data[column]):
            raise AlignpipeError(
                f"{source}: reward function {name} reads each row's {column!r}, but it is empty in all "
                f"{len(data)} rows"
            )


def _checked_scores(name: str, scores, n: int) -> list:
    try:
        scores = list(scores)
    except TypeError:
        raise AlignpipeError(
            f"reward function {name} returned {type(scores).__name__}; expected a list of {n} floats "
            "(one per completion, None for no opinion)"
        ) from None
    if len(scores) != n:
        raise AlignpipeError(f"reward function {name} returned {len(scores)} scores for {n} completions")
    for i, v in enumerate(scores):
        if v is None:
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise AlignpipeError(
                f"reward function {name}: score {i} is {v!r}; expected a float or None"
            ) from None
        if not math.isfinite(x):
            raise AlignpipeError(
                f"reward function {name}: score {i} is {x}; return a finite float, or None for no opinion"
            )
    return scores


def checked(fn: Callable, name: str) -> Callable:
    """`fn` with its scores checked on every call (count, type, finite); keeps its name for TRL's logs."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def checked_async(*args, **kwargs):
            return _checked_scores(name, await fn(*args, **kwargs), len(kwargs.get("completions", ())))

        return checked_async

    @functools.wraps(fn)
    def checked_fn(*args, **kwargs):
        return _checked_scores(name, fn(*args, **kwargs), len(kwargs.get("completions", ())))

    return checked_fn


def _takes_trl_arguments(fn: Callable) -> bool:
    """TRL calls reward functions with keywords: prompts, completions, completion_ids and every dataset column.
    A function fits when it takes **kwargs and requires nothing but prompts and completions."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = {
        p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    positional_only = any(p.kind is p.POSITIONAL_ONLY for p in params)
    return (
        any(p.kind is p.VAR_KEYWORD for p in params)
        and required <= {"prompts", "completions"}
        and not positional_only
    )


def resolve_rewards(names: list[str], reward_model_path: str | None = None) -> list:
    """The reward functions (and reward-model paths) `names` asks for, in order, checked before training."""
    if not names:
        raise AlignpipeError(
            f"reward_funcs is empty; name at least one of {', '.join([*REWARDS, REWARD_MODEL])}"
        )
    out = []
    for name in names:
        if name in REWARDS:
            out.append(checked(REWARDS[name], name))
        elif name == REWARD_MODEL:
            if not reward_model_path:
                raise AlignpipeError(
                    "reward_funcs names reward_model: set reward_model_path (a reward model folder)"
                )
            out.append(reward_model_path)
        elif ":" in name:
            module, _, attr = name.partition(":")
            try:
                fn = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError, ValueError) as e:
                raise AlignpipeError(f"reward function {name!r}: cannot import it ({e})") from None
            if not callable(fn) or not _takes_trl_arguments(fn):
                raise AlignpipeError(
                    f"reward function {name!r}: expected TRL's signature (prompts, completions, **kwargs) -> "
                    "list of floats"
                )
            out.append(checked(fn, name))
        else:
            raise AlignpipeError(
                f"unknown reward function {name!r}; known: {', '.join([*REWARDS, REWARD_MODEL])}, or module:function"
            )
    return out
