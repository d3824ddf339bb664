# stockpred: `make run` runs the main job on the embedded default; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
PORT ?= 8000

.PHONY: run test check lint typecheck unit bench clean up down

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "stockpred needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -e .
	@touch $@

$(VENV)/.test-installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.run-installed

## run: ingest the real sample data, build features, evaluate and train the models walk-forward
## next to the baselines, register the champion, forecast one ticker, then serve the API on
## localhost with a demo client, the stream replaying the last stored year so that websocket
## clients see forecasts arrive (Ctrl-C stops it)
run: $(VENV)/.run-installed
	$(VENV)/bin/stockpred ingest sample
	$(VENV)/bin/stockpred data list
	$(VENV)/bin/stockpred features build
	$(VENV)/bin/stockpred train --test-size 252
	$(VENV)/bin/stockpred predict AAPL
	$(VENV)/bin/stockpred serve --demo --replay --port $(PORT)

## up: the whole platform as processes on this machine: API x2 behind NGINX, the stream with the
## replay feed, the scheduler, the dashboard, Prometheus and Alertmanager, on PostgreSQL, Redis
## and a Kafka-protocol broker (Tansu); prints every URL. PORT_OFFSET=N moves every port by N.
## down: stops exactly what `make up` started (.platform/processes.json)
PORT_OFFSET ?= 0
up: $(VENV)/.test-installed
	$(PY) scripts/local_platform.py up --port-offset $(PORT_OFFSET)

down:
	@if [ -x $(PY) ]; then $(PY) scripts/local_platform.py down; else python3 scripts/local_platform.py down; fi

## test: ruff, mypy --strict and the tests
test: $(VENV)/.test-installed lint typecheck unit

check: test

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

typecheck: $(VENV)/.test-installed
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo

unit: $(VENV)/.test-installed
	$(VENV)/bin/pytest

## bench: the benchmarks (need ../shared/data; store.py also a PostgreSQL server)
bench: $(VENV)/.test-installed
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/store.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
