# The front door. A newcomer needs two commands: `make demo` and `make test`.
# Everything is installed into ./.venv from the committed uv.lock; nothing global.

PYTHON      ?= python3.11
UV_VERSION  := 0.13.9
TOOLS       := .tools
UV          := $(TOOLS)/bin/uv
VENV        := .venv
BIN         := $(VENV)/bin
BQEMU       := $(TOOLS)/bqemulator
# Test-only wheels fetched from PyPI by hash (see tests/oura-ring-client.txt).
WHEELS      := $(TOOLS)/wheels

# Telemetry off by default (no internet here, and users did not ask for it).
export RUNTIME__DLTHUB_TELEMETRY ?= false
export DBT_SEND_ANONYMOUS_USAGE_STATS ?= false
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: setup demo test lint bench chaos browser bqemulator schedule lock clean help

help:
	@echo "make demo   - set up and run the whole pipeline on the local Oura-compatible server"
	@echo "make test   - set up and run the offline test suite"
	@echo "make lint   - ruff (style, likely bugs) and import-linter (the layers' direction)"
	@echo "make bench  - benchmarks against a naive loader and DuckDB's own ingest (BENCH_ARGS=--quick)"
	@echo "make chaos  - the fault-injection suite: many seeded trials per fault (CHAOS_ARGS=...)"
	@echo "make schedule - serve the nightly refresh on a local Prefect server (SCHEDULE_ARGS=...)"
	@echo "make lock   - re-resolve uv.lock after editing pyproject.toml"
	@echo "make clean  - remove the environment and local state (keeps data/)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(WHEELS)/.fetched: $(UV) tests/oura-ring-client.txt
	$(TOOLS)/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
	  --only-binary=:all: --python-version 3.12 --require-hashes \
	  -r tests/oura-ring-client.txt -d $(WHEELS)
	@touch $@

$(VENV)/.synced: $(UV) $(WHEELS)/.fetched pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON) --all-extras
	@touch $@

setup: $(VENV)/.synced

demo: setup
	$(BIN)/oura-elt demo

test: setup browser bqemulator
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Zero findings or a failure: ruff's rules and format (pyproject [tool.ruff]) and the
# direction of imports between layers (pyproject [tool.importlinter]).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: setup bqemulator
	$(BIN)/python -m bench.run $(BENCH_ARGS)

chaos: setup
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# The report's browser test drives Debian's chromium; install it when missing (needs
# root or sudo). If that is impossible the test says why it skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report's browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null) \
	    || echo "could not install chromium; the browser test will be skipped"; }

# The BigQuery tests run against a local BigQuery API (tests/bigquery_emulator.py):
# bqemulator, pinned in tests/bqemulator-requirements.txt, in its own environment (it
# brings its own DuckDB; ours stays pinned for file compatibility), with DuckDB's spatial
# and avro extensions from PyPI installed where its DuckDB looks (HOME=$(BQEMU)/home), so
# it downloads nothing at run time. Done once; if it cannot be installed, the BigQuery
# tests say why they skipped.
bqemulator: $(BQEMU)/.installed

$(BQEMU)/.installed: tests/bqemulator-requirements.txt | $(UV)
	@echo "installing bqemulator for the BigQuery tests into $(BQEMU)"
	@rm -rf $(BQEMU) && { \
	  $(UV) venv --quiet --python $(PYTHON) $(BQEMU) \
	  && $(UV) pip install --quiet --python $(BQEMU)/bin/python -r tests/bqemulator-requirements.txt \
	  && mkdir -p $(BQEMU)/home && HOME=$(abspath $(BQEMU))/home $(BQEMU)/bin/python -c "import duckdb, glob; \
	       [duckdb.execute(f\"INSTALL '{p}'\") for p in glob.glob('$(BQEMU)/lib/python*/site-packages/duckdb_extension_*/extensions/*/*.duckdb_extension')]" \
	  && touch $@; } || echo "could not install bqemulator; the BigQuery tests will be skipped"

schedule: setup
	$(BIN)/oura-elt schedule $(SCHEDULE_ARGS)

lock: $(UV) $(WHEELS)/.fetched
	$(UV) lock --python $(PYTHON)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
