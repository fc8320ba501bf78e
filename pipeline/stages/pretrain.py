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
nanoGPT does). Logs train loss and held-out loss/perplexity; saves model,
tokenizer and run_record.json.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from datasets import Dataset
from transformers import Trainer, TrainingArguments, default_data_collator, set_seed
from transformers.trainer_utils import get_last_checkpoint

import alignpipe  # noqa: F401
from alignpipe.core.configs import DataArguments, ModelConfig, parse_stage_args
from alignpipe.core.errors import AlignpipeError, run_cli
from alignpipe.core.modeling import align_with_tokenizer, load_causal_lm, load_tokenizer
from alignpipe.core.runrecord import RunRecord
from alignpipe.core.tokenizers import train_tokenizer
from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM


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
    """Trainer that also logs held-out perplexity next to held-out loss."""

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "eval_loss" in logs:
            logs["eval_perplexity"] = math.exp(min(logs["eval_loss"], 50.0))
        super().log(logs, *args, **kwargs)


def load_texts(args: PretrainArguments) -> tuple[list[str], list[str]]:
    """Training and held-out documents (held-out may be empty: then tokens are split in `pack`)."""
    if args.dataset_mixture:
        from alignpipe.core.data import load_mixture

        dd = load_mixture(args.dataset_mixture, "text", seed=args.dataset_mixture.get("seed", 0))
        return list(dd["train"]["text"]), list(dd["test"]["text"]) if "test" in dd else []
    name = args.dataset_name or "default"
    if name == "default":
        from alignpipe.defaults import load_default

        return list(load_default("text", "train")["text"]), list(load_default("text", "test")["text"])
    if os.path.isfile(name) and name.endswith(".txt"):  # one document, nanoGPT style
        with open(name, encoding="utf-8") as f:
            return [f.read()], []
    from alignpipe.core.data import load_mixture

    dd = load_mixture({"datasets": [{"id": name, "config": args.dataset_config}]}, "text")
    return list(dd["train"]["text"]), list(dd["test"]["text"]) if "test" in dd else []


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
        (PretrainArguments, TrainingArguments, ModelConfig), argv
    )
    set_seed(training_args.seed)
    record = RunRecord(
        "pretrain",
        training_args.output_dir,
        {"script": args, "training": training_args, "model": model_args},
        training_args.seed,
    )

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
    print(
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
    last = get_last_checkpoint(training_args.output_dir) if os.path.isdir(training_args.output_dir) else None
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint or last)
    metrics = trainer.evaluate()
    record.add(
        train_result.metrics, **metrics, n_params=n_params, train_tokens=len(train_blocks) * args.block_size
    )

    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(training_args.output_dir)
        trainer.save_state()
        record.write()
        print(
            f"held-out loss {metrics['eval_loss']:.4f}, perplexity {math.exp(metrics['eval_loss']):.2f}; "
            f"saved to {training_args.output_dir}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
