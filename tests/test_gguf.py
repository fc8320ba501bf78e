"""GGUF export (`alignpipe export --to gguf`): the file holds the model's tensors and tokenizer, and
llama.cpp (llama-cpp-python, the optional extra `alignpipe[gguf]`) runs it with the same tokens and the same
greedy continuations as Transformers.

The llama.cpp round trip skips where llama-cpp-python is not installed, unless ALIGNPIPE_REQUIRE_LLAMA_CPP=1
(set by .ci/run, which installs the extra): then its absence is a failure.
"""

import json
import os

import numpy as np
import pytest
import torch

from alignpipe.cli import main as cli
from alignpipe.core.errors import AlignpipeError
from alignpipe.models.gguf import export_gguf

STRINGS = [
    "what is 3 plus 4?",
    "Hello, world!  How are  you?\n\n(ok) 1234 x=3.14",
    "reverse this list: 9 8 7",
    "  leading spaces and trailing   ",
    "don't count the letters in word",
    "ünïcode ☃ 日本 emoji 🙂",
    "tabs\tand\nnew\nlines 0 10 100",
    "<|user|>\nwhat is 2 plus 2?<|end|>\n",
]
PROMPTS = [
    "what is 3 plus 4?",
    "sort this list: 5 2 9",
    "count the letters in the word copy",
    "reverse 1 2 3",
]


def _llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        if os.environ.get("ALIGNPIPE_REQUIRE_LLAMA_CPP") == "1":
            pytest.fail("llama-cpp-python is required here (ALIGNPIPE_REQUIRE_LLAMA_CPP=1) but not installed")
        pytest.skip("llama-cpp-python is not installed (pip install 'alignpipe[gguf]')")
    return llama_cpp


@pytest.fixture(scope="module", params=["learned", "rope"])
def peaked_minigpt(request, tmp_path_factory, tiny_tokenizer):
    """A MiniGPT (learned positions -> gpt2, rope -> gptneox) with weights large enough that its next-token
    choices are clear-cut: random 0.02-scale weights give near-ties that any rounding could flip."""
    from alignpipe.inference.modeling import align_with_tokenizer
    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM

    torch.manual_seed(1)
    config = MiniGPTConfig(
        vocab_size=len(tiny_tokenizer),
        d_model=64,
        n_layers=2,
        n_heads=4,
        max_seq=96,
        pos_embedding=request.param,
        initializer_range=0.15,
    )
    model = MiniGPTForCausalLM(config).eval()
    align_with_tokenizer(model, tiny_tokenizer)
    d = tmp_path_factory.mktemp(f"minigpt-{request.param}")
    model.save_pretrained(d)
    tiny_tokenizer.save_pretrained(d)
    return d, model, tiny_tokenizer


