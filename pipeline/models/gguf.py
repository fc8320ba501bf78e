"""Export a language model to GGUF, the file format of llama.cpp (and Ollama, LM Studio, ...): MiniGPT, and
the Llama and Qwen2 layouts of Transformers (SmolLM2 is a Llama), with an Ollama Modelfile beside it.

    alignpipe export runs/minigpt/dpo --to gguf -o dpo.gguf [--outtype f32|f16|q8_0]
    llama-cli -m dpo.gguf --jinja -cnv          # or: python -c "from llama_cpp import Llama; ..."
    ollama create dpo -f dpo.Modelfile

Llama and Qwen2 (`_hf_tensors`): tensors named by gguf's own name map (`get_tensor_name_map`), Llama's q and k
rows permuted from Transformers' rotate-half order to llama.cpp's (as llama.cpp's convert_hf_to_gguf.py
does), grouped-query heads, RMS norm epsilon, rotary base and head size from the config, no output matrix when
the embedding is tied (llama.cpp reads the embedding then); the pre-tokenizer chosen by what the tokenizer's own pre_tokenizer does (`_pre_type`:
GPT-2's pattern, digits one by one first as SmolLM's, or Qwen2's). Plain rotary positions only.

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
models), other architectures (llama.cpp's own `convert_hf_to_gguf.py` handles them), scaled rotary positions,
and tokenizers that are not byte-level BPE (the char tokenizer, SentencePiece).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from alignpipe.core.errors import AlignpipeError

OUTTYPES = ("f32", "f16", "q8_0")
_GENERATION_TAGS = re.compile(r"{%-?\s*(end)?generation\s*-?%}")


#: Transformers model types -> llama.cpp architecture written (MiniGPT's depends on its positions).
LAYOUTS = {"minigpt": None, "llama": "llama", "qwen2": "qwen2"}


def _load_lm(checkpoint: str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from alignpipe.models.export import check_export_source

    check_export_source(checkpoint)
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
    if config.model_type not in LAYOUTS:
        raise AlignpipeError(
            f"export: GGUF export supports MiniGPT, Llama and Qwen2 language models; {checkpoint} is "
            f"{config.model_type!r} (for other architectures use llama.cpp's convert_hf_to_gguf.py)"
        )
    rope = getattr(config, "rope_parameters", None) or {}
    if config.model_type != "minigpt" and rope.get("rope_type", "default") != "default":
        raise AlignpipeError(
            f"export: {checkpoint} scales its rotary positions ({rope.get('rope_type')}); this GGUF export "
            "writes plain rotary positions only"
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32, use_safetensors=True)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"export: cannot load {checkpoint}: {e}") from e
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


def _pre_type(tok: dict, checkpoint: str) -> str:
    """llama.cpp's pre-tokenizer that splits text as the tokenizer's own pre_tokenizer does."""
    pre = tok.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"]:
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"  # each digit alone, then GPT-2's pattern
    if kinds == ["Split", "ByteLevel"] and "\\p{N}" in json.dumps(parts[0].get("pattern", {})):
        return "qwen2"
    raise AlignpipeError(
        f"export: {checkpoint}'s tokenizer splits text with {kinds}, which no llama.cpp pre-tokenizer this export "
        "knows reproduces; nothing was written"
    )


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Llama's q/k rows from Transformers' rotate-half order to llama.cpp's interleaved pairs (as llama.cpp's
    convert_hf_to_gguf.py does)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _hf_tensors(model, arch: str) -> dict[str, np.ndarray]:
    """GGUF tensor name -> array of a Llama or Qwen2 causal LM (gguf's own name map)."""
    import gguf

    c = model.config
    kinds = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}
    names = gguf.get_tensor_name_map(kinds[arch], c.num_hidden_layers)
    out = {}
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    tied = bool(getattr(c, "tie_word_embeddings", False))
    for key, value in state.items():
        if tied and key == "lm_head.weight":
            continue  # llama.cpp reads the embedding where a tied model has no output matrix of its own
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise AlignpipeError(f"export: {key} has no GGUF counterpart in llama.cpp's {arch} layout")
        if arch == "llama" and key.endswith("self_attn.q_proj.weight"):
            value = _permute(value, c.num_attention_heads)
        elif arch == "llama" and key.endswith("self_attn.k_proj.weight"):
            value = _permute(value, c.num_key_value_heads)
        out[name] = value
    return out


