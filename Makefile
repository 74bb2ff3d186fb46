# ctrack developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install browsers demo test test-unit lint format bench stack-up stack-down clean

help: ## List the commands
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(INSTALLED) ## Create the venv and install ctrack with its dev tools

CHROMIUM ?= /usr/bin/chromium
browsers: ## Install Debian's Chromium for the dashboard's browser test (skipped when present)
	@test -x $(CHROMIUM) || { \
	  sudo=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; }

demo: $(INSTALLED) ## Start the local broker, run the lockout slice, print timelines (Access Locked)
	$(BIN)/ctrack demo

test: $(INSTALLED) browsers ## Run every test (starts its own broker unless KAFKA_BOOTSTRAP_SERVERS is set)
	$(BIN)/pytest

test-unit: $(INSTALLED) ## Run the fast unit tests only (no broker)
	$(BIN)/pytest tests/unit

lint: $(INSTALLED) ## ruff check, ruff format --check, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(INSTALLED) ## Every benchmark (each starts its own broker; see docs/BENCHMARKS.md)
	$(BIN)/python bench/stack_startup.py
	$(BIN)/python bench/producer.py
	$(BIN)/python bench/sink.py
	$(BIN)/python bench/stream_worker.py

.PHONY: bench-queries
RETURNS ?= 40000
bench-queries: $(INSTALLED) ## Timeline and dashboard latency on a season generated in chdb (RETURNS=4000000: 100M events)
	$(BIN)/python bench/queries.py --returns $(RETURNS)

.PHONY: bench-season bench-faults
SCALE ?= small
bench-season: $(INSTALLED) ## A tax season through the whole pipeline vs a baseline (SCALE=tiny|small|medium|large|full)
	$(BIN)/python bench/season.py --scale $(SCALE)

bench-faults: $(INSTALLED) ## Broker, worker and sink killed mid-run, poison records: reconciliation each
	$(BIN)/python bench/faults.py

.PHONY: bench-auth
bench-auth: $(INSTALLED) ## Dynamic password service: link-open and code-verify latency at 500 requests/s vs a trivial endpoint
	$(BIN)/python bench/auth.py

stack-up: $(INSTALLED) ## Start the local Kafka broker
	$(BIN)/ctrack stack up

stack-down: ## Stop the local Kafka broker (and the test broker, if left running)
	-$(BIN)/ctrack stack down
	-CTRACK_DATA_DIR=.ctrack-data/test-19092 CTRACK_KAFKA_PORT=19092 $(BIN)/ctrack stack down

clean: stack-down ## Remove the venv and all local data (jars, broker data, chdb)
	rm -rf $(VENV) .ctrack-data
