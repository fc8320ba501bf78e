"""`alignpipe eval`: each metric on hand-made inputs with known answers, generation, suites, errors, the CLI."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import NEAR_TIE, f32_tol, greedy_margin

import alignpipe  # noqa: F401
from alignpipe.cli import main as cli
from alignpipe.core.errors import AlignpipeError, DataError
from alignpipe.defaults import DEFAULT_TASKS
from alignpipe.eval.judgments import judgment_metrics, read_judgments
from alignpipe.eval.sections import kl, multiple_choice, perplexity, reward, tasks, win_rate
from alignpipe.eval.suite import load_suite
from alignpipe.inference.generation import (
    GenerationSettings,
    generate,
    prompt_ids,
    sequence_kl,
    sequence_logprobs,
)
from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM, MiniGPTForSequenceClassification

# --------------------------------------------------------------------------- rigged models


def minigpt(tokenizer, seed=0, max_seq=128):
    from alignpipe.inference.modeling import align_with_tokenizer

    torch.manual_seed(seed)
    m = MiniGPTForCausalLM(
        MiniGPTConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq=max_seq)
    )
    align_with_tokenizer(m, tokenizer)
    return m.eval()


def constant_logits(tokenizer, logits: torch.Tensor):
    """A real MiniGPT whose next-token logits are `logits` at every position, whatever the input:
    the final LayerNorm outputs the unit vector e0 (weight 0, bias e0), so the tied LM head gives
    wte[:, 0], which is set to `logits`."""
    m = minigpt(tokenizer)
    with torch.no_grad():
        m.transformer.ln_f.weight.zero_()
        m.transformer.ln_f.bias.zero_()
        m.transformer.ln_f.bias[0] = 1.0
        m.transformer.wte.weight[:, 0] = logits
    assert m.lm_head.weight.data_ptr() == m.transformer.wte.weight.data_ptr()  # tied
    return m


def peaked(tokenizer, token_id: int):
    """A model that (up to e^-30) always predicts `token_id`."""
    logits = torch.full((len(tokenizer),), -30.0)
    logits[token_id] = 0.0
    return constant_logits(tokenizer, logits)


class LengthReward(torch.nn.Module):
    """A rigged reward model: the score of a conversation is its number of tokens."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(max_position_embeddings=None)

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=attention_mask.sum(-1, keepdim=True).float())


