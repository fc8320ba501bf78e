"""Instruction tasks with verifiable answers, the checker that grades them, and the data built from them.

Each task is a real problem with one right answer whose held-out problems can be solved
from the trained ones (no fact that only a held-out prompt holds, such as the spelling of
an unseen word):

    compare       Which is larger, 37 or 52?             52
    sort          Sort in ascending order: 7, 2, 9       2, 7, 9
    reverse       Reverse the list: a, f, c              c, f, a
    count_letter  How many times does the letter a appear in banana?   3
    list_length   How many items are in the list a, f, c?              3
    copy          Repeat after me: (new line) blue cat   blue cat
    convert       How many meters are in 3 km?           3000
    add           What is 23 + 5?                        28        (not in the default mix)
    subtract      What is 67 - 4?                        63        (not in the default mix)
    max           What is the largest number in 4, 9, 2? 9         (not in the default mix)

The default mix (`DEFAULT_TASKS`, what `make_rows` and the demo use) is the first seven:
the ones a ~1M-parameter MiniGPT learns within the demo's few minutes of CPU training.
The last three are sound tasks that need far more of that budget, measured on the
demo's pretrained model (`benchmarks/task_budget.py`): `add` alone reaches 0.73 held-out
accuracy after 500 steps of 32 fresh problems (16,000 examples), but in a mix of all ten
tasks it is at 0.22 after 1,000 steps (about the demo's SFT) and 0.28 after 2,000; a reward
model on all ten plateaued at 0.80 pairwise accuracy, near chance on `add` and `subtract`,
against 0.94 on the seven from the same SFT model.
`make_rows(..., tasks=TASKS)` (or `alignpipe make-data --tasks all`) builds data with
every task for bigger budgets.

Checking a response (`check_answer`)
------------------------------------
The *final answer* of a response is the text after its last answer marker ("answer is",
":" or "=", case-insensitive) up to the end of that line; a response with no marker has
its last non-empty line as final answer. Then:

- a numeric answer (an integer) matches when the final answer holds exactly one number
  and it equals the answer: "68", "The answer is 68.", "23 + 45 = 68" and "3 km = 3000 m."
  match; "67", "68 or 69" and "23 + 45 is 68" (three numbers, no marker) do not;
- any other answer (a list or words) matches when the final answer has the same items in
  the same order, items separated by commas and/or spaces, compared case-insensitively,
  with quotes, brackets and a final full stop ignored: "c, f, a", "[c, f, a]" and
  "Reversed: c f a." match "c, f, a"; "a, f, c" does not.

Every verbose phrasing used below is built to satisfy this rule (and the tests check it).

Data kinds (`make_rows`)
------------------------
- "sft": {"messages": [user, assistant], "task", "answer"}; the reply is correct, terse
  ("68") for 80% of rows and a short verbose phrasing ("The answer is 68.") otherwise.
- "preference": {"prompt": [user], "chosen": [assistant], "rejected": [assistant], "task",
  "answer"}; chosen is correct, rejected a plausible wrong answer (off by one, wrong order,
  a dropped item, ...). A fair coin picks which of the two is longer, so length never
  predicts preference; within that, the two styles follow the SFT replies' mix (mostly
  terse), so preferring chosen teaches correctness rather than a style (about 60% of
  chosen replies are terse).
- "prompt": {"prompt": [user], "task", "answer"} for RL.

Rows cycle through the chosen tasks in order, so every prefix is balanced. The train and test
splits use separate random streams, and a stable hash sends each *problem* (task and
operands, whatever the phrasing) to exactly one side: about 20% of every task's problems
are held out and only they appear in test splits. So no test prompt appears in any train
split, for any seed or size. Test prompts are also unique within a split; a task whose
held-out problems run out contributes fewer rows. Generation is deterministic in
(kind, split, seed, n), and a smaller n gives a prefix of a larger one.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.graders import check_answer

KINDS = ("sft", "preference", "prompt")
SPLITS = ("train", "test")
#: Default number of rows per (kind, split).
SIZES = {
    ("sft", "train"): 5000,
    ("sft", "test"): 250,
    ("preference", "train"): 12000,
    ("preference", "test"): 250,
    ("prompt", "train"): 2000,
    ("prompt", "test"): 500,
}
#: Share of each task's problems kept for test splits only.
HELD_OUT_FRACTION = 0.2
#: Share of SFT replies phrased verbosely rather than as the bare answer.
VERBOSE_FRACTION = 0.2

WORDS = (
    "apple", "banana", "bird", "blue", "book", "bottle", "box", "bread", "button", "cake",
    "candle", "cat", "cloud", "coffee", "cookie", "cup", "dog", "door", "dream", "earth",
    "fish", "flower", "forest", "garden", "grape", "green", "hat", "horse", "house", "juice",
    "kite", "ladder", "lamp", "lemon", "letter", "light", "map", "mirror", "money", "moon",
    "music", "night", "ocean", "orange", "paper", "pencil", "piano", "planet", "purple", "queen",
    "rabbit", "rain", "red", "river", "robot", "rocket", "sheep", "ship", "silver", "smile",
    "snake", "star", "stone", "sugar", "summer", "sun", "table", "tiger", "train", "tree",
    "turtle", "water", "wind", "window", "winter", "yellow", "zebra",
)  # fmt: skip
# (unit, its plural, target unit plural, factor)
UNITS = (
    ("km", "km", "meters", 1000),
    ("m", "m", "centimeters", 100),
    ("cm", "cm", "millimeters", 10),
    ("kg", "kg", "grams", 1000),
    ("liter", "liters", "milliliters", 1000),
    ("dollar", "dollars", "cents", 100),
)
GENERIC_PHRASINGS = ("The answer is {answer}.", "Answer: {answer}")


# --------------------------------------------------------------------------- checking

# the rule is `alignpipe.core.graders.check_answer` (described above); `alignpipe.tasks` grades with it


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Problem:
    """One generated problem: a prompt, its answer, plausible wrong answers and ways to say an answer."""

    task: str
    key: tuple  # the problem itself (operands), independent of the prompt's wording
    prompt: str
    answer: str
    wrong: tuple[str, ...]  # distinct, each failing check_answer
    phrasings: tuple[str, ...]  # verbose templates with an {answer} slot

    def say(self, answer: str, phrasing: str | None = None) -> str:
        """`answer` tersely (phrasing None) or in a verbose phrasing."""
        return answer if phrasing is None else phrasing.format(answer=answer)


class Draft(NamedTuple):
    """What a task generator returns; `make_problem` turns it into a Problem."""

    key: tuple  # the operands, for the held-out partition
    prompt: str
    answer: str
    wrong: list  # candidate wrong answers; ones that happen to be right are dropped
    phrasing: str  # the task's own verbose template, with an {answer} slot


TASKS: dict[str, Callable[[random.Random], Draft]] = {}  # every task, by name


def _task(fn: Callable[[random.Random], Draft]) -> Callable[[random.Random], Draft]:
    TASKS[fn.__name__.lstrip("_")] = fn
    return fn


def _fmt(items: Iterable) -> str:
    return ", ".join(map(str, items))


def _near(n: int, *offsets: int) -> list[int]:
    return [n + d for d in offsets if n + d >= 0]


@_task
def _add(rng):
    x, y = rng.randint(0, 99), rng.randint(0, 9)
    prompt = rng.choice(["What is {x} + {y}?", "Add {x} and {y}.", "What is {x} plus {y}?", "{x} + {y} = ?"])
    return Draft(
        (x, y), prompt.format(x=x, y=y), str(x + y), _near(x + y, 1, -1, 10, -10), f"{x} + {y} = {{answer}}"
    )


@_task
def _subtract(rng):
    y = rng.randint(0, 9)
    x = rng.randint(y, 99)
    prompt = rng.choice(["What is {x} - {y}?", "Subtract {y} from {x}.", "What is {x} minus {y}?"])
    wrong = _near(x - y, 1, -1, 10, -10) + [x + y]
    return Draft((x, y), prompt.format(x=x, y=y), str(x - y), wrong, f"{x} - {y} = {{answer}}")


@_task
def _compare(rng):
    x, y = rng.sample(range(100), 2)
    prompt = rng.choice(["Which is larger, {x} or {y}?", "Which number is bigger: {x} or {y}?"])
    return Draft(
        (x, y), prompt.format(x=x, y=y), str(max(x, y)), [min(x, y)], "The larger number is {answer}."
    )


@_task
def _max(rng):
    items = [rng.randint(0, 99) for _ in range(rng.randint(3, 4))]
    prompt = rng.choice(["What is the largest number in {l}?", "Find the maximum of {l}."])
    ordered = sorted(set(items), reverse=True)
    wrong = ordered[1:2] + [min(items), items[0]] + _near(ordered[0], 1)
    return Draft(
        tuple(items), prompt.format(l=_fmt(items)), str(ordered[0]), wrong, "The largest number is {answer}."
    )


def _list_mistakes(rng, right: list, other_orders: list[list]) -> list[str]:
    """Wrong versions of a list answer: other orders, two neighbours swapped, an end item dropped."""
    swapped = list(right)
    i = rng.randrange(len(right) - 1)
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    return [_fmt(order) for order in [*other_orders, swapped, right[:-1], right[1:]]]


@_task
def _sort(rng):
    items = [rng.randint(0, 9) for _ in range(rng.randint(3, 4))]
    prompt = rng.choice(
        ["Sort in ascending order: {l}", "Sort from smallest to largest: {l}", "Sort these numbers: {l}"]
    )
    right = sorted(items)
    wrong = _list_mistakes(rng, right, [sorted(items, reverse=True), items])
    return Draft(tuple(items), prompt.format(l=_fmt(items)), _fmt(right), wrong, "Sorted: {answer}")


@_task
def _reverse(rng):
    alphabet = string.ascii_lowercase if rng.random() < 0.5 else string.digits
    items = [rng.choice(alphabet) for _ in range(rng.randint(3, 4))]
    prompt = rng.choice(["Reverse the list: {l}", "Reverse the order: {l}", "Write in reverse order: {l}"])
    right = items[::-1]
    wrong = _list_mistakes(rng, right, [items])
    return Draft(tuple(items), prompt.format(l=_fmt(items)), _fmt(right), wrong, "Reversed: {answer}")


@_task
def _count_letter(rng):
    word = rng.choice(WORDS)
    absent = sorted(set(string.ascii_lowercase) - set(word))
    letter = rng.choice(word) if rng.random() < 0.8 else rng.choice(absent)
    prompt = rng.choice(
        [
            "How many times does the letter {c} appear in {w}?",
            "Count the letter {c} in {w}.",
            "How many {c}'s are in {w}?",
        ]
    )
    n = word.count(letter)
    wrong = _near(n, 1, -1, 2) + [len(word)]
    phrasing = f"The count of {letter} in {word} is {{answer}}."
    return Draft((word, letter), prompt.format(c=letter, w=word), str(n), wrong, phrasing)


@_task
def _list_length(rng):
    alphabet = string.ascii_lowercase if rng.random() < 0.5 else string.digits
    items = [rng.choice(alphabet) for _ in range(rng.randint(2, 6))]
    prompt = rng.choice(
        ["How many items are in the list {l}?", "How long is the list {l}?", "Count the items: {l}"]
    )
    n = len(items)
    phrasing = "The list has {answer} items."
    return Draft(tuple(items), prompt.format(l=_fmt(items)), str(n), _near(n, 1, -1, 2), phrasing)


@_task
def _copy(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(2, 3))]
    # The text on a line of its own: its first word then has no leading space, in the prompt as in the
    # answer, so the answer copies the prompt's tokens exactly.
    prompt = rng.choice(["Repeat after me:\n{t}", "Copy this text:\n{t}", "Say exactly:\n{t}"])
    i = rng.randrange(len(words) - 1)
    swapped = words[:i] + [words[i + 1], words[i]] + words[i + 2 :]
    replaced = [*words[:-1], rng.choice(WORDS)]
    wrong = [" ".join(w) for w in (words[:-1], words[1:], swapped, replaced)]
    return Draft(
        tuple(words), prompt.format(t=" ".join(words)), " ".join(words), wrong, "Here it is: {answer}"
    )


@_task
def _convert(rng):
    unit, units, target, factor = rng.choice(UNITS)
    n = rng.randint(1, 99)
    name = unit if n == 1 else units
    prompt = rng.choice(["How many {t} are in {n} {u}?", "Convert {n} {u} to {t}."])
    answer = n * factor
    wrong = [answer * 10, answer // 10 or n, (n + 1) * factor, (n - 1) * factor, n + factor]
    phrasing = f"{n} {name} = {{answer}} {target}."
    return Draft((unit, n), prompt.format(t=target, n=n, u=name), str(answer), wrong, phrasing)


#: The tasks of the embedded default data (see the module docstring for why not all of them).
DEFAULT_TASKS = ("compare", "sort", "reverse", "count_letter", "list_length", "copy", "convert")


def check_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    """`tasks` as a tuple, or an AlignpipeError naming the unknown ones (or saying none were given)."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        given = ", ".join(map(repr, unknown)) or "(none given)"
        raise AlignpipeError(f"unknown task(s) {given}; known: {', '.join(TASKS)}")
    return tuple(tasks)


