# Every target creates the virtual environment it needs, so each one works on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extras installed with the package; `make test EXTRAS=dev,oracle` adds PyTorch as a test oracle.
EXTRAS ?= dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-runtime system-deps test lint run bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"

install-runtime: $(BIN)/python
	$(BIN)/pip install --quiet -e .

system-deps:
	bash scripts/system-deps.sh test

test: install system-deps
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check cnn_core app tests benchmarks

run: install-runtime
	bash scripts/system-deps.sh run
	@echo "Open http://$(HOST):$(PORT)/ in a browser (Ctrl+C stops the server)."
	$(BIN)/cnn-playground serve --host $(HOST) --port $(PORT)

bench: install
	$(BIN)/python benchmarks/engine_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
