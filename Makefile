# The two commands of the README: `make run` (the hub's main job) and `make test` (all tests).
# Both create the virtualenv and install the project on first use; nothing else is needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.trackhub-installed

.PHONY: run test lint schema kafka-up kafka-status kafka-down clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "trackhub needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

## run: start the local broker (unless TRACKHUB_KAFKA_BOOTSTRAP), create topics, run the hub's
## processes (gateway, worker, seller API, delivery) fed by a simulation; Ctrl-C stops them
run: $(STAMP)
	$(BIN)/trackhub demo

## test: lint, check the JSON Schema files, run every test (the tests start their own broker)
test: $(STAMP)
	deploy/bin/ensure-prometheus
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/trackhub schema export --check
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

schema: $(STAMP)
	$(BIN)/trackhub schema export

kafka-up: $(STAMP)
	$(BIN)/trackhub kafka up

kafka-status: $(STAMP)
	$(BIN)/trackhub kafka status

kafka-down: $(STAMP)
	$(BIN)/trackhub kafka down

clean:
	-$(BIN)/trackhub kafka down
	rm -rf $(VENV) .trackhub .pytest_cache .ruff_cache
