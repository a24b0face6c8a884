# Targets read like the README. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
TOOLS := .cdp/tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
BIN := $(VENV)/bin
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export GX_ANALYTICS_ENABLED := False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False

# Demo data: a small brand, a few days.
DEMO_CUSTOMERS ?= 2000
DEMO_DAYS ?= 3
DEMO_START ?= 2026-11-01
DEMO_LANDING ?= .cdp/landing

# Benchmark size in customers (1000000 is the headline; 50000 takes a few minutes).
SCALE ?= 50000

.PHONY: help install chromium sample-data demo test test-unit lint governance bench lock up down clean warehouse-stop

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --compile-bytecode --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed ## install every dependency at the locked versions, write the dbt manifest (fast when done)
	@$(BIN)/cdp manifest --if-stale > /dev/null

sample-data: install ## write the demo landing zone (.cdp/landing) unless it is there already
	@if [ ! -f $(DEMO_LANDING)/.generated-$(DEMO_CUSTOMERS)-$(DEMO_DAYS)-$(DEMO_START) ]; then \
		rm -rf $(DEMO_LANDING); \
		$(BIN)/cdp generate --out $(DEMO_LANDING) --customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS) --start $(DEMO_START) && \
		touch $(DEMO_LANDING)/.generated-$(DEMO_CUSTOMERS)-$(DEMO_DAYS)-$(DEMO_START); \
	fi

demo: sample-data ## generate sample data and run the whole pipeline on the embedded warehouse
	@end=$$(date -d "$(DEMO_START) + $$(( $(DEMO_DAYS) - 1 )) days" +%F); \
	status=0; $(BIN)/cdp run --landing $(DEMO_LANDING) --start $(DEMO_START) --end $$end || status=$$?; \
	$(BIN)/cdp warehouse stop >/dev/null; exit $$status

test: install chromium ## run the test suite (unit, integration, end to end, browser)
	$(BIN)/pytest

# The browser test drives Debian's Chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium > /dev/null || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
		echo "installing Debian's chromium for the browser test"; \
		$$sudo apt-get update -qq > /dev/null && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium > /dev/null; \
	} || { echo "the browser test needs Chromium: apt-get install chromium (as root)" >&2; exit 1; }

test-unit: install ## only the fast unit tests
	$(BIN)/pytest -m "not integration and not e2e and not browser"

lint: install governance ## ruff (with Airflow rules), sqlfluff on the dbt models, the DAG integrity test, the governance check
	$(BIN)/ruff check plugins dags tests bench
	scripts/lint_sql.sh
	$(BIN)/pytest -q tests/dags

governance: install ## every activation against the data policies and the dbt labels (no warehouse needed)
	$(BIN)/cdp governance check

bench: install ## the pipeline at SCALE customers, stage by stage, against physical limits (bench-results/)
	$(BIN)/python -m bench.run --scale $(SCALE)

lock: | $(UV) ## re-resolve the lock file after changing pyproject.toml
	$(UV) lock --python $(PYTHON)

up: install ## start Airflow (UI, scheduler, DAG processor, triggerer) on the embedded warehouse with sample data; print the login
	scripts/local_airflow.sh up

down: ## stop the local Airflow and the embedded warehouse
	scripts/local_airflow.sh down

warehouse-stop: ## stop the embedded warehouse
	$(BIN)/cdp warehouse stop

clean: ## stop the warehouse and delete all local state (.cdp)
	-$(BIN)/cdp warehouse stop
	rm -rf .cdp dbt_project/target dbt_project/logs
