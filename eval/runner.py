"""`alignpipe eval --model PATH [--ref PATH] [--reward-model PATH] [--suite NAME_OR_YAML] --output DIR`

Evaluates one causal LM checkpoint (MiniGPT or any Transformers model, or a LoRA adapter folder)
and/or one reward model on held-out data, as the suite says (`alignpipe.eval.suite`):

1. perplexity on held-out text;
2. task accuracy on held-out verifiable prompts (chat template + generation prompt, `check_answer`);
3. multiple-choice benchmarks by log-likelihood (acc, acc_norm), and lm-evaluation-harness tasks;
4. the reward model's pairwise accuracy on held-out preference pairs;
5. win rate against the reference judged by the reward model, with its standard error and the
   length-controlled win rate (judgments in AlpacaEval format in DIR/judgments.json);
6. verbosity: lengths, stop reasons, distinct-n, repetition, reward/length correlation, the warning;
7. KL(model || reference) on held-out prompts.

Defaults when the model sits in a run directory (RUN_DIR/<stage>): the reference is RUN_DIR/sft and
the reward model RUN_DIR/reward, when those hold models (`--ref none` / `--reward-model none` turn
them off). A section whose inputs are missing is skipped with its reason recorded in eval.json.

Writes DIR/eval.json (`alignpipe.eval.schema`, documented in docs/eval.md), DIR/samples.jsonl (every prompt
with both responses, scores and lengths), DIR/judgments.json, DIR/report.md, DIR/report.html and
the plots, and prints the path of report.html.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import torch

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import write_json
from alignpipe.eval import benchmarks as bm
from alignpipe.eval import verbosity as vb
from alignpipe.eval.generation import Generation, generate, prompt_ids
from alignpipe.eval.loading import Loaded, load_lm, load_rm, sibling_stage
from alignpipe.eval.schema import SCHEMA_VERSION, digits, label, summary
from alignpipe.eval.suite import HarnessSection, Suite, load_suite


class Recorder:
    """What an evaluation found: metrics, skipped sections with reasons, warnings and timings."""

    def __init__(self):
        self.metrics: dict = {}
        self.skipped: dict[str, str] = {}
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self.per_sample: dict[str, list] = {}

    @contextmanager
    def timed(self, name: str):
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)

    def skip(self, name: str, reason: str) -> None:
        self.skipped[name] = reason

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        print(f"warning: {text}", file=sys.stderr)


# --------------------------------------------------------------------------- data


def load_rows(source: str, kind: str, n: int | None, suite: Suite) -> tuple[list[dict], str]:
    """Held-out rows of `kind` from "default" (the embedded test split) or a local file/folder."""
    if source == "default":
        from alignpipe.defaults import default_rows

        rows, where = default_rows(kind, "test", seed=suite.seed, n=n), f"embedded {kind} data (test split)"
    else:
        from alignpipe.core.data import load_source

        src = load_source({"id": source}, kind, seed=suite.seed, base_dir=suite.base_dir)
        ds = src.test if src.test is not None else src.train
        where = src.test_label if src.test is not None else src.label
        if kind == "text" and str(source).endswith((".txt", ".txt.gz")):
            rows = [{"text": "".join(ds["text"])}]  # a text file's lines keep their breaks: one document
        else:
            rows = ds.select(range(min(n, len(ds)))).to_list() if n is not None else ds.to_list()
    if not rows:
        raise AlignpipeError(f"{where}: no rows to evaluate on")
    return rows, where


def resolve_path(path: str, suite: Suite) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and suite.base_dir is not None:
        p = Path(suite.base_dir) / p
    return p


# --------------------------------------------------------------------------- sections


def run_perplexity(rec: Recorder, lm: Loaded, suite: Suite) -> None:
    section = suite.perplexity
    texts_rows, where = load_rows(section.source, "text", section.max_documents, suite)
    texts = [r["text"] for r in texts_rows]
    result = bm.perplexity(
        lm.model, lm.tokenizer, texts, window=section.window, batch_size=section.batch_size
    )
    rec.metrics["perplexity"] = {**result, "source": where}


def run_multiple_choice(rec: Recorder, lm: Loaded, suite: Suite) -> None:
    out = {}
    for mc in suite.multiple_choice:
        if mc.source == "default":
            rows, where = load_rows("default", "preference", mc.n, suite)
            items = bm.choices_from_preferences(rows, seed=suite.seed)
        else:
            path = resolve_path(mc.source, suite)
            items, where = bm.read_multiple_choice(path)[: mc.n], str(path)
        logliks = bm.choice_logliks(
            lm.model, lm.tokenizer, items, chat=mc.chat, batch_size=suite.generation.batch_size
        )
        out[mc.name] = {
            **bm.multiple_choice_metrics(items, logliks, chat=mc.chat),
            "source": where,
            "chat": mc.chat,
        }
    rec.metrics["multiple_choice"] = out


def run_harness(rec: Recorder, lm: Loaded, section: HarnessSection, suite: Suite, seed: int) -> None:
    from alignpipe.eval.harness import run_harness as harness

    include = str(resolve_path(section.include_path, suite)) if section.include_path else None
    rec.metrics["harness"] = harness(
        lm.model,
        lm.tokenizer,
        section.tasks,
        include_path=include,
        limit=section.limit,
        num_fewshot=section.num_fewshot,
        batch_size=section.batch_size,
        apply_chat_template=section.apply_chat_template,
        seed=seed,
    )


def run_reward_accuracy(rec: Recorder, rm: Loaded, suite: Suite) -> None:
    section = suite.reward_accuracy
    rows, where = load_rows(section.source, "preference", section.n, suite)
    rec.metrics["reward_accuracy"] = {
        **bm.reward_accuracy(rm.model, rm.tokenizer, rows, batch_size=section.batch_size),
        "source": where,
    }


def _stop(g: Generation) -> str:
    return "eos" if g.ended_with_eos else "max_new_tokens" if g.hit_max_new_tokens else "other"


def describe_responses(gens: list[Generation], tokenizer, scores=None) -> dict:
    """Length, stop and repetition statistics of one model's responses (tokens: `tokenizer`)."""
    texts = [g.text for g in gens]
    tokens = vb.token_counts(texts, tokenizer)
    return {
        "length": vb.length_stats(texts, tokenizer),
        "stop": vb.stop_shares([g.ended_with_eos for g in gens], [g.hit_max_new_tokens for g in gens]),
        "distinct_1": vb.distinct_n(texts, 1),
        "distinct_2": vb.distinct_n(texts, 2),
        "repeated_4gram_share": vb.repeated_ngram_share(texts, 4),
        "reward_length_spearman": vb.reward_length_spearman(scores, tokens) if scores is not None else None,
    }


