"""Export a MiniGPT language model to GGUF, the file format of llama.cpp (and ollama, LM Studio, ...).

    alignpipe export runs/minigpt/dpo --to gguf -o dpo.gguf [--outtype f32|f16|q8_0]
    llama-cli -m dpo.gguf --jinja -cnv          # or: python -c "from llama_cpp import Llama; ..."

The file is written with `gguf`, the writer llama.cpp publishes, under llama.cpp's architectures for the
plain models MiniGPT exports to (`alignpipe.models.export`): learned positions as ``gpt2``, rotary ones as
``gptneox`` (sequential residual, full rotary, NeoX rotation: the two halves of each head, as MiniGPT
rotates). MiniGPT's nn.Linear weights are already in GGML's layout (rows = outputs) and its fused q/k/v is
packed per kind ([all q | all k | all v]), which is how llama.cpp's gpt2 and gptneox graphs slice it, so
the tensors are written as they are. ``gptneox`` needs an ``output.weight`` of its own: the tied embedding
is written twice. The tokenizer goes along: byte-level BPE vocabulary, merges, special tokens (as control
tokens), bos/eos/pad ids, and the chat template (with Transformers' ``{% generation %}`` markers removed:
llama.cpp's Jinja does not know them). llama.cpp pre-splits text with the GPT-2 pattern (pre-type
``gpt-2``); alignpipe's tokenizers split digits one by one before it, and since no merge of theirs joins a
digit to anything, BPE gives the same tokens (tests/test_gguf.py checks a set of strings).

Precision (``--outtype``): ``f32`` (exact), ``f16`` (matrices in half precision), ``q8_0`` (matrices in
llama.cpp's 8-bit blocks of 32); norms, biases and positions stay f32. llama.cpp's GELU is the tanh
approximation where MiniGPT's is exact; greedy continuations agree token for token in the tests.

Not supported (a clear error, nothing written): reward models and other classifiers (llama.cpp runs language
models), models other than MiniGPT (llama.cpp's own `convert_hf_to_gguf.py` handles Hub architectures), and
tokenizers that are not byte-level BPE (the char tokenizer).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

from alignpipe.core.errors import AlignpipeError

OUTTYPES = ("f32", "f16", "q8_0")
_GENERATION_TAGS = re.compile(r"{%-?\s*(end)?generation\s*-?%}")


def _load_minigpt(checkpoint: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    from alignpipe.models.minigpt import MiniGPTForCausalLM

    try:
        config = AutoConfig.from_pretrained(checkpoint)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"export: cannot read a model config in {checkpoint}: {e}") from e
    archs = config.architectures or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        raise AlignpipeError(
            f"export: {checkpoint} is a {archs[0]} (a reward model or classifier); GGUF holds language models "
            "for llama.cpp. Export it as a Transformers model instead (--to transformers)"
        )
    if config.model_type != "minigpt":
        raise AlignpipeError(
            f"export: GGUF export supports MiniGPT language models; {checkpoint} is {config.model_type!r} "
            "(for Hub architectures use llama.cpp's convert_hf_to_gguf.py)"
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32, use_safetensors=True)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"export: cannot load {checkpoint}: {e}") from e
    assert isinstance(model, MiniGPTForCausalLM)
    return model.eval()


def _tokenizer_json(checkpoint: str) -> dict:
    path = Path(checkpoint) / "tokenizer.json"
    if not path.is_file():
        raise AlignpipeError(f"export: {checkpoint} has no tokenizer.json; GGUF needs the tokenizer")
    tok = json.loads(path.read_text(encoding="utf-8"))
    model = tok.get("model", {})
    decoder = (tok.get("decoder") or {}).get("type")
    if model.get("type") != "BPE" or decoder != "ByteLevel":
        raise AlignpipeError(
            f"export: {checkpoint}'s tokenizer is {model.get('type')} (decoder {decoder}); GGUF export "
            "supports byte-level BPE tokenizers (`alignpipe tokenizer --kind bpe`)"
        )
    return tok


def _vocab(tok: dict, n_vocab: int) -> tuple[list[str], list[int], list[str]]:
    """Token strings by id (gaps and padding up to the embedding size as unused tokens), their GGUF
    types, and the merges as "a b" strings."""
    from gguf import TokenType

    by_id: dict[int, str] = {i: t for t, i in tok["model"]["vocab"].items()}
    special = set()
    for added in tok.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        if added.get("special"):
            special.add(added["id"])
    if max(by_id) >= n_vocab:
        raise AlignpipeError(f"export: the tokenizer has ids up to {max(by_id)}, the model only {n_vocab}")
    tokens, types = [], []
    for i in range(n_vocab):
        if i in by_id:
            tokens.append(by_id[i])
            types.append(TokenType.CONTROL if i in special else TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"].get("merges", [])]
    return tokens, types, merges


def _tensor_names(config) -> dict[str, str]:
    """MiniGPT state-dict name -> GGUF tensor name (llama.cpp's gpt2 / gptneox names)."""
    names = {"transformer.wte.weight": "token_embd.weight"}
    if config.pos_embedding == "learned":
        names["transformer.wpe.weight"] = "position_embd.weight"
    names |= {"transformer.ln_f.weight": "output_norm.weight", "transformer.ln_f.bias": "output_norm.bias"}
    parts = {
        "ln_1": "attn_norm",
        "attn.c_attn": "attn_qkv",
        "attn.c_proj": "attn_output",
        "ln_2": "ffn_norm",
        "mlp.c_fc": "ffn_up",
        "mlp.c_proj": "ffn_down",
    }
    for i in range(config.n_layers):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"transformer.h.{i}.{ours}.{kind}"] = f"blk.{i}.{theirs}.{kind}"
    return names


