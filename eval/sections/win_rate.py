"""Win rate against the reference, judged by the reward model: model and reference answer the same held-out
prompts, the reward model scores each whole conversation, preference 2 when the model's score is higher, 1
when lower, 1.5 on a tie. The judgments are written in AlpacaEval's format (DIR/judgments.json, output_1 =
reference, output_2 = model) and scored with `alignpipe.eval.judgments`: win rate, standard error and the
length-controlled win rate."""

from __future__ import annotations

from alignpipe.core.io import write_json
from alignpipe.eval.context import Context
from alignpipe.inference.generation import message_text


def preference(model_score: float, ref_score: float) -> float:
    """AlpacaEval's scale: 2 = the model's response won, 1 = the reference's, 1.5 = a tie."""
    return 2.0 if model_score > ref_score else 1.0 if model_score < ref_score else 1.5


def judgment_rows(
    prompts,
    ref_texts,
    model_texts,
    ref_scores,
    model_scores,
    *,
    ref_name: str,
    model_name: str,
    annotator: str,
) -> list[dict]:
    """AlpacaEval annotation rows: output_1 = reference, output_2 = model, preference from the scores."""
    return [
        {
            "instruction": message_text(p),
            "output_1": r,
            "output_2": m,
            "preference": preference(float(ms), float(rs)),
            "generator_1": ref_name,
            "generator_2": model_name,
            "annotator": annotator,
            "score_1": float(rs),
            "score_2": float(ms),
        }
        for p, r, m, rs, ms in zip(prompts, ref_texts, model_texts, ref_scores, model_scores, strict=True)
    ]


def run(ctx: Context) -> None:
    from alignpipe.eval.judgments import judgment_metrics, read_judgments
    from alignpipe.eval.lc_winrate import is_extreme_change

    r, names = ctx.responses(), ctx.names
    rows = judgment_rows(
        r.conversations,
        r.ref_texts,
        r.model_texts,
        r.ref_scores,
        r.model_scores,
        ref_name=names["ref"],
        model_name=names["model"],
        annotator=f"reward_model:{names['rm']}",
    )
    path = ctx.out_dir / "judgments.json"
    write_json(path, rows)
    metrics = judgment_metrics(read_judgments(path))
    metrics["lc_extreme_change"] = is_extreme_change(metrics["win_rate"], metrics["lc_win_rate"])
    metrics["mean_reward_model"] = float(r.model_scores.mean())
    metrics["mean_reward_ref"] = float(r.ref_scores.mean())
    metrics["judgments_file"] = path.name
    ctx.rec.metrics["win_rate"] = metrics
    if metrics["lc_extreme_change"]:
        ctx.rec.warn(
            f"the length-controlled win rate ({metrics['lc_win_rate']:.1f}%) is far from the raw win "
            f"rate ({metrics['win_rate']:.1f}%): the length model extrapolates; read it with care"
        )