def run_prompts(
    rec: Recorder,
    out_dir: Path,
    lm: Loaded,
    ref: Loaded | None,
    rm: Loaded | None,
    suite: Suite,
    seed: int,
    names: dict[str, str],
) -> list[list[int]]:
    """Generations on held-out prompts and everything measured on them; returns the model's prompt ids."""
    rows, where = load_rows(suite.prompts.source, "prompt", suite.prompts.n, suite)
    conversations = [list(r["prompt"]) for r in rows]
    gen = suite.generation
    with rec.timed("generation_model"):
        model_ids = prompt_ids(lm.tokenizer, conversations)
        model_gens = generate(lm.model, lm.tokenizer, model_ids, gen, seed=seed, desc="model responses")
    ref_gens = None
    if ref is not None:
        with rec.timed("generation_ref"):
            ref_gens = generate(
                ref.model,
                ref.tokenizer,
                prompt_ids(ref.tokenizer, conversations),
                gen,
                seed=seed,
                desc="reference responses",
            )
    model_texts = [g.text for g in model_gens]
    ref_texts = [g.text for g in ref_gens] if ref_gens else None

    graded = all(r.get("answer") is not None for r in rows)
    if graded:
        acc = bm.task_accuracy(rows, model_texts)
        rec.per_sample["model_correct"] = acc.pop("correct")
        acc["source"] = where
        if ref_texts is not None:
            ref_acc = bm.task_accuracy(rows, ref_texts)
            rec.per_sample["ref_correct"] = ref_acc.pop("correct")
            acc["ref_accuracy"] = ref_acc["accuracy"]
            acc["ref_per_task"] = ref_acc["per_task"]
        rec.metrics["task_accuracy"] = acc
    else:
        rec.skip("task_accuracy", f"{where}: rows have no 'answer' to check")

    model_scores = ref_scores = None
    if rm is not None:
        with rec.timed("reward_scoring"):
            model_scores = bm.reward_scores(
                rm.model,
                rm.tokenizer,
                [c + [{"role": "assistant", "content": t}] for c, t in zip(conversations, model_texts)],
            )
            if ref_texts is not None:
                ref_scores = bm.reward_scores(
                    rm.model,
                    rm.tokenizer,
                    [c + [{"role": "assistant", "content": t}] for c, t in zip(conversations, ref_texts)],
                )

    if not suite.win_rate:
        rec.skip("win_rate", "turned off in the suite")
    elif ref_scores is None:
        rec.skip("win_rate", "needs a reference model and a reward model")
    else:
        run_win_rate(rec, out_dir, conversations, ref_texts, model_texts, ref_scores, model_scores, names)

    verbosity = {"model": describe_responses(model_gens, lm.tokenizer, model_scores)}
    if ref_gens is not None:
        verbosity["ref"] = describe_responses(ref_gens, lm.tokenizer, ref_scores)
        verbosity["length_ratio"] = {
            "chars": vb.length_ratio(model_texts, ref_texts, "chars"),
            "words": vb.length_ratio(model_texts, ref_texts, "words"),
            "tokens": vb.length_ratio(model_texts, ref_texts, "tokens", tokenizer=lm.tokenizer),
        }
    verbosity["tokens_counted_with"] = "the evaluated model's tokenizer (for model and reference alike)"
    rec.metrics["verbosity"] = verbosity
    check_verbosity(rec, suite)

    rec.per_sample["model_tokens"] = vb.token_counts(model_texts, lm.tokenizer)
    rec.per_sample["model_stop"] = [_stop(g) for g in model_gens]
    if model_scores is not None:
        rec.per_sample["model_reward"] = model_scores.tolist()
    if ref_gens is not None:
        rec.per_sample["ref_tokens"] = vb.token_counts(ref_texts, lm.tokenizer)
        rec.per_sample["ref_stop"] = [_stop(g) for g in ref_gens]
    if ref_scores is not None:
        rec.per_sample["ref_reward"] = ref_scores.tolist()
    write_samples(out_dir / "samples.jsonl", rows, model_gens, ref_gens, rec.per_sample)
    return model_ids


