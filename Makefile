# The front door. A newcomer needs two commands: `make demo` and `make test`.
# Everything is installed into ./.venv from the committed uv.lock; nothing global.

PYTHON      ?= python3.11
UV_VERSION  := 0.13.9
TOOLS       := .tools
UV          := $(TOOLS)/bin/uv
VENV        := .venv
BIN         := $(VENV)/bin

# Telemetry off by default (no internet here, and users did not ask for it).
export RUNTIME__DLTHUB_TELEMETRY ?= false
export DBT_SEND_ANONYMOUS_USAGE_STATS ?= false
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: setup demo test schedule lock clean help

help:
	@echo "make demo   - set up and run the whole pipeline on the local Oura-compatible server"
	@echo "make test   - set up and run the offline test suite"
	@echo "make schedule - serve the nightly refresh on a local Prefect server (SCHEDULE_ARGS=...)"
	@echo "make lock   - re-resolve uv.lock after editing pyproject.toml"
	@echo "make clean  - remove the environment and local state (keeps data/)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON) --all-extras
	@touch $@

setup: $(VENV)/.synced

demo: setup
	$(BIN)/oura-elt demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

schedule: setup
	$(BIN)/oura-elt schedule $(SCHEDULE_ARGS)

lock: $(UV)
	$(UV) lock --python $(PYTHON)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
