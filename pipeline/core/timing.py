"""Timing what a stage spends in generation (online RL's rollouts) beside the rest of its training."""

from __future__ import annotations

import time


class GenerateTimer:
    """Wraps `GenerationMixin.generate`: seconds spent in it and sequences it returned."""

    def __init__(self):
        from transformers.generation.utils import GenerationMixin

        self.cls, self.original = GenerationMixin, GenerationMixin.generate
        self.seconds, self.sequences, self.calls = 0.0, 0, 0

    def __enter__(self):
        timer, original = self, self.original

        def generate(model, *args, **kwargs):
            start = time.perf_counter()
            out = original(model, *args, **kwargs)
            timer.seconds += time.perf_counter() - start
            timer.calls += 1
            ids = out if hasattr(out, "shape") else out.sequences
            timer.sequences += int(ids.shape[0])
            return out

        self.cls.generate = generate
        return self

    def __exit__(self, *exc):
        self.cls.generate = self.original
