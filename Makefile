# The workshop's commands. Everything runs inside .venv, created by `make setup`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 4566
STAMP := $(VENV)/.installed

REHEARSAL_PORT ?= 4599
TIME_SCALE_REHEARSAL ?= 0.1

.PHONY: setup lock coverage fuzz workshop lab rehearsal test test-slow unit functional notebooks lint bench bench-peers bench-scale bench-moto-suite up down status reset clean help

help:
	@echo "make workshop   set up, then run every notebook headlessly (build/notebooks/)"
	@echo "make test       set up, then run the test suite (all but the wall_clock tests)"
	@echo "make test-slow  the wall_clock tests: over the wire, each waits 20 s or more"
	@echo "make lab        set up, then open the workshop in JupyterLab (LANG=vi: in Vietnamese)"
	@echo "make rehearsal  every notebook against AWS's timing (local endpoint, --profile aws), then the cleanup proof"
	@echo "make bench      run the benchmarks (benchmarks/results/latest.json)"
	@echo "make bench-peers  the same scenarios on ours, MiniStack and plain moto, side by side"
	@echo "make bench-scale  put rate, GetRecords time and RSS over 100,000 streamed items"
	@echo "make bench-moto-suite  moto's own DynamoDB + Streams tests against plain moto and ours"
	@echo "make up|down|status   manage the local AWS endpoint on port $(PORT)"
	@echo "make reset      stop the endpoint, delete its saved state, start it again empty"
	@echo "make lint       ruff on code and notebooks"
	@echo "make coverage   the test suite under coverage.py: per-module table, build/coverage/"
	@echo "make clean      stop the endpoint; remove build output, caches and its saved state"

# A shell that sets PYTHONDONTWRITEBYTECODE makes every process here (test workers,
# endpoints, function workers, kernels) compile each module it imports from source again,
# every time: test collection took 10.4 s of CPU per worker instead of 4.8 s, and a
# kernel's imports 3.6 s instead of 1.8 s. Every target keeps the bytecode caches (in
# .venv and the git-ignored __pycache__ directories).
unexport PYTHONDONTWRITEBYTECODE

# The venv is made without pip: ensurepip takes 6-8 s here, where uv installs the same
# wheels (the pip and setuptools the interpreter bundles) in under half a second.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

# uv installs the pinned set in seconds; it lives beside the venv's packages (in
# $(VENV)/uv) so that `uv pip sync` never removes it. It is installed with the
# interpreter's pip, else with the venv's own (ensurepip); pip is the fallback.
UV_VERSION := 0.13.8
UV := $(VENV)/uv/bin/uv
PIP_QUIET := --quiet --disable-pip-version-check
ENSUREPIP := { $(BIN)/python -m pip --version || $(BIN)/python -m ensurepip --default-pip; } >/dev/null 2>&1
# The wheels ensurepip would install (pip, and setuptools on 3.11), for `%pip` in the kernels.
BUNDLED_WHEELS = $$($(BIN)/python -c "import ensurepip, pathlib; \
	print(*(pathlib.Path(ensurepip.__file__).parent / '_bundled').glob('*.whl'))")

$(UV): | $(BIN)/python
	@{ $(PYTHON) -m pip install $(PIP_QUIET) --target $(VENV)/uv uv==$(UV_VERSION) \
	   || { $(ENSUREPIP) && $(BIN)/python -m pip install $(PIP_QUIET) --target $(VENV)/uv \
	        uv==$(UV_VERSION); }; } >/dev/null 2>&1 \
	  || echo "uv $(UV_VERSION) could not be installed: setup falls back to pip (slower)"

# Reinstall only when the pinned set or the package metadata changes.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python $(UV)
	@if [ -x $(UV) ]; then \
	    $(UV) pip sync --quiet --python $(BIN)/python requirements.lock \
	    && $(UV) pip install --quiet --python $(BIN)/python --no-deps -e . \
	    && { $(BIN)/python -m pip --version >/dev/null 2>&1 \
	         || $(UV) pip install --quiet --python $(BIN)/python $(BUNDLED_WHEELS) 2>/dev/null \
	         || $(ENSUREPIP) \
	         || echo "pip could not be added to $(VENV): %pip will not work in its kernels"; } ; \
	else \
	    $(ENSUREPIP) \
	    && $(BIN)/python -m pip install $(PIP_QUIET) --require-hashes -r requirements.lock \
	    && $(BIN)/python -m pip install $(PIP_QUIET) --no-deps -e . ; \
	fi
	@touch $(STAMP)

