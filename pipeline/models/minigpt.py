"""MiniGPT: a small decoder-only Transformer, written as a first-class Transformers model.

Token embeddings, positions either learned (`pos_embedding="learned"`, GPT-2)
or rotary (`"rope"`, rotating queries and keys as GPT-NeoX and Llama do), pre-norm
blocks of causal multi-head self-attention (F.scaled_dot_product_attention) and
a GELU MLP, a final LayerNorm and an LM head tied to the token embedding;
weights drawn from N(0, 0.02). Biases everywhere and LayerNorm eps 1e-5, so
`alignpipe.models.export` turns a checkpoint into a plain `GPT2LMHeadModel`
(learned) or `GPTNeoXForCausalLM` (rope). With rotary positions "the token
k places back" is one fixed attention pattern instead of a table to learn; on
the demo (400 pretraining steps) they gave held-out perplexity 127 vs 201 and
SFT task accuracy 0.540 vs 0.436.

Supported: `generate` with a KV cache (Transformers' `DynamicCache`), left and
right padding through `attention_mask` (positions follow the mask), `labels`
with -100, `num_items_in_batch`, gradient checkpointing, `logits_to_keep`, and
a sequence-classification head read at the last non-pad token (reward and
value models). Sequences are at most `max_seq` tokens (the learned table's size;
rope checks the same limit, so both kinds export to a model of that length).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    SequenceClassifierOutputWithPast,
)


class MiniGPTConfig(PretrainedConfig):
    model_type = "minigpt"
    keys_to_ignore_at_inference = ["past_key_values"]
    # No remote code: MiniGPT is registered with the Auto classes in-process. Libraries that look for remote
    # code's class map (TRL's create_model_from_path, which builds GRPO's reference when beta > 0) read this
    # and fall back to AutoModelForCausalLM. A class attribute, so it is never written to config.json.
    auto_map = {}  # no annotation: a class attribute, not a config field; never filled in
    # names other libraries (TRL, PEFT, accelerate, generate) read
    attribute_map = {
        "hidden_size": "d_model",
        "num_hidden_layers": "n_layers",
        "num_attention_heads": "n_heads",
        "max_position_embeddings": "max_seq",
        "n_embd": "d_model",
        "n_layer": "n_layers",
        "n_head": "n_heads",
        "n_positions": "max_seq",
    }

    def __init__(
        self,
        vocab_size: int = 8192,
        d_model: int = 256,
        n_layers: int = 4,
        n_heads: int = 8,
        max_seq: int = 512,
        ffn_mult: int = 4,
        dropout: float = 0.0,
        pos_embedding: str = "learned",
        rope_theta: float = 10000.0,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        use_cache: bool = True,
        tie_word_embeddings: bool = True,
        bos_token_id: int | None = None,
        eos_token_id: int | None = None,
        pad_token_id: int | None = None,
        **kwargs,
    ):
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if pos_embedding not in ("learned", "rope"):
            raise ValueError(f"pos_embedding must be 'learned' or 'rope', got {pos_embedding!r}")
        if pos_embedding == "rope" and (d_model // n_heads) % 2:
            raise ValueError(f"rope needs an even head size, got d_model/n_heads = {d_model // n_heads}")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.max_seq = max_seq
        self.ffn_mult = ffn_mult
        self.dropout = dropout
        self.pos_embedding = pos_embedding
        self.rope_theta = rope_theta
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.use_cache = use_cache
        super().__init__(
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )


def _dropout(p: float) -> nn.Module:
    """Dropout, or nothing at all when p is 0 (saves a kernel per call in every training step)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