def ids_of(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# --------------------------------------------------------------------------- perplexity

TEXTS = ["what is the answer to 3 plus 4 ? it is 7 .", "sort this list : 9 , 2 , 5", "reverse the word"]


@pytest.mark.numerics
def test_perplexity_of_uniform_model_is_vocab_size(tiny_tokenizer):
    model = constant_logits(tiny_tokenizer, torch.zeros(len(tiny_tokenizer)))
    out = perplexity.perplexity(model, tiny_tokenizer, TEXTS)
    # every log-prob is float32's log(1/V): a few ulps of log V off, which exp turns into a relative error of
    # the perplexity of the same size (the mean NLL's absolute error); the same error relative to log V for
    # bpb
    nll_tol = f32_tol(math.log(len(tiny_tokenizer)))
    assert out["perplexity"] == pytest.approx(len(tiny_tokenizer), rel=nll_tol)
    # bos is prepended, so every token of every text is predicted once
    assert out["tokens"] == sum(len(ids_of(tiny_tokenizer, t)) for t in TEXTS)
    n_bytes = sum(len(t.encode()) for t in TEXTS)
    assert out["bits_per_byte"] == pytest.approx(
        out["tokens"] * math.log2(len(tiny_tokenizer)) / n_bytes, rel=f32_tol(1.0)
    )


@pytest.mark.numerics
@pytest.mark.parametrize("window", [None, 4])
def test_perplexity_of_known_distribution_by_hand(tiny_tokenizer, window, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(tiny_tokenizer), generator=g) * 3
    model = constant_logits(tiny_tokenizer, logits)
    logp = torch.log_softmax(logits.double(), -1)
    tokens = [t for text in TEXTS for t in ids_of(tiny_tokenizer, text)]
    by_hand = math.exp(-float(sum(logp[t] for t in tokens)) / len(tokens))
    out = perplexity.perplexity(model, tiny_tokenizer, TEXTS, window=window, batch_size=3)
    # float32 log-probs (up to ~20 nats here) against float64 ones: the mean NLL is off by a few ulps of the
    # largest, and exp makes that the perplexity's relative error (1e-6, the old tolerance, is 2 ulps of 4)
    nll_tol = f32_tol(max(abs(float(logp[t])) for t in tokens))
    assert out["perplexity"] == pytest.approx(by_hand, rel=nll_tol)
    assert out["tokens"] == len(tokens)  # overlapping windows still predict each token exactly once


@pytest.mark.numerics
@pytest.mark.parametrize("fixture", ["tiny_minigpt", "tiny_llama"])
def test_perplexity_matches_the_models_own_loss(request, fixture, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(request.getfixturevalue(fixture)).eval()
    text = TEXTS[0]
    ids = torch.tensor([[tiny_tokenizer.bos_token_id] + ids_of(tiny_tokenizer, text)])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    out = perplexity.perplexity(model, tiny_tokenizer, [text])
    # the model's float32 mean cross-entropy vs our float64 sum of float32 log-probs: for these untrained
    # models (every |log p| near log V = 5.8) over 15 tokens the mean NLL may differ by f32_tol(5.8, 15) =
    # 8e-5, which exp makes a relative 8e-5
    assert out["perplexity"] == pytest.approx(math.exp(loss.item()), rel=1e-4)


# --------------------------------------------------------------------------- generation


@pytest.mark.numerics
@pytest.mark.parametrize("fixture", ["tiny_minigpt", "tiny_llama"])
def test_batched_left_padded_generation_equals_one_at_a_time(request, fixture, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(request.getfixturevalue(fixture)).eval()
    convs = [
        [{"role": "user", "content": c}] for c in ("What is 3 plus 4?", "sort 9 2", "copy this list of words")
    ]
    prompts = prompt_ids(tiny_tokenizer, convs)
    assert len({len(p) for p in prompts}) > 1  # different lengths: the batch really is padded
    settings = GenerationSettings(max_new_tokens=8, batch_size=3)
    batched = generate(model, tiny_tokenizer, prompts, settings)
    single = generate(model, tiny_tokenizer, prompts, GenerationSettings(max_new_tokens=8, batch_size=1))
    # the smallest top-two gap on these paths is 8e-3 (measured), far above rounding
    assert min(greedy_margin(model, p + g.token_ids, len(p)) for p, g in zip(prompts, single)) > NEAR_TIE
    assert [g.token_ids for g in batched] == [g.token_ids for g in single]


@pytest.mark.numerics
@pytest.mark.parametrize("fixture", ["tiny_minigpt", "tiny_llama"])
def test_a_shared_prompt_prefix_is_run_once_and_answers_stay_the_same(
    request, fixture, tiny_tokenizer, monkeypatch
):
    """Prompts that start alike (a system prompt) have that prefix run once and its KV cache reused by every
    batch; the answers are those of running each prompt whole."""
    from transformers import AutoModelForCausalLM

    from alignpipe.inference import generation

    model = AutoModelForCausalLM.from_pretrained(request.getfixturevalue(fixture)).eval()
    system = {"role": "system", "content": "You are a careful assistant . Answer with 1 2 or 3 words ."}
    users = ("What is 3 plus 4?", "sort 9 2", "copy this list of words", "is 7 more than 5?", "hi")
    prompts = prompt_ids(tiny_tokenizer, [[system, {"role": "user", "content": u}] for u in users])
    shared = generation.shared_prefix_length(prompts)
    assert shared >= generation.MIN_SHARED_PREFIX
    assert all(p[:shared] == prompts[0][:shared] for p in prompts) and len({p[shared] for p in prompts}) > 1
    caches = []
    prefix_cache = generation._prefix_cache
    monkeypatch.setattr(generation, "_prefix_cache", lambda *a: caches.append(prefix_cache(*a)) or caches[-1])
    settings = GenerationSettings(max_new_tokens=8, batch_size=2)  # three batches, one cache
    reused = generate(model, tiny_tokenizer, prompts, settings)
    assert len(caches) == 1 and caches[0] is not None and caches[0].get_seq_length() == shared
    monkeypatch.setattr(generation, "MIN_SHARED_PREFIX", 10**6)  # every prompt run whole
    assert generation.shared_prefix_length(prompts) == 0
    whole = generate(model, tiny_tokenizer, prompts, settings)
    assert len(caches) == 1
    assert min(greedy_margin(model, p + g.token_ids, len(p)) for p, g in zip(prompts, whole)) > NEAR_TIE
    assert [g.token_ids for g in reused] == [g.token_ids for g in whole]


def test_shared_prefix_length_leaves_every_prompt_a_token_of_its_own():
    from alignpipe.inference.generation import MIN_SHARED_PREFIX, shared_prefix_length

    base = list(range(100, 100 + MIN_SHARED_PREFIX + 2))
    assert shared_prefix_length([base + [1, 2], base + [1, 3]]) == len(base) + 1
    assert shared_prefix_length([base, base + [5]]) == len(base) - 1  # the shorter keeps its last token
    assert (
        shared_prefix_length([base[:MIN_SHARED_PREFIX] + [1], base[:MIN_SHARED_PREFIX] + [2]])
        == MIN_SHARED_PREFIX
    )
    assert (
        shared_prefix_length([base[: MIN_SHARED_PREFIX - 1] + [1], base[: MIN_SHARED_PREFIX - 1] + [2]]) == 0
    )
    assert shared_prefix_length([base + [1]]) == 0  # one prompt: nothing to share


def test_stop_reasons_eos_and_max_new_tokens(tiny_tokenizer):
    prompts = prompt_ids(tiny_tokenizer, [[{"role": "user", "content": "hi"}]] * 2)
    settings = GenerationSettings(max_new_tokens=5)
    stops = generate(peaked(tiny_tokenizer, tiny_tokenizer.eos_token_id), tiny_tokenizer, prompts, settings)
    assert all(g.ended_with_eos and not g.hit_max_new_tokens and g.text == "" for g in stops)
    assert stops[0].token_ids == [tiny_tokenizer.eos_token_id]
    seven = ids_of(tiny_tokenizer, "7")[0]
    runs = generate(peaked(tiny_tokenizer, seven), tiny_tokenizer, prompts, settings)
    assert all(g.hit_max_new_tokens and not g.ended_with_eos for g in runs)
    assert runs[0].token_ids == [seven] * 5 and runs[0].text == "77777"


@pytest.mark.numerics
def test_sampling_settings_are_used_and_checked(tiny_minigpt, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_minigpt).eval()
    prompts = prompt_ids(tiny_tokenizer, [[{"role": "user", "content": "What is 3 plus 4?"}]] * 4)
    greedy = generate(model, tiny_tokenizer, prompts, GenerationSettings(max_new_tokens=12))
    assert len({tuple(g.token_ids) for g in greedy}) == 1
    hot = GenerationSettings(greedy=False, temperature=5.0, top_k=0, top_p=1.0, max_new_tokens=12)
    sampled = generate(model, tiny_tokenizer, prompts, hot, seed=1)
    assert len({tuple(g.token_ids) for g in sampled}) > 1
    assert [g.token_ids for g in generate(model, tiny_tokenizer, prompts, hot, seed=1)] == [
        g.token_ids for g in sampled
    ]  # seeded
    # top_k=1 is greedy whatever the temperature
    top1 = generate(
        model,
        tiny_tokenizer,
        prompts,
        GenerationSettings(greedy=False, temperature=5.0, top_k=1, max_new_tokens=12),
    )
    assert [g.token_ids for g in top1] == [g.token_ids for g in greedy]
    for bad in ({"temperature": 0}, {"top_p": 1.5}, {"max_new_tokens": 0}):
        with pytest.raises(AlignpipeError, match=next(iter(bad))):
            GenerationSettings(**bad)


# --------------------------------------------------------------------------- task accuracy


def test_task_accuracy_overall_and_per_task():
    rows = [
        {"task": "add", "answer": "7"},
        {"task": "add", "answer": "9"},
        {"task": "sort", "answer": "1, 2, 3"},
        {"task": "sort", "answer": "1, 2, 3"},
        {"task": "sort", "answer": "4, 5"},
    ]
    responses = ["The answer is 7.", "8", "1, 2, 3", "[1, 2, 3]", "5, 4"]
    out = tasks.task_accuracy(rows, responses)
    assert out["accuracy"] == pytest.approx(3 / 5) and out["n"] == 5
    assert out["per_task"] == {
        "add": {"accuracy": 0.5, "n": 2},
        "sort": {"accuracy": pytest.approx(2 / 3), "n": 3},
    }


# --------------------------------------------------------------------------- multiple choice


@pytest.mark.numerics
def test_choice_logliks_and_accuracy_by_hand(tiny_tokenizer, seed):
    """Under a constant distribution a choice's log-likelihood is the sum of its tokens' log-probs."""
    g = torch.Generator().manual_seed(3 + seed)
    logits = torch.randn(len(tiny_tokenizer), generator=g)
    seven = ids_of(tiny_tokenizer, " 7")[-1]
    logits[seven] = 6.0  # " 7" is by far the likeliest token
    model = constant_logits(tiny_tokenizer, logits)
    logp = torch.log_softmax(logits.double(), -1)
    items = [
        multiple_choice.ChoiceItem("What is 3 plus 4?", ["7", "8"], 0),
        multiple_choice.ChoiceItem("What is 3 plus 5?", ["7", "8"], 1),
        multiple_choice.ChoiceItem("Which word?", ["7", "reverse the list of words"], 1),
    ]
    lls = multiple_choice.choice_logliks(model, tiny_tokenizer, items, batch_size=2)
    for item, ll in zip(items, lls):
        for choice, value in zip(item.choices, ll):
            cont = ids_of(tiny_tokenizer, item.question + " " + choice)[
                len(ids_of(tiny_tokenizer, item.question)) :
            ]
            # a sum of float32 log-probs against float64 ones (the default rel=1e-6 is 8 ulps of one term)
            tol = f32_tol(max(abs(float(logp[t])) for t in cont), terms=len(cont))
            assert value == pytest.approx(float(sum(logp[t] for t in cont)), abs=tol)
    # "7" wins every item on raw likelihood: right on item 0 only
    out = multiple_choice.multiple_choice_metrics(items, lls)
    assert out["acc"] == pytest.approx(1 / 3) and out["n"] == 3
    by_hand_norm = [
        int(max(range(len(ll)), key=lambda k: ll[k] / len(" " + it.choices[k]))) == it.answer
        for it, ll in zip(items, lls)
    ]
    assert out["acc_norm"] == pytest.approx(sum(by_hand_norm) / 3)


def test_multiple_choice_rows_are_validated(tmp_path):
    good = {"question": "q", "choices": ["a", "b"], "answer": 1}
    cases = [
        ({"question": "q", "answer": 0}, "choices", "missing field"),
        ({**good, "choices": ["a"]}, "choices", "at least two"),
        ({**good, "answer": 2}, "answer", "from 0 to 1"),
        ({**good, "answer": "b"}, "answer", "integer index"),
        ({**good, "question": ""}, "question", "non-empty string"),
    ]
    for row, field, expected in cases:
        path = tmp_path / "mc.jsonl"
        path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
        with pytest.raises(DataError, match=expected) as e:
            multiple_choice.read_multiple_choice(path)
        assert (e.value.source, e.value.row, e.value.field) == (str(path), 2, field)
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataError, match="row 2.*not valid JSON"):
        multiple_choice.read_multiple_choice(path)


# --------------------------------------------------------------------------- reward model


def test_reward_accuracy_with_rigged_reward_model(tiny_tokenizer):
    prompt = [{"role": "user", "content": "What is 3 plus 4?"}]
    rows = [
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": "7 7 7 7"}],
            "rejected": [{"role": "assistant", "content": "8"}],
        },  # longer chosen: right
        {"prompt": "sort 1 2", "chosen": "1 , 2 , 3", "rejected": "2"},  # strings are accepted too: right
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": "7"}],
            "rejected": [{"role": "assistant", "content": "8 8 8"}],
        },  # shorter chosen: wrong
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": "7"}],
            "rejected": [{"role": "assistant", "content": "8"}],
        },  # same length: a tie, half a point
    ]
    out = reward.reward_accuracy(LengthReward(), tiny_tokenizer, rows, batch_size=3)
    assert out["accuracy"] == pytest.approx(2.5 / 4) and out["ties"] == 1 and out["n"] == 4

    def n_tokens(p, reply):
        msgs = reward._as_messages(p, "user") + reward._as_messages(reply, "assistant")
        return len(ids_of(tiny_tokenizer, tiny_tokenizer.apply_chat_template(msgs, tokenize=False)))

    margins = [n_tokens(r["prompt"], r["chosen"]) - n_tokens(r["prompt"], r["rejected"]) for r in rows]
    assert out["mean_margin"] == pytest.approx(sum(margins) / 4)


