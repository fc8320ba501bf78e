"""Loading tokenizers and models for every stage: MiniGPT checkpoints, local HF checkpoints, Hub ids, and
GGUF files (imported once into a cached checkpoint by `alignpipe.models.gguf_import.resolve`).

One place decides dtype, 4-/8-bit loading, the pad/eos set-up and embedding
resizing, so the stage scripts stay short. `trust_remote_code` stays off unless
the recipe turns it on; weights load from safetensors.
"""

from __future__ import annotations

import os

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl import ModelConfig, get_quantization_config

import alignpipe  # noqa: F401  (registers MiniGPT with the Auto classes)
from alignpipe.core.chat_templates import prepare_tokenizer
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import check_source, hub_unreachable, locate
from alignpipe.core.outputs import check_weights
from alignpipe.models.gguf_import import resolve as resolve_gguf


def _load_error(what: str, path: str, e: Exception) -> AlignpipeError:
    """A clear error for a failed `from_pretrained`: a missing local folder, a Hub id out of reach, or a
    folder that holds something else."""
    where = locate(path, f"cannot load {what}:", hint="run the stage that writes it first?")
    if isinstance(where, str):
        return hub_unreachable(what, where, e)
    return AlignpipeError(f"cannot load {what} from {path}: {e}")


def load_tokenizer(
    path: str,
    chat_template: str | None = None,
    *,
    padding_side: str = "right",
    revision: str = "main",
    trust_remote_code: bool = False,
    need_template: bool = True,
):
    """The tokenizer at `path` with a chat template, a pad token distinct from eos, and `padding_side`."""
    path = resolve_gguf(path)
    check_source(path, "tokenizer")
    try:
        tok = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise _load_error("tokenizer", path, e) from e
    tok, _ = prepare_tokenizer(tok, chat_template, need_template=need_template)
    tok.padding_side = padding_side
    return tok


def torch_dtype(model_args: ModelConfig, training_args=None) -> torch.dtype | str:
    if model_args.dtype not in (None, "auto"):
        return getattr(torch, model_args.dtype)
    if torch.cuda.is_available() and getattr(training_args, "bf16", False):
        return torch.bfloat16
    return torch.float32


def model_kwargs(model_args: ModelConfig, training_args=None) -> dict:
    """Keyword arguments for `from_pretrained` from TRL's ModelConfig and the trainer config."""
    dtype = torch_dtype(model_args, training_args)
    kw = {
        "revision": model_args.model_revision,
        "trust_remote_code": bool(getattr(training_args, "trust_remote_code", False)),
        "attn_implementation": model_args.attn_implementation,
        "dtype": dtype,
        "use_safetensors": True,
    }
    if model_args.load_in_4bit or model_args.load_in_8bit:
        if model_args.load_in_4bit and model_args.dtype in (None, "auto"):
            model_args.dtype = "bfloat16" if torch.cuda.is_available() else "float32"
        kw["quantization_config"] = get_quantization_config(model_args)
        if torch.cuda.is_available():
            from trl import get_kbit_device_map

            kw["device_map"] = get_kbit_device_map()
    return kw


def fix_4bit_cpu(model) -> None:
    """bitsandbytes' CPU path repacks 4-bit weights after an eval-mode forward, and training then fails on
    layers with a bias; turning off its avx512-bf16 path on each Linear4bit avoids that."""
    try:
        import bitsandbytes as bnb
    except ImportError:
        return
    for m in model.modules():
        if isinstance(m, bnb.nn.Linear4bit):
            m.support_avx512bf16_for_cpu = False


def align_with_tokenizer(model, tokenizer) -> None:
    """Grow embeddings for added tokens; copy bos/eos/pad into config and generation config."""
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, name)
        if value is not None:
            setattr(model.config, name, value)
            if getattr(model, "generation_config", None) is not None:
                setattr(model.generation_config, name, value)


def _from_pretrained(auto_cls, path, what, **kw):
    path = resolve_gguf(path)
    check_source(path, what)
    check_weights(path, what)  # a truncated safetensors file, named, instead of a library traceback
    try:
        return auto_cls.from_pretrained(path, **kw)
    except (OSError, ValueError) as e:
        raise _load_error(what, path, e) from e


def load_causal_lm(path: str, model_args: ModelConfig, training_args=None, tokenizer=None):
    model = _from_pretrained(
        AutoModelForCausalLM, path, "causal LM", **model_kwargs(model_args, training_args)
    )
    if tokenizer is not None:
        align_with_tokenizer(model, tokenizer)
    if model_args.load_in_4bit:
        fix_4bit_cpu(model)
    return model


def load_reward_model(
    path: str, model_args: ModelConfig, training_args=None, tokenizer=None, num_labels: int = 1
):
    """A sequence classifier with `num_labels` outputs (1 = scalar reward), e.g. initialised from an SFT model."""
    kw = model_kwargs(model_args, training_args)
    model = _from_pretrained(
        AutoModelForSequenceClassification, path, "reward model", num_labels=num_labels, **kw
    )
    if tokenizer is not None:
        align_with_tokenizer(model, tokenizer)
    if model_args.load_in_4bit:
        fix_4bit_cpu(model)
    return model


def tokenizer_differences(tokenizer, other) -> list[str]:
    diffs = [f"{len(tokenizer)} vs {len(other)} tokens"] if len(tokenizer) != len(other) else []
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(tokenizer, name) != getattr(other, name):
            diffs.append(f"{name} {getattr(tokenizer, name)} vs {getattr(other, name)}")
    if not diffs and tokenizer.get_vocab() != other.get_vocab():
        diffs.append("the same size but different tokens")
    return diffs


def check_tokenizer_files(
    tokenizer, tokenizer_path: str, paths: dict[str, str], chat_template, *, why: str
) -> None:
    """Every model dir that holds a tokenizer must hold the stage's (prepared the same way); `why` ends the error."""
    for role, path in paths.items():
        if path == tokenizer_path:
            continue
        if os.path.isdir(path) and not any(
            os.path.exists(os.path.join(path, f)) for f in ("tokenizer.json", "tokenizer_config.json")
        ):
            continue  # a bare model dir: only its vocabulary size can be checked
        try:
            other = load_tokenizer(path, chat_template, need_template=False)
        except AlignpipeError:
            if os.path.isdir(path):
                raise
            continue  # a Hub model without a tokenizer of its own
        diffs = tokenizer_differences(tokenizer, other)
        if diffs:
            raise AlignpipeError(
                f"the {role} ({path}) has a different tokenizer from the policy's ({tokenizer_path}): "
                f"{'; '.join(diffs)}. {why}: train them from the same SFT checkpoint"
            )
