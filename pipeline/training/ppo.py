"""PPO's room below the stage script (`alignpipe.stages.ppo`): its prompt data and batch checks, its four models
(policy, reference, reward, value: loaded and checked to share one tokenizer), TRL's PPOTrainer adapted to the
Trainer interface the other stages share, and the held-out comparison it runs at the end.

- `PPOTrainer`: TRL 1.12's experimental PPOTrainer with `train()` returning a TrainOutput (and refusing to
  pretend it resumes), `evaluate()` the held-out comparison, and two more per-step figures (`RolloutStats`:
  `val/response_length`, `val/eos_share`).
- `heldout_metrics`: the PPO policy against the SFT (reference) policy on the held-out prompts: reward-model
  scores, task accuracy (graded by `alignpipe.tasks` through eval's task accuracy), lengths and KL.
"""

from __future__ import annotations

import gc
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # PPOTrainer lives in trl.experimental in 1.12

import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from transformers.trainer_utils import TrainOutput
from trl.experimental.ppo import PPOTrainer as TRLPPOTrainer
from trl.experimental.ppo.ppo_trainer import truncate_response
from trl.experimental.utils import first_true_indices
from trl.models.utils import unwrap_model_for_generation

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import warn
from alignpipe.inference.modeling import (
    align_with_tokenizer,
    check_tokenizer_files,
    load_causal_lm,
    load_reward_model,
)
from alignpipe.training import stage

# --- data ------------------------------------------------------------------------------------------


