# scorestream developer commands. `make test` and `make demo` work on a bare machine:
# they create .venv, install the project, and start the local stack (Kafka, ClickHouse, SMTP).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-unit lint bench demo stack-up stack-down stack-status dashboards clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/scorestream stack up
	$(BIN)/pytest -q

test-unit: install
	$(BIN)/pytest -q -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy scorestream

bench: install
	$(BIN)/scorestream stack up
	$(BIN)/python -m bench

demo: install
	$(BIN)/scorestream demo

stack-up: install
	$(BIN)/scorestream stack up

stack-down: install
	$(BIN)/scorestream stack down

stack-status: install
	$(BIN)/scorestream stack status

dashboards: install
	$(BIN)/python -m scorestream.grafana.build
	$(BIN)/python -m scorestream.grafana.render_previews
	$(BIN)/python -m scorestream.grafana.render_prometheus_previews

clean:
	-$(BIN)/scorestream stack down
	rm -rf $(VENV) .stack build *.egg-info