def test_judgments_follow_the_scores():
    rows = win_rate.judgment_rows(
        [[{"role": "user", "content": "q"}]] * 3,
        ["r1", "r2", "r3"],
        ["m1", "m2", "m3"],
        [0.0, 1.0, 2.0],
        [1.0, 0.5, 2.0],
        ref_name="sft",
        model_name="dpo",
        annotator="rm",
    )
    assert [r["preference"] for r in rows] == [2.0, 1.0, 1.5]
    assert rows[0]["instruction"] == "q" and rows[0]["output_1"] == "r1" and rows[0]["output_2"] == "m1"


# --------------------------------------------------------------------------- KL


@pytest.mark.numerics
def test_kl_of_a_model_against_itself_is_zero_and_against_another_positive(tiny_tokenizer, seed):
    model, other = minigpt(tiny_tokenizer, seed=seed), minigpt(tiny_tokenizer, seed=seed + 1)
    with torch.no_grad():  # make the two clearly different
        other.transformer.wte.weight.mul_(20)
    prompts = prompt_ids(
        tiny_tokenizer, [[{"role": "user", "content": f"What is {i} plus 2?"}] for i in range(6)]
    )
    same = kl.kl_divergence(model, model, tiny_tokenizer, prompts, max_new_tokens=10, samples_per_prompt=2)
    # exactly 0 by construction: both "models" run the same forward on the same batch, so log p - log q is 0
    assert abs(same["kl"]) < 1e-9 and abs(same["kl_sampled"]) < 1e-9 and same["n_samples"] == 12
    assert same["estimator"] == "exact_per_position"
    diff = kl.kl_divergence(model, other, tiny_tokenizer, prompts, max_new_tokens=10, samples_per_prompt=2)
    assert diff["kl"] > 1.0


