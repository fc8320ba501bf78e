"""`alignpipe plan`: Chinchilla scaling-law planner and training-memory arithmetic.

Pure Python: this module imports no torch.

    alignpipe plan --compute 1e20                 # compute-optimal params and tokens for 1e20 FLOPs
    alignpipe plan --params 500M                  # tokens and compute for a 500M-parameter model
    alignpipe plan --tokens 1.4T --flops-per-second 989T --mfu 0.4   # ...and how long on one H100
    alignpipe plan --memory --params 7B --seq-len 4096   # memory for weights, Adam, (Q)LoRA, KV cache
    alignpipe plan --compute 1e20 --json          # the same numbers for machines

Scaling law (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models"):
training compute C ≈ 6·N·D FLOPs for N parameters and D tokens, compute-optimal at
D ≈ 20·N, and the fitted loss L(N, D) = E + A/N^α + B/D^β with E=1.69, A=406.4,
B=410.7, α=0.34, β=0.28 (their Approach 3). Any two of C, N, D fix the third; one
of them alone is completed with the 20-tokens-per-parameter rule. The predicted
loss is in nats per token on *their* data and tokenizer: use it to compare plans,
not as a target for a MiniGPT run on another corpus. (Minimising this fitted L at
fixed C gives more tokens per parameter, about 26 at 1e18 FLOPs, 40 at 1e20 and 98
at 1e24; the constant ~20 comes from the paper's Approaches 1 and 2 and is the rule
practice quotes, so it is the one used here.)

MiniGPT shape: the Transformer whose non-embedding parameter count
(12·d² + 13·d per layer with ffn_mult 4, the Kaplan et al. convention) is closest to
N, with d_model a multiple of 64, heads of width 64 and, where the count allows,
d_model between 64 and 128 times the depth (the aspect ratio of GPT-2 small up to
Llama-2-7B). Embeddings are counted separately, since at small N they dominate.

Memory (`memory_table`): bytes for weights, gradients and Adam state (fp32 m and v,
plus an fp32 master copy under bf16 mixed precision: 16 bytes per parameter
either way), LoRA/QLoRA (frozen base in the row's dtype, trainable adapter on every
linear layer at 16 bytes per adapter parameter), the KV cache for generation
(2·layers·kv_heads·head_dim values per token) and rough activation memory
(Korthikanti et al. 2022 with flash attention: 34 bytes per token, hidden unit and
layer in bf16; with gradient checkpointing only each layer's input, 2 bytes, is
kept, plus one layer's worth being recomputed). Architectures are the real ones
of Qwen2.5-0.5B, Llama-2-7B and Llama-2-70B. Not counted: framework workspace, the
CUDA context (~0.5-1 GiB), fragmentation, the logits tensor (batch·seq·vocab), and
quantisation scales (int4 NF4 adds ~0.5 bit per weight, i.e. ~12%).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import echo

# Hoffmann et al. (2022), Approach 3 fit of L(N, D) = E + A / N**ALPHA + B / D**BETA.
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
TOKENS_PER_PARAM = 20.0  # Chinchilla-optimal D / N
FLOPS_PER_PARAM_TOKEN = 6.0  # forward 2·N + backward 4·N per token
HEAD_DIM = 64  # MiniGPT heads are 64 wide; d_model is a multiple of it
ASPECT_BAND = (64.0, 128.0)  # preferred d_model / n_layers

_SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgtp]?)\s*$", re.IGNORECASE)


def parse_count(text: str | float, what: str = "value") -> float:
    """'1e20', '7e9', '7B', '1.4T', '500M', '989T', '8k' -> a positive finite float.

    Suffixes (case-insensitive): K=1e3, M=1e6, B or G=1e9, T=1e12, P=1e15.
    Anything else, zero or a negative number raises AlignpipeError naming `what`.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _NUMBER.match(str(text).replace("_", "").replace(",", ""))
        if not match:
            raise AlignpipeError(
                f"{what}: cannot read {text!r} as a number; write e.g. 1e20, 7e9, 7B, 1.4T or 500M"
            )
        value = float(match.group(1)) * _SUFFIXES[match.group(2).lower()]
    if not math.isfinite(value) or value <= 0:
        raise AlignpipeError(f"{what}: must be a positive finite number, got {text!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Scaling law


def chinchilla_optimal(compute: float) -> tuple[float, float]:
    """Compute-optimal (N params, D tokens) for `compute` FLOPs: C = 6·N·D with D = 20·N."""
    n = math.sqrt(compute / (FLOPS_PER_PARAM_TOKEN * TOKENS_PER_PARAM))
    return n, TOKENS_PER_PARAM * n


def predicted_loss(params: float, tokens: float) -> float:
    """Hoffmann et al.'s fitted loss L(N, D) = E + A/N^α + B/D^β (nats per token, their data)."""
    return E + A / params**ALPHA + B / tokens**BETA


def solve_plan(
    compute: float | None = None, params: float | None = None, tokens: float | None = None
) -> tuple[float, float, float]:
    """Complete (C, N, D) from what is given, using C = 6·N·D and, if only one is given, D = 20·N."""
    given = sum(x is not None for x in (compute, params, tokens))
    if given == 0:
        raise AlignpipeError("give --compute, --params or --tokens (or two of them)")
    if given == 3:
        raise AlignpipeError(
            "give at most two of --compute, --params and --tokens: the third follows from C = 6·N·D"
        )
    if compute is not None:
        if params is not None:
            tokens = compute / (FLOPS_PER_PARAM_TOKEN * params)
        elif tokens is not None:
            params = compute / (FLOPS_PER_PARAM_TOKEN * tokens)
        else:
            params, tokens = chinchilla_optimal(compute)
    else:
        if params is None:
            params = tokens / TOKENS_PER_PARAM
        elif tokens is None:
            tokens = TOKENS_PER_PARAM * params
        compute = FLOPS_PER_PARAM_TOKEN * params * tokens
    return compute, params, tokens


# ---------------------------------------------------------------------------------------------
# MiniGPT shape


def minigpt_param_count(
    n_layers: int,
    d_model: int,
    vocab_size: int,
    seq_len: int,
    ffn_mult: int = 4,
    pos_embedding: str = "learned",
) -> tuple[int, int]:
    """Exact (non-embedding, embedding) parameter counts of alignpipe.models.minigpt.

    Per block: two LayerNorms (4d), c_attn (3d² + 3d), attention c_proj (d² + d), c_fc
    (f·d² + f·d) and MLP c_proj (f·d² + d), i.e. 12·d² + 13·d at f = 4; plus the final
    LayerNorm (2d). Embedding: token table (vocab·d, tied to the LM head) and, for
    `pos_embedding="learned"`, learned positions (seq_len·d); rotary positions ("rope") have
    no parameters.
    """
    if pos_embedding not in ("learned", "rope"):
        raise AlignpipeError(f"pos_embedding must be 'learned' or 'rope', got {pos_embedding!r}")
    d, f = d_model, ffn_mult
    per_layer = (4 + 2 * f) * d * d + (9 + f) * d
    positions = seq_len if pos_embedding == "learned" else 0
    return n_layers * per_layer + 2 * d, (vocab_size + positions) * d


def _shape_score(non_embedding: int, target: float, n_layers: int, d_model: int) -> float:
    """Lower is better: log-distance of the count from the target, then of the aspect ratio from the band."""
    ratio = d_model / n_layers
    lo, hi = ASPECT_BAND
    outside_band = max(0.0, math.log(lo / ratio), math.log(ratio / hi))
    off_centre = abs(math.log(ratio / math.sqrt(lo * hi)))
    return abs(math.log(non_embedding / target)) + 0.25 * outside_band + 0.02 * off_centre


def minigpt_shape(
    params: float,
    vocab_size: int = 8192,
    seq_len: int = 1024,
    ffn_mult: int = 4,
    pos_embedding: str = "learned",
) -> dict:
    """The MiniGPT (n_layers, d_model, n_heads) whose non-embedding count is closest to `params`.

    Searches depths 1..256 and, for each, the two multiples of 64 around the exact
    width; scores by relative count error with a penalty for d_model/n_layers outside
    64..128. Returns the shape, its exact parameter counts (see `minigpt_param_count`)
    and its training FLOPs per token as `MiniGPTForCausalLM.flops_per_token` counts
    them (PaLM, appendix B): 6·(non-embedding params + LM head d·vocab) for the
    matmuls plus 12·n_layers·d_model·seq_len for attention scores and values.
    """
    best = None
    for n_layers in range(1, 257):
        exact = math.sqrt(params / ((4 + 2 * ffn_mult) * n_layers))
        for d_model in {
            max(HEAD_DIM, HEAD_DIM * math.floor(exact / HEAD_DIM)),
            max(HEAD_DIM, HEAD_DIM * math.ceil(exact / HEAD_DIM)),
        }:
            non_emb, _ = minigpt_param_count(n_layers, d_model, vocab_size, seq_len, ffn_mult, pos_embedding)
            score = _shape_score(non_emb, params, n_layers, d_model)
            if best is None or score < best[0]:
                best = (score, n_layers, d_model)
    _, n_layers, d_model = best
    non_emb, emb = minigpt_param_count(n_layers, d_model, vocab_size, seq_len, ffn_mult, pos_embedding)
    flops_per_token = (
        FLOPS_PER_PARAM_TOKEN * (non_emb + d_model * vocab_size) + 12 * n_layers * d_model * seq_len
    )
    return {
        "n_layers": n_layers,
        "d_model": d_model,
        "n_heads": d_model // HEAD_DIM,
        "head_dim": HEAD_DIM,
        "ffn_mult": ffn_mult,
        "vocab_size": vocab_size,
        "seq_len": seq_len,
        "pos_embedding": pos_embedding,
        "aspect_ratio": d_model / n_layers,
        "non_embedding_params": non_emb,
        "embedding_params": emb,
        "total_params": non_emb + emb,
        "train_flops_per_token": flops_per_token,
    }


# ---------------------------------------------------------------------------------------------
# Memory


@dataclass(frozen=True)
class Arch:
    """A decoder-only Transformer's dimensions, enough to count parameters, adapters and KV cache.

    gated_mlp: SwiGLU MLP with gate, up and down projections (Llama, Qwen); otherwise a
    GPT-2 MLP (d -> intermediate -> d) with fused q/k/v. qkv_bias: biases on q, k, v only
    (Qwen2); gpt2_style: biases on every linear layer and LayerNorms with a bias, plus
    `max_positions` learned position embeddings (GPT-2, MiniGPT).
    """

    name: str
    n_layers: int
    hidden: int
    intermediate: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool
    gated_mlp: bool = True
    qkv_bias: bool = False
    gpt2_style: bool = False
    max_positions: int = 0

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in_features, out_features) of each linear layer in one block."""
        h, q, kv, i = (
            self.hidden,
            self.n_heads * self.head_dim,
            self.n_kv_heads * self.head_dim,
            self.intermediate,
        )
        if self.gated_mlp:
            return [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]
        return [(h, q + 2 * kv), (q, h), (h, i), (i, h)]

    @property
    def n_params(self) -> int:
        shapes = self.linear_shapes()
        h = self.hidden
        weights = sum(i * o for i, o in shapes)
        if self.gpt2_style:
            biases = sum(o for _, o in shapes)
        elif self.qkv_bias:
            biases = (self.n_heads + 2 * self.n_kv_heads) * self.head_dim
        else:
            biases = 0
        norm = 2 * h if self.gpt2_style else h  # LayerNorm (weight, bias) or RMSNorm (weight)
        block = weights + biases + 2 * norm
        embeddings = self.vocab_size * h * (1 if self.tied_embeddings else 2) + self.max_positions * h
        return self.n_layers * block + norm + embeddings

    def kv_cache_bytes_per_token(self, bytes_per_value: float) -> float:
        """Keys and values for every layer: 2 · n_layers · n_kv_heads · head_dim · bytes."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * bytes_per_value

    def lora_params(self, rank: int) -> int:
        """Trainable LoRA parameters with adapters A (in x r) and B (r x out) on every linear layer."""
        return self.n_layers * sum(rank * (i + o) for i, o in self.linear_shapes())