def _encode(array: np.ndarray, name: str, outtype: str):
    """(data, GGML type) for one tensor: matrices at `outtype`, vectors and positions in f32."""
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import quantize

    if array.ndim < 2 or outtype == "f32" or name == "position_embd.weight":
        return array.astype(np.float32), Q.F32
    if outtype == "f16":
        return array.astype(np.float16), Q.F16
    if array.shape[-1] % 32:
        return array.astype(np.float16), Q.F16  # q8_0 blocks are 32 wide
    return quantize(array.astype(np.float32), Q.Q8_0), Q.Q8_0


def export_gguf(checkpoint: str, out_file: str, outtype: str = "f16") -> dict:
    """Write `checkpoint` (a MiniGPT LM) to `out_file`; returns a summary. Nothing is left on failure."""
    import gguf

    if outtype not in OUTTYPES:
        raise AlignpipeError(f"export: --outtype must be one of {', '.join(OUTTYPES)}, got {outtype!r}")
    model = _load_minigpt(checkpoint)
    tok = _tokenizer_json(checkpoint)
    c = model.config
    arch = "gpt2" if c.pos_embedding == "learned" else "gptneox"
    tokens, types, merges = _vocab(tok, c.vocab_size)

    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    try:
        writer.add_name(Path(checkpoint).resolve().name)
        writer.add_file_type(
            {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}.get(
                outtype, gguf.LlamaFileType.MOSTLY_Q8_0
            )
        )
        writer.add_context_length(c.max_seq)
        writer.add_embedding_length(c.d_model)
        writer.add_block_count(c.n_layers)
        writer.add_feed_forward_length(c.ffn_mult * c.d_model)
        writer.add_head_count(c.n_heads)
        writer.add_layer_norm_eps(c.layer_norm_eps)
        if arch == "gptneox":
            writer.add_rope_dimension_count(c.d_model // c.n_heads)
            writer.add_rope_freq_base(c.rope_theta)
            writer.add_parallel_residual(False)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        for name, add in (
            ("bos_token_id", writer.add_bos_token_id),
            ("eos_token_id", writer.add_eos_token_id),
            ("pad_token_id", writer.add_pad_token_id),
        ):
            if getattr(c, name, None) is not None:
                add(int(getattr(c, name)))
        writer.add_add_bos_token(False)  # the chat template writes bos itself
        template = Path(checkpoint) / "chat_template.jinja"
        if template.is_file():
            writer.add_chat_template(_GENERATION_TAGS.sub("", template.read_text(encoding="utf-8")))

        names = _tensor_names(c)
        state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
        missing = [k for k in names if k not in state]
        if missing:
            raise AlignpipeError(
                f"export: {checkpoint} lacks {missing[:3]}: not a MiniGPT layout this export knows"
            )
        counts: dict[str, int] = {}
        for ours, theirs in names.items():
            data, qtype = _encode(state[ours], theirs, outtype)
            writer.add_tensor(theirs, data, raw_dtype=qtype)
            counts[qtype.name] = counts.get(qtype.name, 0) + 1
        if arch == "gptneox":  # llama.cpp's gptneox reads its own output matrix; MiniGPT ties it to wte
            data, qtype = _encode(state["transformer.wte.weight"], "output.weight", outtype)
            writer.add_tensor("output.weight", data, raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return {
        "file": str(out),
        "architecture": arch,
        "outtype": outtype,
        "bytes": out.stat().st_size,
        "tensor_types": counts,
    }