# Re-resolve the lock file from pyproject.toml, keeping every existing pin.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test --generate-hashes -c requirements.lock \
	    --python-version 3.11.7 --python-platform x86_64-unknown-linux-gnu --no-header \
	    --quiet -o $(VENV)/lock.tmp
	{ printf '%s\n' "# The pinned set for Python 3.11 on Linux x86_64 (boto3, botocore and moto are pinned together)." \
	    "# Regenerate (keeping every pin unless pyproject.toml asks otherwise) with:" "#   make lock"; \
	  cat $(VENV)/lock.tmp; } > requirements.lock && rm $(VENV)/lock.tmp

setup: $(STAMP)

workshop: setup
	$(BIN)/python -m helpers.workshop run --lang $(EDITION)

# `make lab LANG=vi` opens the Vietnamese edition (notebooks/vi/, rebuilt from the catalogue
# first); the code is the same. Only a LANG given on the command line chooses the edition (the
# shell's own LANG, e.g. en_US.UTF-8, does not), and it is not passed on as a locale.
ifeq ($(origin LANG),command line)
EDITION := $(LANG)
unexport LANG
endif
EDITION ?= en

lab: setup
	@if [ "$(EDITION)" != en ]; then $(BIN)/python -m tools.translate build --lang $(EDITION); fi
	$(BIN)/python -m helpers.workshop lab --port $(PORT) --lang $(EDITION)

# Every notebook on a fresh endpoint in the AWS timing profile (each delay x
# TIME_SCALE_REHEARSAL), 99_cleanup last, then a check that nothing is left. Every
# taught call is made by running its shown AWS CLI line over the wire.
rehearsal: setup
	$(BIN)/python -m tools.rehearsal --port $(REHEARSAL_PORT) --time-scale $(TIME_SCALE_REHEARSAL) \
	    --calls cli

# Four workers (pytest-xdist), each with its own endpoint on a free port; a test file
# stays on one worker (the notebooks run in the workshop's order). Files go out longest
# first (tests/conftest.py orders them; xdist's own reordering, by number of tests,
# would hand out the module that runs the whole workshop late).
# Measured on the 2-core machine (shared): 2 workers 338 s, 3: 264 s, 4: 240 s, 5: 239 s
# (CPU-bound from 4 on: the workshop module then takes 176-196 s on its own worker).
TEST_WORKERS ?= 4
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
PYTEST := $(BIN)/python -m pytest

# `make test` leaves out the tests marked wall_clock (each waits 20 s or more on the
# clock; each has a unit twin through the engine's seams that `make test` runs);
# `make test-slow` runs them, over the wire (.ci/run runs both).
test: setup
	$(PYTEST) $(XDIST) -m "not wall_clock"

test-slow: setup
	$(PYTEST) $(XDIST) -m wall_clock tests/functional

unit: setup
	$(PYTEST) -n $(TEST_WORKERS) tests/unit

functional: setup
	$(PYTEST) $(XDIST) tests/functional

notebooks: setup
	$(PYTEST) tests/notebooks

# Line coverage of helpers/, localaws/ and lambda_src/ (subprocesses included): a table per
# module and the total in build/coverage/; fails when a module is under 80 % (COVERAGE_FLOOR).
COVERAGE_FLOOR ?= 80
coverage: setup
	rm -rf build/coverage && mkdir -p build/coverage
	$(BIN)/python -m coverage run -m pytest $(XDIST)
	$(BIN)/python -m coverage combine --quiet
	$(BIN)/python -m coverage report
	$(BIN)/python -m coverage html --quiet -d build/coverage/html
	$(BIN)/python -m tools.coverage_floor --floor $(COVERAGE_FLOOR)

