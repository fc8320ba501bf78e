"""Model cards for published stages, made with huggingface_hub's ModelCard / ModelCardData / EvalResult.

`model_card(...)` returns a `ModelCard` whose YAML metadata holds base_model, datasets, library_name,
license, tags, pipeline_tag and a `model-index` with the run's eval results (the `summary` of
RUN_DIR/eval/<stage>/eval.json, see eval/schema.py), and whose body states how the model was made:
the chain of stages that led to it (read from each stage's run_record.json, following
`model_name_or_path` back through local folders), this stage's resolved recipe, the evaluation
table and the verbosity figures (response length, eos share, repetition, length ratio to the
reference), and how to load it. Nothing in a card comes from the environment: no token can enter it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from alignpipe.core.io import looks_like_hub_id
from alignpipe.core.registry import STAGES
from alignpipe.core.runrecord import read_record
from alignpipe.eval.schema import VERBOSITY  # the metric table's verbosity group

#: Tags each stage adds to a card (and to every card of a model trained from it): the stage registry's.
STAGE_TAGS = {s.name: list(s.tags) for s in STAGES}
#: Section of a suite each summary metric comes from, to name its data set in the model-index.
_SECTION = {"perplexity": "perplexity", "bits_per_byte": "perplexity", "reward_accuracy": "reward_accuracy"}
_RECIPE_KEYS = (
    "learning_rate",
    "max_steps",
    "num_train_epochs",
    "total_episodes",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "beta",
    "loss_type",
    "kl_coef",
    "max_length",
    "block_size",
    "use_peft",
    "lora_r",
    "seed",
)


@dataclass
class Lineage:
    """The stages that led to a model, oldest first, from their run records."""

    records: list[dict] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)  # the stage folders of `records`
    base_model: str | None = None  # the Hub model the chain started from (None: trained from scratch)

    @property
    def stages(self) -> list[str]:
        return [r.get("stage", "?") for r in self.records]


def is_hub_id(value) -> bool:
    """A namespaced Hub repo (`org/name`, the form card metadata links), by core.io's one Hub-id rule."""
    return isinstance(value, str) and "/" in value and looks_like_hub_id(value) and not Path(value).exists()


def lineage(stage_dir: Path, limit: int = 10) -> Lineage:
    """Follow `model_name_or_path` from `stage_dir` back through local stage folders with run records."""
    out, here = Lineage(), Path(stage_dir)
    for _ in range(limit):
        rec = read_record(here)
        if rec is None:
            break
        out.records.insert(0, rec)
        out.dirs.insert(0, here)
        parent = (rec.get("config", {}).get("model") or {}).get("model_name_or_path")
        if not parent:
            break
        if Path(parent).is_dir():
            here = Path(parent)
            continue
        if is_hub_id(parent):
            out.base_model = parent
        break
    return out


def hub_datasets(records: list[dict]) -> list[str]:
    """Hub data set ids the stages trained on (local files and the embedded data are not Hub data sets)."""
    ids = []
    for rec in records:
        script = rec.get("config", {}).get("script") or {}
        names = [script.get("dataset_name")]
        mixture = script.get("dataset_mixture")
        if isinstance(mixture, dict):
            names += [d.get("id") for d in mixture.get("datasets", []) if isinstance(d, dict)]
        ids += [n for n in names if is_hub_id(n) and n not in ids]
    return ids