@pytest.mark.numerics
def test_kl_of_known_distributions_by_hand(tiny_tokenizer):
    """p always says "7" (never eos), q is uniform: every sample is T sevens, KL = T (log 1 - log 1/V)."""
    V, T = len(tiny_tokenizer), 6
    seven = ids_of(tiny_tokenizer, "7")[0]
    logits = torch.full((V,), -1e4)
    logits[seven] = 0.0
    p, q = constant_logits(tiny_tokenizer, logits), constant_logits(tiny_tokenizer, torch.zeros(V))
    prompts = prompt_ids(tiny_tokenizer, [[{"role": "user", "content": "say 7"}]] * 3)
    out = kl.kl_divergence(p, q, tiny_tokenizer, prompts, max_new_tokens=T)
    # each position's KL is 1 x (0 - float32 log(1/V)), every other term exactly 0: one rounding of log V,
    # at most 2 ulps (2.4e-7 relative); rel=1e-6 is f32_tol(1.0)
    assert out["kl"] == pytest.approx(T * math.log(V), rel=1e-6)
    assert out["kl_per_token"] == pytest.approx(math.log(V), rel=1e-6) and out["mean_response_tokens"] == T


@pytest.mark.numerics
def test_sequence_kl_matches_a_hand_computation(tiny_tokenizer, seed):
    """Per position, KL(p || q) over the whole vocabulary and the sampled token's log-ratio, against plain
    forwards of each model on context + continuation (two pairs of different lengths, batched together)."""
    p, q = minigpt(tiny_tokenizer, seed=seed), minigpt(tiny_tokenizer, seed=seed + 1)
    ctx = [ids_of(tiny_tokenizer, "what is 3 plus 4 ?"), ids_of(tiny_tokenizer, "sort")]
    cont = [ids_of(tiny_tokenizer, " 7"), ids_of(tiny_tokenizer, " 1 , 2 , 3")]
    exact, ratios = sequence_kl(p, q, ctx, cont, tiny_tokenizer.pad_token_id, batch_size=2, temperature=0.7)
    for c, k, got_kl, got_ratio in zip(ctx, cont, exact, ratios):
        ids = torch.tensor([c + k])
        with torch.no_grad():
            lp = torch.log_softmax(p(input_ids=ids).logits[0, len(c) - 1 : -1].float() / 0.7, -1)
            lq = torch.log_softmax(q(input_ids=ids).logits[0, len(c) - 1 : -1].float() / 0.7, -1)
        want_kl = (lp.exp() * (lp - lq)).sum(-1)
        want_ratio = (lp - lq).gather(-1, torch.tensor(k)[:, None]).squeeze(-1)
        # batched and padded vs one unpadded forward: each log-prob (|log p| < 7 here) a few ulps apart, so a
        # KL or log-ratio term within f32_tol(7, 2 terms) = 1.3e-5; measured at most 5e-7
        assert got_kl.shape == (len(k),) and torch.allclose(got_kl, want_kl.double(), atol=1e-5)
        assert torch.allclose(got_ratio, want_ratio.double(), atol=1e-5)
        assert float(got_kl.sum()) > 0


