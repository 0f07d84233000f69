# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.killah-installed

.PHONY: run test test-slow bench bench-deps lint setup

run: $(STAMP)
	$(PY) -m app

test: $(STAMP)
	bash scripts/run_tests.sh

test-slow: $(STAMP)
	bash scripts/run_tests.sh -m slow

bench: $(STAMP)  # llama.cpp reference: `make bench-deps` first
	for b in tests/bench/bench_*.py; do $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check engine app training tests

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-models.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

# llama.cpp, the benchmarks' reference (~20 min build). Portable flags: the native build
# segfaults on this AVX-512/AMX machine (docs/benchmarks.md).
bench-deps: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF" \
		$(PY) -m pip install --no-deps llama-cpp-python==0.3.36 diskcache