REFERENCE_ARCHS = (
    # Qwen/Qwen2.5-0.5B config.json: SwiGLU, GQA, q/k/v biases, tied embeddings; 0.49B params
    Arch(
        "Qwen2.5-0.5B",
        n_layers=24,
        hidden=896,
        intermediate=4864,
        n_heads=14,
        n_kv_heads=2,
        head_dim=64,
        vocab_size=151936,
        tied_embeddings=True,
        qkv_bias=True,
    ),
    # meta-llama/Llama-2-7b-hf: multi-head attention (32 KV heads); 6.74B params
    Arch(
        "Llama-2-7B",
        n_layers=32,
        hidden=4096,
        intermediate=11008,
        n_heads=32,
        n_kv_heads=32,
        head_dim=128,
        vocab_size=32000,
        tied_embeddings=False,
    ),
    # meta-llama/Llama-2-70b-hf: GQA with 8 KV heads (Llama-3-70B has the same KV figures); 68.98B params
    Arch(
        "Llama-2-70B",
        n_layers=80,
        hidden=8192,
        intermediate=28672,
        n_heads=64,
        n_kv_heads=8,
        head_dim=128,
        vocab_size=32000,
        tied_embeddings=False,
    ),
)

BYTES = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
ADAM_BYTES = 8  # fp32 first and second moments
MASTER_BYTES = 4  # fp32 master weights under bf16 mixed precision
ADAPTER_BYTES = 4 + 4 + ADAM_BYTES  # fp32 adapter weight, gradient and Adam moments
ACTIVATION_BYTES_BF16 = 34  # per token, hidden unit and layer (Korthikanti et al. 2022, flash attention)
CHECKPOINT_BYTES_BF16 = 2  # per token, hidden unit and layer: the saved block input