def _greedy_hf(model, tok, ids, n):
    out = model.generate(
        torch.tensor([ids]),
        max_new_tokens=n,
        do_sample=False,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return out[0, len(ids) :].tolist()


def _greedy_llama(llm, ids, n, eos):
    out = []
    for t in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
        out.append(t)
        if t == eos or len(out) >= n:
            break
    return out


def _prompt_ids(tok, text):
    from alignpipe.inference.generation import encode, render

    return encode(tok, render(tok, [{"role": "user", "content": text}], True))


def test_gguf_holds_the_weights_tokens_and_template(peaked_minigpt, tmp_path):
    from gguf import GGUFReader

    folder, model, tok = peaked_minigpt
    info = export_gguf(str(folder), str(tmp_path / "m.gguf"), "f32")
    reader = GGUFReader(tmp_path / "m.gguf")
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    assert arch == info["architecture"] == ("gpt2" if model.config.pos_embedding == "learned" else "gptneox")
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    sd = model.state_dict()
    np.testing.assert_array_equal(tensors["token_embd.weight"], sd["transformer.wte.weight"].numpy())
    np.testing.assert_array_equal(
        tensors["blk.1.attn_qkv.weight"], sd["transformer.h.1.attn.c_attn.weight"].numpy()
    )
    np.testing.assert_array_equal(
        tensors["blk.0.ffn_down.bias"], sd["transformer.h.0.mlp.c_proj.bias"].numpy()
    )
    assert ("output.weight" in tensors) == (arch == "gptneox")  # gptneox needs its own; gpt2 ties
    field = reader.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(field.parts[i]).decode() for i in field.data]
    assert tokens[tok.eos_token_id] == tok.eos_token and len(tokens) == model.config.vocab_size
    template = bytes(reader.fields["tokenizer.chat_template"].parts[-1]).decode()
    assert "{% generation %}" not in template and "add_generation_prompt" in template
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.numerics
@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_llama_cpp_matches_transformers(peaked_minigpt, tmp_path, outtype):
    llama_cpp = _llama_cpp()
    folder, model, tok = peaked_minigpt
    path = tmp_path / f"m-{outtype}.gguf"
    assert cli(["export", str(folder), "--to", "gguf", "--outtype", outtype, "-o", str(path)]) == 0
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=96, verbose=False)
    try:
        for s in STRINGS:
            ours = tok(s, add_special_tokens=False)["input_ids"]
            assert llm.tokenize(s.encode(), add_bos=False, special=True) == ours, s
            assert llm.detokenize(ours, special=True).decode() == tok.decode(ours), s
        for p in PROMPTS:
            ids = _prompt_ids(tok, p)
            n = 96 - len(ids)
            hf = _greedy_hf(model, tok, ids, n)
            assert _greedy_llama(llm, ids, n, tok.eos_token_id) == hf, p
        # llama.cpp's chat API renders the chat template stored in the file: the same prompt, the same reply
        ids = _prompt_ids(tok, PROMPTS[0])
        hf = _greedy_hf(model, tok, ids, 24)
        reply = llm.create_chat_completion(
            messages=[{"role": "user", "content": PROMPTS[0]}], temperature=0.0, top_k=1, max_tokens=24
        )["choices"][0]["message"]["content"]
        ours = tok.decode([t for t in hf if t != tok.eos_token_id], skip_special_tokens=True)
        assert reply == ours.replace("\ufffd", "")  # random weights emit broken UTF-8: llama.cpp drops it
    finally:
        llm.close()


@pytest.mark.numerics
def test_llama_cpp_q8_0_stays_close(peaked_minigpt, tmp_path):
    """q8_0 rounds every matrix to 8-bit blocks: the next-token choice along Transformers' own greedy
    continuations (teacher-forced, so one early difference does not compound) should rarely change."""
    llama_cpp = _llama_cpp()
    folder, model, tok = peaked_minigpt
    info = export_gguf(str(folder), str(tmp_path / "q.gguf"), "q8_0")
    f32 = export_gguf(str(folder), str(tmp_path / "f.gguf"), "f32")
    assert info["tensor_types"].get("Q8_0", 0) > 0 and info["bytes"] < 0.5 * f32["bytes"]
    llm = llama_cpp.Llama(model_path=info["file"], n_ctx=96, verbose=False, logits_all=True)
    agree = total = 0
    try:
        for p in PROMPTS:
            ids = _prompt_ids(tok, p)
            seq = ids + _greedy_hf(model, tok, ids, 32)
            with torch.no_grad():
                hf = model(torch.tensor([seq])).logits[0, len(ids) - 1 : -1].argmax(-1).numpy()
            llm.reset()
            llm.eval(seq)
            q = np.asarray(llm.scores[len(ids) - 1 : len(seq) - 1]).argmax(-1)
            agree += int((hf == q).sum())
            total += len(hf)
    finally:
        llm.close()
    print(f"q8_0: the next-token choice agrees with Transformers' at {agree}/{total} positions")
    assert agree / total >= 0.9