def tags_for(stages: list[str], extra: list[str] = ()) -> list[str]:
    tags = ["alignpipe"]
    for s in stages:
        tags += STAGE_TAGS.get(s, [])
    tags += list(extra)
    return list(dict.fromkeys(tags))


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def eval_results(evaluation: dict | None) -> list[EvalResult]:
    """One EvalResult per finite summary metric of an eval.json (standard errors left out)."""
    if not evaluation:
        return []
    suite = (evaluation.get("suite") or {}).get("name") or "default"
    out = []
    for name, value in (evaluation.get("summary") or {}).items():
        value = _number(value)
        if value is None or name.endswith(("_se", "stderr")):
            continue
        parts = name.split("/")
        if parts[0] == "harness" and len(parts) >= 3:
            dataset_type = dataset_name = parts[1]
        else:
            section = parts[1] if parts[0] == "mc" and len(parts) >= 3 else _SECTION.get(name, "prompts")
            dataset_type = f"alignpipe-{section.replace('_', '-')}"
            dataset_name = f"alignpipe held-out {section.replace('_', ' ')} (suite {suite})"
        out.append(
            EvalResult(
                task_type="text-generation",
                dataset_type=dataset_type,
                dataset_name=dataset_name,
                metric_type=name,
                metric_name=_label(name),
                metric_value=value,
            )
        )
    return out


def _label(name: str) -> str:
    try:
        from alignpipe.eval.schema import label
    except ImportError:
        return name
    return label(name)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def _stage_table(lin: Lineage) -> list[str]:
    rows = [
        "| stage | started from | data | steps | train loss | held-out loss |",
        "|---|---|---|---|---|---|",
    ]
    for rec, folder in zip(lin.records, lin.dirs):
        cfg = rec.get("config", {})
        start = (cfg.get("model") or {}).get("model_name_or_path") or "scratch"
        start = Path(start).name if Path(start).exists() else start
        script = cfg.get("script") or {}
        data = script.get("dataset_name") or ("mixture" if script.get("dataset_mixture") else "-")
        data = data if is_hub_id(data) or data in ("default", "mixture", "-") else Path(data).name
        m = rec.get("metrics", {})
        steps = _global_step(folder)
        rows.append(
            f"| {rec.get('stage')} | {start} | {data} | {_fmt(steps)} | "
            f"{_fmt(m.get('train_loss'))} | {_fmt(m.get('eval_loss'))} |"
        )
    return rows


def _global_step(folder: Path) -> int | None:
    try:
        return json.loads((folder / "trainer_state.json").read_text()).get("global_step")
    except (OSError, json.JSONDecodeError):
        return None


def _recipe_block(recipe: dict | None, record: dict | None, run_dir: Path | None) -> list[str]:
    if recipe is None and record is not None:  # a stage run by hand: its key settings from the record
        training = (record.get("config") or {}).get("training") or {}
        script = (record.get("config") or {}).get("script") or {}
        recipe = {k: v for k, v in {**script, **training}.items() if k in _RECIPE_KEYS and v is not None}
    if not recipe:
        return ["(no recipe recorded)"]
    text = yaml.safe_dump(recipe, sort_keys=False).rstrip()
    if run_dir is not None:
        text = text.replace(str(run_dir.resolve()), "RUN_DIR")
    return ["```yaml", text, "```"]