def minigpt_arch(
    params: float, vocab_size: int = 8192, seq_len: int = 1024, pos_embedding: str = "learned"
) -> Arch:
    """The MiniGPT that `minigpt_shape` picks for `params`, as an Arch."""
    s = minigpt_shape(params, vocab_size, seq_len, pos_embedding=pos_embedding)
    d = s["d_model"]
    return Arch(
        f"MiniGPT {s['n_layers']}x{d}",
        n_layers=s["n_layers"],
        hidden=d,
        intermediate=s["ffn_mult"] * d,
        n_heads=s["n_heads"],
        n_kv_heads=s["n_heads"],
        head_dim=HEAD_DIM,
        vocab_size=vocab_size,
        tied_embeddings=True,
        gated_mlp=False,
        gpt2_style=True,
        max_positions=seq_len if pos_embedding == "learned" else 0,
    )


def arch_for_params(
    params: float, vocab_size: int = 8192, seq_len: int = 1024, pos_embedding: str = "learned"
) -> Arch:
    """A reference architecture within 15% of `params` (e.g. 7B -> Llama-2-7B), else a MiniGPT shape."""
    for arch in REFERENCE_ARCHS:
        if abs(arch.n_params / params - 1) <= 0.15:
            return arch
    return minigpt_arch(params, vocab_size, seq_len, pos_embedding)