def _hf_hparams(writer, c) -> None:
    rope = getattr(c, "rope_parameters", None) or {}
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(c, "rope_theta", 10000.0))))
    writer.add_rope_dimension_count(getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads)
    writer.add_vocab_size(c.vocab_size)


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
    model = _load_lm(checkpoint)
    tok = _tokenizer_json(checkpoint)
    c = model.config
    arch = LAYOUTS[c.model_type] or ("gpt2" if c.pos_embedding == "learned" else "gptneox")
    pre = "gpt-2" if c.model_type == "minigpt" else _pre_type(tok, checkpoint)
    tokens, types, merges = _vocab(tok, c.vocab_size)
    tensors = _hf_tensors(model, arch) if c.model_type != "minigpt" else None

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
        if tensors is not None:
            _hf_hparams(writer, c)
        else:
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
        writer.add_tokenizer_pre(pre)
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

        if tensors is not None:
            tensors = dict(sorted(tensors.items(), key=lambda kv: _tensor_order(kv[0])))
            counts = {}
            for theirs, array in tensors.items():
                data, qtype = _encode(array, theirs, outtype)
                writer.add_tensor(theirs, data, raw_dtype=qtype)
                counts[qtype.name] = counts.get(qtype.name, 0) + 1
            return _finish(writer, tmp, out, arch, outtype, counts)
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
        return _finish(writer, tmp, out, arch, outtype, counts)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise


def _tensor_order(name: str) -> tuple:
    """token_embd, the blocks in order, output_norm, output: the order llama.cpp's converter writes."""
    if name.startswith("blk."):
        return (1, int(name.split(".")[1]), name)
    return (0 if name.startswith("token_embd") else 2, 0, name)


def _finish(writer, tmp: Path, out: Path, arch: str, outtype: str, counts: dict) -> dict:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return {
        "file": str(out),
        "architecture": arch,
        "outtype": outtype,
        "bytes": out.stat().st_size,
        "tensor_types": counts,
    }


# --------------------------------------------------------------------------- Ollama

_CONTENT = "\x00CONTENT\x00"


def ollama_template(tokenizer) -> tuple[str | None, list[str]]:
    """(an Ollama Go TEMPLATE equal to the tokenizer's chat template, its stop strings). The Jinja template is
    rendered around a placeholder for each role and each piece rewritten as Go; a template whose pieces depend
    on each other (a default system prompt, a first-turn rule) gives None: Ollama then reads the GGUF's own."""

    def render(messages, gen=False) -> str:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=gen, tokenize=False)

    user, assistant, system = ({"role": r, "content": _CONTENT} for r in ("user", "assistant", "system"))
    try:  # templates refuse an empty conversation: each piece is what one more turn adds
        one, two = render([user]), render([user, user])
        pieces = {"user": two[len(one) :]}
        if not one.endswith(pieces["user"]):
            return None, []
        prefix = one[: len(one) - len(pieces["user"])]
        pieces["assistant"] = render([user, assistant])[len(one) :]
        with_system = render([system, user])
        if not (with_system.startswith(prefix) and with_system.endswith(pieces["user"])):
            return None, []
        pieces["system"] = with_system[len(prefix) : len(with_system) - len(pieces["user"])]
        generation = render([user], gen=True)[len(one) :]
        whole = render([system, user, assistant, user], gen=True)
    except Exception:  # noqa: BLE001  (a template that cannot render these turns: no TEMPLATE, a note instead)
        return None, []
    if whole != prefix + "".join(pieces[r] for r in ("system", "user", "assistant", "user")) + generation:
        return None, []
    if any(_CONTENT not in p for p in pieces.values()) or "{{" in whole.replace(_CONTENT, ""):
        return None, []
    go = {role: piece.replace(_CONTENT, "{{ .Content }}") for role, piece in pieces.items()}
    template = (
        prefix
        + "{{- range .Messages }}"
        + f'{{{{ if eq .Role "system" }}}}{go["system"]}'
        + f'{{{{ else if eq .Role "user" }}}}{go["user"]}'
        + f'{{{{ else if eq .Role "assistant" }}}}{go["assistant"]}{{{{ end }}}}'
        + "{{ end }}"
        + generation
    )
    after = pieces["assistant"].split(_CONTENT, 1)[1].strip()
    stops = [s for s in dict.fromkeys([after, tokenizer.eos_token]) if s]
    return template, stops


def write_modelfile(checkpoint: str, gguf_file: str | Path) -> Path:
    """An Ollama Modelfile beside `gguf_file` (`ollama create NAME -f NAME.Modelfile`): FROM the file, the chat
    template as Go TEMPLATE and its stop strings."""
    from transformers import AutoTokenizer

    from alignpipe.core.io import write_text

    gguf_file = Path(gguf_file)
    template, stops = ollama_template(AutoTokenizer.from_pretrained(checkpoint))
    lines = [
        f"# Ollama: ollama create {gguf_file.stem} -f {gguf_file.stem}.Modelfile && ollama run {gguf_file.stem}",
        f"FROM ./{gguf_file.name}",
    ]
    if template is None:
        lines.append(
            "# the chat template is not a per-turn one: Ollama uses the GGUF's tokenizer.chat_template"
        )
    else:
        lines.append(f'TEMPLATE """{template}"""')
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    return write_text(gguf_file.with_name(f"{gguf_file.stem}.Modelfile"), "\n".join(lines) + "\n")
