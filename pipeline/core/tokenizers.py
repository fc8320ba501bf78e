"""Tokenizers trained here: byte-level BPE (any text) or char-level (nanoGPT's shakespeare_char).

Both are wrapped as `PreTrainedTokenizerFast` with distinct bos/eos/pad tokens,
role tokens and the MiniGPT chat template (with `{% generation %}` markers), and
save/load with the model like any Hub tokenizer. No post-processor adds bos:
the chat template writes it, and pretraining separates documents with eos.

The `alignpipe tokenizer` command (`alignpipe.stages.tokenizer`) trains one on files or the embedded corpus.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from alignpipe.core.chat_templates import BOS, EOS, MINIGPT_TEMPLATE, PAD, ROLE_TOKENS, SPECIAL_TOKENS
from alignpipe.core.errors import AlignpipeError


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


def train_bpe(
    texts: Iterable[str], vocab_size: int = 8192, max_len: int | None = None
) -> PreTrainedTokenizerFast:
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
        show_progress=False,  # its bars write to the terminal directly, past the run view and the log
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