def memory_row(
    arch: Arch, dtype: str, *, seq_len: int = 1024, batch_size: int = 1, lora_rank: int = 16
) -> dict:
    """Memory in bytes for one architecture with its weights stored in `dtype`.

    - weights: params · bytes(dtype)
    - kv_cache: bytes per token · batch · seq_len, in fp32 for fp32 rows and bf16 otherwise
      (quantised models still cache in bf16)
    - full_finetune_states: weights + gradients + Adam; fp32: 4+4+8 = 16 B/param;
      bf16 mixed precision: 2 (bf16 weights) + 2 (grads) + 4 (fp32 master) + 8 (Adam) = 16 B/param.
      None for int8/int4: quantised weights are not trained, use (Q)LoRA.
    - lora_states: frozen base at bytes(dtype) + adapters at 16 B/param (QLoRA for int4)
    - activations / activations_checkpointed: for batch·seq_len tokens, in the compute dtype
      (fp32 for fp32 rows, bf16 otherwise); without checkpointing 34·h·L bytes per token (bf16),
      with it 2·h·L plus one layer's 34·h being recomputed.
    """
    if dtype not in BYTES:
        raise AlignpipeError(f"unknown dtype {dtype!r}; choose from {', '.join(BYTES)}")
    p, b = arch.n_params, BYTES[dtype]
    compute_scale = 2.0 if dtype == "fp32" else 1.0  # fp32 activations are twice bf16's
    kv_bytes = 4.0 if dtype == "fp32" else 2.0
    tokens = batch_size * seq_len
    if dtype == "fp32":
        full = p * (4 + 4 + ADAM_BYTES)
    elif dtype == "bf16":
        full = p * (2 + 2 + MASTER_BYTES + ADAM_BYTES)
    else:
        full = None
    lora = arch.lora_params(lora_rank)
    per_layer_token = arch.hidden * tokens * compute_scale
    return {
        "model": arch.name,
        "dtype": dtype,
        "params": p,
        "weights": p * b,
        "kv_cache_per_token": arch.kv_cache_bytes_per_token(kv_bytes),
        "kv_cache": arch.kv_cache_bytes_per_token(kv_bytes) * tokens,
        "full_finetune_states": full,
        "lora_rank": lora_rank,
        "lora_params": lora,
        "lora_states": p * b + lora * ADAPTER_BYTES,
        "activations": ACTIVATION_BYTES_BF16 * arch.n_layers * per_layer_token,
        "activations_checkpointed": (CHECKPOINT_BYTES_BF16 * arch.n_layers + ACTIVATION_BYTES_BF16)
        * per_layer_token,
        "seq_len": seq_len,
        "batch_size": batch_size,
    }