def _eval_section(evaluation: dict | None, ref: str | None) -> list[str]:
    if not evaluation:
        return ["No evaluation of this model was found in the run (RUN_DIR/eval/<stage>/eval.json)."]
    summary = evaluation.get("summary") or {}
    suite = (evaluation.get("suite") or {}).get("name") or "?"
    lines = [
        f"`alignpipe eval` with the `{suite}` suite"
        + (f", against the reference `{ref}`" if ref else "")
        + ".",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {_label(k)} | {_fmt(_number(v))} |" for k, v in summary.items() if k not in VERBOSITY]
    lines += ["", "### Verbosity", ""]
    figures = [(k, summary[k]) for k in VERBOSITY if k in summary]
    if figures:
        lines += ["| figure | value |", "|---|---|"] + [
            f"| {_label(k)} | {_fmt(_number(v))} |" for k, v in figures
        ]
    else:
        lines.append("The evaluation measured no verbosity figures.")
    warnings = [w for w in evaluation.get("warnings") or [] if isinstance(w, str)]
    if warnings:
        lines += [""] + [f"> warning: {w}" for w in warnings]
    return lines


def _usage(repo_id: str, adapter_base: str | None, classifier: bool = False) -> list[str]:
    if classifier and not adapter_base:  # a reward model: one score per conversation
        return [
            "```python",
            "import torch",
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "",
            f'model = AutoModelForSequenceClassification.from_pretrained("{repo_id}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
            (
                'messages = [{"role": "user", "content": "What is 2 + 3?"}, '
                '{"role": "assistant", "content": "5"}]'
            ),
            'inputs = tokenizer.apply_chat_template(messages, return_tensors="pt", return_dict=True)',
            "with torch.no_grad():",
            "    print(model(**inputs).logits[0, 0].item())  # the reward: higher is better",
            "```",
        ]
    if adapter_base:
        load = [
            f'model = AutoPeftModelForCausalLM.from_pretrained("{repo_id}")  # base: {adapter_base}',
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
        ]
        imports = "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer"
    else:
        load = [
            f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
        ]
        imports = "from transformers import AutoModelForCausalLM, AutoTokenizer"
    return [
        "```python",
        imports,
        "",
        *load,
        'messages = [{"role": "user", "content": "What is 2 + 3?"}]',
        (
            'inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",'
            " return_dict=True)"
        ),
        "out = model.generate(**inputs, max_new_tokens=32)",
        'print(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))',
        "```",
    ]


def model_card(
    *,
    repo_id: str,
    stage: str,
    stage_dir: Path,
    evaluation: dict | None,
    license: str,
    library_name: str = "transformers",
    pipeline_tag: str = "text-generation",
    base_model: str | None = None,
    adapter_base: str | None = None,
    recipe: dict | None = None,
    architecture: str | None = None,
    extra_tags: list[str] = (),
) -> ModelCard:
    """The card of `stage_dir` published as `repo_id`. `base_model` overrides the one found by `lineage`."""
    lin = lineage(stage_dir)
    stages = lin.stages or [stage]
    base = base_model or adapter_base or lin.base_model
    data = ModelCardData(
        model_name=repo_id.split("/")[-1],
        base_model=base,
        datasets=hub_datasets(lin.records) or None,
        library_name=library_name,
        license=license,
        pipeline_tag=pipeline_tag,
        tags=tags_for(stages, extra_tags),
        eval_results=eval_results(evaluation) or None,
    )
    record = lin.records[-1] if lin.records else None
    run_dir = stage_dir.parent if (stage_dir.parent / "manifest.json").is_file() else None
    ref = None
    if evaluation and isinstance(evaluation.get("ref"), dict):
        ref = Path(str(evaluation["ref"].get("path", ""))).name or None
    chain = " -> ".join(stages)
    origin = f"fine-tuned from [{base}](https://huggingface.co/{base})" if base else "trained from scratch"
    body = [
        f"# {repo_id.split('/')[-1]}",
        "",
        (
            f"A {architecture or 'causal language model'} made by the **{stage}** stage of an alignpipe run, "
            f"{origin}. Stages: {chain}."
        ),
        "",
        "## Training",
        "",
        "Stages that led to this model, oldest first (from their run records):",
        "",
        *_stage_table(lin),
        "",
        f"Recipe of the {stage} stage"
        + (" (as resolved by `alignpipe run`; RUN_DIR is the run directory)" if recipe is not None else "")
        + ":",
        "",
        *_recipe_block(recipe, record, run_dir),
        "",
        "## Evaluation",
        "",
        *_eval_section(evaluation, ref),
        "",
        "## Usage",
        "",
        *_usage(repo_id, adapter_base, pipeline_tag == "text-classification"),
        "",
    ]
    if record and record.get("versions"):
        body += ["## Framework versions", ""] + [f"- {k}: {v}" for k, v in record["versions"].items()] + [""]
    content = f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)
    return ModelCard(content)
