# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install the project.
# `make test-oldest` runs the tests again with the oldest release of every dependency that
# pyproject.toml allows (ci/oldest.txt), in .venv-oldest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OLDEST_VENV := .venv-oldest
OLDEST_STAMP := $(OLDEST_VENV)/.installed
# The constraints reach pip's isolated build environments too (setuptools), and the wheel test's
# fresh venv: so an absolute path, exported to every step.
OLDEST_PINS := PIP_CONSTRAINT=$(CURDIR)/ci/oldest.txt
# What test-oldest runs: by default the command-line, parameter, wheel, contract and golden-fingerprint
# tests (the data must not depend on the versions);
# the whole suite (about 10 minutes on 2 busy cores) with: make test-oldest OLDEST_TESTS=tests
OLDEST_TESTS ?= tests/test_cli_usage.py tests/test_params.py tests/test_registry.py \
	tests/test_cli_scoring.py tests/test_wheel.py tests/test_versions.py tests/test_contract.py

.PHONY: demo test test-oldest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snoopbench demo

test: $(STAMP)
	$(BIN)/pytest

$(OLDEST_STAMP): pyproject.toml ci/oldest.txt
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_PINS) $(OLDEST_VENV)/bin/pip install --quiet -e '.[dev]'
	$(OLDEST_VENV)/bin/python ci/check_oldest.py ci/oldest.txt
	touch $(OLDEST_STAMP)

test-oldest: $(OLDEST_STAMP)
	$(OLDEST_PINS) $(OLDEST_VENV)/bin/pytest $(OLDEST_TESTS)

bench: $(STAMP)
	$(BIN)/python -m snoopbench.benchmarks.ratios $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OLDEST_VENV) build *.egg-info .pytest_cache