def tokenize_prompts(ds, tokenizer):
    """Add `input_ids`: each prompt rendered with the chat template and the generation cue."""

    def render(batch):
        ids = tokenizer.apply_chat_template(
            batch["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        return {"input_ids": ids}

    return ds.map(render, batched=True, desc="Tokenizing prompts")


@dataclass
class PromptCollator:
    """Left-pads `input_ids` (the tokenizer pads on the left); ignores the other columns (prompt, answer)."""

    tokenizer: object

    def __call__(self, rows):
        return self.tokenizer.pad([{"input_ids": r["input_ids"]} for r in rows], return_tensors="pt")


def check_lengths_fit(data, response_length: int, max_positions: int | None) -> None:
    longest = max(len(ids) for split in data.values() for ids in split["input_ids"])
    if max_positions and longest + response_length > max_positions:
        raise AlignpipeError(
            f"the longest prompt has {longest} tokens; with response_length {response_length} that is "
            f"{longest + response_length}, more than the model's {max_positions} positions: lower "
            f"response_length to at most {max_positions - longest}, or use prompts of at most "
            f"{max_positions - response_length} tokens"
        )


def check_batch_sizes(args, n_train: int) -> None:
    """PPOTrainer's own checks are asserts and inexact-division errors, and too few prompts make it hang."""
    local = args.per_device_train_batch_size * args.gradient_accumulation_steps
    if local % args.num_mini_batches:
        raise AlignpipeError(
            f"per_device_train_batch_size x gradient_accumulation_steps ({local}) must be a "
            f"multiple of num_mini_batches ({args.num_mini_batches})"
        )
    if args.whiten_rewards and local // args.num_mini_batches < 8:
        raise AlignpipeError(
            f"whiten_rewards needs mini-batches of at least 8 responses, got "
            f"{local // args.num_mini_batches}; raise the batch or lower num_mini_batches"
        )
    world = PartialState().num_processes
    if n_train < local * world:
        raise AlignpipeError(
            f"the training split has {n_train} prompts, fewer than one rollout batch "
            f"({local} per process x {world} processes)"
        )


# --- models ----------------------------------------------------------------------------------------


def check_vocab_sizes(models: dict[str, object], paths: dict[str, str]) -> None:
    sizes = {role: m.get_input_embeddings().weight.shape[0] for role, m in models.items() if m is not None}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{role} ({paths[role]}): {n}" for role, n in sizes.items())
        raise AlignpipeError(f"the models' vocabularies differ ({listed}); they must share one tokenizer")


def load_models(script_args, training_args, model_args, tokenizer, tokenizer_path: str):
    """Policy, reference (None with LoRA), reward and value models, checked to share `tokenizer`."""
    peft = model_args.use_peft
    if model_args.load_in_4bit and not peft:
        raise AlignpipeError("load_in_4bit trains through LoRA: set use_peft: true too")
    path = stage.model_path(model_args)
    ref_path = script_args.ref_model_name_or_path or path
    if peft and ref_path != path:
        raise AlignpipeError("with LoRA the reference is the base model itself; drop ref_model_name_or_path")
    paths = {
        "policy": path,
        "reference": ref_path,
        "reward model": training_args.reward_model_path,
        "value model": script_args.value_model_path or training_args.reward_model_path,
    }
    check_tokenizer_files(
        tokenizer,
        tokenizer_path,
        paths,
        script_args.chat_template,
        why="PPO scores the policy's tokens with the reward and value models, so all models must share one tokenizer",
    )

    full_precision = replace(model_args, load_in_4bit=False, load_in_8bit=False)  # the value model is trained
    models = {
        "policy": load_causal_lm(path, model_args, training_args),
        "reference": None if peft else load_causal_lm(ref_path, model_args, training_args),
        "reward model": load_reward_model(paths["reward model"], model_args, training_args),
        "value model": load_reward_model(paths["value model"], full_precision, training_args),
    }
    check_vocab_sizes(models, paths)
    for m in models.values():
        if m is not None:
            align_with_tokenizer(m, tokenizer)
    if training_args.activation_checkpointing:  # PPOTrainer never turns it on (TRL turns it off to generate)
        models["policy"].activation_checkpointing_enable(
            activation_checkpointing_kwargs=training_args.activation_checkpointing_kwargs
        )
    return models["policy"], models["reference"], models["reward model"], models["value model"]


# --- trainer ---------------------------------------------------------------------------------------


def cut_responses(responses, stop_token_id, pad_token_id):
    """Pad after the first stop token, as TRL does before scoring; None stops nowhere."""
    if stop_token_id is None:
        return responses
    return truncate_response(stop_token_id, pad_token_id, responses)


class RolloutStats:
    """Mean response length (tokens, stop token included) and the share of responses that end with eos.

    TRL logs neither (only an eos count); its rollouts go through `policy.generate`, which `watch`
    wraps while training runs, and `pop` hands the figures since the last log to `PPOTrainer.log`.
    """

    def __init__(self, stop_token_id, pad_token_id, eos_token_id):
        self.stop, self.pad, self.eos = stop_token_id, pad_token_id, eos_token_id
        self.lengths, self.ends, self.paused = [], [], False

    def add(self, queries, sequences) -> None:
        responses = cut_responses(sequences[:, queries.shape[1] :], self.stop, self.pad)
        self.lengths.append(first_true_indices(responses == self.pad).float())
        self.ends.append((responses == self.eos).any(-1).float())

    def pop(self, gather=lambda t: t) -> dict[str, float]:
        if not self.lengths:
            return {}
        lengths, ends = gather(torch.cat(self.lengths)), gather(torch.cat(self.ends))
        self.lengths, self.ends = [], []
        return {"val/response_length": lengths.mean().item(), "val/eos_share": ends.mean().item()}

    @contextmanager
    def watch(self, model):
        generate, own = model.generate, "generate" in vars(model)

        def recording_generate(*args, **kwargs):
            out = generate(*args, **kwargs)
            if not self.paused:
                self.add(kwargs["input_ids"], getattr(out, "sequences", out))
            return out

        model.generate = recording_generate
        try:
            yield
        finally:
            if own:
                model.generate = generate
            else:
                del model.generate

    @contextmanager
    def pause(self):
        self.paused = True
        try:
            yield
        finally:
            self.paused = False


class PPOTrainer(TRLPPOTrainer):
    """TRL's PPOTrainer with the Trainer interface `stage.finish` uses: `train(resume_from_checkpoint)`
    returns a TrainOutput, `evaluate()` is the held-out comparison; and two more per-step figures."""

    def __init__(self, *args, kl_bound: float | None = None, heldout_greedy: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_distributed_loading_by_transformers = False  # Trainer._save reads it; TRL skips Trainer init
        self.kl_bound, self.heldout_greedy = kl_bound, heldout_greedy
        tok = self.processing_class
        self.rollout_stats = RolloutStats(self.stop_token_id, tok.pad_token_id, tok.eos_token_id)

    def train(self, resume_from_checkpoint: str | None = None) -> TrainOutput:
        if resume_from_checkpoint:
            if self.args.resume_from_checkpoint:
                raise AlignpipeError(
                    "TRL's PPOTrainer cannot resume from a checkpoint; drop "
                    "resume_from_checkpoint (a checkpoint's policy can be the new start)"
                )
            warn(f"{resume_from_checkpoint} exists, but PPOTrainer cannot resume: starting over")
        start = time.time()
        gc.freeze()  # TRL runs gc.collect() twice a step; objects made before training need no re-scanning
        try:
            with self.rollout_stats.watch(self.accelerator.unwrap_model(self.model).policy):
                super().train()
        finally:
            gc.unfreeze()
        last = self.state.log_history[-1] if self.state.log_history else {}
        metrics = {"train_runtime": round(time.time() - start, 2), "train_episodes": self.state.episode}
        final = ("objective/scores", "objective/kl", "val/eos_share")
        metrics |= {f"train/{k}": last[k] for k in final if k in last}
        return TrainOutput(self.state.global_step, last.get("loss/policy_avg", float("nan")), metrics)

    @contextmanager
    def _unwrapped(self):
        """DDP hides the `.policy` and `.config` that TRL's saving and model card read."""
        wrapped, self.model = self.model, self.accelerator.unwrap_model(self.model)
        try:
            yield
        finally:
            self.model = wrapped

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        with self._unwrapped():
            super().save_model(output_dir, _internal_call)  # TRL's saves the policy alone

    def create_model_card(self, *args, **kwargs):
        with self._unwrapped():
            super().create_model_card(*args, **kwargs)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log({**logs, **self.rollout_stats.pop(self.accelerator.gather)}, start_time)

    def generate_completions(self, sampling: bool = False):
        with self.rollout_stats.pause():  # sample tables are not rollouts
            super().generate_completions(sampling)

    def evaluate(self, *args, **kwargs) -> dict[str, float]:
        return heldout_metrics(self)


# --- held-out evaluation ---------------------------------------------------------------------------


@torch.no_grad()
def heldout_metrics(trainer) -> dict[str, float]:
    """The PPO policy against the SFT (reference) policy on the held-out prompts.

    heldout/score_{ppo,sft}: mean reward-model score of the whole conversation (as `alignpipe eval` scores
    it; no missing-eos penalty), answers greedy unless `heldout_greedy` is off; heldout/accuracy_{ppo,sft}:
    share of answers `check_answer` accepts (rows with an `answer`); heldout/length_{ppo,sft}: mean answer
    length in tokens (stop token included); heldout/kl: `alignpipe eval`'s KL, the mean over prompts of
    the sum over response positions of KL(pi || ref) of the next-token distributions, y sampled from the
    policy at `temperature` (what TRL's objective/kl estimates, on held-out prompts, with less noise);
    kl_bound and kl_within_bound. Each process answers its share of the prompts; the means are over all of
    them.
    """
    acc, rows = trainer.accelerator, trainer.eval_dataset
    if rows is None or len(rows) == 0:
        return {}
    gather_zero3 = trainer.args.ds3_gather_for_generation
    with unwrap_model_for_generation(trainer.model, acc, gather_deepspeed3_params=gather_zero3) as unwrapped:
        policy = unwrapped.policy
        training = policy.training
        policy.eval()
        try:
            values = heldout_values(trainer, policy, rows)
        finally:
            policy.train(training)
    gathered = {k: [x for part in gather_object([v]) for x in part] for k, v in values.items()}
    metrics = {f"heldout/{k}": sum(v) / len(v) for k, v in gathered.items() if v}
    metrics["heldout/prompts"] = len(rows)
    if trainer.kl_bound is not None:
        metrics["kl_bound"] = trainer.kl_bound
        metrics["kl_within_bound"] = metrics["heldout/kl"] <= trainer.kl_bound
        if not metrics["kl_within_bound"]:
            warn(
                f"held-out KL {metrics['heldout/kl']:.3f} exceeds kl_bound {trainer.kl_bound}: "
                "the policy drifted far from its reference (raise kl_coef, or train less)"
            )
    return metrics


def heldout_values(trainer, policy, rows) -> dict[str, list[float]]:
    """Per-prompt scores, lengths, accuracies and KLs of this process's share of `rows`, measured with
    `alignpipe eval`'s own functions (generation, reward scores, task accuracy, KL)."""
    from alignpipe.eval.context import conversation_with
    from alignpipe.eval.sections.kl import kl_divergence
    from alignpipe.eval.sections.tasks import graded_rows, task_accuracy
    from alignpipe.inference.generation import GenerationSettings, generate, reward_scores

    args, tok, acc = trainer.args, trainer.processing_class, trainer.accelerator
    mine = rows.select(range(acc.process_index, len(rows), acc.num_processes)).to_list()
    prompts, conversations = [r["input_ids"] for r in mine], [r["prompt"] for r in mine]
    graded = graded_rows(mine)
    batch = args.per_device_eval_batch_size
    settings = GenerationSettings(
        greedy=trainer.heldout_greedy,
        temperature=args.temperature,
        max_new_tokens=args.response_length,
        batch_size=batch,
    )
    ref_model = policy if trainer.ref_model is None else trainer.ref_model
    values: dict[str, list[float]] = {}
    for name, model, context in (("ppo", policy, nullcontext), ("sft", ref_model, trainer.null_ref_context)):
        with context():
            gens = generate(model, tok, prompts, settings, seed=args.seed, desc=f"held-out {name} answers")
        texts = [g.text for g in gens]
        scored = [conversation_with(c, t) for c, t in zip(conversations, texts)]
        values[f"score_{name}"] = reward_scores(trainer.reward_model, tok, scored, batch_size=batch).tolist()
        values[f"length_{name}"] = [float(len(g.token_ids)) for g in gens]
        correct = task_accuracy([mine[i] for i in graded], [texts[i] for i in graded])["correct"]
        values[f"accuracy_{name}"] = [float(ok) for ok in correct]  # every rank gathers the same keys
    kl = kl_divergence(
        policy,
        ref_model,
        tok,
        prompts,
        max_new_tokens=args.response_length,
        batch_size=batch,
        seed=args.seed,
        temperature=args.temperature,
        ref_context=trainer.null_ref_context,
    )
    values["kl"] = kl["per_sample"]
    return values
