"""The Trainer callback that reports a training stage's progress to `alignpipe run`'s view (`run.view`).

`RunView.watch` hands one to `alignpipe.training.stage`, whose `finish` adds it to the trainer it trains, so every
stage that runs in the `alignpipe run` process reports its steps and losses. A module of its own because it
imports transformers (and torch): the view imports it only once a training stage starts.

TRL's PPOTrainer (trl.experimental.ppo) has its own training loop: it calls on_train_begin (with
`state.max_steps` set to its number of batches), on_log and on_step_end, in that order for each update (the
Trainer calls on_step_end before on_log), and on_train_end; never on_step_begin. It logs every update, with
no `loss` key (`objective/rlhf_reward`, `loss/policy_avg`, ...). The view copes with both orders.
"""

from __future__ import annotations

from transformers import TrainerCallback


class ProgressCallback(TrainerCallback):
    """Passes the trainer's step, max_steps and logged values on to `view` for stage `name`."""

    def __init__(self, view, name: str):
        self.view, self.name = view, name

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.view.train_begin(self.name, state.global_step, state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.view.train_step(self.name, state.global_step, state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            self.view.train_log(self.name, state.global_step, logs or {})

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.view.train_end(self.name)
