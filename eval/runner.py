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
them off). A section whose inputs are missing is skipped with its reason recorded in eval.json. Each section is a
module of `alignpipe.eval.sections`, one entry in its `SECTIONS` table, which `evaluate` walks in order.

Writes DIR/eval.json (`alignpipe.eval.schema`, documented in docs/eval.md), DIR/samples.jsonl (every prompt
with both responses, scores and lengths), DIR/judgments.json, DIR/report.md, DIR/report.html and
the plots, and prints the path of report.html.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import torch

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import atomic_open, replacing_dir, write_json
from alignpipe.core.log import echo
from alignpipe.eval.context import Context, Recorder, Responses
from alignpipe.eval.schema import SCHEMA_VERSION, digits, label, summary
from alignpipe.eval.sections import SECTIONS
from alignpipe.eval.suite import HarnessSection, load_suite
from alignpipe.inference.generation import message_text
from alignpipe.inference.guard import Guard, check_threshold
from alignpipe.inference.loading import load_lm, load_rm, sibling_stage


def write_samples(path: Path, responses: Responses, per_sample: dict[str, list]) -> None:
    """DIR/samples.jsonl: one line per held-out prompt with both answers and every per-sample figure."""
    with atomic_open(path) as f:
        for i, (row, g) in enumerate(zip(responses.rows, responses.model)):
            line = {
                "prompt": message_text(row["prompt"]),
                "task": row.get("task"),
                "answer": row.get("answer"),
                "model": g.text,
            }
            if responses.ref is not None:
                line["ref"] = responses.ref[i].text
            for key, values in per_sample.items():
                line[key] = values[i]
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- the command


def _choose(given: str | None, model: str | None, stage: str) -> tuple[str | None, str | None]:
    """(path, how it was chosen) for --ref / --reward-model."""
    if given is not None:
        return (None, None) if given.lower() == "none" else (given, "given")
    found = sibling_stage(model, stage) if model else None
    return (found, f"auto: the run's {stage} stage") if found else (None, None)


def _suite(args: argparse.Namespace):
    """The suite `args` names, capped by --max-samples, with --harness-tasks / --harness-include added."""
    suite = load_suite(args.suite or "default")
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
    return suite


def _run_sections(ctx: Context) -> None:
    """Every section of the table the suite configures, in order; bad inputs stop before anything generates."""
    for section in SECTIONS:
        if section.check is not None and section.why_not(ctx) is None:
            section.check(ctx)
    for section in SECTIONS:
        reason = section.why_not(ctx)
        if reason is not None:
            ctx.rec.skip(section.name, reason)
        elif section.configured(ctx.suite):
            with ctx.rec.timed(section.name):
                section.run(ctx)


def evaluate(args: argparse.Namespace) -> dict:
    """Run the suite on the models `args` names; write the output folder; return eval.json's content."""
    if not args.model and not args.reward_model:
        raise AlignpipeError("give --model (a causal LM to evaluate), --reward-model, or both")
    threshold = getattr(args, "guard_threshold", None)
    check_threshold(threshold, getattr(args, "guard", None))  # before any model loads
    suite = _suite(args)
    seed = suite.seed if args.seed is None else args.seed
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)

    ref_path, ref_source = _choose(args.ref, args.model, "sft") if args.model else (None, None)
    rm_path, rm_source = _choose(args.reward_model, args.model, "reward")
    precision = args.precision
    same = ref_path and args.model and Path(ref_path).resolve() == Path(args.model).resolve()
    if same and not args.ref_is_model:
        ref_path, ref_source = None, "the reference is the model itself"
    rec = Recorder()
    with rec.timed("loading"):
        lm = load_lm(args.model, device=device, dtype=args.dtype, precision=precision) if args.model else None
        ref = load_lm(ref_path, device=device, dtype=args.dtype, what="reference model") if ref_path else None
        rm = load_rm(rm_path, device=device, dtype=args.dtype) if rm_path else None
        guard = None
        if getattr(args, "guard", None):
            guard = Guard.load(args.guard, device=device, threshold=threshold)
    for what, path, how in (("reference", ref_path, ref_source), ("reward model", rm_path, rm_source)):
        if path:
            echo(f"{what}: {path} ({how})", err=True)
    names = {"model": args.model or "", "ref": ref_path or "", "rm": rm_path or ""}
    ctx = Context(suite, out_dir, seed, lm=lm, ref=ref, rm=rm, guard=guard, names=names, rec=rec)
    _run_sections(ctx)
    throughput = None
    if ctx.responses_ready:
        write_samples(out_dir / "samples.jsonl", ctx.responses(), rec.per_sample)
        tokens = sum(len(g.token_ids) for g in ctx.responses().model)
        seconds = rec.timings.get("generation_model")
        if seconds:
            throughput = {"generated_tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}

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
        "precision": precision,
        "throughput": throughput,
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
        from alignpipe.eval.report.model import write_eval_report

        data["files"].update(write_eval_report(out_dir, data))
    data["files"]["eval"] = "eval.json"
    write_json(out_dir / "eval.json", data)
    return data


def print_summary(data: dict, out_dir: Path) -> None:
    from alignpipe.eval.report.render import fmt

    values = data["summary"]
    width = max((len(label(k)) for k in values), default=10)
    for key, value in values.items():
        echo(f"  {label(key):<{width}}  {fmt(value, digits(key)):>10}")
    for name, reason in data["skipped"].items():
        echo(f"  (skipped {name}: {reason})")
    echo(f"eval.json: {out_dir / 'eval.json'}")
    if "report_html" in data["files"]:
        echo(f"report: {(out_dir / data['files']['report_html']).resolve()}")


def main(args: argparse.Namespace) -> int:
    """`alignpipe eval --model ...` with its arguments parsed and checked (`alignpipe.eval.cli`): evaluate into
    a fresh folder that takes the output's place when it is whole (the output-path policy)."""
    args.suite = args.suite or ("quantize" if args.quantize else "default")
    out = Path(args.output)
    with replacing_dir(out) as tmp:
        args.output = str(tmp)
        if args.quantize:
            from alignpipe.eval.quantize import evaluate_precisions

            data = evaluate_precisions(args, evaluate)
        else:
            data = evaluate(args)
    args.output = str(out)
    if args.quantize:
        from alignpipe.eval.quantize import print_table

        print_table(data)
        echo(f"quantization.json: {out / 'quantization.json'}")
        if "report_html" in data["files"]:
            echo(f"report: {(out / data['files']['report_html']).resolve()}")
        return 0
    print_summary(data, out)
    return 0