@pytest.mark.numerics
def test_kl_exact_estimate_is_never_negative_and_agrees_with_monte_carlo(tiny_tokenizer, seed):
    """Two nearly equal models: the Monte-Carlo log-ratio sums go below zero on some responses, the exact
    per-position sums never; over 96 responses the two estimates of the same KL agree within their noise, and
    the exact one's standard error is the smaller."""
    model, other = minigpt(tiny_tokenizer, seed=seed), minigpt(tiny_tokenizer, seed=seed)
    with torch.no_grad():
        for w in other.parameters():
            w.add_(0.05 * torch.randn_like(w))
    prompts = prompt_ids(
        tiny_tokenizer, [[{"role": "user", "content": f"What is {i} plus 2?"}] for i in range(12)]
    )
    out = kl.kl_divergence(
        model, other, tiny_tokenizer, prompts, max_new_tokens=8, samples_per_prompt=8, seed=seed
    )
    # the same responses again (same seed), scored as kl_divergence scores them (its default batch of 16, so
    # the same padding and kernels), to see the Monte-Carlo sums one by one
    repeated = [p for p in prompts for _ in range(8)]
    settings = GenerationSettings(greedy=False, top_k=0, max_new_tokens=8, batch_size=16)
    responses = [g.token_ids for g in generate(model, tiny_tokenizer, repeated, settings, seed=seed)]
    exact, ratios = sequence_kl(model, other, repeated, responses, tiny_tokenizer.pad_token_id, batch_size=16)
    exact_sums = torch.tensor([float(k.sum()) for k in exact], dtype=torch.float64)
    mc_sums = torch.tensor([float(r.sum()) for r in ratios], dtype=torch.float64)
    # Scored the same way these agree exactly on one machine. The tolerance is float32's for a sum over up to
    # 8 positions of two log-probabilities each (issue 28: scored in batches of 8 the mean was 5e-9 off, the
    # per-response sums 1e-6): different responses would differ by 0.01-1.
    logps = [sequence_logprobs(m, repeated, responses, tiny_tokenizer.pad_token_id) for m in (model, other)]
    scale = max(float(torch.cat(lp).abs().max()) for lp in logps)
    tol = f32_tol(scale, terms=2 * max(len(r) for r in responses))
    assert torch.allclose(exact_sums, torch.tensor(out["per_sample"], dtype=torch.float64), rtol=0, atol=tol)
    assert float(mc_sums.mean()) == pytest.approx(out["kl_sampled"], abs=tol)
    assert all(float(k.min()) >= 0 for k in exact) and float(mc_sums.min()) < 0
    mc_se = float(mc_sums.std() / math.sqrt(len(mc_sums)))
    assert out["kl"] > 0 and abs(out["kl"] - out["kl_sampled"]) < 3 * (mc_se + out["standard_error"])
    assert out["standard_error"] < mc_se


