# Tollgate: `make run` brings the whole stack up with a seeded demo; `make test` runs every suite.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench format

install:
	scripts/bootstrap.sh

run:
	scripts/run.sh

test:
	scripts/test.sh

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: install
	scripts/bench.sh