def test_gguf_refuses_what_llama_cpp_cannot_run(tmp_path, tiny_minigpt, tiny_llama, tiny_tokenizer):
    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForSequenceClassification

    rm = tmp_path / "rm"
    MiniGPTForSequenceClassification(
        MiniGPTConfig(vocab_size=len(tiny_tokenizer), d_model=32, n_layers=1, n_heads=4, num_labels=1)
    ).save_pretrained(rm)
    tiny_tokenizer.save_pretrained(rm)
    out = tmp_path / "x.gguf"
    with pytest.raises(AlignpipeError, match="reward model or classifier"):
        export_gguf(str(rm), str(out))
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    neox = tmp_path / "neox"
    GPTNeoXForCausalLM(
        GPTNeoXConfig(
            vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4
        )
    ).save_pretrained(neox)
    tiny_tokenizer.save_pretrained(neox)
    with pytest.raises(AlignpipeError, match="supports MiniGPT, Llama and Qwen2 language models"):
        export_gguf(str(neox), str(out))
    char = tmp_path / "char"
    from alignpipe.core.tokenizers import train_tokenizer

    for f in tiny_minigpt.iterdir():
        (char / f.name).parent.mkdir(exist_ok=True)
        if f.name != "tokenizer.json" and f.is_file():
            (char / f.name).write_bytes(f.read_bytes())
    train_tokenizer(["abc def"] * 3, "char").save_pretrained(char)
    cfg = json.loads((char / "config.json").read_text())
    assert cfg["model_type"] == "minigpt"
    with pytest.raises(AlignpipeError, match="byte-level BPE"):
        export_gguf(str(char), str(out))
    assert cli(["export", str(rm), "--to", "gguf", "-o", str(out)]) == 2
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


# --------------------------------------------------------------------------- Llama and Qwen2 layouts


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def peaked_hf(request, tmp_path_factory, tiny_tokenizer):
    """A tiny Llama or Qwen2 (grouped-query attention, tied embeddings; Qwen2 with q/k/v biases) with weights
    large enough for clear-cut next-token choices, saved with alignpipe's tokenizer and chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(1)
    common = {
        "vocab_size": len(tiny_tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 96,
        "tie_word_embeddings": True,
        "initializer_range": 0.15,
        "eos_token_id": tiny_tokenizer.eos_token_id,
        "pad_token_id": tiny_tokenizer.pad_token_id,
        "bos_token_id": tiny_tokenizer.bos_token_id,
    }
    if request.param == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**common))
        with torch.no_grad():
            for layer in model.model.layers:
                for lin in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    lin.bias.normal_(0, 0.1)
    model.eval()
    d = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(d)
    tiny_tokenizer.save_pretrained(d)
    return d, model, tiny_tokenizer


def _margins(model, ids, continuation):
    """The top-two logit gap at each step of a greedy continuation (a near-tie any rounding could flip)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids + continuation])).logits[0, len(ids) - 1 : -1]
    top = logits.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).tolist()


@pytest.mark.numerics
@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_llama_and_qwen2_run_in_llama_cpp_as_in_transformers(peaked_hf, tmp_path, outtype):
    """Token-for-token greedy equality up to the first near-tie (f16 rounds the matrices: a gap under 0.05 may
    flip); f32 must agree everywhere the gap exceeds 1e-3. Tokenisation and the chat API agree too."""
    llama_cpp = _llama_cpp()
    folder, model, tok = peaked_hf
    path = tmp_path / f"m-{outtype}.gguf"
    assert cli(["export", str(folder), "--to", "gguf", "--outtype", outtype, "-o", str(path)]) == 0
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=96, verbose=False)
    tie = 1e-3 if outtype == "f32" else 0.05
    compared = 0
    try:
        for s in STRINGS:
            assert (
                llm.tokenize(s.encode(), add_bos=False, special=True)
                == tok(s, add_special_tokens=False)["input_ids"]
            ), s
        for p in PROMPTS:
            ids = _prompt_ids(tok, p)
            hf = _greedy_hf(model, tok, ids, 24)
            margins = _margins(model, ids, hf)
            sure = next((i for i, m in enumerate(margins) if m < tie), len(hf))
            ours = _greedy_llama(llm, ids, 24, tok.eos_token_id)
            assert ours[: sure + 1] == hf[: sure + 1], (p, sure, margins[: sure + 1])
            compared += sure + 1
        reply = llm.create_chat_completion(
            messages=[{"role": "user", "content": PROMPTS[0]}], temperature=0.0, top_k=1, max_tokens=24
        )["choices"][0]["message"]["content"]
        hf = _greedy_hf(model, tok, _prompt_ids(tok, PROMPTS[0]), 24)
        if min(_margins(model, _prompt_ids(tok, PROMPTS[0]), hf)) >= tie:
            ours = tok.decode([t for t in hf if t != tok.eos_token_id], skip_special_tokens=True)
            assert reply == ours.replace("\ufffd", "")
    finally:
        llm.close()
    assert compared >= 3 * len(PROMPTS)  # the comparison covered real continuations, not only ties


