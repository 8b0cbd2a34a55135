# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install the project.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

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

# The suite again with the oldest dependency versions allowed: data must not depend on them.
OLDEST := .venv-oldest
$(OLDEST)/.installed: pyproject.toml tests/constraints-oldest.txt
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install --quiet --upgrade pip
	$(OLDEST)/bin/pip install --quiet -c tests/constraints-oldest.txt -e '.[dev]'
	touch $@

test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/pytest

bench: $(STAMP)
	$(BIN)/python -m snoopbench.benchmarks.ratios $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OLDEST) build *.egg-info .pytest_cache
