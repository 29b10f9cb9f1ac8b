# Two commands on a fresh Debian machine: `make demo` and `make test`. Both run `setup` first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# LANG is also the locale variable (C.UTF-8, ...): only en or ru select a demo language.
DEMO_LANG := $(if $(filter ru,$(LANG)),ru,en)
DEVICE ?= cpu
DEMO_DIR ?= demo/$(DEMO_LANG)
export OMP_NUM_THREADS ?= 2
TORCH_VERSION := 2.13.0
# `make lock` resolves against the CPU torch wheel found here (any folder or URL uv takes for --find-links).
TORCH_FIND_LINKS ?= /opt/wheels
UV_VERSION := 0.13.9
# pytest-xdist workers of `make test`; a test file stays on one worker (--dist loadfile: its module fixtures
# are built once). Two workers on 2 cores: 11 min instead of 16.5 (2026-12-02, 2-core AMD EPYC), since many
# slow tests wait on subprocesses, heartbeats and timeouts rather than compute.
TEST_WORKERS ?= 2

.PHONY: setup lock browser test test-fast lint demo clean

# Set-up from requirements.lock: the exact versions CI tests (all extras + test tools, Python 3.11,
# Linux, CPU torch). torch comes first so that nothing pulls a CUDA build; the project itself goes in
# last, editable, without dependencies (the lock has them all).
$(BIN)/tacotron: pyproject.toml requirements.lock
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq espeak-ng sox)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

setup: $(BIN)/tacotron

# Refresh requirements.lock after editing the dependencies in pyproject.toml. Versions already locked
# stay; `make lock UPGRADE=1` moves every package to its newest release that pyproject.toml allows.
# torch is resolved as its CPU build (so no nvidia-*) and written as torch==$(TORCH_VERSION); triton is
# there for the dev extra (its CPU interpreter runs the kernel tests), not for torch.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	echo "torch==$(TORCH_VERSION)+cpu" > $(VENV)/torch-cpu.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet \
	  --find-links $(TORCH_FIND_LINKS) --override $(VENV)/torch-cpu.txt $(if $(UPGRADE),--upgrade) \
	  --custom-compile-command "make lock" -o requirements.lock
	sed -i 's/^torch==$(TORCH_VERSION)+cpu$$/torch==$(TORCH_VERSION)/; s|--override .venv/torch-cpu.txt|CPU torch==$(TORCH_VERSION)|' requirements.lock
	@! grep -nE '^nvidia-' requirements.lock || (echo "requirements.lock has CUDA-only packages" >&2; exit 1)

# Headless Chromium renders the HTML report and drives the web page in tests.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: setup browser
	@command -v festival >/dev/null && [ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] && \
	  [ -d /usr/share/festival/voices/russian/msu_ru_nsh_clunits ] && [ -d /usr/share/games/fortunes/ru ] || \
	  (apt-get update -qq && apt-get install -y -qq festival festvox-us-slt-hts festvox-ru fortunes fortunes-ru)
	@# PostgreSQL server binaries: tests/tune start a throw-away cluster of their own (never the system one)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq postgresql)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

demo: setup
	$(BIN)/python -m tacotron demo --lang $(DEMO_LANG) --device $(DEVICE) --out $(DEMO_DIR)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
