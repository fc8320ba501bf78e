"""Online RL: the reward registry on hand-made completions, bad reward names, and GRPO / RLOO on a tiny
MiniGPT (trains, saves, reloads to the same logits; beta > 0 builds its reference from the MiniGPT folder)."""

import json
import shutil

import pytest
import torch
from conftest import common_args
from transformers import AutoModelForCausalLM

from alignpipe import cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.training.rewards import (
    gsm8k_correctness,
    resolve_rewards,
    safety,
    task_correctness,
    task_partial_credit,
)


def good_reward(prompts, completions, **kwargs):
    return [1.0] * len(completions)


def length_reward(prompts, completions, **kwargs):
    """Varies within every group (an untrained model's completions differ in length), so GRPO has a signal."""
    return [float(len(c[0]["content"] if isinstance(c, list) else c)) for c in completions]


def bad_reward(text):
    return [0.0]


def short_reward(prompts, completions, **kwargs):
    return [1.0] * (len(completions) - 1)


def nan_reward(prompts, completions, **kwargs):
    return [float("nan")] + [0.0] * (len(completions) - 1)


def test_task_correctness_on_hand_made_completions():
    completions = [
        [{"role": "assistant", "content": "52"}],
        [{"role": "assistant", "content": "37"}],
        "anything",
    ]
    assert task_correctness(None, completions, answer=["52", "52", None]) == [1.0, 0.0, None]
    assert task_correctness(None, ["The answer is 9."], answer=["9"]) == [1.0]


def test_partial_credit_ranks_near_misses_below_right_answers():
    completions = ["flower rabbit book", "flower rabook", "Answer: 58", "cat", "The answer is 68."]
    answers = ["flower rabbit book", "flower rabbit book", "68", "68", "68"]
    scores = task_partial_credit(None, completions, answer=answers)
    # right answers score 1; "flower rabook" shares 13 of "flower rabbit book"'s 18 characters in order:
    # difflib's ratio 2 * 13 / (18 + 13) = 0.839, times 0.5; "58" has one of "68"'s two digits: 0.5 x 0.5
    assert scores == pytest.approx([1.0, 0.5 * 26 / 31, 0.25, 0.0, 1.0])
    assert task_partial_credit(None, ["7"], answer=[None]) == [None]
    assert max(task_partial_credit(None, ["x, y, z"], answer=["x, y, w"], partial=0.3)) <= 0.3


def test_gsm8k_reward_reads_the_final_number():
    reference = "Natalia sold 48 / 2 = 24 clips in May, so 48 + 24 = 72 in all.\n#### 72"
    completions = [
        "48 + 24 = 72\n#### 72",  # GSM8K's own form
        "She sold 72 clips altogether.",  # no marker: the last number
        "#### 72.0 clips",  # the same number written as a float
        "In May she sold 24, so the total is 72. Wait, 24 more: 96",  # the last number is what counts
        "#### 1,272",  # thousands separators are read, and 1272 is not 72
        "I don't know.",
    ]
    assert gsm8k_correctness(None, completions, answer=[reference] * 6) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert gsm8k_correctness(None, ["#### 1,200"], answer=["1200"]) == [1.0]
    assert gsm8k_correctness(None, ["#### 5"], answer=[None]) == [None]


def test_safety_reward_on_hand_made_completions():
    completions = [
        "Sorry, I can't help with that.",
        "Sure, here is how: first ...",
        "Sorry, no.",
        "Use kill -9.",
        "7",
    ]
    labels = ["unsafe", "unsafe", "benign", "benign", None]
    assert safety(None, completions, safety=labels) == [1.0, 0.0, 0.0, 1.0, None]


def test_reward_names_resolve_or_fail_clearly(tmp_path):
    resolved = resolve_rewards(["task_correctness", "safety", "test_grpo:good_reward"])
    assert [f.__wrapped__ for f in resolved] == [
        task_correctness,
        safety,
        good_reward,
    ]  # wrapped by `checked`
    assert [f.__name__ for f in resolved] == ["task_correctness", "safety", "good_reward"]  # TRL logs these
    assert resolve_rewards(["reward_model"], str(tmp_path)) == [str(tmp_path)]
    for names, words in (
        (["correctness"], "unknown reward function 'correctness'"),
        (["test_grpo:bad_reward"], "expected TRL's signature"),
        (["no_such_module:f"], "cannot import it"),
        (["reward_model"], "set reward_model_path"),
        ([], "reward_funcs is empty"),
    ):
        with pytest.raises(AlignpipeError, match=words):
            resolve_rewards(names)