@pytest.mark.numerics
def test_sequence_logprobs_independent_of_padding(tiny_tokenizer, seed):
    model = minigpt(tiny_tokenizer, seed)
    ctx = [ids_of(tiny_tokenizer, "what is 3 plus 4 ?"), ids_of(tiny_tokenizer, "sort")]
    cont = [ids_of(tiny_tokenizer, " 7"), ids_of(tiny_tokenizer, " 1 , 2 , 3")]
    together = sequence_logprobs(model, ctx, cont, tiny_tokenizer.pad_token_id, batch_size=2)
    alone = [sequence_logprobs(model, [c], [k], tiny_tokenizer.pad_token_id)[0] for c, k in zip(ctx, cont)]
    for a, b in zip(together, alone):
        assert torch.allclose(a, b, atol=1e-5)


# --------------------------------------------------------------------------- loading


@pytest.mark.numerics
def test_lora_adapter_loads_on_its_base(tiny_minigpt, tiny_tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from alignpipe.inference.loading import load_lm

    base = AutoModelForCausalLM.from_pretrained(tiny_minigpt)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["c_attn"], init_lora_weights=False, task_type="CAUSAL_LM")
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    tiny_tokenizer.save_pretrained(tmp_path / "adapter")
    loaded = load_lm(str(tmp_path / "adapter"))
    assert loaded.info["kind"] == "lora_adapter" and loaded.info["base_model"] == str(tiny_minigpt)
    x = torch.tensor([ids_of(tiny_tokenizer, "what is 3 plus 4")])
    fresh_base = AutoModelForCausalLM.from_pretrained(tiny_minigpt).eval()
    with torch.no_grad():
        assert torch.allclose(
            loaded.model(input_ids=x).logits, peft_model.eval()(input_ids=x).logits, atol=1e-5
        )
        assert not torch.allclose(loaded.model(input_ids=x).logits, fresh_base(input_ids=x).logits, atol=1e-3)


# --------------------------------------------------------------------------- suites


def test_packaged_suites_load_and_cap():
    for name in ("default", "quick"):
        suite = load_suite(name)
        assert suite.name == name and suite.prompts and suite.perplexity and suite.kl and suite.win_rate
    quantize = load_suite("quantize")  # what quantisation costs the model: no reward-model sections
    assert quantize.prompts.n == 500 and quantize.safety and quantize.kl and not quantize.win_rate
    assert not quantize.reward_accuracy
    suite = load_suite("default")
    suite.cap(5)
    assert suite.prompts.n == 5 and suite.perplexity.max_documents == 5 and suite.kl.n_prompts == 5
    assert all(mc.n == 5 for mc in suite.multiple_choice) and suite.reward_accuracy.n == 5


@pytest.mark.parametrize(
    "text,expected",
    [
        ("prompts: {n: 4\n", r"not valid YAML \(line"),
        ("prompts: {n: 4, colour: red}", r"unknown key 'prompts.colour'"),
        ("prompts: {n: four}", r"'prompts.n' must be an integer or null"),
        ("generation: {temperature: 0}", r"generation.temperature must be > 0"),
        ("perplexity: [1, 2]", r"'perplexity' must be a mapping"),
        ("judge: gpt4", r"unknown key\(s\) 'judge'"),
        ("multiple_choice: [{source: a.jsonl}, {source: b/a.jsonl}]", r"names must be unique"),
    ],
)
def test_bad_suites_name_file_and_key(tmp_path, text, expected):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(AlignpipeError, match=expected) as e:
        load_suite(str(path))
    assert str(path) in str(e.value)


def test_unknown_packaged_suite():
    with pytest.raises(AlignpipeError, match="unknown suite 'nope'.*default, quantize, quick"):
        load_suite("nope")


# --------------------------------------------------------------------------- the CLI end to end

TEST_SUITE = {
    "name": "tiny",
    "seed": 0,
    "generation": {"greedy": True, "max_new_tokens": 12, "batch_size": 8},
    "perplexity": {"source": "default", "max_documents": 3, "window": 64},
    "prompts": {"source": "default", "n": 8},
    "win_rate": True,
    "multiple_choice": [
        {"name": "tasks_mc", "source": "default", "chat": True, "n": 6},
        {"name": "arith", "source": "arith.jsonl"},
    ],
    "reward_accuracy": {"source": "default", "n": 8},
    "kl": {"n_prompts": 4, "samples_per_prompt": 2},
    "safety": {"source": "default", "n": 3},
}


