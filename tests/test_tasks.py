"""The task registry: every grader in one table, read by eval's task accuracy and the GRPO/RLOO rewards."""

import pytest

from alignpipe import tasks
from alignpipe.core.errors import AlignpipeError
from alignpipe.eval.sections.tasks import task_accuracy
from alignpipe.training.rewards import task_correctness

ROWS = [
    {"task": "add", "answer": "68"},  # the embedded rule
    {"task": "reverse", "answer": "c, f, a"},
    {"task": "gsm8k", "answer": "She pays 3 * 4 = 12.\n#### 12"},  # GSM8K's rule
    {"answer": "Tom has 5 + 2 = 7 apples.\n#### 7"},  # no task, GSM8K's form: GSM8K's rule
    {"task": "letters", "answer": "6"},
]
RESPONSES = ["The answer is 68.", "a, f, c", "So 12 dollars. #### 12", "He has 7 apples", "6 letters"]
EXPECTED = [True, False, True, True, True]


def eval_and_reward(rows, responses):
    graded = task_accuracy(rows, responses)["correct"]
    rewards = task_correctness(
        None, responses, answer=[r["answer"] for r in rows], task=[r.get("task") for r in rows]
    )
    return graded, rewards


def test_eval_and_rewards_grade_with_the_same_table():
    graded, rewards = eval_and_reward(ROWS, RESPONSES)
    assert graded == EXPECTED
    assert rewards == [float(x) for x in EXPECTED]
    # the embedded rule alone would miss both GSM8K rows: "#### 12" is not the items of a worked solution
    from alignpipe.core.graders import check_answer

    assert not check_answer(ROWS[2]["answer"], RESPONSES[2])


def test_a_registered_task_is_evaluated_and_rewarded_with_no_other_edit(monkeypatch):
    monkeypatch.setattr(tasks, "TASKS", dict(tasks._table()))
    rows = [{"task": "yell", "answer": "hi"}, {"task": "yell", "answer": "hi"}]
    responses = ["HIYA", "hi"]
    assert eval_and_reward(rows, responses) == ([False, True], [0.0, 1.0])  # unknown yet: the embedded rule
    tasks.register(tasks.Task("yell", lambda answer, response: response.startswith(answer.upper())))
    assert eval_and_reward(rows, responses) == ([True, False], [1.0, 0.0])


def test_a_task_named_module_function_is_graded_by_it(tmp_path, monkeypatch):
    (tmp_path / "my_graders.py").write_text(
        "def palindrome(answer, response):\n    return response == response[::-1]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = [{"task": "my_graders:palindrome", "answer": "-"}] * 2
    assert eval_and_reward(rows, ["abba", "abc"]) == ([True, False], [1.0, 0.0])
    assert task_correctness(None, ["abba"], answer=[None], task=["my_graders:palindrome"]) == [None]
    with pytest.raises(AlignpipeError, match="my_graders:nope"):
        tasks.grade({"task": "my_graders:nope", "answer": "x"}, "x")


def test_every_embedded_task_has_a_row_in_the_table():
    from alignpipe.defaults.tasks import TASKS as GENERATORS

    assert set(GENERATORS) | {"letters", "gsm8k"} <= set(tasks._table())
