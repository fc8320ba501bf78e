"""Chat templates and special tokens: the one place that decides how conversations become tokens.

- MiniGPT tokenizers get `MINIGPT_TEMPLATE`, whose assistant turns sit inside
  `{% generation %}` markers (so TRL's `assistant_only_loss` works) and end with
  the eos token (so trained models learn to stop).
- Any other tokenizer keeps its own template; a recipe can set one (inline
  Jinja or a path to a `.jinja` file) for base models that have none.
- Pad must differ from eos, or padded eos tokens are masked out of the loss and
  models never learn to stop: `prepare_tokenizer` pads with a spare special token the tokenizer already
  has (`spare_pad_token`), else adds a pad token.
"""

from __future__ import annotations

from pathlib import Path

from alignpipe.core.errors import AlignpipeError

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
SPECIAL_TOKENS = [PAD, BOS, EOS, *ROLE_TOKENS]

MINIGPT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# For base models without a template: ChatML, with generation markers.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|im_start|>assistant\n{% generation %}{{ message['content'] }}<|im_end|>{% endgeneration %}"
    "{% else %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

NAMED_TEMPLATES = {"minigpt": MINIGPT_TEMPLATE, "chatml": CHATML_TEMPLATE}


def resolve_template(spec: str | None) -> str | None:
    """A recipe's `chat_template`: a name ("minigpt", "chatml"), a `.jinja` path, or inline Jinja."""
    if not spec:
        return None
    if spec in NAMED_TEMPLATES:
        return NAMED_TEMPLATES[spec]
    if spec.endswith(".jinja"):
        path = Path(spec)
        if not path.is_file():
            raise AlignpipeError(f"chat_template: file {spec} does not exist")
        return path.read_text()
    if "{%" in spec or "{{" in spec:
        return spec
    raise AlignpipeError(
        f"chat_template: {spec!r} is neither a known name ({', '.join(NAMED_TEMPLATES)}), a .jinja file, nor Jinja"
    )


def prepare_tokenizer(tokenizer, chat_template: str | None = None, *, need_template: bool = True):
    """Set the chat template, make pad differ from eos, and left-pad when generating.

    Returns the tokenizer and the number of tokens added (the model's embeddings must grow by that).
    """
    template = resolve_template(chat_template)
    added = 0
    if template is not None:
        tokenizer.chat_template = template
        if template is CHATML_TEMPLATE:
            added += tokenizer.add_special_tokens(
                {"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}
            )
            tokenizer.eos_token = "<|im_end|>"
    if need_template and not tokenizer.chat_template:
        raise AlignpipeError(
            "the tokenizer has no chat template: set `chat_template` in the recipe "
            "(a name such as 'chatml', a .jinja file, or inline Jinja)"
        )
    if tokenizer.eos_token is None:
        raise AlignpipeError("the tokenizer has no eos token; set one so trained models learn to stop")
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        spare = spare_pad_token(tokenizer)
        if spare is not None:  # the vocabulary (and the model's embeddings) stay as they are
            tokenizer.pad_token = spare
        else:
            added += tokenizer.add_special_tokens({"pad_token": PAD})
    return tokenizer, added


#: special tokens a tokenizer may already have that can pad (tried in this order, after a dedicated pad)
SPARE_PADS = ("<|pad|>", "<pad>", "[PAD]", "<|finetune_right_pad_id|>", "<|endoftext|>")


def spare_pad_token(tokenizer) -> str | None:
    """A special token the tokenizer already has that is neither eos nor bos, to pad with (SmolLM2's
    `<|endoftext|>`, its unknown token): a new pad token would grow the vocabulary, and a model with another
    vocabulary than its base can no longer be compared with it (KL) or exported into the base's format."""
    special = {str(t) for t in tokenizer.added_tokens_decoder.values() if getattr(t, "special", False)}
    taken = {tokenizer.eos_token, tokenizer.bos_token}
    for token in (*SPARE_PADS, tokenizer.unk_token):
        if token and token in special and token not in taken:
            return token
    return None


def has_generation_markers(tokenizer) -> bool:
    return "{% generation %}" in (tokenizer.chat_template or "") or "{%- generation %}" in (
        tokenizer.chat_template or ""
    )
