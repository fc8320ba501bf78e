"""MiniGPT behaves like any Transformers causal LM: save/load, generate with cache, padding, checkpointing, export.

Every test that takes the `model` or `pos` fixture runs for learned positions and for rotary ones."""

import pytest
import torch
from conftest import NEAR_TIE, greedy_margin
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    GPTNeoXForCausalLM,
    GPTNeoXForSequenceClassification,
)

import alignpipe  # noqa: F401  (registers MiniGPT)
from alignpipe.models.export import export
from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM, MiniGPTForSequenceClassification

PAD, BOS, EOS = 0, 1, 2


def tiny_config(**kw):
    cfg = {
        "vocab_size": 97,
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 4,
        "max_seq": 64,
        "pad_token_id": PAD,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
    }
    return MiniGPTConfig(**{**cfg, **kw})


@pytest.fixture(params=["learned", "rope"])
def pos(request):
    return request.param


@pytest.fixture
def model(pos, seed):
    """Random weights: what these tests check holds for any (ALIGNPIPE_TEST_SEED varies them)."""
    torch.manual_seed(seed)
    return MiniGPTForCausalLM(tiny_config(pos_embedding=pos)).eval()


def test_config_aliases_and_tied_head(model):
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.max_position_embeddings) == (
        32,
        2,
        4,
        64,
    )
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    std = model.transformer.h[0].mlp.c_fc.weight.std().item()
    assert 0.015 < std < 0.025  # N(0, 0.02) init


@pytest.mark.numerics
def test_save_load_identical_logits(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(tmp_path).model_type == "minigpt"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, MiniGPTForCausalLM)
    x = torch.randint(3, 97, (2, 20))
    # bitwise: the same float32 weights (safetensors stores them exactly), input and kernels in one process
    assert torch.equal(model(x).logits, loaded(x).logits)


@pytest.mark.numerics
def test_loss_matches_manual_shifted_cross_entropy(model):
    x = torch.randint(3, 97, (2, 12))
    labels = x.clone()
    labels[:, :4] = -100
    out = model(x, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, 97)
    manual = torch.nn.functional.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=-100)
    # allclose's default rtol=1e-5 on a loss of about log(97) = 4.6 (5e-5) covers a float32 mean of 16 terms
    # taken in another order (16 x 4.6 x eps = 9e-6)
    assert torch.allclose(out.loss, manual, atol=1e-6)
    # num_items_in_batch (Trainer's gradient accumulation) divides the summed loss instead
    summed = model(x, labels=labels, num_items_in_batch=torch.tensor(100)).loss
    assert torch.allclose(summed, manual * (labels[:, 1:] != -100).sum() / 100, atol=1e-5)


@pytest.mark.numerics
def test_generate_with_cache_equals_without(model):
    x = torch.randint(3, 97, (1, 7))
    a = model.generate(
        x, max_new_tokens=30, do_sample=False, use_cache=True, pad_token_id=PAD, eos_token_id=None
    )
    b = model.generate(
        x, max_new_tokens=30, do_sample=False, use_cache=False, pad_token_id=PAD, eos_token_id=None
    )
    assert a.shape == (1, 37)
    # the cached and uncached forwards differ by rounding (1e-7): token equality needs no near-tie on the path
    assert greedy_margin(model, a[0], 7) > NEAR_TIE, "a near-tie: rounding decides; choose another input"
    assert torch.equal(a, b)


@pytest.mark.numerics
def test_left_and_right_padding_give_same_logits_on_real_tokens(model):
    short, long = torch.randint(3, 97, (5,)), torch.randint(3, 97, (9,))
    ref_short, ref_long = model(short[None]).logits[0], model(long[None]).logits[0]
    for side in ("left", "right"):
        pad = torch.full((4,), PAD)
        row = torch.cat([pad, short]) if side == "left" else torch.cat([short, pad])
        mask = (torch.arange(9) >= 4) if side == "left" else (torch.arange(9) < 5)
        ids = torch.stack([row, long])
        am = torch.stack([mask.long(), torch.ones(9, dtype=torch.long)])
        logits = model(ids, attention_mask=am).logits
        # logits of about 1 from other shapes of the same matmuls: 1e-7 apart (measured); 1e-5 is 100x that
        assert torch.allclose(logits[0][mask], ref_short, atol=1e-5), side
        assert torch.allclose(logits[1], ref_long, atol=1e-5), side


