"""Export a MiniGPT checkpoint as plain GPT-2, loadable anywhere with no remote code.

    alignpipe export CHECKPOINT --to gpt2 -o DIR

A causal LM becomes a `GPT2LMHeadModel`; a reward or value model (MiniGPTForSequenceClassification)
a `GPT2ForSequenceClassification` with the same `score` head. MiniGPT uses GPT-2's layout (pre-norm,
biases, exact GELU, tied head), so the export is a renaming plus a transpose: GPT-2 stores its
projections as Conv1D (in, out) where MiniGPT's nn.Linear holds (out, in). Both score the hidden state
of the rightmost token that is not the pad token, so a reward model gives the same rewards on inputs
whose pad tokens are only padding. The export checks logits on random inputs against the source and
refuses to write a checkpoint that differs by more than `--atol` (1e-4 by default). A causal LM
converts with llama.cpp's GGUF tools like any GPT-2.
"""

from __future__ import annotations

import argparse
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
)

import pipeline  # noqa: F401
from pipeline.errors import AlignpipeError
from pipeline.models.minigpt import MiniGPTForCausalLM, MiniGPTForSequenceClassification

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def to_gpt2(
    model: MiniGPTForCausalLM | MiniGPTForSequenceClassification,
) -> GPT2LMHeadModel | GPT2ForSequenceClassification:
    """The same network as GPT-2: the LM for a causal LM, the sequence classifier for a reward model."""
    c = model.config
    classifier = isinstance(model, MiniGPTForSequenceClassification)
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
        bos_token_id=c.bos_token_id,
        eos_token_id=c.eos_token_id,
        pad_token_id=c.pad_token_id,
        tie_word_embeddings=True,
        num_labels=c.num_labels,
    )
    if classifier:
        cfg.id2label, cfg.label2id = c.id2label, c.label2id
    gpt2 = (GPT2ForSequenceClassification if classifier else GPT2LMHeadModel)(cfg)
    sd = {}
    for k, v in model.state_dict().items():
        if k == "lm_head.weight":
            continue  # tied to wte
        sd[k] = v.t().contiguous() if k.endswith(_CONV1D) else v
    missing, unexpected = gpt2.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight" and not k.endswith("attn.bias")]
    if missing or unexpected:
        raise AlignpipeError(f"export: weights do not map onto GPT-2 (missing {missing}, unexpected {unexpected})")
    if not classifier:
        gpt2.tie_weights()
    return gpt2.to(next(model.parameters()).dtype).eval()


@torch.no_grad()
def max_logit_diff(a, b, vocab_size: int, seq_len: int, batch: int = 2, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab_size, (batch, seq_len), generator=g)
    return (a(x).logits.float() - b(x).logits.float()).abs().max().item()


def export(checkpoint: str, out_dir: str, atol: float = 1e-4) -> float:
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
    gpt2 = to_gpt2(model)
    diff = max_logit_diff(model, gpt2, model.config.vocab_size, min(64, model.config.max_seq))
    if diff > atol:
        raise AlignpipeError(f"export: GPT-2 logits differ from MiniGPT's by {diff:.2e} > {atol:.0e}; nothing written")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gpt2.save_pretrained(out, safe_serialization=True)
    try:
        GenerationConfig.from_pretrained(checkpoint).save_pretrained(out)
    except OSError:
        pass
    for name in TOKENIZER_FILES:
        if (Path(checkpoint) / name).is_file():
            shutil.copy(Path(checkpoint) / name, out / name)
    return diff


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="alignpipe export", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--to", choices=["gpt2"], default="gpt2")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--atol", type=float, default=1e-4)
    args = ap.parse_args(argv)
    diff = export(args.checkpoint, args.output, args.atol)
    arch = AutoConfig.from_pretrained(args.output).architectures[0]
    print(f"exported {args.checkpoint} -> {args.output} as {arch} (max |logit diff| {diff:.2e})")
    return 0
