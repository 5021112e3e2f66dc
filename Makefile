# Each target sets itself up: a fresh clone needs only python3 (3.11+), cargo and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FOXML_HOME ?= $(CURDIR)/var
export DAGSTER_HOME ?= $(FOXML_HOME)/dagster
# One interpreter for every build, so cargo does not rebuild PyO3 for another Python.
export PYO3_PYTHON := $(CURDIR)/$(BIN)/python
STAMP := $(VENV)/.installed
RUST_SOURCES := native_ext/Cargo.toml $(shell find native_ext/src -name '*.rs' 2>/dev/null)
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000

.PHONY: setup browser run test ui docs bench lint clean

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

$(STAMP): pyproject.toml $(RUST_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: configs/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp configs/dagster.yaml $@

# The browser test (tests/e2e/test_browser.py) drives Debian's chromium through playwright;
# playwright's own browser download is not used. Installed here when missing (needs root).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "make test needs Chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu)" >&2; exit 1; fi; }

# The sample is small: its steps run in one process, without a process start per step.
run: setup  ## materialize the whole graph on the bundled sample and print a summary
	$(BIN)/foxml run --in-process

test: setup browser  ## lint, Rust kernel tests, then the Python suite (unit, integration, e2e)
	$(BIN)/ruff check .
	cargo test --quiet --manifest-path native_ext/Cargo.toml
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25

ui: setup  ## Dagster webserver + daemon on $(UI_HOST):$(UI_PORT); Ctrl-C (or SIGTERM) stops both
	$(BIN)/foxml ui --host $(UI_HOST) --port $(UI_PORT)

docs: setup  ## regenerate docs/reference.md and docs/experiment.schema.json from the config models
	$(BIN)/python scripts/config_reference.py

bench: setup  ## kernels, features, labels, training, ingest, risk, precision, whole pipeline; writes benchmarks/results*.md
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/labels.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/risk.py
	$(BIN)/python benchmarks/precision.py
	$(BIN)/python benchmarks/pipeline.py

lint: setup  ## ruff (lint + format) and clippy, stricter than the lint in make test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check foxml_dagster assets resources jobs sensors benchmarks
	cargo clippy --quiet --manifest-path native_ext/Cargo.toml --all-targets -- -D warnings

clean:  ## remove everything a run wrote (keeps the environment)
	rm -rf $(FOXML_HOME)
