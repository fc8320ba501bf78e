"""Tokenizers trained here: byte-level BPE (any text) or char-level (nanoGPT's shakespeare_char).

Both are wrapped as `PreTrainedTokenizerFast` with distinct bos/eos/pad tokens,
role tokens and the MiniGPT chat template (with `{% generation %}` markers), and
save/load with the model like any Hub tokenizer. No post-processor adds bos:
the chat template writes it, and pretraining separates documents with eos.

    alignpipe tokenizer --kind bpe --vocab-size 4096 --output DIR [--input FILE ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from pipeline.chat_templates import BOS, EOS, MINIGPT_TEMPLATE, PAD, ROLE_TOKENS, SPECIAL_TOKENS
from pipeline.errors import AlignpipeError


def _wrap(tok: Tokenizer, max_len: int | None) -> PreTrainedTokenizerFast:
    t = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=ROLE_TOKENS,
        model_max_length=max_len or int(1e30),
        clean_up_tokenization_spaces=False,
    )
    t.chat_template = MINIGPT_TEMPLATE
    return t


def train_bpe(texts: Iterable[str], vocab_size: int = 8192, max_len: int | None = None) -> PreTrainedTokenizerFast:
    """Byte-level BPE, GPT-2 style (every byte is in the alphabet, so no text is unknown), with digits split
    one per token as Llama and Qwen do: numbers never merge, which makes arithmetic learnable."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return _wrap(tok, max_len)


def train_char(texts: Iterable[str], max_len: int | None = None) -> PreTrainedTokenizerFast:
    """One token per character seen in the corpus (plus the special tokens); unseen characters are dropped."""
    chars = sorted(set().union(*(set(t) for t in texts)))
    vocab = {s: i for i, s in enumerate(SPECIAL_TOKENS)}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # no merges: characters stay single tokens
    tok.decoder = decoders.Fuse()
    return _wrap(tok, max_len)


def train_tokenizer(
    texts: Iterable[str], kind: str = "bpe", vocab_size: int = 8192, max_len: int | None = None
) -> PreTrainedTokenizerFast:
    if kind == "bpe":
        return train_bpe(texts, vocab_size, max_len)
    if kind == "char":
        return train_char(list(texts), max_len)
    raise AlignpipeError(f"tokenizer kind must be 'bpe' or 'char', got {kind!r}")


def _read_texts(paths: list[str]) -> Iterator[str]:
    for p in paths:
        with open(p, encoding="utf-8") as f:
            yield f.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="alignpipe tokenizer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=["bpe", "char"], default="bpe")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--input", nargs="*", help="text files (default: the embedded corpus)")
    ap.add_argument("--output", required=True)
    args = ap.parse_args(argv)
    if args.input:
        texts = list(_read_texts(args.input))
    else:
        from pipeline.defaults import load_default

        texts = load_default("text", "train")["text"]
    tok = train_tokenizer(texts, args.kind, args.vocab_size)
    tok.save_pretrained(args.output)
    print(f"saved a {args.kind} tokenizer with {len(tok)} tokens to {args.output}")
    return 0
