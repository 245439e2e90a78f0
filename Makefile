# lighter-mm: `make test` sets everything up from nothing and runs the whole suite; `make run` runs the bot
# against the built-in simulator for a bounded time.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Python 3.13 when present (pyenv or PATH), otherwise python3 (3.11+ supported).
PYTHON_BOOT ?= $(shell for p in "$$HOME/.pyenv/versions/3.13.0/bin/python3.13" python3.13 python3; do \
	if $$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then echo $$p; break; fi; done)
DURATION ?= 120
SYMBOL ?= BTC

.PHONY: venv build test lint run bench clean

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON_BOOT)" || { echo "no Python >= 3.11 found"; exit 1; }
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

build: venv
	$(PY) setup_cython.py build_ext --inplace

test: build
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .

run: build
	$(PY) -u market_maker_v2.py --symbol $(SYMBOL) --sim --duration $(DURATION)

bench: build
	$(PY) bench/bench_hotpath.py

clean:
	rm -rf build $(VENV) _vol_obi_fast*.so _vol_obi_fast.c
