"""lm-evaluation-harness on the checkpoint `alignpipe eval` already loaded (optional extra `lm-eval`).

`run_harness` wraps the loaded model and tokenizer in lm-eval's `HFLM` (a LoRA adapter is passed
as its base model with the adapter layers in place, so the harness scores the adapted model) and
calls `lm_eval.simple_evaluate`. Task names are the harness's own (``mmlu``, ``arc_easy``,
``arc_challenge``, ``hellaswag``, ``truthfulqa_mc2``, ``ifeval``, ``gsm8k``...); they download
their data from the Hugging Face Hub, so they need Hub access. ``include_path`` adds a folder of
task YAMLs, e.g. a local task:

```yaml
task: my_local_mc
dataset_path: json
dataset_kwargs: {data_files: {test: /abs/path/questions.jsonl}}
test_split: test
output_type: multiple_choice
doc_to_text: "{{question}}"
doc_to_choice: "{{choices}}"
doc_to_target: answer
metric_list: [{metric: acc}, {metric: acc_norm}]
```

The result per task is ``{metric: value}`` with lm-eval's ``metric,filter`` keys shortened to the
metric name for the default ``none`` filter (``acc``, ``acc_stderr``, ``exact_match,strict-match``).
"""

from __future__ import annotations

import math

from alignpipe.core.errors import AlignpipeError

INSTALL_HINT = "install lm-evaluation-harness: pip install 'alignpipe[lm-eval]'"


def available() -> bool:
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        return False
    return True


def _clean(task_result: dict) -> dict[str, float]:
    out = {}
    for key, value in task_result.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        name = key.removesuffix(",none")
        out[name] = float(value) if not (isinstance(value, float) and math.isnan(value)) else math.nan
    return out


def run_harness(
    model,
    tokenizer,
    tasks: list[str],
    *,
    include_path: str | None = None,
    limit: int | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 8,
    apply_chat_template: bool = False,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """{task: {metric: value}} from lm-evaluation-harness for the given model and tokenizer."""
    if not tasks:
        return {}
    try:
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise AlignpipeError(
            f"harness tasks {', '.join(tasks)} need lm-evaluation-harness ({e}); {INSTALL_HINT}"
        ) from None
    if hasattr(model, "get_base_model"):  # a PeftModel: its base holds the (active) LoRA layers
        model = model.get_base_model()
    max_length = getattr(model.config, "max_position_embeddings", None)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length)
    # Indexing the harness's own ~10k task YAMLs takes a while: skip it when the local folder has them all.
    manager = TaskManager(include_path=include_path, include_defaults=False) if include_path else None
    if manager is None or not set(tasks) <= set(manager.all_tasks):
        manager = TaskManager(include_path=include_path)
    try:
        results = simple_evaluate(
            model=lm,
            tasks=list(tasks),
            task_manager=manager,
            limit=limit,
            num_fewshot=num_fewshot,
            apply_chat_template=apply_chat_template,
            log_samples=False,
            bootstrap_iters=0,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    except Exception as e:  # unknown task, no Hub access, a bad task YAML: all the user's to fix
        raise AlignpipeError(
            f"lm-evaluation-harness could not run tasks {', '.join(tasks)}: {type(e).__name__}: {e}"
        ) from e
    if results is None:  # not the main process
        return {}
    return {task: _clean(res) for task, res in results["results"].items()}


def run(ctx) -> None:
    from alignpipe.eval.context import resolve_path

    section = ctx.suite.harness
    include = str(resolve_path(section.include_path, ctx.suite)) if section.include_path else None
    ctx.rec.metrics["harness"] = run_harness(
        ctx.lm.model,
        ctx.lm.tokenizer,
        section.tasks,
        include_path=include,
        limit=section.limit,
        num_fewshot=section.num_fewshot,
        batch_size=section.batch_size,
        apply_chat_template=section.apply_chat_template,
        seed=ctx.seed,
    )
