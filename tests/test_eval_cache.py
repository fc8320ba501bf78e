"""Eval's generation cache (`alignpipe.inference.generation.generate_cached`): the same weights asked the same prompts
with the same settings are answered from disk, exactly as generated; other weights, prompts or settings
generate afresh."""

import shutil

import pytest
import torch

from alignpipe.inference import generation
from alignpipe.inference.generation import GenerationSettings, generate_cached, prompt_ids, weights_digest
from alignpipe.inference.loading import load_lm

PROMPTS = [[{"role": "user", "content": f"What is {a} plus {b}?"}] for a, b in ((1, 2), (3, 4), (5, 6))]


@pytest.fixture
def cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNPIPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNPIPE_GENERATION_CACHE", "1")
    calls = []
    real = generation.generate

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(generation, "generate", counting)
    return calls


def test_the_same_weights_and_prompts_are_answered_from_the_cache(tiny_minigpt, tmp_path, cached):
    settings = GenerationSettings(max_new_tokens=6, batch_size=2)
    lm = load_lm(tiny_minigpt)
    ids = prompt_ids(lm.tokenizer, PROMPTS)
    first = generate_cached(lm, ids, settings, seed=0)
    again = generate_cached(load_lm(tiny_minigpt), ids, settings, seed=0)
    assert len(cached) == 1 and again == first  # every field: tokens, text, eos and length flags
    assert len(list((tmp_path / "cache" / "generations").glob("*.json"))) == 1

    generate_cached(lm, ids[:2], settings, seed=0)  # other prompts
    generate_cached(lm, ids, GenerationSettings(max_new_tokens=5, batch_size=2), seed=0)  # other settings
    assert len(cached) == 3

    other = tmp_path / "other"  # a copy with one weight changed: other weights, other answers
    shutil.copytree(tiny_minigpt, other)
    model = load_lm(str(other))
    with torch.no_grad():
        next(model.model.parameters()).add_(0.5)
    model.model.save_pretrained(other)
    assert weights_digest(other) != weights_digest(tiny_minigpt)
    generate_cached(load_lm(str(other)), ids, settings, seed=0)
    assert len(cached) == 4


def test_the_cache_can_be_turned_off_and_hub_ids_are_never_cached(
    tiny_minigpt, tmp_path, cached, monkeypatch
):
    settings = GenerationSettings(max_new_tokens=4, batch_size=4)
    lm = load_lm(tiny_minigpt)
    ids = prompt_ids(lm.tokenizer, PROMPTS)
    monkeypatch.setenv("ALIGNPIPE_GENERATION_CACHE", "0")
    generate_cached(lm, ids, settings)
    generate_cached(lm, ids, settings)
    assert len(cached) == 2 and not (tmp_path / "cache" / "generations").exists()
    assert weights_digest("some-org/some-model") is None