@pytest.fixture(scope="module")
def trio(tmp_path_factory, tiny_tokenizer):
    """A policy, a reference and a reward model, all tiny MiniGPTs sharing the tokenizer."""
    from alignpipe.inference.modeling import align_with_tokenizer

    d = tmp_path_factory.mktemp("trio")
    for name, seed in (("policy", 0), ("ref", 1)):
        minigpt(tiny_tokenizer, seed).save_pretrained(d / name)
        tiny_tokenizer.save_pretrained(d / name)
    torch.manual_seed(2)
    rm = MiniGPTForSequenceClassification(
        MiniGPTConfig(
            vocab_size=len(tiny_tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq=128, num_labels=1
        )
    )
    align_with_tokenizer(rm, tiny_tokenizer)
    rm.save_pretrained(d / "rm")
    tiny_tokenizer.save_pretrained(d / "rm")
    (d / "arith.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"question": "What is 2 plus 3?", "choices": ["5", "6"], "answer": 0},
                {"question": "What is 1 plus 1?", "choices": ["3", "2", "4"], "answer": 1},
            ]
        )
        + "\n"
    )
    (d / "suite.yaml").write_text(yaml.safe_dump(TEST_SUITE))
    return d


@pytest.fixture(scope="module")
def evaluated(trio):
    out = trio / "out"
    rc = cli(
        [
            "eval",
            "--model",
            str(trio / "policy"),
            "--ref",
            str(trio / "ref"),
            "--reward-model",
            str(trio / "rm"),
            "--suite",
            str(trio / "suite.yaml"),
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    return out, json.loads((out / "eval.json").read_text())


def test_eval_json_schema(evaluated, trio):
    out, data = evaluated
    assert data["schema_version"] == 1
    assert data["model"]["path"] == str(trio / "policy") and data["model"]["kind"] == "causal_lm"
    assert data["ref"]["path"] == str(trio / "ref") and data["reward_model"]["kind"] == "reward_model"
    assert data["suite"]["name"] == "tiny" and data["generation"]["max_new_tokens"] == 12
    m = data["metrics"]
    assert set(m) == {
        "perplexity",
        "task_accuracy",
        "multiple_choice",
        "reward_accuracy",
        "win_rate",
        "verbosity",
        "kl",
        "safety",
    }
    assert data["skipped"] == {}
    safety = [json.loads(line) for line in (out / "safety_samples.jsonl").read_text().splitlines()]
    assert [s["set"] for s in safety] == ["unsafe"] * 3 + ["benign"] * 3
    unsafe_refused = [s["model_refused"] for s in safety if s["set"] == "unsafe"]
    assert data["summary"]["refusal_rate"] == sum(unsafe_refused) / 3
    lo, hi = data["summary"]["refusal_rate_ci95"]
    assert lo <= data["summary"]["refusal_rate"] <= hi
    assert data["summary"]["refusal_rate_delta"] == pytest.approx(
        (sum(unsafe_refused) - sum(s["ref_refused"] for s in safety if s["set"] == "unsafe")) / 3
    )
    model_ok, ref_ok = data["per_sample"]["model_correct"], data["per_sample"]["ref_correct"]
    assert data["summary"]["task_accuracy_delta"] == pytest.approx(
        (sum(model_ok) - sum(ref_ok)) / len(model_ok)
    )
    assert (
        m["perplexity"]["documents"] == 3
        and m["perplexity"]["window"] == 64
        and m["perplexity"]["perplexity"] > 1
    )
    assert m["task_accuracy"]["n"] == 8 and set(m["task_accuracy"]["per_task"]) <= set(DEFAULT_TASKS)
    assert m["multiple_choice"]["arith"]["n"] == 2 and m["multiple_choice"]["tasks_mc"]["n"] == 6
    assert m["reward_accuracy"]["n"] == 8 and 0 <= m["reward_accuracy"]["accuracy"] <= 1
    assert m["kl"]["n_samples"] == 8
    v = m["verbosity"]
    for side in ("model", "ref"):
        assert set(v[side]["length"]) == {"tokens", "words", "chars"}
        assert set(v[side]["length"]["tokens"]) == {"mean", "median", "p90"}
        assert v[side]["stop"]["eos"] + v[side]["stop"]["max_new_tokens"] + v[side]["stop"][
            "other"
        ] == pytest.approx(1)
    assert set(v["length_ratio"]) == {"chars", "words", "tokens"}
    assert len(data["per_sample"]["model_tokens"]) == len(data["per_sample"]["ref_reward"]) == 8
    assert data["summary"]["task_accuracy"] == m["task_accuracy"]["accuracy"]
    assert isinstance(data["warnings"], list) and set(data["timings_s"]) >= {"perplexity", "kl"}
    for name in (
        "eval.json",
        "samples.jsonl",
        "judgments.json",
        "report.md",
        "report.html",
        "length_hist.png",
        "reward_vs_length.png",
    ):
        assert (out / name).is_file(), name
    assert len((out / "samples.jsonl").read_text().splitlines()) == 8


def test_win_rate_comes_from_the_judgments_file(evaluated):
    out, data = evaluated
    rows = json.loads((out / "judgments.json").read_text())
    assert len(rows) == 8
    for r in rows:
        assert r["preference"] == (
            2.0 if r["score_2"] > r["score_1"] else 1.0 if r["score_2"] < r["score_1"] else 1.5
        )
    expected = judgment_metrics(read_judgments(out / "judgments.json"))
    w = data["metrics"]["win_rate"]
    assert w["win_rate"] == pytest.approx(expected["win_rate"])
    assert w["lc_win_rate"] == pytest.approx(expected["lc_win_rate"])
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["output_2"] for r in rows] == [s["model"] for s in samples]
    assert [r["output_1"] for r in rows] == [s["ref"] for s in samples]


def test_verbosity_warning_when_long_without_gain(tmp_path):
    from alignpipe.eval.context import Context
    from alignpipe.eval.sections.verbosity import check_verbosity

    ctx = Context(load_suite("quick"), tmp_path, seed=0)
    ctx.rec.metrics = {"verbosity": {"length_ratio": {"chars": 1.6}}, "win_rate": {"lc_win_rate": 49.0}}
    check_verbosity(ctx)
    assert len(ctx.rec.warnings) == 1 and "1.60x the reference length" in ctx.rec.warnings[0]
    ctx = Context(load_suite("quick"), tmp_path, seed=0)
    ctx.rec.metrics = {"verbosity": {"length_ratio": {"chars": 1.6}}, "win_rate": {"lc_win_rate": 70.0}}
    check_verbosity(ctx)
    assert ctx.rec.warnings == []


def test_cli_errors_exit_2(tmp_path, trio, capsys):
    assert (
        cli(["eval", "--model", str(tmp_path / "no" / "such" / "model"), "--output", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err
    assert "model " in err and "no/such/model does not exist" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompts: {n: -}\nwat: 1\n")
    assert (
        cli(["eval", "--model", str(trio / "policy"), "--suite", str(bad), "--output", str(tmp_path / "o")])
        == 2
    )
    assert "bad.yaml" in capsys.readouterr().err
    (tmp_path / "mc.jsonl").write_text('{"question": "q", "choices": ["a", "b"], "answer": 5}\n')
    suite = tmp_path / "mc.yaml"
    suite.write_text(yaml.safe_dump({"multiple_choice": [{"source": "mc.jsonl"}]}))
    rc = cli(
        ["eval", "--model", str(trio / "policy"), "--suite", str(suite), "--output", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "mc.jsonl, row 1, field 'answer'" in err


def test_reward_model_alone(trio, tmp_path):
    out = tmp_path / "rm_only"
    assert (
        cli(
            [
                "eval",
                "--reward-model",
                str(trio / "rm"),
                "--suite",
                str(trio / "suite.yaml"),
                "--output",
                str(out),
                "--max-samples",
                "4",
            ]
        )
        == 0
    )
    data = json.loads((out / "eval.json").read_text())
    assert data["model"] is None and set(data["metrics"]) == {"reward_accuracy"}
    assert data["metrics"]["reward_accuracy"]["n"] == 4 and "perplexity" in data["skipped"]


# --------------------------------------------------------------------------- lm-evaluation-harness


@pytest.mark.numerics
def test_harness_adapter_on_a_local_task(tiny_tokenizer, tmp_path):
    pytest.importorskip(
        "lm_eval", reason="lm-evaluation-harness is not installed (pip install 'alignpipe[lm-eval]')"
    )
    from alignpipe.eval.sections.harness import run_harness

    rows = [
        {"question": "What is 2 plus 5?", "choices": ["7", "8"], "answer": 0},
        {"question": "What is 4 plus 4?", "choices": ["7", "8"], "answer": 1},
        {"question": "What is 3 plus 4?", "choices": ["6", "7", "9"], "answer": 1},
    ]
    (tmp_path / "mc.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    (tmp_path / "local_mc.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "alignpipe_local_mc",
                "dataset_path": "json",
                "dataset_kwargs": {"data_files": {"test": str(tmp_path / "mc.jsonl")}},
                "test_split": "test",
                "output_type": "multiple_choice",
                "doc_to_text": "{{question}}",
                "doc_to_choice": "{{choices}}",
                "doc_to_target": "answer",
                "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
            }
        )
    )
    logits = torch.zeros(len(tiny_tokenizer))
    logits[ids_of(tiny_tokenizer, " 7")[-1]] = 5.0  # rigged: always answers 7 -> right on rows 1 and 3
    model = constant_logits(tiny_tokenizer, logits)
    out = run_harness(model, tiny_tokenizer, ["alignpipe_local_mc"], include_path=str(tmp_path))
    ours = multiple_choice.multiple_choice_metrics(
        [multiple_choice.ChoiceItem(**r) for r in rows],
        multiple_choice.choice_logliks(
            model, tiny_tokenizer, [multiple_choice.ChoiceItem(**r) for r in rows]
        ),
    )
    assert out["alignpipe_local_mc"]["acc"] == pytest.approx(2 / 3) == pytest.approx(ours["acc"])
    assert out["alignpipe_local_mc"]["acc_norm"] == pytest.approx(ours["acc_norm"])