def rotate_half(x):
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension (GPT-NeoX/Llama layout)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(
    position_ids: torch.Tensor, head_size: int, theta: float, dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (B, T, 1, 1, hs) for rotary positions: pair i turns by position * theta^(-2i/hs)."""
    inv_freq = theta ** -(
        torch.arange(0, head_size, 2, device=position_ids.device, dtype=torch.float32) / head_size
    )
    freqs = position_ids[..., None].float() * inv_freq  # (B, T, hs/2)
    emb = torch.cat((freqs, freqs), dim=-1)[:, :, None, None]  # (B, T, 1, 1, hs): broadcast over (q|k, nh)
    return emb.cos().to(dtype), emb.sin().to(dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: MiniGPTConfig, layer_idx: int):
        super().__init__()
        self.n_heads, self.d = config.n_heads, config.d_model
        self.layer_idx = layer_idx
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model)  # q, k, v for all heads
        self.c_proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout
        self.resid_drop = _dropout(config.dropout)

    def forward(self, x, mask=None, past_key_values=None, rope=None):
        B, T, C = x.size()  # batch, sequence length, d_model
        hs = C // self.n_heads
        qkv = self.c_attn(x).view(B, T, 3, self.n_heads, hs)  # q, k, v for all heads
        if (
            rope is not None
        ):  # rotate q and k by their positions (both in one go); the cache keeps rotated keys
            cos, sin = rope  # (B, T, 1, 1, hs)
            qk = qkv[:, :, :2]  # (B, T, 2, nh, hs)
            q, k = (qk * cos + rotate_half(qk) * sin).unbind(2)
        else:
            q, k = qkv[:, :, 0], qkv[:, :, 1]
        v = qkv[:, :, 2]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh, T, hs) each
        if past_key_values is not None:
            k, v = past_key_values.update(k, v, self.layer_idx)  # (B, nh, S, hs), S = past + T
        dropout_p = self.dropout if self.training else 0.0
        if mask is None:  # no padding: plain causal attention (or one new token that sees all the past)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=T > 1)
        else:  # mask: (B, 1, T, S) bool, True = may attend
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: MiniGPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, config.ffn_mult * config.d_model)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(config.ffn_mult * config.d_model, config.d_model)
        self.drop = _dropout(config.dropout)

    def forward(self, x):
        return self.drop(self.c_proj(self.gelu(self.c_fc(x))))


class Block(GradientCheckpointingLayer):
    def __init__(self, config: MiniGPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, mask=None, past_key_values=None, rope=None):
        x = x + self.attn(self.ln_1(x), mask, past_key_values, rope)
        x = x + self.mlp(self.ln_2(x))
        return x


class MiniGPTPreTrainedModel(PreTrainedModel):
    config_class = MiniGPTConfig
    config: MiniGPTConfig
    base_model_prefix = "transformer"  # TRL's PPO helpers find the backbone through this
    supports_gradient_checkpointing = True
    _no_split_modules = ["Block"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()


def _padding_mask(attention_mask: torch.Tensor, T: int, S: int) -> torch.Tensor:
    """(B, S) 0/1 key mask -> (B, 1, T, S) bool: causal, no pad keys, and the last T keys are the queries."""
    past = S - T
    q_pos = torch.arange(past, S, device=attention_mask.device)[:, None]  # (T, 1)
    k_pos = torch.arange(S, device=attention_mask.device)[None, :]  # (1, S)
    mask = (k_pos <= q_pos)[None] & attention_mask[:, None, :].bool()  # (B, T, S)
    # a pad query would see no key at all (NaN in softmax): let it see itself; its output is never used
    mask |= (k_pos == q_pos)[None]
    return mask[:, None]  # (B, 1, T, S)


class MiniGPTModel(MiniGPTPreTrainedModel):
    def __init__(self, config: MiniGPTConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        # rope has no position table: positions rotate q and k inside attention
        self.wpe = nn.Embedding(config.max_seq, config.d_model) if config.pos_embedding == "learned" else None
        self.drop = _dropout(config.dropout)
        self.h = nn.ModuleList([Block(config, i) for i in range(config.n_layers)])
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, value):
        self.wte = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        x = self.wte(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        T = x.shape[1]
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if self.gradient_checkpointing and self.training:
            use_cache = False
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        S = past + T
        if S > self.config.max_seq:
            raise ValueError(f"sequence length {S} exceeds max_seq={self.config.max_seq}")

        mask = None
        if attention_mask is not None and attention_mask.ndim == 2 and not bool(attention_mask.all()):
            mask = _padding_mask(attention_mask[:, -S:], T, S)
        if position_ids is None:
            if mask is not None:  # positions count real tokens only, so left padding does not shift them
                position_ids = (attention_mask[:, -S:].long().cumsum(-1) - 1).clamp(min=0)[:, -T:]
            else:
                position_ids = torch.arange(past, S, device=x.device)[None]  # (1, T)
        rope = None
        if self.wpe is not None:
            x = x + self.wpe(position_ids)
        else:
            rope = rope_cos_sin(
                position_ids, self.config.d_model // self.config.n_heads, self.config.rope_theta, x.dtype
            )
        x = self.drop(x)

        hidden_states = () if output_hidden_states else None
        for block in self.h:
            if output_hidden_states:
                hidden_states += (x,)
            x = block(x, mask, past_key_values, rope)
        x = self.ln_f(x)
        if output_hidden_states:
            hidden_states += (x,)
        return BaseModelOutputWithPast(
            last_hidden_state=x,
            past_key_values=past_key_values if use_cache else None,
            hidden_states=hidden_states,
        )


class MiniGPTForCausalLM(MiniGPTPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}

    def __init__(self, config: MiniGPTConfig):
        super().__init__(config)
        self.transformer = MiniGPTModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,  # num_items_in_batch and friends, for the loss
    ) -> CausalLMOutputWithPast:
        out = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
        )
        h = out.last_hidden_state  # (B, T, C)
        if isinstance(logits_to_keep, int) and logits_to_keep > 0:
            h = h[:, -logits_to_keep:]
        elif isinstance(logits_to_keep, torch.Tensor):
            h = h[:, logits_to_keep]
        logits = self.lm_head(h)  # (B, T, vocab)
        loss = None
        if labels is not None:  # labels are shifted inside, as in every HF causal LM
            loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(
            loss=loss, logits=logits, past_key_values=out.past_key_values, hidden_states=out.hidden_states
        )

    # ---- FLOPs accounting (nanoGPT style) ----
    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.transformer.wpe is not None:
            n -= self.transformer.wpe.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward): 6N + 12 L d T, as in the PaLM paper's appendix B."""
        cfg = self.config
        T = seq_len or cfg.max_seq
        return 6 * self.num_params() + 12 * cfg.n_layers * cfg.d_model * T

    def estimate_mfu(
        self, tokens_per_iter: int, dt: float, peak_flops: float, seq_len: int | None = None
    ) -> float:
        """Model FLOPs utilisation: achieved training FLOP/s over `peak_flops` (measure it; see benchmarks)."""
        return self.flops_per_token(seq_len) * tokens_per_iter / dt / peak_flops


class MiniGPTForSequenceClassification(MiniGPTPreTrainedModel):
    """A `score` head on the hidden state of the last non-pad token: reward and value models."""

    def __init__(self, config: MiniGPTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = MiniGPTModel(config)
        self.score = nn.Linear(config.d_model, config.num_labels, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutputWithPast:
        out = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=False if use_cache is None else use_cache,
            output_hidden_states=output_hidden_states,
        )
        logits = self.score(out.last_hidden_state)  # (B, T, num_labels)
        B, T = logits.shape[:2]
        if attention_mask is not None:
            real = attention_mask.bool()
        elif input_ids is not None and self.config.pad_token_id is not None:
            real = input_ids != self.config.pad_token_id
        else:
            real = torch.ones(B, T, dtype=torch.bool, device=logits.device)
        idx = torch.arange(T, device=logits.device)
        last = (idx * real).argmax(-1)  # index of the last real token; works for left and right padding
        pooled = logits[torch.arange(B, device=logits.device), last]  # (B, num_labels)
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = F.mse_loss(pooled.squeeze(-1), labels.to(pooled.dtype).view(-1))
            else:
                loss = F.cross_entropy(pooled, labels.view(-1))
        return SequenceClassifierOutputWithPast(
            loss=loss, logits=pooled, past_key_values=out.past_key_values, hidden_states=out.hidden_states
        )


__all__ = [
    "MiniGPTConfig",
    "MiniGPTForCausalLM",
    "MiniGPTForSequenceClassification",
    "MiniGPTModel",
    "rope_cos_sin",
    "rotate_half",
]


def register_auto_classes() -> None:
    """Make MiniGPT known to the Transformers Auto classes (`alignpipe.models.register` calls this)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    AutoConfig.register("minigpt", MiniGPTConfig, exist_ok=True)
    AutoModel.register(MiniGPTConfig, MiniGPTModel, exist_ok=True)
    AutoModelForCausalLM.register(MiniGPTConfig, MiniGPTForCausalLM, exist_ok=True)
    AutoModelForSequenceClassification.register(
        MiniGPTConfig, MiniGPTForSequenceClassification, exist_ok=True
    )


# Imported before transformers was: the Auto classes learn about MiniGPT now (see alignpipe.models).
register_auto_classes()
