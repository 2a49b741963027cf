# The README contract: `make repro` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_TO_API_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

.PHONY: setup repro test lint clean

setup: $(STAMP)

# torch first, alone, so the CPU wheel on disk is used; every later step is
# constrained to it (constraints.txt) so nothing can swap in a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Stages run `python -m flows.<stage>`: the venv's bin goes first on PATH so
# that `python` is the one with the project installed. `r1router repro` runs
# `dvc repro` under the checkout's pipeline lock and one parent MLflow run.
repro: $(STAMP)
	@test -d .dvc || (echo "not a DVC repo: run from the repository root" && exit 1)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/r1router repro

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf .prefect .pytest_cache .ruff_cache