@pytest.mark.numerics
def test_left_padded_batch_generation_matches_single(model):
    a, b = torch.randint(3, 97, (4,)), torch.randint(3, 97, (8,))
    ids = torch.stack([torch.cat([torch.full((4,), PAD), a]), b])
    am = torch.stack([torch.cat([torch.zeros(4), torch.ones(4)]), torch.ones(8)]).long()
    kw = {"max_new_tokens": 10, "do_sample": False, "pad_token_id": PAD, "eos_token_id": None}
    batch = model.generate(ids, attention_mask=am, **kw)
    alone_a, alone_b = model.generate(a[None], **kw)[0], model.generate(b[None], **kw)[0]
    assert min(greedy_margin(model, alone_a, 4), greedy_margin(model, alone_b, 8)) > NEAR_TIE, "a near-tie"
    assert torch.equal(batch[0, 8:], alone_a[4:])
    assert torch.equal(batch[1, 8:], alone_b[8:])


@pytest.mark.numerics
def test_gradient_checkpointing_same_gradients(pos, seed):
    torch.manual_seed(seed)
    m = MiniGPTForCausalLM(tiny_config(pos_embedding=pos)).train()
    x = torch.randint(3, 97, (2, 16))

    def grads():
        m.zero_grad()
        m(x, labels=x).loss.backward()
        return {n: p.grad.clone() for n, p in m.named_parameters()}

    plain = grads()
    m.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert m.transformer.h[0].gradient_checkpointing
    ckpt = grads()
    for n in plain:  # the recomputed forward is the same computation: equal up to accumulation order
        assert torch.allclose(plain[n], ckpt[n], atol=1e-6), n


@pytest.mark.numerics
def test_reward_read_at_last_non_pad_token(tmp_path, pos, seed):
    torch.manual_seed(seed)
    MiniGPTForCausalLM(tiny_config(pos_embedding=pos)).save_pretrained(tmp_path)
    rm = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=1).eval()
    assert isinstance(rm, MiniGPTForSequenceClassification)
    seq = torch.randint(3, 97, (6,))
    alone = rm(seq[None]).logits  # (1, 1)
    # the score head applied by hand at the last token
    h = rm.transformer(seq[None]).last_hidden_state
    assert torch.allclose(alone, rm.score(h[:, -1]), atol=1e-6)
    for ids, am in [
        (torch.cat([seq, torch.full((3,), PAD)]), torch.tensor([1] * 6 + [0] * 3)),  # right padding
        (torch.cat([torch.full((3,), PAD), seq]), torch.tensor([0] * 3 + [1] * 6)),  # left padding
    ]:
        assert torch.allclose(rm(ids[None], attention_mask=am[None]).logits, alone, atol=1e-5)
    # without a mask, pad_token_id finds the last real token
    assert torch.allclose(rm(torch.cat([seq, torch.full((3,), PAD)])[None]).logits, alone, atol=1e-5)


def test_backbone_found_by_base_model_prefix():
    rm = MiniGPTForSequenceClassification(tiny_config(num_labels=1))
    backbone = getattr(rm, rm.base_model_prefix)
    out = backbone(torch.randint(3, 97, (1, 5)), output_hidden_states=True, use_cache=False)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1].shape == (1, 5, 32)


def _perturbed(m):
    """Random biases and LayerNorm weights too (they start at 0 and 1, which would hide a wrong mapping)."""
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


