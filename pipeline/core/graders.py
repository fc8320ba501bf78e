"""Graders: is a response's final answer the reference answer? Pure functions of two strings.

- `check_answer`: the rule of the embedded tasks (`alignpipe.defaults.tasks` describes it): the final answer
  (after the last "answer is", ":" or "=", else the last line) holds exactly the reference number, or the
  same items in the same order.
- `check_gsm8k`: GSM8K's rule: the number after the last "####" (else the last number) equals the reference's,
  whose answer may be a worked solution ending "#### 42" or a bare number.

Which task uses which grader is the task registry's business (`alignpipe.tasks`); eval, the rewards and PPO
ask it, not these functions directly.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"answer is|[:=]", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3}(?!\d))*(?:\.\d+)?")
_INTEGER = re.compile(r"-?\d+")


def final_answer(response: str) -> str:
    """The part of a response that is graded: after the last answer marker, else the last line."""
    markers = list(_MARKER.finditer(response))
    if markers:
        text = response[markers[-1].end() :].split("\n", 1)[0]
    else:
        lines = [line for line in response.splitlines() if line.strip()]
        text = lines[-1] if lines else ""
    return text.strip().rstrip(".!").strip()


def answer_items(text: str) -> list[str]:
    """The items of an answer as the checker compares them: lower-cased, brackets and quotes dropped."""
    text = re.sub(r"[\[\](){}\"'`]", " ", text.lower()).strip().rstrip(".!")
    return [item for item in re.split(r"[,\s]+", text) if item]


def check_answer(answer: str, response: str) -> bool:
    """Whether `response` gives `answer` as its final answer (the rule is in the module docstring)."""
    final = final_answer(response)
    if _INTEGER.fullmatch(answer.strip()):
        numbers = _NUMBER.findall(final)
        return len(numbers) == 1 and float(numbers[0].replace(",", "")) == int(answer)
    return bool(final) and answer_items(final) == answer_items(answer)


_GSM8K_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def gsm8k_final_number(text: str) -> float | None:
    """The number a GSM8K-style text ends on: the one after its last '####', else its last number."""
    tail = text.rsplit("####", 1)[1] if "####" in text else text
    numbers = _GSM8K_NUMBER.findall(tail)
    if not numbers:
        return None
    try:
        return float(numbers[0 if "####" in text else -1].replace(",", ""))
    except ValueError:
        return None


def check_gsm8k(answer: str, response: str) -> bool:
    """Whether the response's final number equals the reference answer's (`gsm8k_final_number` of each)."""
    want, got = gsm8k_final_number(str(answer)), gsm8k_final_number(response)
    return want is not None and got is not None and abs(got - want) < 1e-6