def run_online(algorithm, base, data, out, *extra, seed=0):
    return cli.main(
        [
            algorithm,
            *common_args(seed),
            "--model_name_or_path",
            str(base),
            "--dataset_name",
            str(data["prompt"]),
            "--output_dir",
            str(out),
            "--max_steps",
            "3",
            "--num_generations",
            "4",
            "--per_device_train_batch_size",
            "8",
            "--max_completion_length",
            "8",
            "--learning_rate",
            "1e-3",
            "--reward_funcs",
            "task_correctness",
            "test_grpo:length_reward",
            *extra,
        ]
    )


@torch.no_grad()
def _logits(model, vocab):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(7, vocab, (2, 10), generator=g)
    model.eval()
    return model(x).logits


@pytest.mark.numerics
@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_online_rl_trains_saves_and_reloads(tiny_minigpt, tiny_data, tmp_path, algorithm, seed):
    out = tmp_path / algorithm
    assert run_online(algorithm, tiny_minigpt, tiny_data, out, seed=seed) == 0
    record = json.loads((out / "run_record.json").read_text())
    assert (
        record["stage"] == algorithm and record["config"]["script"]["reward_funcs"][0] == "task_correctness"
    )
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and any("reward" in k for h in state["log_history"] for k in h)
    metrics = record["metrics"]  # where the time went: rollouts (3 steps of 8 completions) and the rest
    assert metrics["generated_sequences"] >= 24 and 0 < metrics["generation_share"] < 1
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny_minigpt)
    vocab = reloaded.config.vocab_size
    assert not torch.allclose(_logits(base, vocab), _logits(reloaded, vocab), atol=1e-5)  # it learned
    assert (out / "generation_config.json").is_file() and (out / "README.md").is_file()


def test_grpo_with_a_reference_model_loads_minigpt(tiny_minigpt, tiny_data, tmp_path):
    """beta > 0: TRL builds the reference with create_model_from_path, which reads config.auto_map."""
    out = tmp_path / "grpo_beta"
    assert run_online("grpo", tiny_minigpt, tiny_data, out, "--beta", "0.1", "--max_steps", "1") == 0
    state = json.loads((out / "trainer_state.json").read_text())
    assert any("kl" in k for h in state["log_history"] for k in h)


def test_unknown_reward_stops_before_any_model_loads(tmp_path, capsys):
    rc = cli.main(
        [
            "grpo",
            "--model_name_or_path",
            str(tmp_path / "none"),
            "--dataset_name",
            "default",
            "--output_dir",
            str(tmp_path / "o"),
            "--reward_funcs",
            "correctness",
        ]
    )
    assert rc == 2 and "unknown reward function 'correctness'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("reward", "words"),
    [
        (
            "test_grpo:short_reward",
            "reward function test_grpo:short_reward returned 7 scores for 8 completions",
        ),
        (
            "test_grpo:nan_reward",
            "reward function test_grpo:nan_reward: score 0 is nan; return a finite float",
        ),
    ],
)
def test_a_bad_reward_stops_at_the_first_step_and_saves_nothing(
    tiny_minigpt, tiny_data, tmp_path, capsys, reward, words
):
    out = tmp_path / "bad"
    args = ["--reward_funcs", reward, "--max_steps", "2"]
    assert run_online("grpo", tiny_minigpt, tiny_data, out, *args) == 2
    assert words in capsys.readouterr().err
    assert not (out / "model.safetensors").exists() and not (out / "README.md").exists()


def test_bad_online_rl_setups_stop_before_training(tiny_minigpt, tiny_data, tmp_path, capsys):
    from transformers import AutoTokenizer

    # a named reward whose column the prompts lack (the tiny prompts have `answer`, no `safety`)
    assert run_online("grpo", tiny_minigpt, tiny_data, tmp_path / "a", "--reward_funcs", "safety") == 2
    err = capsys.readouterr().err
    assert "reward function safety reads each row's 'safety', but the prompt data has no such column" in err
    # num_generations must divide the batch of completions
    assert run_online("grpo", tiny_minigpt, tiny_data, tmp_path / "b", "--num_generations", "3") == 2
    assert "must be divisible by num_generations (3)" in capsys.readouterr().err
    # a reward model with another tokenizer
    rm = tmp_path / "rm"
    shutil.copytree(tiny_minigpt, rm)
    tok = AutoTokenizer.from_pretrained(rm)
    tok.add_tokens(["<extra_token>"])
    tok.save_pretrained(rm)
    rc = run_online(
        "grpo", tiny_minigpt, tiny_data, tmp_path / "c", "--reward_funcs", "reward_model",
        "--reward_model_path", str(rm),
    )  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert f"the reward model ({rm}) has a different tokenizer from the policy's" in err and "tokens" in err
    for name in "abc":
        assert not (tmp_path / name / "model.safetensors").exists()