def run_win_rate(
    rec, out_dir, conversations, ref_texts, model_texts, ref_scores, model_scores, names
) -> None:
    from alignpipe.eval.judgments import judgment_metrics, read_judgments
    from alignpipe.eval.lc_winrate import is_extreme_change

    rows = bm.judgment_rows(
        conversations,
        ref_texts,
        model_texts,
        ref_scores,
        model_scores,
        ref_name=names["ref"],
        model_name=names["model"],
        annotator=f"reward_model:{names['rm']}",
    )
    path = out_dir / "judgments.json"
    write_json(path, rows)  # type: ignore[arg-type]
    metrics = judgment_metrics(read_judgments(path))
    metrics["lc_extreme_change"] = is_extreme_change(metrics["win_rate"], metrics["lc_win_rate"])
    metrics["mean_reward_model"] = float(model_scores.mean())
    metrics["mean_reward_ref"] = float(ref_scores.mean())
    metrics["judgments_file"] = path.name
    rec.metrics["win_rate"] = metrics
    if metrics["lc_extreme_change"]:
        rec.warn(
            f"the length-controlled win rate ({metrics['lc_win_rate']:.1f}%) is far from the raw win rate "
            f"({metrics['win_rate']:.1f}%): the length model extrapolates; read it with care"
        )


def check_verbosity(rec: Recorder, suite: Suite) -> None:
    v, wr = rec.metrics["verbosity"], rec.metrics.get("win_rate")
    ratio = v.get("length_ratio", {}).get("chars")
    if ratio is None:
        return
    if wr is not None:
        text = vb.verbosity_warning(
            ratio, wr["lc_win_rate"], max_ratio=suite.verbosity.max_ratio, margin=suite.verbosity.margin
        )
        if text:
            rec.warn(text)
    elif ratio > suite.verbosity.max_ratio:
        rec.warn(
            f"verbosity: responses are {ratio:.2f}x the reference length (threshold "
            f"{suite.verbosity.max_ratio:.2f}x); without a reward-model win rate it cannot be told whether "
            f"the extra length buys quality"
        )


