"""Export a MiniGPT checkpoint as a plain Transformers model, loadable anywhere with no remote code, or (with
``--to gguf``) as a GGUF file that llama.cpp runs (`alignpipe.models.gguf`).

    alignpipe export CHECKPOINT -o DIR
    alignpipe export CHECKPOINT --to gguf [--outtype f32|f16|q8_0] -o FILE.gguf

Learned positions export to GPT-2, rotary positions (`pos_embedding: rope`) to GPT-NeoX. A causal LM
becomes a `GPT2LMHeadModel` / `GPTNeoXForCausalLM`; a reward or value model
(MiniGPTForSequenceClassification) the matching `...ForSequenceClassification` with the same `score`
head. MiniGPT uses their layout (pre-norm, biases, exact GELU, tied head), so the export is a renaming
plus a relayout: GPT-2 stores its projections as Conv1D (in, out) where MiniGPT's nn.Linear holds
(out, in); GPT-NeoX keeps nn.Linear but packs q, k, v per head ([q_h | k_h | v_h] for each head h)
where MiniGPT packs them per kind (all q, all k, all v), and rotates q and k the same way (the two
halves of each head, the same rope_theta). All of them score the hidden state of the rightmost token
that is not the pad token, so a reward model gives the same rewards on inputs whose pad tokens are
only padding. The export checks logits on random inputs against the source and refuses to write a
checkpoint that differs by more than `--atol` (1e-4 by default). Both convert with llama.cpp's GGUF
tools.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    GenerationConfig,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    GPTNeoXForSequenceClassification,
)

import alignpipe  # noqa: F401
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import check_source
from alignpipe.core.outputs import check_weights
from alignpipe.models.minigpt import MiniGPTForCausalLM, MiniGPTForSequenceClassification

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)


def _tokens_and_head(c) -> dict:
    """Config fields both targets take from MiniGPT's as they are."""
    return {
        "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_id,
        "pad_token_id": c.pad_token_id,
        "tie_word_embeddings": True,
        "num_labels": c.num_labels,
    }


def _load(model, classes: tuple[type, type], cfg, sd: dict, optional=lambda key: False):
    """`sd` loaded into the causal LM or sequence classifier of `classes` (matching `model`), tied and in eval mode."""
    classifier = isinstance(model, MiniGPTForSequenceClassification)
    if classifier:
        cfg.id2label, cfg.label2id = model.config.id2label, model.config.label2id
    out = classes[classifier](cfg)
    missing, unexpected = out.load_state_dict(sd, strict=False)
    missing = [
        k for k in missing if k != "lm_head.weight" and not optional(k)
    ]  # lm_head: tied to the embedding
    if missing or unexpected:
        raise AlignpipeError(
            f"export: weights do not map onto {type(out).__name__} "
            f"(missing {missing}, unexpected {unexpected})"
        )
    if not classifier:
        out.tie_weights()
    return out.to(next(model.parameters()).dtype).eval()


def to_gpt2(
    model: MiniGPTForCausalLM | MiniGPTForSequenceClassification,
) -> GPT2LMHeadModel | GPT2ForSequenceClassification:
    """The same network as GPT-2: the LM for a causal LM, the sequence classifier for a reward model."""
    c = model.config
    if c.pos_embedding != "learned":
        raise AlignpipeError(
            "export: GPT-2 has learned positions only; a rope MiniGPT exports to GPT-NeoX (to_neox)"
        )
    cfg = GPT2Config(
        vocab_size=c.vocab_size,
        n_positions=c.max_seq,
        n_embd=c.d_model,
        n_layer=c.n_layers,
        n_head=c.n_heads,
        n_inner=c.ffn_mult * c.d_model,
        activation_function="gelu",  # exact GELU, as nn.GELU()
        resid_pdrop=c.dropout,
        embd_pdrop=c.dropout,
        attn_pdrop=c.dropout,
        layer_norm_epsilon=c.layer_norm_eps,
        **_tokens_and_head(c),
    )
    sd = {
        k: v.t().contiguous() if k.endswith(_CONV1D) else v
        for k, v in model.state_dict().items()
        if k != "lm_head.weight"
    }
    return _load(
        model,
        (GPT2LMHeadModel, GPT2ForSequenceClassification),
        cfg,
        sd,
        optional=lambda key: key.endswith("attn.bias"),
    )  # GPT-2's causal-mask buffer


