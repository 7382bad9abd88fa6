# Two commands from a fresh machine (both install what they need first):
#   make run   -> installs, provisions models, indexes the synthetic corpus, serves the UI on localhost:8000
#   make test  -> installs, provisions models, runs the test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# The CPU torch wheel lies on our machines' disk; elsewhere uv takes torch from the index.
FIND_LINKS := $(if $(wildcard /opt/wheels/torch-*),--find-links /opt/wheels,)
PYTEST_ARGS ?=

.PHONY: install setup setup-test index run test test-fast lint eval eval-quick results bench

install: $(STAMP)

$(STAMP): pyproject.toml overrides.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(PY) $(FIND_LINKS) --override overrides.txt -e '.[dev]'
	@touch $(STAMP)

# what the default needs: the embedding model, its ONNX export and the runtime measured on this CPU
# (llama.cpp is compiled only when MEDASSIST_LLM_BASE_URL=local asks for it)
setup: install
	@bash scripts/system_deps.sh
	$(BIN)/medassist setup

# the tests also exercise the OpenAI-protocol path: SmolLM2 + llama.cpp (compiled once, then cached)
setup-test: install
	@bash scripts/system_deps.sh
	$(BIN)/medassist setup --llm

index: setup
	$(BIN)/medassist ingest knowledge/patients knowledge/procedures

run: index
	$(BIN)/medassist ui

test: setup-test
	$(BIN)/ruff check .
	MEDASSIST_REQUIRE_MODELS=1 $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# no model, no browser: unit tests and doctests (a couple of minutes)
test-fast: install
	$(BIN)/pytest -q -p no:cacheprovider -m "not embed and not llm and not browser and not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

eval: index
	$(BIN)/medassist eval --suite all --report reports/latest

# the CI's gate: fixed subsets, checked against bench/floors.json (a few minutes)
eval-quick: index
	$(BIN)/medassist eval --quick --check --report reports/quick

# every number the README quotes, regenerated in one run (about an hour on 2 cores)
results: index
	$(BIN)/medassist eval --suite all --check --bench 1k,10k,100k --report reports/latest --update-readme

bench: setup
	$(BIN)/medassist bench --scale 1k,10k,100k --report reports/bench
