"""Pretraining: next-token prediction on packed blocks of text.

    alignpipe pretrain --config recipes/minigpt/pretrain.yaml [--key value ...]
    python -m alignpipe.stages.pretrain --config ...
    accelerate launch pipeline/stages/pretrain.py --config ...

Supported: a MiniGPT from scratch (shape and tokenizer from the recipe; the
tokenizer is trained on the training text unless `tokenizer_name_or_path` is
given), or continued pretraining of any causal LM (`model_name_or_path`). Text
comes from the embedded corpus (`dataset_name: default`), local .txt/.jsonl/
.parquet files, a Hub data set, or a `dataset_mixture`. Documents are joined
with eos and cut into `block_size` blocks (run_clm style); when a source has no
held-out split, the last `test_split_size` of its tokens is held out (as
nanoGPT does). Logs train loss and held-out loss/perplexity; `stage.finish` saves model,
tokenizer, generation config, run_record.json and the model card, as in every stage.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from datasets import Dataset
from transformers import Trainer, TrainingArguments, default_data_collator

import alignpipe  # noqa: F401
from alignpipe.core.errors import AlignpipeError, run_cli
from alignpipe.core.log import echo
from alignpipe.core.mixtures import load_mixture
from alignpipe.core.tokenizers import train_tokenizer
from alignpipe.inference.modeling import align_with_tokenizer, load_causal_lm, load_tokenizer
from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM
from alignpipe.training import stage
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args


@dataclass
class PretrainArguments(DataArguments):
    block_size: int = field(default=256, metadata={"help": "Tokens per training block."})
    test_split_size: float | None = field(
        default=0.1, metadata={"help": "Held-out fraction when a source has none."}
    )
    tokenizer_kind: str = field(default="bpe", metadata={"help": "'bpe' or 'char' (trained here)."})
    vocab_size: int = field(default=8192, metadata={"help": "BPE vocabulary size."})
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    ffn_mult: int = 4
    dropout: float = 0.0
    pos_embedding: str = field(default="learned", metadata={"help": "'learned' (GPT-2) or 'rope' (rotary)."})

    def __post_init__(self):
        """Check the MiniGPT shape with MiniGPTConfig's own rules before any data or tokenizer work."""
        try:
            MiniGPTConfig(d_model=self.d_model, n_heads=self.n_heads, pos_embedding=self.pos_embedding)
        except ValueError as e:
            raise AlignpipeError(f"pretrain recipe: {e}") from e


class PretrainTrainer(Trainer):
    """Trainer that also logs held-out perplexity next to held-out loss, and takes TRL's model-card
    arguments (`dataset_name`), as `stage.finish` gives them to every stage's trainer."""

    def create_model_card(self, dataset_name: str | None = None, **kwargs) -> None:
        super().create_model_card(dataset=kwargs.pop("dataset", dataset_name), **kwargs)

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "eval_loss" in logs:
            logs["eval_perplexity"] = math.exp(min(logs["eval_loss"], 50.0))
        super().log(logs, *args, **kwargs)


def load_texts(args: PretrainArguments) -> tuple[list[str], list[str]]:
    """Training and held-out documents in their order (held-out may be empty: then `main` holds out the
    token stream's tail). A .txt file is one document, nanoGPT style; every other source goes through
    `alignpipe.core.data` like any stage's data (`dataset_name: default` is the embedded corpus)."""
    name = args.dataset_name or (None if args.dataset_mixture else "default")
    if name and os.path.isfile(name) and name.endswith(".txt"):
        with open(name, encoding="utf-8") as f:
            return [f.read()], []
    mixture = args.dataset_mixture or {"datasets": [{"id": name, "config": args.dataset_config}]}
    dd = load_mixture(mixture, "text", seed=mixture.get("seed", 0), shuffle=False)
    return list(dd["train"]["text"]), list(dd["test"]["text"])


def pack(texts: list[str], tokenizer, block_size: int) -> list[list[int]]:
    """Tokenize, join documents with eos, cut into full blocks (the ragged tail is dropped)."""
    ids: list[int] = []
    for t in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(t)
        ids.append(tokenizer.eos_token_id)
    n = len(ids) // block_size
    return [ids[i * block_size : (i + 1) * block_size] for i in range(n)]


def to_dataset(blocks: list[list[int]]) -> Dataset:
    return Dataset.from_dict({"input_ids": blocks, "labels": blocks})


def build_tokenizer(args: PretrainArguments, model_args: ModelConfig, train_texts: list[str]):
    path = args.tokenizer_name_or_path or model_args.model_name_or_path
    if path:
        return load_tokenizer(path, args.chat_template, need_template=False)
    return train_tokenizer(train_texts, args.tokenizer_kind, args.vocab_size)


def build_model(args: PretrainArguments, model_args: ModelConfig, training_args, tokenizer):
    if model_args.model_name_or_path:
        return load_causal_lm(model_args.model_name_or_path, model_args, training_args, tokenizer)
    config = MiniGPTConfig(
        vocab_size=len(tokenizer),
        d_model=args.d_model,
        n_layers=args.n_layers,
        n_heads=args.n_heads,
        max_seq=args.block_size,
        ffn_mult=args.ffn_mult,
        dropout=args.dropout,
        pos_embedding=args.pos_embedding,
    )
    model = MiniGPTForCausalLM(config)
    align_with_tokenizer(model, tokenizer)
    return model


def main(argv: list[str] | None = None) -> int:
    args, training_args, model_args = parse_stage_args(
        (PretrainArguments, TrainingArguments, ModelConfig), argv, prog="alignpipe pretrain"
    )
    record = stage.start("pretrain", args, training_args, model_args)

    train_texts, test_texts = load_texts(args)
    if not train_texts:
        raise AlignpipeError("pretraining data is empty")
    tokenizer = build_tokenizer(args, model_args, train_texts)
    train_blocks = pack(train_texts, tokenizer, args.block_size)
    if test_texts:
        test_blocks = pack(test_texts, tokenizer, args.block_size)
    else:  # hold out the tail of the token stream
        n_test = max(1, int(len(train_blocks) * args.test_split_size))
        train_blocks, test_blocks = train_blocks[:-n_test], train_blocks[-n_test:]
    if not train_blocks or not test_blocks:
        raise AlignpipeError(
            f"too little text for block_size={args.block_size}: no full block to train or test on"
        )
    if args.max_train_samples:
        train_blocks = train_blocks[: args.max_train_samples]
    if args.max_eval_samples:
        test_blocks = test_blocks[: args.max_eval_samples]

    model = build_model(args, model_args, training_args, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    echo(
        f"model: {type(model).__name__}, {n_params / 1e6:.2f}M parameters; "
        f"{len(train_blocks)} train / {len(test_blocks)} held-out blocks of {args.block_size} tokens"
    )
    trainer = PretrainTrainer(
        model=model,
        args=training_args,
        train_dataset=to_dataset(train_blocks),
        eval_dataset=to_dataset(test_blocks),
        processing_class=tokenizer,
        data_collator=default_data_collator,
    )
    sizes = {"n_params": n_params, "train_tokens": len(train_blocks) * args.block_size}
    stage.finish(trainer, record, tokenizer, args, extra_metrics=lambda _trainer: sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