def memory_table(
    params: float | None = None,
    *,
    seq_len: int = 1024,
    batch_size: int = 1,
    lora_rank: int = 16,
    dtypes: tuple[str, ...] = tuple(BYTES),
    vocab_size: int = 8192,
    pos_embedding: str = "learned",
) -> list[dict]:
    """`memory_row` for each dtype and each reference model (params=None) or the model nearest `params`."""
    archs = (
        REFERENCE_ARCHS if params is None else (arch_for_params(params, vocab_size, seq_len, pos_embedding),)
    )
    return [
        memory_row(arch, dtype, seq_len=seq_len, batch_size=batch_size, lora_rank=lora_rank)
        for arch in archs
        for dtype in dtypes
    ]


# ---------------------------------------------------------------------------------------------
# Output


def _si(x: float, unit: str = "") -> str:
    for factor, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if x >= factor:
            return f"{x / factor:.3g}{suffix}{unit}"
    return f"{x:.3g}{unit}"


def _gib(x: float | None) -> str:
    if x is None:
        return "n/a"
    g = x / 2**30
    if g >= 100:
        return f"{g:.0f}"
    return f"{g:.3g}" if g >= 0.01 else f"{x / 2**20:.3g} MiB"


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    if seconds < 86400 * 365:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / (86400 * 365.25):.1f} years"


def format_plan(plan: dict) -> str:
    s = plan["minigpt"]
    fit = f"E + A/N^a + B/D^b with E={E}, A={A}, B={B}, a={ALPHA}, b={BETA}; their data"
    shape = f"n_layers {s['n_layers']}, d_model {s['d_model']}, n_heads {s['n_heads']} x {s['head_dim']}"
    counts = (
        f"{_si(s['non_embedding_params'])} non-embedding + {_si(s['embedding_params'])} embedding"
        f" = {_si(s['total_params'])}"
    )
    per_token = f"{s['train_flops_per_token']:.3e} per token incl. LM head and attention, x D"
    lines = [
        "Chinchilla plan (Hoffmann et al. 2022: C = 6ND, compute-optimal D = 20N)",
        f"  compute           {plan['compute']:.3e} FLOPs",
        f"  parameters N      {_si(plan['params'])}",
        f"  tokens D          {_si(plan['tokens'])}   ({plan['tokens_per_param']:.1f} tokens per parameter)",
        f"  predicted loss    {plan['predicted_loss']:.3f} nats/token   ({fit})",
        "",
        (
            f"MiniGPT shape (vocab {s['vocab_size']}, seq_len {s['seq_len']}, ffn_mult {s['ffn_mult']}, "
            f"{s['pos_embedding']} positions)"
        ),
        f"  {shape}   (d_model/n_layers = {s['aspect_ratio']:.0f})",
        f"  parameters        {counts}",
        f"  training FLOPs    {plan['train_flops']:.3e}   ({per_token})",
    ]
    lines += [f"  note: {n}" for n in plan.get("notes", [])]
    if "device" in plan:
        dev = plan["device"]
        rate = f"{dev['flops_per_second']:.3g} FLOP/s peak x MFU {dev['mfu']:g}"
        lines += ["", f"Time at {rate}: {_duration(dev['seconds'])} ({dev['seconds']:.3g} s) on one device"]
    return "\n".join(lines)


