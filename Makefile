# `make run` starts the playground and `make test` runs every test. Each target creates the
# virtual environment and installs what it needs, so both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extras that `make test` installs; `make test EXTRAS=dev,oracle` adds PyTorch as a test oracle.
EXTRAS ?= dev
# Server address of `make run`. CNN_PLAYGROUND_HOST and CNN_PLAYGROUND_PORT apply as well.
HOST ?= $(or $(CNN_PLAYGROUND_HOST),127.0.0.1)
PORT ?= $(or $(CNN_PLAYGROUND_PORT),8000)
OPEN_HOST := $(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST))
# The venv module is checked only while there is no virtual environment yet.
VENV_PYTHON := $(if $(wildcard $(BIN)/python),,$(PYTHON))

.PHONY: run test lint clean system-deps-run system-deps-test
# The Debian packages must be in place before the virtual environment is created.
.NOTPARALLEL:

run: system-deps-run $(VENV)/.installed-runtime
	@echo "Starting the server: open http://$(OPEN_HOST):$(PORT)/ in a browser (Ctrl+C stops it)."
	$(BIN)/cnn-playground serve --host $(HOST) --port $(PORT)

test: system-deps-test $(VENV)/.installed-$(EXTRAS)
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/ruff check cnn_core app tests benchmarks

system-deps-run:
	@bash scripts/system-deps.sh run $(VENV_PYTHON)

system-deps-test:
	@bash scripts/system-deps.sh test $(VENV_PYTHON)

# A failed creation leaves a venv without pip, so remove it and let the next run start over.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

# The stamp files skip pip on later runs until pyproject.toml changes.
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-$(EXTRAS): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
