"""A guardrail in front of a model: a small prompt classifier (unsafe / benign) trained by `alignpipe guard`.

`Guard.load(DIR)` reads a sequence classifier with two labels, one of them "unsafe" (the guard stage saves
``id2label = {0: "benign", 1: "unsafe"}``); `Guard.screen(prompts)` gives each prompt the classifier's
probability of "unsafe" and flags it when that is at least the threshold: the one given, else the one the
guard stage chose on its validation goals (`guard_threshold` in the guard's run record, with
`threshold_split`), else 0.5. `chat` and
`generate` answer a flagged prompt with `REFUSAL` without calling the model; `alignpipe eval --guard DIR`
measures the guard + model pair in the safety section. The guard reads the user's text alone (no chat
template), as it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alignpipe.core.data import SAFETY_LABELS
from alignpipe.core.errors import AlignpipeError
from alignpipe.core.outputs import check_weights

#: what a guarded model says to a flagged prompt (a refusal by `alignpipe.core.refusals.is_refusal`)
REFUSAL = "I'm sorry, but I can't help with that request."
#: the guard's class ids: {0: "benign", 1: "unsafe"}, the safety labels of the data (`core.data.SAFETY_LABELS`)
LABELS = dict(enumerate(sorted(SAFETY_LABELS)))


def prompt_text(prompt: str | list[dict]) -> str:
    """What a guard reads of a prompt, in training and in use: the text, or the user turns of chat messages
    joined by newlines (system prompts and earlier replies are not the user's request)."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(m["content"] for m in prompt if m.get("role", "user") == "user")


@dataclass
class Verdict:
    flagged: bool
    score: float  # P(unsafe)

    def to_dict(self) -> dict:
        return {"flagged": self.flagged, "score": round(self.score, 4)}


#: the threshold of a guard whose stage chose none (P(unsafe) >= 0.5: the classifier's own decision)
DEFAULT_THRESHOLD = 0.5


def check_threshold(threshold: float | None, guard: str | None) -> None:
    """`--guard-threshold` (chat, generate, serve, eval) before any model loads: None (the guard's own), or a
    probability strictly between 0 and 1 and a guard (`--guard DIR`) to apply it to. Light: no torch."""
    if threshold is None:
        return
    if not 0 < threshold < 1:
        raise AlignpipeError(f"--guard-threshold must be in (0, 1), got {threshold}")
    if not guard:
        raise AlignpipeError("--guard-threshold needs --guard DIR")


def own_threshold(path: str | Path) -> float:
    """The threshold a guard's stage chose on its validation goals (`guard_threshold` in its run record), or
    `DEFAULT_THRESHOLD` when it chose none (trained without `threshold_split`, or not by `alignpipe guard`)."""
    from alignpipe.core.runrecord import read_record

    folder = Path(path).expanduser()
    value = (
        ((read_record(folder) or {}).get("metrics") or {}).get("guard_threshold") if folder.is_dir() else None
    )
    if value is None:
        return DEFAULT_THRESHOLD
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise AlignpipeError(
            f"{folder / 'run_record.json'}: guard_threshold is {value!r}; expected a probability in (0, 1) "
            "(retrain the guard, or pass --guard-threshold)"
        )
    return float(value)


class Guard:
    def __init__(self, model, tokenizer, path: str, threshold: float = DEFAULT_THRESHOLD):
        check_threshold(threshold, path)
        labels = {int(k): str(v).lower() for k, v in model.config.id2label.items()}
        if "unsafe" not in labels.values():
            raise AlignpipeError(
                f"{path}: the classifier's labels are {sorted(labels.values())}; a guard needs an "
                '"unsafe" label (train one with `alignpipe guard`)'
            )
        self.model, self.tokenizer, self.path, self.threshold = model, tokenizer, path, threshold
        self.unsafe = next(k for k, v in labels.items() if v == "unsafe")

    @classmethod
    def load(cls, path: str, *, device: str = "cpu", threshold: float | None = None) -> Guard:
        """The guard in `path`, flagging at `threshold` (None: the one its stage chose, `own_threshold`)."""
        check_threshold(threshold, path)
        from transformers import AutoModelForSequenceClassification

        from alignpipe.inference.loading import architectures, check_model_folder, check_path
        from alignpipe.inference.modeling import load_tokenizer

        check_path(path, "guard")
        check_weights(path, "guard")  # a truncated classifier or adapter, named, before anything reads it
        folder = Path(path).expanduser()
        adapter = (folder / "adapter_config.json").is_file()
        if folder.is_dir() and not adapter:
            check_model_folder(path, "guard", classifier=True)
            if not architectures(folder):
                raise AlignpipeError(
                    f"{path}: config.json names no architecture; it is not a guard classifier"
                )
        tokenizer = load_tokenizer(path, padding_side="right", need_template=False)
        if adapter:  # a LoRA guard (`alignpipe guard` with use_peft): its base with the adapter and head
            from alignpipe.core.runrecord import read_record
            from alignpipe.inference.adapters import load_adapter_model

            if (read_record(folder) or {}).get("stage") != "guard":
                raise AlignpipeError(
                    f"{path} is a LoRA adapter that `alignpipe guard` did not train (its folder holds no run "
                    "record of the guard stage)"
                )
            ids = {v: k for k, v in LABELS.items()}
            model = load_adapter_model(path, num_labels=2, id2label=dict(LABELS), label2id=ids)
        else:
            try:
                model = AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True)
            except (OSError, ValueError) as e:
                raise AlignpipeError(f"cannot load the guard classifier from {path}: {e}") from e
        if model.config.num_labels < 2:
            raise AlignpipeError(
                f"{path} has {model.config.num_labels} output (a reward model?); a guard is a classifier "
                "with an unsafe and a benign label"
            )
        model.config.pad_token_id = tokenizer.pad_token_id
        threshold = own_threshold(path) if threshold is None else threshold
        return cls(model.to(device).eval(), tokenizer, path, threshold)

    def scores(self, prompts: list[str | list[dict]], batch_size: int = 32) -> list[float]:
        """P(unsafe) for each prompt (text or chat messages, read as `prompt_text` says)."""
        import torch

        prompts = [prompt_text(p) for p in prompts]
        out: list[float] = []
        limit = getattr(self.model.config, "max_position_embeddings", None) or 512
        device = next(self.model.parameters()).device
        for start in range(0, len(prompts), batch_size):
            batch = self.tokenizer(
                prompts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="pt",
            ).to(device)
            with torch.no_grad():
                logits = self.model(**batch).logits.float()
            out += logits.softmax(-1)[:, self.unsafe].tolist()
        return out

    def cached_scores(self, prompts: list[str | list[dict]]) -> list[float]:
        """`scores`, read from the disk cache when these weights scored these prompts before: eval screens the
        same prompts in front of every model of a run (ALIGNPIPE_GENERATION_CACHE=0 turns it off, as for
        generations; a guard whose weights are not a local folder is never cached)."""
        import torch
        import transformers

        from alignpipe.core.cache import cached_rows, inference_cache_on
        from alignpipe.inference.generation import weights_digest

        digest = weights_digest(self.path) if inference_cache_on() else None
        if digest is None:
            return self.scores(prompts)
        weight = next(self.model.parameters())
        identity = {
            "guard": digest,
            "device": weight.device.type,  # another device or dtype rounds the scores differently
            "dtype": str(weight.dtype),
            "prompts": [prompt_text(p) for p in prompts],
            "software": [torch.__version__, transformers.__version__, torch.get_num_threads()],
        }
        scores, _ = cached_rows("guard_scores", identity, len(prompts), lambda: self.scores(prompts))
        return [float(x) for x in scores]

    def screen(self, prompts: list[str | list[dict]], *, cached: bool = False) -> list[Verdict]:
        """Each prompt's verdict at the threshold (`cached`: the scores from `cached_scores`)."""
        scores = self.cached_scores(prompts) if cached else self.scores(prompts)
        return [Verdict(s >= self.threshold, s) for s in scores]