MEMORY_COLUMNS = (
    "model",
    "dtype",
    "params",
    "weights",
    "KV/token",
    "KV cache",
    "full FT",
    "(Q)LoRA",
    "act.",
    "act. ckpt",
)


def _memory_cells(r: dict) -> list[str]:
    return [
        r["model"],
        r["dtype"],
        _si(r["params"]),
        _gib(r["weights"]),
        f"{r['kv_cache_per_token'] / 2**10:.0f} KiB",
        _gib(r["kv_cache"]),
        _gib(r["full_finetune_states"]),
        _gib(r["lora_states"]),
        _gib(r["activations"]),
        _gib(r["activations_checkpointed"]),
    ]


def format_memory(rows: list[dict], markdown: bool = False) -> str:
    """The memory table in GiB, as aligned text or (markdown=True) a Markdown table."""
    if not rows:
        return ""
    r0 = rows[0]
    cells = [_memory_cells(r) for r in rows]
    if markdown:
        table = [
            "| " + " | ".join(MEMORY_COLUMNS) + " |",
            "|" + "---|" * 2 + "---:|" * (len(MEMORY_COLUMNS) - 2),
        ]
        table += ["| " + " | ".join(row) + " |" for row in cells]
    else:
        widths = [max(len(c) for c in col) for col in zip(MEMORY_COLUMNS, *cells)]

        def fmt(row):
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

        header = fmt(MEMORY_COLUMNS)
        table = [header, "-" * len(header), *map(fmt, cells)]
    adapters = {r["model"]: r["lora_params"] for r in rows}
    return "\n".join(
        [
            f"Memory in GiB; KV cache and activations for {r0['batch_size']} x {r0['seq_len']} tokens.",
            "full FT = weights + gradients + Adam (16 B/param; bf16 = mixed precision with an fp32 master copy).",
            (
                f"(Q)LoRA = frozen base in the row's dtype + rank-{r0['lora_rank']} adapters on all linear layers"
                " (fp32 weights, gradients and Adam: 16 B per adapter parameter)."
            ),
            "act. = activations without, act. ckpt = with gradient checkpointing.",
            "",
            *table,
            "",
            "LoRA adapter parameters: " + ", ".join(f"{m} {_si(n)}" for m, n in adapters.items()),
        ]
    )


#: The models Hoffmann et al. fitted L(N, D) on: 70M to 16B parameters, 5B to 500B training tokens.
FIT_PARAMS, FIT_TOKENS = (7e7, 1.6e10), (5e9, 5e11)


def plan_notes(params: float, tokens: float, shape: dict) -> list[str]:
    """What the user should know about a plan: extrapolation outside the fit, a shape far from N."""
    notes = []
    if not FIT_PARAMS[0] <= params <= FIT_PARAMS[1]:
        notes.append(
            f"N = {_si(params)} lies outside the models the loss fit was made on ({_si(FIT_PARAMS[0])} to "
            f"{_si(FIT_PARAMS[1])} parameters): the predicted loss is an extrapolation"
        )
    if not FIT_TOKENS[0] <= tokens <= FIT_TOKENS[1]:
        notes.append(
            f"D = {_si(tokens)} lies outside the fit's {_si(FIT_TOKENS[0])} to {_si(FIT_TOKENS[1])} training tokens"
        )
    got = shape["non_embedding_params"]
    if got > 2 * params or got < params / 2:
        notes.append(
            f"the closest MiniGPT shape has {_si(got)} non-embedding parameters, not {_si(params)}: no shape of "
            "this family is near N"
        )
    return notes


