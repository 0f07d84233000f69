# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.killah-installed

.PHONY: run test test-slow bench lint setup

run: $(STAMP)
	$(PY) -m app

test: $(STAMP)
	bash scripts/run_tests.sh

test-slow: $(STAMP)
	bash scripts/run_tests.sh -m slow

bench: $(STAMP)
	for b in tests/bench/bench_*.py; do $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check engine app training tests

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-models.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)
