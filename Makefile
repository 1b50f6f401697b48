# scorestream developer commands. `make test` and `make demo` work on a bare machine:
# they create .venv, install the project, and start the local stack (Kafka, ClickHouse, SMTP).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-unit chaos lint bench demo stack-up stack-down stack-status dashboards email-preview postman clean

NATIVE_STAMP := $(VENV)/.native-installed
# rustup installs cargo here; a non-interactive shell may not have it on its PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The validator's compiled fast path (Rust, built by maturin from crates.io). Optional: without
# a Rust toolchain the validator runs in Python alone, with the same results, slower.
$(NATIVE_STAMP): $(STAMP) native/Cargo.toml native/Cargo.lock native/pyproject.toml native/scorestream_native.pyi $(wildcard native/src/*.rs)
	@if ! command -v cargo >/dev/null; then \
	  echo "cargo not found: the validator's compiled fast path is not built (https://rustup.rs)"; \
	elif $(BIN)/pip install --quiet ./native; then \
	  touch $(NATIVE_STAMP); \
	else \
	  echo "native/ did not build (see above): the worker validates in Python alone, slower"; \
	fi

install: $(STAMP) $(NATIVE_STAMP)

# Two test modules at a time (pytest-xdist; a module stays on one process): the suite waits on
# brokers and outages far more than it computes. `make test PYTEST_ARGS=` runs one at a time.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: install
	$(BIN)/scorestream stack up
	$(BIN)/pytest -q --durations=30 $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -q -m "not integration"

# The fault suite alone, with the issue's full outages (30 s) and more records per scenario;
# `make test` runs it too, with 10-s outages and 6,000 records (its time budget).
chaos: install
	$(BIN)/scorestream stack up
	SCORESTREAM_CHAOS_OUTAGE_S=30 SCORESTREAM_CHAOS_MAJORITY_S=20 SCORESTREAM_CHAOS_RECORDS=$${SCORESTREAM_CHAOS_RECORDS:-12000} \
	SCORESTREAM_CHAOS_RATE=$${SCORESTREAM_CHAOS_RATE:-2000} \
	  $(BIN)/pytest -q -p no:cacheprovider -m chaos tests/chaos

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy scorestream
	@if command -v cargo >/dev/null; then \
	  cd native && cargo fmt --check && cargo clippy --release --quiet -- -D warnings; \
	fi

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

# The drift colours follow $SCORESTREAM_THRESHOLDS (as the check does): checked first.
dashboards: install
	$(BIN)/scorestream thresholds > /dev/null
	$(BIN)/python -m scorestream.grafana.build
	$(BIN)/python -m scorestream.grafana.render_previews
	$(BIN)/python -m scorestream.grafana.render_prometheus_previews

email-preview: install
	$(BIN)/python -m scorestream.consumers.alerting.preview

# The Postman collection and environment in postman/, from the demo model's OpenAPI document.
postman: install
	$(BIN)/python -m scorestream.producers.bridge.postman

clean:
	-$(BIN)/scorestream stack down
	rm -rf $(VENV) .stack build *.egg-info node_modules