def test_the_ollama_modelfile_holds_the_chat_template_as_go(peaked_hf, tmp_path):
    from transformers import AutoTokenizer

    from alignpipe.models.gguf import ollama_template

    folder, _, tok = peaked_hf
    path = tmp_path / "tiny.gguf"
    assert cli(["export", str(folder), "--to", "gguf", "--outtype", "f32", "-o", str(path)]) == 0
    text = (tmp_path / "tiny.Modelfile").read_text()
    assert "FROM ./tiny.gguf" in text and 'TEMPLATE """' in text
    template, stops = ollama_template(AutoTokenizer.from_pretrained(folder))
    assert f'PARAMETER stop "{stops[0]}"' in text and tok.eos_token in stops
    # the Go template, filled in by hand for one conversation, is the Jinja template's rendering of it
    turns = [("system", "be brief"), ("user", "hi"), ("assistant", "hello"), ("user", "2+2?")]
    body = template.split("{{- range .Messages }}")[1].split("{{ end }}{{ end }}")[0]
    branch = {}
    for role in ("system", "user", "assistant"):
        start = body.index(f'eq .Role "{role}" }}}}') + len(f'eq .Role "{role}" }}}}')
        end = min(i for i in (body.find("{{ else", start), body.find("{{ end", start), len(body)) if i >= 0)
        branch[role] = body[start:end]
    filled = (
        template.split("{{- range .Messages }}")[0]
        + "".join(branch[r].replace("{{ .Content }}", c) for r, c in turns)
        + template.split("{{ end }}{{ end }}")[1]
    )
    expected = tok.apply_chat_template(
        [{"role": r, "content": c} for r, c in turns], add_generation_prompt=True, tokenize=False
    )
    assert filled == expected


@pytest.mark.numerics
def test_a_lora_adapter_is_merged_before_export(peaked_hf, tmp_path):
    """`export ADAPTER --to gguf` writes the base with the adapter merged: llama.cpp's greedy answer is the
    adapter model's."""
    llama_cpp = _llama_cpp()
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base_dir, _, tok = peaked_hf
    torch.manual_seed(0)
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False),
    ).eval()
    adapter = tmp_path / "adapter"
    peft.save_pretrained(adapter)
    tok.save_pretrained(adapter)
    path = tmp_path / "a.gguf"
    assert cli(["export", str(adapter), "--to", "gguf", "--outtype", "f32", "-o", str(path)]) == 0
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, verbose=False)
    try:
        ids = _prompt_ids(tok, PROMPTS[0])
        hf = _greedy_hf(peft, tok, ids, 12)
        margins = _margins(peft, ids, hf)
        sure = next((i for i, m in enumerate(margins) if m < 1e-3), len(hf))
        assert sure >= 3 and _greedy_llama(llm, ids, 12, tok.eos_token_id)[: sure + 1] == hf[: sure + 1]
    finally:
        llm.close()
