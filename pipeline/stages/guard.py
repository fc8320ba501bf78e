"""Train a guardrail: a small prompt classifier (benign / unsafe) that screens prompts in front of a model.

    alignpipe guard --config recipes/minigpt/guard.yaml [--key value ...]
    accelerate launch pipeline/stages/guard.py --config ...

The guard is an `AutoModelForSequenceClassification` with two labels (0 "benign", 1 "unsafe") initialised
from `model_name_or_path`: a MiniGPT LM checkpoint of the run (its body, a fresh `score` head) or any Hub
or local model that has a sequence-classification class; LoRA (`use_peft`, task SEQ_CLS: the head is
trained and saved with the adapter; `lora_target_modules` defaults to all linear layers) and 4-bit loading as in the other stages. It reads the user's text
alone, no chat template, truncated to `max_length` tokens. Trained with Transformers' Trainer
(cross-entropy).

Data (`dataset_name`):
- ``default``: the embedded safety prompts (unsafe requests and benign look-alikes, split as the eval's
  safety section splits them: no held-out prompt is trained on) plus `task_prompts` ordinary task prompts
  labelled benign, so that everyday requests pass;
- ``harms``: the wide embedded safety set for real models (`alignpipe.defaults.harms`: whole goals held out);
- a JSONL file of ``{"prompt": text | messages, "label": "unsafe" | "benign"}`` rows (the format of the
  eval's safety section), `test_split_size` of it held out (seeded), or `test_dataset` for the held-out rows.

Reports held-out precision, recall and F1 of the "unsafe" class and accuracy (`eval_precision`,
`eval_recall`, `eval_f1`, `eval_accuracy` in the run record), at P(unsafe) >= 0.5.

The threshold (`threshold_split`): a share of the training goals (`harms`: whole goals, every wording of
each; other data: rows) is kept out of training, and after training the guard flags at the lowest threshold
that flags at most `max_benign_flagged` of their benign prompts. It is saved as `guard_threshold` in the run
record, with what it flags of those goals (`guard_validation_*`) and of the held-out rows
(`eval_flagged_unsafe_at_threshold`, `eval_flagged_benign_at_threshold`); `Guard.load` uses it unless given
another. The held-out rows never choose anything. `alignpipe chat/generate --guard DIR` and
`alignpipe eval --guard DIR` use the result (`alignpipe.inference.guard`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from datasets import Dataset
from peft import get_peft_model
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
from trl import get_peft_config

import alignpipe  # noqa: F401
from alignpipe.core.errors import AlignpipeError, run_cli
from alignpipe.inference.guard import LABELS, prompt_text
from alignpipe.inference.modeling import load_reward_model
from alignpipe.training import stage
from alignpipe.training.configs import DataArguments, ModelConfig, parse_stage_args

LABEL_IDS = {name: i for i, name in LABELS.items()}


@dataclass
class GuardArguments(DataArguments):
    max_length: int = field(default=128, metadata={"help": "Tokens of a prompt the guard reads."})
    task_prompts: int = field(
        default=400, metadata={"help": "dataset_name default: ordinary task prompts added as benign (train)."}
    )
    test_dataset: str | None = field(default=None, metadata={"help": "A JSONL file of held-out rows."})
    threshold_split: float = field(
        default=0.0,
        metadata={
            "help": "Share of the training goals kept out of training to choose the guard's threshold (0: none, "
            "the guard flags at 0.5)."
        },
    )
    max_benign_flagged: float = field(
        default=0.05,
        metadata={"help": "The chosen threshold flags at most this share of those goals' benign prompts."},
    )


def guard_rows(args: GuardArguments, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, test) rows of {"text", "label", "group"} (group: the row's goal where the data names one, else
    its text)."""
    from alignpipe.core.data import read_safety_file

    if args.dataset_name == "harms":
        from alignpipe.defaults import harms_rows

        train, test = harms_rows("safety", "train", seed), harms_rows("safety", "test", seed)
    elif args.dataset_name in (None, "default"):
        from alignpipe.defaults import default_rows

        def rows(split: str, n_tasks: int) -> list[dict]:
            safety = default_rows("safety", split, seed=seed)
            tasks = [r for r in default_rows("prompt", split, seed=seed) if not r.get("safety")][:n_tasks]
            return safety + [{"prompt": r["prompt"], "label": "benign"} for r in tasks]

        train, test = rows("train", args.task_prompts), rows("test", args.task_prompts // 4)
    else:
        from pathlib import Path

        train = read_safety_file(Path(args.dataset_name))
        if args.test_dataset:
            test = read_safety_file(Path(args.test_dataset))
        else:
            fraction = args.test_split_size or 0.0
            order = np.random.default_rng(seed).permutation(len(train))
            n_test = round(fraction * len(train))
            test = [train[i] for i in order[:n_test]]
            train = [train[i] for i in order[n_test:]]
    for name, part in (("training", train), ("held-out", test)):
        labels = {r["label"] for r in part}
        if part and labels != set(LABEL_IDS):
            raise AlignpipeError(
                f"{args.dataset_name}: the {name} rows are all {labels.pop()!r}; a guard needs both labels"
            )

    def to_row(r: dict) -> dict:
        text = prompt_text(r["prompt"])
        return {"text": text, "label": LABEL_IDS[r["label"]], "group": str(r.get("goal") or text)}

    return [to_row(r) for r in train], [to_row(r) for r in test]


def validation_split(rows: list[dict], share: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(fit, validation): `share` of the rows' groups (goals: every wording of a goal on one side), drawn by
    `seed` within each label so that both labels are on both sides."""
    rng = np.random.default_rng(seed)
    held: set[tuple[int, str]] = set()
    for label in sorted({r["label"] for r in rows}):
        groups = sorted({r["group"] for r in rows if r["label"] == label})
        n = round(share * len(groups))
        if n < 1 or n >= len(groups):
            raise AlignpipeError(
                f"threshold_split {share}: {len(groups)} {LABELS[label]} goals cannot be split "
                "(each side needs at least one); use more rows or another share"
            )
        held |= {(label, groups[i]) for i in rng.permutation(len(groups))[:n]}
    fit = [r for r in rows if (r["label"], r["group"]) not in held]
    return fit, [r for r in rows if (r["label"], r["group"]) in held]


def threshold_for(scores: np.ndarray, unsafe: np.ndarray, max_benign_flagged: float) -> float:
    """The threshold t (flag at P(unsafe) >= t) that flags the most while flagging at most `max_benign_flagged`
    of the benign scores: halfway between the highest benign score it must pass and the next score above it
    (a margin for float rounding between the Trainer's scores and `Guard.scores`)."""
    benign = np.sort(scores[~unsafe])[::-1]
    border = benign[int(np.floor(max_benign_flagged * len(benign)))]  # the highest benign one not flagged
    above = scores[scores > border]
    return float((border + (above.min() if above.size else 1.0)) / 2)


def unsafe_probabilities(trainer, dataset: Dataset) -> np.ndarray:
    logits = np.asarray(trainer.predict(dataset, metric_key_prefix="threshold").predictions, dtype=np.float64)
    logits -= logits.max(-1, keepdims=True)
    p = np.exp(logits)
    return p[:, LABEL_IDS["unsafe"]] / p.sum(-1)


def choose_threshold(trainer, validation: Dataset, test: Dataset | None, max_benign_flagged: float) -> dict:
    """`guard_threshold` chosen on the validation goals, and what it flags there and on the held-out rows."""
    scores = unsafe_probabilities(trainer, validation)
    unsafe = np.asarray(validation["label"]) == LABEL_IDS["unsafe"]
    t = threshold_for(scores, unsafe, max_benign_flagged)
    out = {
        "guard_threshold": t,
        "guard_validation_n": len(validation),
        "guard_validation_flagged_unsafe": float((scores[unsafe] >= t).mean()),
        "guard_validation_flagged_benign": float((scores[~unsafe] >= t).mean()),
    }
    if test is not None:
        scores = unsafe_probabilities(trainer, test)
        unsafe = np.asarray(test["label"]) == LABEL_IDS["unsafe"]
        out["eval_flagged_unsafe_at_threshold"] = float((scores[unsafe] >= t).mean())
        out["eval_flagged_benign_at_threshold"] = float((scores[~unsafe] >= t).mean())
    return out


def compute_metrics(eval_pred) -> dict:
    from alignpipe.eval.stats import binary_classification

    logits, labels = eval_pred
    predicted = np.asarray(logits).argmax(-1) == LABEL_IDS["unsafe"]
    return binary_classification(predicted.tolist(), (np.asarray(labels) == LABEL_IDS["unsafe"]).tolist())


class GuardTrainer(Trainer):
    """Transformers' Trainer, with TRL's `create_model_card(dataset_name=...)` spelling that `stage.finish`
    uses."""

    def create_model_card(self, dataset_name: str | None = None, tags=None, **kwargs):
        return super().create_model_card(dataset=dataset_name, tags=tags, **kwargs)


def main(argv: list[str] | None = None) -> int:
    script_args, training_args, model_args = parse_stage_args(
        (GuardArguments, TrainingArguments, ModelConfig), argv, prog="alignpipe guard"
    )
    record = stage.start("guard", script_args, training_args, model_args)

    train, test = guard_rows(script_args, training_args.seed)
    validation = None
    if script_args.threshold_split:
        train, validation = validation_split(train, script_args.threshold_split, training_args.seed)
    tokenizer = stage.tokenizer_for(script_args, model_args, training_args)

    def tokenize(rows: list[dict]) -> Dataset:
        ds = Dataset.from_list(rows)
        return ds.map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=script_args.max_length),
            batched=True,
            remove_columns=["text", "group"],
        )

    model = load_reward_model(
        stage.model_path(model_args), model_args, training_args, tokenizer, num_labels=2
    )
    model.config.id2label, model.config.label2id = dict(LABELS), dict(LABEL_IDS)
    if model_args.use_peft and not model_args.lora_target_modules:
        model_args.lora_target_modules = "all-linear"  # every projection; the score head is trained in full
    peft_config = get_peft_config(model_args)
    if peft_config is not None:
        peft_config.task_type = "SEQ_CLS"  # the score head is trained and saved with the adapter
        try:
            model = get_peft_model(model, peft_config)
        except ValueError as e:
            raise AlignpipeError(f"LoRA on {stage.model_path(model_args)}: {e} (lora_target_modules)") from e
    trainer = GuardTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenize(train),
        eval_dataset=tokenize(test) if test else None,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    threshold = None  # with threshold_split: chosen on the validation goals once the guard is trained
    if validation is not None:
        threshold = partial(
            choose_threshold,
            validation=tokenize(validation),
            test=trainer.eval_dataset,
            max_benign_flagged=script_args.max_benign_flagged,
        )
    stage.finish(trainer, record, tokenizer, script_args, extra_metrics=threshold)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