def run_kl(
    rec: Recorder, lm: Loaded, ref: Loaded, model_ids: list[list[int]], suite: Suite, seed: int
) -> None:
    if lm.tokenizer.get_vocab() != ref.tokenizer.get_vocab():
        rec.skip("kl", "the model and the reference have different vocabularies")
        return
    section = suite.kl
    prompts = model_ids[: section.n_prompts]
    rec.metrics["kl"] = bm.kl_divergence(
        lm.model,
        ref.model,
        lm.tokenizer,
        prompts,
        max_new_tokens=section.max_new_tokens or suite.generation.max_new_tokens,
        samples_per_prompt=section.samples_per_prompt,
        batch_size=suite.generation.batch_size,
        seed=seed,
    )


def write_samples(path: Path, rows, model_gens, ref_gens, per_sample) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, (row, g) in enumerate(zip(rows, model_gens)):
            rec = {
                "prompt": bm.instruction_text(row["prompt"]),
                "task": row.get("task"),
                "answer": row.get("answer"),
                "model": g.text,
            }
            if ref_gens is not None:
                rec["ref"] = ref_gens[i].text
            for key, values in per_sample.items():
                rec[key] = values[i]
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- the command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alignpipe eval",
        description="Evaluate a causal LM checkpoint (and/or a reward model) on held-out data: perplexity, task "
        "accuracy, multiple choice, reward accuracy, win rate vs a reference, verbosity and KL. "
        "`alignpipe eval judgments FILE` scores an AlpacaEval judgments file instead.",
    )
    p.add_argument("--model", help="causal LM: a checkpoint folder, a LoRA adapter folder, or a Hub id")
    p.add_argument(
        "--ref",
        help="reference model for win rate, length ratio and KL (default: RUN_DIR/sft when "
        "--model is RUN_DIR/<stage>; 'none' for no reference)",
    )
    p.add_argument(
        "--reward-model",
        help="reward model that judges (default: RUN_DIR/reward when --model is "
        "RUN_DIR/<stage>; 'none' for no reward model)",
    )
    p.add_argument(
        "--suite", default="default", help="a packaged suite name (default, quick) or a suite .yaml"
    )
    p.add_argument("--output", "-o", required=True, help="folder for eval.json, the report and the plots")
    p.add_argument("--max-samples", type=int, help="cap every section's number of samples")
    p.add_argument("--harness-tasks", help="comma-separated lm-evaluation-harness tasks, e.g. mmlu,arc_easy")
    p.add_argument("--harness-include", help="folder of extra lm-eval task YAMLs (local tasks)")
    p.add_argument("--device", help="cpu, cuda, cuda:1... (default: cuda when available)")
    p.add_argument("--dtype", default="float32", help="weights dtype: float32 (default), bfloat16, float16")
    p.add_argument("--seed", type=int, help="overrides the suite's seed")
    p.add_argument("--no-report", action="store_true", help="write eval.json only (no report or plots)")
    return p


def _choose(given: str | None, model: str | None, stage: str) -> tuple[str | None, str | None]:
    """(path, how it was chosen) for --ref / --reward-model."""
    if given is not None:
        return (None, None) if given.lower() == "none" else (given, "given")
    found = sibling_stage(model, stage) if model else None
    return (found, f"auto: the run's {stage} stage") if found else (None, None)


