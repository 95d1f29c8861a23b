# distillrec: `make run` runs the pipeline on the embedded synthetic data,
# `make test` runs the test suite (`make test-fast`: the quick tier only).
# All create .venv on first use.
SHELL := /bin/bash
export TF_USE_LEGACY_KERAS := 1
export PYTHONDONTWRITEBYTECODE := 1

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Python 3.10: python3.10 on PATH if it really runs (a pyenv shim may not), else pyenv's 3.10.13.
PYTHON310 := $(shell if python3.10 -c 'import sys' >/dev/null 2>&1; then command -v python3.10; \
	elif [ -x "$$(pyenv root 2>/dev/null)/versions/3.10.13/bin/python3" ]; then \
	echo "$$(pyenv root)/versions/3.10.13/bin/python3"; fi)

ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv run test test-fast bench bench-latency bench-scale clean

$(STAMP): setup.py constraints.txt
	@if [ ! -x "$(PY)" ]; then \
	  if [ -z "$(PYTHON310)" ]; then \
	    echo "error: Python 3.10 not found: install python3.10 or 'pyenv install 3.10.13' (TFX 1.16 does not support 3.11)" >&2; \
	    exit 1; fi; \
	  echo "Creating $(VENV) with $(PYTHON310)"; \
	  "$(PYTHON310)" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade "pip>=23.1" "setuptools>=68" wheel
	$(PY) -m pip install --quiet -e ".[test]" -c constraints.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(VENV)/bin/distillrec run $(ARGS)

# Two worker processes (pytest-xdist): one pytest process keeps one of the 2 cores busy on
# average. Tests sharing a trained model or a pipeline run stay on one worker
# (conftest.py). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

test: venv
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The quick tier: everything but the tests marked slow (pipeline runs, model training).
test-fast: venv
	$(PY) -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

bench: venv
	$(PY) benchmarks/run.py $(ARGS)

# Serving latency and memory of a finished run's models: make bench-latency RUN=runs/NAME
RUN ?= runs/default
bench-latency: venv
	$(PY) benchmarks/latency.py --run $(RUN) $(ARGS)

# Seconds and peak memory per component at 1e5, 1e6 and 3e6 interactions (about 1.5 hours).
bench-scale: venv
	$(PY) benchmarks/scale.py $(ARGS)

clean:
	rm -rf runs
