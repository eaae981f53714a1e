# The two commands: `make run` and `make test`. Every target creates .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: install run test quick check lint types e2e clean system-packages

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the product with its dev tools

run: install ## start API + worker on the embedded SQLite default
	$(BIN)/jejakekal serve

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

types: install
	$(BIN)/mypy

quick: lint types ## lint, types and the unit tests
	$(BIN)/python -m pytest -q tests/unit

check: test

# Debian packages the suite needs (PostgreSQL server, bubblewrap, Chromium, Tesseract): installed
# when this user may, else the script stops at once naming the command to run.
system-packages:
	bash scripts/system-packages

test: system-packages lint types ## the whole suite on SQLite and on a throwaway PostgreSQL
	$(BIN)/python -m pytest -q tests

e2e: system-packages install
	$(BIN)/python -m pytest -q tests/integration tests/e2e

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
