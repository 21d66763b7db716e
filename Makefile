# The workshop's commands. Everything runs inside .venv, created by `make setup`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 4566
STAMP := $(VENV)/.installed

.PHONY: setup workshop lab test unit functional notebooks lint bench up down status clean help

help:
	@echo "make workshop   set up, then run every notebook headlessly (build/notebooks/)"
	@echo "make test       set up, then run the whole test suite"
	@echo "make lab        set up, then open the workshop in JupyterLab"
	@echo "make bench      run the benchmarks (benchmarks/results/latest.json)"
	@echo "make up|down|status   manage the local AWS endpoint on port $(PORT)"
	@echo "make lint       ruff on code and notebooks"
	@echo "make clean      remove build output, caches and the endpoint's state"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pinned set or the package metadata changes.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

workshop: setup
	$(BIN)/python -m helpers.workshop run

lab: setup
	$(BIN)/python -m helpers.workshop lab --port $(PORT)

test: setup
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

functional: setup
	$(BIN)/python -m pytest tests/functional

notebooks: setup
	$(BIN)/python -m pytest tests/notebooks

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m benchmarks

up: setup
	$(BIN)/python -m helpers.local up --port $(PORT)

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m helpers.local down --port $(PORT); fi

status: setup
	$(BIN)/python -m helpers.local status --port $(PORT)

clean: down
	rm -rf build .workshop .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