def evaluate(args: argparse.Namespace) -> dict:
    """Run the suite on the models `args` names; write the output folder; return eval.json's content."""
    if not args.model and not args.reward_model:
        raise AlignpipeError("give --model (a causal LM to evaluate), --reward-model, or both")
    suite = load_suite(args.suite)
    suite.cap(args.max_samples)
    if args.harness_tasks:
        tasks = [t.strip() for t in args.harness_tasks.split(",") if t.strip()]
        suite.harness = suite.harness or HarnessSection()
        suite.harness.tasks = list(dict.fromkeys(suite.harness.tasks + tasks))
        if args.max_samples is not None:
            suite.harness.limit = min(suite.harness.limit or args.max_samples, args.max_samples)
    if args.harness_include:
        suite.harness = suite.harness or HarnessSection()
        suite.harness.include_path = str(Path(args.harness_include).resolve())
    seed = suite.seed if args.seed is None else args.seed
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)

    ref_path, ref_source = _choose(args.ref, args.model, "sft") if args.model else (None, None)
    rm_path, rm_source = _choose(args.reward_model, args.model, "reward")
    if ref_path and args.model and Path(ref_path).resolve() == Path(args.model).resolve():
        ref_path, ref_source = None, "the reference is the model itself"
    rec = Recorder()
    with rec.timed("loading"):
        lm = load_lm(args.model, device=device, dtype=args.dtype) if args.model else None
        ref = load_lm(ref_path, device=device, dtype=args.dtype, what="reference model") if ref_path else None
        rm = load_rm(rm_path, device=device, dtype=args.dtype) if rm_path else None
    for what, path, how in (("reference", ref_path, ref_source), ("reward model", rm_path, rm_source)):
        if path:
            print(f"{what}: {path} ({how})", file=sys.stderr)
    names = {"model": args.model or "", "ref": ref_path or "", "rm": rm_path or ""}

    no_model = "no --model given"
    if suite.perplexity is None:
        rec.skip("perplexity", "not in the suite")
    elif lm is None:
        rec.skip("perplexity", no_model)
    else:
        with rec.timed("perplexity"):
            run_perplexity(rec, lm, suite)
    if suite.multiple_choice and lm is not None:
        with rec.timed("multiple_choice"):
            run_multiple_choice(rec, lm, suite)
    if suite.harness is not None and suite.harness.tasks:
        if lm is None:
            rec.skip("harness", no_model)
        else:
            with rec.timed("harness"):
                run_harness(rec, lm, suite.harness, suite, seed)
    model_ids = None
    if suite.prompts is None:
        for name in ("task_accuracy", "win_rate", "verbosity"):
            rec.skip(name, "the suite has no prompts section")
    elif lm is None:
        for name in ("task_accuracy", "win_rate", "verbosity"):
            rec.skip(name, no_model)
    else:
        with rec.timed("prompts"):
            model_ids = run_prompts(rec, out_dir, lm, ref, rm, suite, seed, names)
    if suite.kl is None:
        rec.skip("kl", "not in the suite")
    elif lm is None or ref is None:
        rec.skip("kl", "needs --model and a reference model")
    else:
        if model_ids is None:
            rows, _ = load_rows(
                suite.prompts.source if suite.prompts else "default", "prompt", suite.kl.n_prompts, suite
            )
            model_ids = prompt_ids(lm.tokenizer, [list(r["prompt"]) for r in rows])
        with rec.timed("kl"):
            run_kl(rec, lm, ref, model_ids, suite, seed)
    if suite.reward_accuracy is None:
        rec.skip("reward_accuracy", "not in the suite")
    elif rm is None:
        rec.skip("reward_accuracy", "no reward model")
    else:
        with rec.timed("reward_accuracy"):
            run_reward_accuracy(rec, rm, suite)

    from alignpipe import __version__

    data = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "alignpipe_version": __version__,
        "model": lm.info if lm else None,
        "ref": ref.info if ref else None,
        "ref_source": ref_source,
        "reward_model": rm.info if rm else None,
        "reward_model_source": rm_source,
        "suite": suite.to_dict(),
        "generation": suite.to_dict()["generation"],
        "seed": seed,
        "max_samples": args.max_samples,
        "device": device,
        "dtype": args.dtype,
        "metrics": rec.metrics,
        "summary": summary(rec.metrics),
        "per_sample": rec.per_sample,
        "skipped": rec.skipped,
        "warnings": rec.warnings,
        "timings_s": rec.timings,
        "files": {},
    }
    for name in ("samples.jsonl", "judgments.json"):
        if (out_dir / name).is_file() and (name != "judgments.json" or "win_rate" in rec.metrics):
            data["files"][name.split(".")[0]] = name
    if not args.no_report:
        from alignpipe.eval.report import write_eval_report

        data["files"].update(write_eval_report(out_dir, data))
    data["files"]["eval"] = "eval.json"
    write_json(out_dir / "eval.json", data)
    return data


def print_summary(data: dict, out_dir: Path) -> None:
    from alignpipe.eval.render import fmt

    values = data["summary"]
    width = max((len(label(k)) for k in values), default=10)
    for key, value in values.items():
        print(f"  {label(key):<{width}}  {fmt(value, digits(key)):>10}")
    for name, reason in data["skipped"].items():
        print(f"  (skipped {name}: {reason})")
    print(f"eval.json: {out_dir / 'eval.json'}")
    if "report_html" in data["files"]:
        print(f"report: {(out_dir / data['files']['report_html']).resolve()}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data = evaluate(args)
    print_summary(data, Path(args.output))
    return 0