_NEOX_NAMES = {
    "ln_1": "input_layernorm",
    "ln_2": "post_attention_layernorm",
    "attn.c_attn": "attention.query_key_value",
    "attn.c_proj": "attention.dense",
    "mlp.c_fc": "mlp.dense_h_to_4h",
    "mlp.c_proj": "mlp.dense_4h_to_h",
}


def to_neox(
    model: MiniGPTForCausalLM | MiniGPTForSequenceClassification,
) -> GPTNeoXForCausalLM | GPTNeoXForSequenceClassification:
    """The same network as GPT-NeoX (sequential residual, full rotary): for a MiniGPT with rope."""
    c = model.config
    cfg = GPTNeoXConfig(
        vocab_size=c.vocab_size,
        hidden_size=c.d_model,
        num_hidden_layers=c.n_layers,
        num_attention_heads=c.n_heads,
        intermediate_size=c.ffn_mult * c.d_model,
        hidden_act="gelu",  # exact GELU, as nn.GELU()
        max_position_embeddings=c.max_seq,
        rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta, "partial_rotary_factor": 1.0},
        use_parallel_residual=False,  # x + attn(ln1(x)), then + mlp(ln2(.)), as MiniGPT
        attention_bias=True,
        attention_dropout=c.dropout,
        hidden_dropout=c.dropout,
        layer_norm_eps=c.layer_norm_eps,
        **_tokens_and_head(c),
    )
    nh, hs = c.n_heads, c.d_model // c.n_heads
    sd = {}
    for k, v in model.state_dict().items():
        if k == "lm_head.weight":
            continue
        k = k.replace("transformer.wte", "gpt_neox.embed_in").replace(
            "transformer.ln_f", "gpt_neox.final_layer_norm"
        )
        k = k.replace("transformer.h.", "gpt_neox.layers.")
        for old, new in _NEOX_NAMES.items():
            k = k.replace(f".{old}.", f".{new}.")
        if "query_key_value" in k:  # (3, nh, hs, ...) per kind -> (nh, 3, hs, ...) per head
            v = v.reshape(3, nh, hs, *v.shape[1:]).transpose(0, 1).reshape(v.shape)
        sd[k] = v.contiguous()
    return _load(model, (GPTNeoXForCausalLM, GPTNeoXForSequenceClassification), cfg, sd)


def to_plain(model: MiniGPTForCausalLM | MiniGPTForSequenceClassification):
    """GPT-2 for learned positions, GPT-NeoX for rotary ones."""
    return to_neox(model) if model.config.pos_embedding == "rope" else to_gpt2(model)


@torch.no_grad()
def max_logit_diff(a, b, vocab_size: int, seq_len: int, batch: int = 2, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab_size, (batch, seq_len), generator=g)
    return (a(x).logits.float() - b(x).logits.float()).abs().max().item()


def check_export_source(checkpoint: str) -> None:
    """Before anything loads: the checkpoint exists (local before the Hub) and its weights are whole."""
    check_source(checkpoint, "the model to export", hint="")
    check_weights(checkpoint, "export")


def export(checkpoint: str, out_dir: str, atol: float = 1e-4) -> float:
    check_export_source(checkpoint)
    try:
        config = AutoConfig.from_pretrained(checkpoint)
        classifier = any(a.endswith("ForSequenceClassification") for a in config.architectures or [])
        auto = AutoModelForSequenceClassification if classifier else AutoModelForCausalLM
        model = auto.from_pretrained(checkpoint, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"export: cannot load {checkpoint}: {e}") from e
    if not isinstance(model, MiniGPTForCausalLM | MiniGPTForSequenceClassification):
        raise AlignpipeError(f"export: {checkpoint} is a {type(model).__name__}, not a MiniGPT checkpoint")
    model.eval()
    plain = to_plain(model)
    diff = max_logit_diff(model, plain, model.config.vocab_size, min(64, model.config.max_seq))
    if diff > atol:
        raise AlignpipeError(
            f"export: {type(plain).__name__} logits differ from MiniGPT's by {diff:.2e} > "
            f"{atol:.0e}; nothing written"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out, safe_serialization=True)
    try:
        GenerationConfig.from_pretrained(checkpoint).save_pretrained(out)
    except OSError:
        pass
    for name in TOKENIZER_FILES:
        if (Path(checkpoint) / name).is_file():
            shutil.copy(Path(checkpoint) / name, out / name)
    return diff
