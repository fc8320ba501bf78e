"""Generation and scoring helpers shared by every metric: prompts to token ids, batched generation,
and log-probabilities of given continuations.

- `render`: a conversation to text with the tokenizer's chat template (``add_generation_prompt`` for
  prompts); a tokenizer without a template gets the message contents joined by blank lines (a base
  model: good enough for perplexity-style scoring, poor for chat prompts).
- `generate`: batched, left-padded generation with the KV cache (`model.generate`), prompts sorted
  by length to waste little padding, a tqdm bar on a terminal. When every prompt starts with the same
  tokens (a chat template's default system prompt: 24 of SmolLM2's ~41 prompt tokens), that prefix is run
  once and its KV cache copied into each batch (prefix, padding, the prompt's own tokens), so its
  positions are not computed again for every prompt (`shared_prefix_length`). The settings are exactly
  `GenerationSettings` (a fresh `GenerationConfig`, so nothing leaks from the checkpoint's own
  generation config). A response stops at the first stop token: the tokenizer's eos and any eos ids
  in the model's generation config.
- `generate_cached`: `generate` through a disk cache (`cache_dir()/generations`), keyed by everything the
  answers depend on: the weights' digest (`weights_digest`, a local checkpoint's safetensors files), the
  loading precision, the prompt ids, the settings, the seed and the software and thread count. The same
  model asked the same prompts again (the reference of every eval of a run, a re-run, another seed of
  a benchmark whose reference is fixed) is answered from the cache: no token is generated twice.
- `sequence_logprobs`: log p(continuation token | context, earlier continuation tokens) for pairs of
  token-id lists, in batches (context left-padded, continuation right-padded, positions from the
  attention mask so padding does not shift them).
- `sequence_kl`: for the same pairs and two models, the full-vocabulary KL between their next-token
  distributions at every continuation position, and the log-ratio of the token actually there.
- `reward_scores`: a reward model's scalar score of each whole conversation (chat template, right-padded,
  cut from the left to the model's context).

Assumed: the model has absolute or rotary positions up to `max_positions(model)` (the config's
``max_position_embeddings``); longer inputs are refused (generation) or cut from the left (scoring).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig

from alignpipe.core.errors import AlignpipeError


@dataclass
class GenerationSettings:
    """How responses are generated (a suite's ``generation`` section)."""

    greedy: bool = True
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 16

    def __post_init__(self):
        checks = [
            ("temperature", self.temperature > 0, "must be > 0"),
            ("top_k", self.top_k >= 0, "must be >= 0 (0 = off)"),
            ("top_p", 0 < self.top_p <= 1, "must be in (0, 1]"),
            ("repetition_penalty", self.repetition_penalty > 0, "must be > 0 (1 = off)"),
            ("max_new_tokens", self.max_new_tokens >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
        ]
        for name, ok, msg in checks:
            if not ok:
                raise AlignpipeError(f"generation.{name} {msg}, got {getattr(self, name)!r}")

    def generation_config(self, eos_token_ids: list[int], pad_token_id: int) -> GenerationConfig:
        kw = {
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "eos_token_id": eos_token_ids,
            "pad_token_id": pad_token_id,
            "use_cache": True,
        }
        if self.greedy:
            return GenerationConfig(do_sample=False, **kw)
        return GenerationConfig(
            do_sample=True, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, **kw
        )


@dataclass
class Generation:
    """One response: its tokens (the stop token included when it ended with one) and decoded text."""

    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    ended_with_eos: bool
    hit_max_new_tokens: bool


def max_positions(model) -> int | None:
    return getattr(model.config, "max_position_embeddings", None)


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    """A conversation as the text the model sees (chat template, else contents joined by blank lines)."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    text = "\n\n".join(m["content"] for m in messages)
    return text + "\n\n" if add_generation_prompt else text


def message_text(messages: list[dict] | str) -> str:
    """A conversation (or a reply) as plain text: the message contents joined by blank lines."""
    return messages if isinstance(messages, str) else "\n\n".join(m["content"] for m in messages)


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of already-rendered text (the template wrote any special tokens)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prompt_ids(tokenizer, conversations: list[list[dict]]) -> list[list[int]]:
    """Token ids of each prompt, rendered with the generation prompt."""
    return [encode(tokenizer, render(tokenizer, c, add_generation_prompt=True)) for c in conversations]


def stop_token_ids(model, tokenizer) -> list[int]:
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for i in configured if isinstance(configured, list) else [configured]:
        if i is not None and i not in ids:
            ids.append(int(i))
    if not ids:
        raise AlignpipeError("the tokenizer has no eos token, so responses cannot be told to stop")
    return ids


def pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def progress(total: int, desc: str):
    return tqdm(total=total, desc=desc, unit="seq", disable=None, leave=False)


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[list[int]],
    settings: GenerationSettings,
    *,
    seed: int = 0,
    desc: str = "generating",
) -> list[Generation]:
    """Responses to `prompts` (token ids), in the order given."""
    stops, pad = stop_token_ids(model, tokenizer), pad_id(tokenizer)
    config = settings.generation_config(stops, pad)
    limit, device = max_positions(model), model_device(model)
    longest = max((len(p) for p in prompts), default=0)
    if limit is not None and longest + settings.max_new_tokens > limit:
        raise AlignpipeError(
            f"a prompt of {longest} tokens plus max_new_tokens={settings.max_new_tokens} exceeds "
            f"the model's context of {limit} tokens; lower generation.max_new_tokens"
        )
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[Generation | None] = [None] * len(prompts)
    was_training = model.training
    model.eval()
    shared = shared_prefix_length(prompts)
    prefix = prompts[0][:shared] if shared else []
    prefix_cache = _prefix_cache(model, prefix, device) if shared else None
    if prefix_cache is None:
        prefix = []
    torch.manual_seed(seed)
    with progress(len(prompts), desc) as bar:
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            own = [prompts[i][len(prefix) :] for i in idx]
            width = max(len(p) for p in own)
            # (B, prefix + width): the shared prefix, left padding, then each prompt's own tokens
            ids = torch.tensor([prefix + [pad] * (width - len(p)) + p for p in own], device=device)
            mask = torch.tensor(
                [[1] * len(prefix) + [0] * (width - len(p)) + [1] * len(p) for p in own], device=device
            )
            kw = {}
            if prefix_cache is not None:
                kw["past_key_values"] = copy.deepcopy(prefix_cache)
                kw["past_key_values"].batch_repeat_interleave(len(idx))
            new = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, **kw)
            new = new[:, len(prefix) + width :]
            for i, row in zip(idx, new.tolist()):
                end = next((k for k, t in enumerate(row) if t in stops), None)
                tokens = row if end is None else row[: end + 1]
                text = tokenizer.decode(tokens if end is None else tokens[:-1], skip_special_tokens=True)
                out[i] = Generation(
                    prompts[i],
                    tokens,
                    text,
                    end is not None,
                    end is None and len(tokens) >= settings.max_new_tokens,
                )
            bar.update(len(idx))
    model.train(was_training)
    return out  # type: ignore[return-value]


#: the fewest tokens worth sharing: below this the prefix's own forward and cache copies cost about what they save
MIN_SHARED_PREFIX = 8


def shared_prefix_length(prompts: list[list[int]]) -> int:
    """How many leading tokens all `prompts` share (each keeps at least one of its own), or 0 when fewer
    than `MIN_SHARED_PREFIX` or fewer than two prompts."""
    if len(prompts) < 2:
        return 0
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        k = 0
        while k < n and p[k] == first[k]:
            k += 1
        n = k
        if n < MIN_SHARED_PREFIX:
            return 0
    return n


def _prefix_cache(model, prefix: list[int], device):
    """The KV cache of `prefix` (batch 1), or None when the model's cache is not a plain `DynamicCache` of
    full-attention layers (sliding windows, hybrid or recurrent caches are not shared: generation then runs
    each prompt whole)."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    try:
        cache = model(input_ids=torch.tensor([prefix], device=device), use_cache=True).past_key_values
    except (TypeError, ValueError, NotImplementedError):
        return None
    if type(cache) is not DynamicCache or not all(type(layer) is DynamicLayer for layer in cache.layers):
        return None
    return cache


def weights_digest(path: str | Path) -> str | None:
    """sha256 over a local checkpoint's safetensors files (and, for a LoRA adapter folder, its base's), or
    None when `path` is not a local folder of safetensors (a Hub id): such a model is never cached."""
    folder = Path(path).expanduser()
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    cfg = folder / "adapter_config.json"
    if cfg.is_file():
        base = json.loads(cfg.read_text()).get("base_model_name_or_path")
        base_digest = weights_digest(base) if base else None
        if base_digest is None:
            return None
        h.update(base_digest.encode())
    return h.hexdigest()


def generate_cached(
    loaded, prompts: list[list[int]], settings: GenerationSettings, *, seed: int = 0, desc: str = "generating"
) -> list[Generation]:
    """`generate` for an eval `Loaded` model, answered from the disk cache when the same weights were asked the
    same prompts with the same settings before (ALIGNPIPE_GENERATION_CACHE=0 turns the cache off)."""
    import transformers

    from alignpipe.core.cache import cached_rows, inference_cache_on
    from alignpipe.core.log import echo

    def make() -> list[list]:
        out = generate(loaded.model, loaded.tokenizer, prompts, settings, seed=seed, desc=desc)
        return [[g.token_ids, g.text, g.ended_with_eos, g.hit_max_new_tokens] for g in out]

    info = loaded.info
    if "weights_sha256" not in info and inference_cache_on():
        info["weights_sha256"] = weights_digest(info.get("imported_to") or info.get("path", ""))
    if info.get("weights_sha256") is None:  # not a local folder of weights (or the cache is off)
        return generate(loaded.model, loaded.tokenizer, prompts, settings, seed=seed, desc=desc)
    identity = {
        "weights": info["weights_sha256"],
        "precision": info.get("precision"),
        "dtype": str(next(loaded.model.parameters()).dtype),
        "stops": stop_token_ids(loaded.model, loaded.tokenizer),
        "prompts": prompts,
        "settings": asdict(settings),
        "seed": seed,
        "software": [torch.__version__, transformers.__version__, torch.get_num_threads()],
    }
    shared = shared_prefix_length(prompts)
    if shared:  # the prefix's positions are computed apart: another rounding
        identity["shared_prefix"] = shared
    rows, cached = cached_rows("generations", identity, len(prompts), make)
    if cached:
        echo(f"{desc}: {len(rows)} answers of these weights to these prompts, from the cache", err=True)
    return [Generation(p, *r) for p, r in zip(prompts, rows)]


def _fit_pairs(model, contexts: list[list[int]], continuations: list[list[int]]) -> list[tuple[list, list]]:
    """(context, continuation) pairs, each context cut from the left so that the pair fits the model."""
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
    limit = max_positions(model)
    pairs = []
    for ctx, cont in zip(contexts, continuations):
        if not ctx:
            raise ValueError("a context must hold at least one token")
        if limit is not None and len(ctx) + len(cont) > limit:
            keep = limit - len(cont)
            if keep < 1:
                raise AlignpipeError(
                    f"a continuation of {len(cont)} tokens does not fit the model's context of {limit} tokens"
                )
            ctx = ctx[-keep:]
        pairs.append((ctx, cont))
    return pairs


def _batches(pairs: list[tuple[list, list]], pad_token_id: int, batch_size: int, device):
    """Batches of pairs, longest first: (pair indices, input ids, attention mask, context width P, continuation
    width R), contexts left-padded and continuations right-padded."""
    order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        P = max(len(pairs[i][0]) for i in idx)
        R = max(len(pairs[i][1]) for i in idx)
        ids, mask = [], []
        for i in idx:
            ctx, cont = pairs[i]
            ids.append([pad_token_id] * (P - len(ctx)) + ctx + cont + [pad_token_id] * (R - len(cont)))
            mask.append([0] * (P - len(ctx)) + [1] * (len(ctx) + len(cont)) + [0] * (R - len(cont)))
        yield idx, torch.tensor(ids, device=device), torch.tensor(mask, device=device), P, R


def _continuation_logits(model, ids: torch.Tensor, mask: torch.Tensor, P: int, R: int, temperature: float):
    """float32 logits / temperature at the R positions that predict the continuation (positions from the mask,
    so padding does not shift them)."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    logits = logits[:, P - 1 : P + R - 1].float()
    return logits / temperature if temperature != 1.0 else logits


@torch.no_grad()
def sequence_logprobs(
    model,
    contexts: list[list[int]],
    continuations: list[list[int]],
    pad_token_id: int,
    *,
    batch_size: int = 8,
    desc: str = "scoring",
    temperature: float = 1.0,
) -> list[torch.Tensor]:
    """Per-token log-probabilities of each continuation given its context (log-softmax in float32 of the
    logits divided by `temperature`, as TRL computes them, returned as float64 CPU tensors for summing).

    Every context must hold at least one token (the first continuation token is predicted from the
    context's last). A pair longer than the model's context loses tokens from the left of its context.
    """
    from trl.trainer.utils import (
        selective_log_softmax,
    )  # here: it imports TRL's trainers, seconds of start-up

    pairs = _fit_pairs(model, contexts, continuations)
    out: list[torch.Tensor | None] = [None] * len(pairs)
    was_training = model.training
    model.eval()
    with progress(len(pairs), desc) as bar:
        for idx, ids, mask, P, R in _batches(pairs, pad_token_id, batch_size, model_device(model)):
            logits = _continuation_logits(model, ids, mask, P, R, temperature)
            logp = selective_log_softmax(logits, ids[:, P:]).double().cpu()
            for row, i in enumerate(idx):
                out[i] = logp[row, : len(pairs[i][1])]
            bar.update(len(idx))
    model.train(was_training)
    return out  # type: ignore[return-value]


@torch.no_grad()
def sequence_kl(
    model,
    ref,
    contexts: list[list[int]],
    continuations: list[list[int]],
    pad_token_id: int,
    *,
    batch_size: int = 8,
    desc: str = "scoring KL",
    temperature: float = 1.0,
    ref_context=None,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """For each continuation, per position t: the full-vocabulary KL(p_model(.|ctx, cont<t) || p_ref(.|...)), and
    the log-ratio log p_model(cont_t) - log p_ref(cont_t) of the token actually there. Both from log-softmax in
    float32 of logits / `temperature`, returned as float64 CPU tensors. `ref_context` (a context manager
    factory) is entered for each of the reference's forwards (a LoRA policy's reference is the base with its
    adapter disabled). Contexts and padding are handled as in `sequence_logprobs`; the two models must share
    the vocabulary. Only the per-position numbers are kept, never full-vocabulary tensors of all pairs."""
    pairs = _fit_pairs(model, contexts, continuations)
    kls: list[torch.Tensor | None] = [None] * len(pairs)
    ratios: list[torch.Tensor | None] = [None] * len(pairs)
    modes = model.training, ref.training
    model.eval()
    ref.eval()
    with progress(len(pairs), desc) as bar:
        for idx, ids, mask, P, R in _batches(pairs, pad_token_id, batch_size, model_device(model)):
            logp = torch.log_softmax(_continuation_logits(model, ids, mask, P, R, temperature), -1)
            with ref_context() if ref_context is not None else contextlib.nullcontext():
                at = model_device(ref)
                logq = torch.log_softmax(
                    _continuation_logits(ref, ids.to(at), mask.to(at), P, R, temperature), -1
                )
            logq = logq.to(logp.device)
            diff = logp - logq
            kl = (logp.exp() * diff).sum(-1).clamp(min=0).double().cpu()  # >= 0 up to rounding
            ratio = diff.gather(-1, ids[:, P:, None]).squeeze(-1).double().cpu()
            for row, i in enumerate(idx):
                n = len(pairs[i][1])
                kls[i], ratios[i] = kl[row, :n], ratio[row, :n]
            bar.update(len(idx))
    model.train(modes[0])
    ref.train(modes[1])
    return kls, ratios  # type: ignore[return-value]


@torch.no_grad()
def reward_scores(model, tokenizer, conversations: list[list[dict]], *, batch_size: int = 16) -> np.ndarray:
    """The reward model's scalar score of each whole conversation (prompt + assistant reply)."""
    limit, device, pad = max_positions(model), model_device(model), pad_id(tokenizer)
    encoded = [encode(tokenizer, render(tokenizer, c, add_generation_prompt=False)) for c in conversations]
    if limit is not None:
        encoded = [ids[-limit:] for ids in encoded]
    scores = np.zeros(len(encoded))
    model.eval()
    with progress(len(encoded), "reward") as bar:
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            width = max(len(ids) for ids in batch)
            ids = torch.tensor([x + [pad] * (width - len(x)) for x in batch], device=device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in batch], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            scores[start : start + len(batch)] = logits[:, 0].float().cpu().numpy()
            bar.update(len(batch))
    return scores
