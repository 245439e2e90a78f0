# lighter-mm: `make test` sets everything up from nothing and runs the whole suite; `make run` runs the bot
# against the built-in simulator for a bounded time.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Python 3.13 when present (pyenv or PATH), otherwise python3 (3.11+ supported).
PYTHON_BOOT ?= $(shell for p in "$$HOME/.pyenv/versions/3.13.0/bin/python3.13" python3.13 python3; do \
	if $$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then echo $$p; break; fi; done)
DURATION ?= 120
# compiled modules are cached (__pycache__, git-ignored): every test worker would otherwise compile the project
unexport PYTHONDONTWRITEBYTECODE
SYMBOL ?= BTC
# `make run` is a demonstration: a tighter spread than the shipped config so that fills (and the inventory
# skew) show within a minute in the simulator. `make run-defaults` runs the shipped config.json unchanged.
DEMO_ENV := LMM_VOL_OBI_VOL_TO_HALF_SPREAD=2 LMM_VOL_OBI_MIN_HALF_SPREAD_BPS=1.5 \
	LMM_TRADING_DEFAULT_QUOTE_UPDATE_THRESHOLD_BPS=0.7

.PHONY: venv build test test-fast lint run run-defaults sim bench clean

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON_BOOT)" || { echo "no Python >= 3.11 found"; exit 1; }
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

build: venv
	$(PY) setup_cython.py build_ext --inplace

# every tier: the socket-free ones (unit, venue, backtest) on two worker processes (CPU-bound), then the
# socket and subprocess tiers (sim, e2e), which mostly wait on real time, on three, a file per worker (a
# module's simulator or daemon fixture starts once)
test: build
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2 tests/unit tests/venue tests/backtest
	$(PY) -m pytest -q -n 3 --dist loadfile tests/sim tests/e2e

# the unit and venue tiers: pure functions and state machines, and the daemon on the in-process local venue
# in virtual time; no sockets, no sleeps (tests/unit, tests/venue), on two worker processes
test-fast: build
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2 tests/unit tests/venue

lint: venv
	$(VENV)/bin/ruff check .

run: build
	$(DEMO_ENV) $(PY) -u market_maker_v2.py --symbol $(SYMBOL) --sim --duration $(DURATION)

run-defaults: build
	$(PY) -u market_maker_v2.py --symbol $(SYMBOL) --sim --duration $(DURATION)

sim: build
	$(PY) -m sim --lighter-port 8101 --binance-port 8102

bench: build
	$(PY) bench/bench_hotpath.py
	$(PY) bench/bench_feeds.py
	$(PY) bench/bench_tick_to_order.py
	$(PY) bench/bench_daemon.py

clean:
	rm -rf build $(VENV) lmm/_fast*.so _vol_obi_fast.c