@pytest.mark.numerics
def test_export_parity_gpt2_or_neox(model, pos, tmp_path):
    _perturbed(model).save_pretrained(tmp_path / "mg")
    diff = export(str(tmp_path / "mg"), str(tmp_path / "plain"))
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "plain").eval()
    assert isinstance(plain, GPT2LMHeadModel if pos == "learned" else GPTNeoXForCausalLM)
    assert plain.config.tie_word_embeddings
    x = torch.randint(0, 97, (3, 40))
    am = torch.ones_like(x)
    am[0, :7] = 0  # left padding, positions counted from the first real token (as generate does)
    position_ids = (am.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        assert (plain(x).logits - model(x).logits).abs().max().item() < 1e-4
        both = [m(x, attention_mask=am, position_ids=position_ids).logits[am.bool()] for m in (plain, model)]
        assert (both[0] - both[1]).abs().max().item() < 1e-4
    kw = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": PAD, "eos_token_id": None}
    # prompts of ordinary tokens: a pad token (0) in a prompt makes generate mask it, and a prompt ending in
    # one is right padding, which decoder-only models do not define alike (with seed 2, x[0, 8] is 0)
    prompts = x[:, :9].clamp(min=3)
    ours = model.generate(prompts, **kw)
    assert min(greedy_margin(model, row, 9) for row in ours) > NEAR_TIE, "a near-tie: rounding decides"
    assert torch.equal(plain.generate(prompts, **kw), ours)
    assert diff < 1e-4


@pytest.mark.numerics
def test_reward_model_export_gives_the_same_rewards(pos, tmp_path, seed):
    torch.manual_seed(seed)
    rm = _perturbed(MiniGPTForSequenceClassification(tiny_config(pos_embedding=pos, num_labels=1)))
    rm.save_pretrained(tmp_path / "rm")
    export(str(tmp_path / "rm"), str(tmp_path / "plain"))
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "plain").eval()
    assert isinstance(
        plain, GPT2ForSequenceClassification if pos == "learned" else GPTNeoXForSequenceClassification
    )
    x = torch.randint(3, 97, (2, 12))
    x[1, 8:] = PAD  # right padding, read at the last real token
    am = (x != PAD).long()
    with torch.no_grad():
        assert torch.allclose(plain(x, attention_mask=am).logits, rm(x, attention_mask=am).logits, atol=1e-5)


def test_flops_and_mfu(model, pos):
    n = model.num_params()
    table = 64 * 32 if pos == "learned" else 0  # learned position table, not counted; rope has none
    assert n == sum(p.numel() for p in model.parameters()) - table
    fpt = model.flops_per_token(seq_len=64)
    assert fpt == 6 * n + 12 * 2 * 32 * 64
    assert model.estimate_mfu(tokens_per_iter=1000, dt=1.0, peak_flops=fpt * 2000) == pytest.approx(0.5)


def test_too_long_sequence_is_a_clear_error(model):
    with pytest.raises(ValueError, match="max_seq"):
        model(torch.randint(3, 97, (1, 65)))


def test_rope_config_checks():
    with pytest.raises(ValueError, match="pos_embedding"):
        tiny_config(pos_embedding="alibi")
    with pytest.raises(ValueError, match="even head size"):
        tiny_config(pos_embedding="rope", d_model=36, n_heads=4)


@pytest.mark.numerics
def test_rope_attention_depends_on_relative_position_only(seed):
    """Shifting every position by the same amount leaves rope's logits unchanged (not learned positions')."""
    torch.manual_seed(seed)
    x = torch.randint(3, 97, (1, 10))
    shifted = torch.arange(5, 15)[None]
    for pos, same in (("rope", True), ("learned", False)):
        m = _perturbed(MiniGPTForCausalLM(tiny_config(pos_embedding=pos)))
        with torch.no_grad():
            a, b = m(x).logits, m(x, position_ids=shifted).logits
        assert torch.allclose(a, b, atol=1e-4) == same, pos


def test_importing_minigpt_before_transformers_registers_it():
    """`from alignpipe.models.minigpt import ...` as a script's first import used to fail (circular import)."""
    import subprocess
    import sys

    code = (
        "import alignpipe; from alignpipe.models.minigpt import MiniGPTConfig; "
        "from transformers import AutoConfig; print(type(AutoConfig.for_model('minigpt')).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "MiniGPTConfig"


def test_rope_model_does_not_pretend_to_be_gpt2():
    from alignpipe.core.errors import AlignpipeError
    from alignpipe.models.export import to_gpt2

    with pytest.raises(AlignpipeError, match="GPT-NeoX"):
        to_gpt2(MiniGPTForCausalLM(tiny_config(pos_embedding="rope")))