def is_held_out(task: str, key: tuple) -> bool:
    """Whether a problem belongs to the test side (a stable hash, the same on every machine)."""
    digest = hashlib.blake2b(repr((task, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < HELD_OUT_FRACTION


def make_problem(task: str, rng: random.Random, held_out: bool = False, tries: int = 1000) -> Problem:
    """A random problem of `task` from the test side (`held_out`) or the train side of its space."""
    if task not in TASKS:
        raise AlignpipeError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    for _ in range(tries):
        draft = TASKS[task](rng)
        if is_held_out(task, draft.key) == held_out:
            break
    else:
        raise AlignpipeError(f"task {task!r}: no problem found on the {'test' if held_out else 'train'} side")
    wrong = tuple(dict.fromkeys(w for w in map(str, draft.wrong) if not check_answer(draft.answer, w)))
    phrasings = (*GENERIC_PHRASINGS, draft.phrasing)
    return Problem(task, draft.key, draft.prompt, draft.answer, wrong, phrasings)


# --------------------------------------------------------------------------- data kinds


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _sft_row(p: Problem, rng: random.Random) -> dict:
    phrasing = rng.choice(p.phrasings) if rng.random() < VERBOSE_FRACTION else None
    messages = _user(p.prompt) + _assistant(p.say(p.answer, phrasing))
    return {"messages": messages, "task": p.task, "answer": p.answer}


def _style_weight(phrasing: str | None, n_phrasings: int) -> float:
    """How often SFT replies use a style: terse 1 - VERBOSE_FRACTION, the rest split over the phrasings."""
    return 1 - VERBOSE_FRACTION if phrasing is None else VERBOSE_FRACTION / n_phrasings


def _preference_row(p: Problem, rng: random.Random) -> dict:
    chosen_longer = rng.random() < 0.5
    styles = (None, *p.phrasings)
    weight = {s: _style_weight(s, len(p.phrasings)) for s in styles}
    candidates = [
        (p.say(p.answer, a), p.say(wrong, b), weight[a] * weight[b])
        for a, wrong, b in itertools.product(styles, p.wrong, styles)
    ]
    # Keep the pairs whose longer side is the one the coin picked (never equal lengths), and pick one with
    # the SFT data's style mix (mostly terse), so that preferring chosen teaches correctness, not a style.
    candidates = [
        (c, r, w) for c, r, w in candidates if len(c) != len(r) and (len(c) > len(r)) == chosen_longer
    ]
    chosen, rejected, _ = rng.choices(candidates, weights=[w for _, _, w in candidates])[0]
    return {
        "prompt": _user(p.prompt),
        "chosen": _assistant(chosen),
        "rejected": _assistant(rejected),
        "task": p.task,
        "answer": p.answer,
    }


def _prompt_row(p: Problem, rng: random.Random) -> dict:
    return {"prompt": _user(p.prompt), "task": p.task, "answer": p.answer}


_ROW_BUILDERS = {"sft": _sft_row, "preference": _preference_row, "prompt": _prompt_row}


def make_rows(
    kind: str, split: str = "train", seed: int = 0, n: int | None = None, tasks: Sequence[str] = DEFAULT_TASKS
) -> list[dict]:
    """`n` rows (default `SIZES[kind, split]`) of a data kind over `tasks`, deterministic in all arguments."""
    check_tasks(tasks)
    if kind not in _ROW_BUILDERS:
        raise AlignpipeError(f"unknown data kind {kind!r}; choose one of {', '.join(KINDS)}")
    if split not in SPLITS:
        raise AlignpipeError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    n = SIZES[kind, split] if n is None else n
    held_out = split == "test"
    rng = random.Random(f"alignpipe-defaults:{kind}:{split}:{seed}")
    rows: list[dict] = []
    seen: set[str] = set()
    live = list(dict.fromkeys(tasks))  # tasks that can still contribute (test prompts must be new)
    while len(rows) < n and live:
        for task in list(live):
            if len(rows) == n:
                break
            for _ in range(50):
                problem = make_problem(task, rng, held_out)
                if not held_out or problem.prompt not in seen:
                    break
            else:
                live.remove(task)  # its held-out prompts are used up
                continue
            seen.add(problem.prompt)
            rows.append(_ROW_BUILDERS[kind](problem, rng))
    return rows
