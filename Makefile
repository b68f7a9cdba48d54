# The two commands of the README: `make run` (embedded demo, no services) and `make test`
# (the whole suite; starts Kafka and Redis through infra/ when they do not answer).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test faults unit lint bench up down status services clean

$(STAMP): pyproject.toml
	infra/install.sh run
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	STREAMWISE_DEV=1 $(BIN)/streamwise run

# Debian's packages first (infra/install.sh: the one list CI uses too), then Kafka and Redis.
services:
	infra/install.sh test
	infra/kafka/kafka.sh start
	infra/redis.sh start

# PYTEST_ADDOPTS passes through untouched (pytest reads it from the environment).
test: $(STAMP) services
	$(BIN)/python -m pytest

# Kill -9, broker and Redis restarts, a worker lost from a group: prints the fault table.
faults: $(STAMP) services
	rm -f reports/faults.md
	$(BIN)/python -m pytest -m faults tests/integration
	cat reports/faults.md

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/contract online_models streams api

# mypy is strict on the ML core, and checks the edges (api, streams) with its defaults.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict online_models
	$(BIN)/mypy api streams

# Every benchmark against its baseline in the same run: bench/results.json and BENCHMARKS.md
# (about 15 minutes; BENCH_ARGS=--quick for a smoke run). Builds .venv-quix for the Quix peer once.
bench: $(STAMP) services
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The local stack as processes, no Docker: Kafka, Redis, the topics, then Prometheus, the worker and
# the API (infra/stack.sh; logs in .run/logs, pid files in .run). STREAMWISE_DEV=1 without a key.
up: $(STAMP) services
	$(BIN)/streamwise topics create
	infra/stack.sh start
	@echo "make status (or $(BIN)/streamwise status) shows it; make down stops it"

# Reverse order; each script stops only what it started.
down:
	-infra/stack.sh stop
	-infra/redis.sh stop
	-infra/kafka/kafka.sh stop

status: $(STAMP)
	$(BIN)/streamwise status

clean: down
	rm -rf .run