def build_plan(
    compute: float | None,
    params: float | None,
    tokens: float | None,
    *,
    vocab_size: int = 8192,
    seq_len: int = 1024,
    pos_embedding: str = "learned",
    flops_per_second: float | None = None,
    mfu: float = 0.4,
) -> dict:
    """Everything `alignpipe plan` reports for a sizing, as a JSON-ready dict."""
    compute, params, tokens = solve_plan(compute, params, tokens)
    shape = minigpt_shape(params, vocab_size, seq_len, pos_embedding=pos_embedding)
    plan = {
        "compute": compute,
        "params": params,
        "tokens": tokens,
        "tokens_per_param": tokens / params,
        "predicted_loss": predicted_loss(params, tokens),
        "loss_fit": {"E": E, "A": A, "B": B, "alpha": ALPHA, "beta": BETA},
        "minigpt": shape,
        "train_flops": shape["train_flops_per_token"] * tokens,
    }
    plan["notes"] = plan_notes(params, tokens, shape)
    if flops_per_second is not None:
        seconds = plan["train_flops"] / (flops_per_second * mfu)
        plan["device"] = {"flops_per_second": flops_per_second, "mfu": mfu, "seconds": seconds}
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alignpipe plan",
        description="Chinchilla scaling-law planner (C = 6ND, D = 20N, Hoffmann et al.'s loss fit), "
        "a MiniGPT shape for the plan, and memory arithmetic for training and generation.",
    )
    parser.add_argument("--compute", help="training compute in FLOPs, e.g. 1e20")
    parser.add_argument("--params", help="parameters N, e.g. 500M, 7B, 7e9")
    parser.add_argument("--tokens", help="training tokens D, e.g. 1.4T")
    parser.add_argument("--vocab-size", default="8192", help="MiniGPT vocabulary size (default 8192)")
    parser.add_argument(
        "--seq-len", default="1024", help="context length for the shape, KV cache and activations"
    )
    parser.add_argument(
        "--pos-embedding",
        choices=["learned", "rope"],
        default="learned",
        help="MiniGPT positions: a learned table (seq_len x d_model parameters) or rotary (none)",
    )
    parser.add_argument("--batch-size", default="1", help="sequences for KV cache and activations (--memory)")
    parser.add_argument("--flops-per-second", help="peak FLOP/s of one device, e.g. 989T (H100 bf16 dense)")
    parser.add_argument(
        "--mfu", type=float, default=0.4, help="model FLOPs utilisation for --flops-per-second"
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="memory table: for --params (or the plan's N), else for 0.5B, 7B and 70B models",
    )
    parser.add_argument("--lora-rank", default="16", help="LoRA rank for the memory table (default 16)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--markdown", action="store_true", help="print the memory table as Markdown")
    args = parser.parse_args(argv)

    def count(name: str, integer: bool = False):
        raw = getattr(args, name.replace("-", "_"))
        if raw is None:
            return None
        value = parse_count(raw, f"--{name}")
        if integer:
            if value != int(value):
                raise AlignpipeError(f"--{name}: must be a whole number, got {raw!r}")
            return int(value)
        return value

    compute, params, tokens = count("compute"), count("params"), count("tokens")
    vocab_size, seq_len = count("vocab-size", True), count("seq-len", True)
    batch_size, lora_rank = count("batch-size", True), count("lora-rank", True)
    flops_per_second = count("flops-per-second")
    if not 0 < args.mfu <= 1:
        raise AlignpipeError(f"--mfu: must be in (0, 1], got {args.mfu}")

    out: dict = {}
    if not args.memory or any(x is not None for x in (compute, params, tokens)):
        out["plan"] = build_plan(
            compute,
            params,
            tokens,
            vocab_size=vocab_size,
            seq_len=seq_len,
            pos_embedding=args.pos_embedding,
            flops_per_second=flops_per_second,
            mfu=args.mfu,
        )
    if args.memory:
        n = out["plan"]["params"] if "plan" in out else None
        out["memory"] = memory_table(
            n,
            seq_len=seq_len,
            batch_size=batch_size,
            lora_rank=lora_rank,
            vocab_size=vocab_size,
            pos_embedding=args.pos_embedding,
        )

    if args.json:
        echo(json.dumps(out, indent=2))
    else:
        parts = []
        if "plan" in out:
            parts.append(format_plan(out["plan"]))
        if "memory" in out:
            parts.append(format_memory(out["memory"], markdown=args.markdown))
        echo("\n\n".join(parts))
    return 0


__all__ = [
    "REFERENCE_ARCHS",
    "Arch",
    "arch_for_params",
    "build_plan",
    "chinchilla_optimal",
    "memory_row",
    "memory_table",
    "minigpt_param_count",
    "minigpt_shape",
    "parse_count",
    "predicted_loss",
    "solve_plan",
]

if __name__ == "__main__":  # pragma: no cover
    import sys

    from alignpipe.core.errors import run_cli

    sys.exit(run_cli(main, sys.argv[1:]))