# Both fuzz tests with new random requests each run, twice as many as `make test`'s
# (which runs the same ones each time).
fuzz: setup
	WORKSHOP_FUZZ_RANDOM=1 WORKSHOP_FUZZ_EXAMPLES=102 $(BIN)/python -m pytest tests/functional/test_fuzz.py

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m benchmarks

# The rivals of `make bench-peers` live in their own virtualenvs, never in .venv:
# MiniStack (pinned) in .venv-peers/ministack; plain moto runs from .venv (our own
# pin, none of our patches). MiniStack runs Python functions with its own
# interpreter, so that venv also gets the boto3 that matches MiniStack's botocore
# pin (AWS's Python runtime ships boto3). PEERS_ARGS: e.g. --rounds 5 or --quick.
PEERS := .venv-peers
MINISTACK_VERSION := 1.5.33
MINISTACK_BOTO3 := 1.43.106
MINISTACK_STAMP := $(PEERS)/ministack/.installed-$(MINISTACK_VERSION)

$(MINISTACK_STAMP): | $(BIN)/python $(UV)
	@if [ -x $(UV) ]; then \
	    $(UV) venv --quiet --python $(BIN)/python $(PEERS)/ministack \
	    && $(UV) pip install --quiet --python $(PEERS)/ministack/bin/python \
	        ministack==$(MINISTACK_VERSION) boto3==$(MINISTACK_BOTO3) ; \
	else \
	    $(PYTHON) -m venv $(PEERS)/ministack \
	    && $(PEERS)/ministack/bin/python -m pip install --quiet --disable-pip-version-check \
	        ministack==$(MINISTACK_VERSION) boto3==$(MINISTACK_BOTO3) ; \
	fi
	@touch $@

bench-peers: setup $(MINISTACK_STAMP)
	$(BIN)/python -m benchmarks.peers $(PEERS_ARGS)

# moto's DynamoDB and Streams tests run from their own virtualenv, with the moto,
# boto3 and botocore of requirements.lock (the servers run from .venv).
PIN = $(shell sed -n 's/^$(1)==\([^ ]*\).*/\1/p' requirements.lock)
MOTO_SUITE_STAMP := $(PEERS)/moto-suite/.installed-$(call PIN,moto)
MOTO_SUITE_PKGS := "moto[server]==$(call PIN,moto)" boto3==$(call PIN,boto3) \
    botocore==$(call PIN,botocore) "pytest!=9.0.0" freezegun

$(MOTO_SUITE_STAMP): | $(BIN)/python $(UV)
	@if [ -x $(UV) ]; then \
	    $(UV) venv --quiet --python $(BIN)/python $(PEERS)/moto-suite \
	    && $(UV) pip install --quiet --python $(PEERS)/moto-suite/bin/python $(MOTO_SUITE_PKGS) ; \
	else \
	    $(PYTHON) -m venv $(PEERS)/moto-suite \
	    && $(PEERS)/moto-suite/bin/python -m pip install --quiet --disable-pip-version-check \
	        $(MOTO_SUITE_PKGS) ; \
	fi
	@touch $@

bench-moto-suite: setup $(MOTO_SUITE_STAMP)
	$(BIN)/python -m benchmarks.moto_suite $(MOTO_SUITE_ARGS)

bench-scale: setup
	$(BIN)/python -m benchmarks.scale $(SCALE_ARGS)

# PROFILE=aws (TIME_SCALE=S): AWS's intermediate states and delays, scaled.
up: setup
	$(BIN)/python -m localaws up --port $(PORT) $(if $(PROFILE),--profile $(PROFILE)) \
	    $(if $(TIME_SCALE),--time-scale $(TIME_SCALE))

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m localaws down --port $(PORT); fi

status: setup
	$(BIN)/python -m localaws status --port $(PORT)

reset: setup
	$(BIN)/python -m localaws reset --port $(PORT)

# .workshop/ holds the endpoint's pid, log, unpacked code and saved state (state/<port>/).
clean: down
	rm -rf build .workshop .pytest_cache .ruff_cache .hypothesis $(PEERS)
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
