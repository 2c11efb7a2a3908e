# Two commands do all set-up: `make run` serves Kronvex, `make test` runs every check.
# Both create the virtual environment and install what is needed on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml clients/python/pyproject.toml | cksum | cut -d' ' -f1)

# The suite runs on every core (pytest-xdist): each worker has its own test database in the
# one embedded PostgreSQL. `make test PYTEST_ARGS="-n 0 ..."` runs it in one process.
PYTEST_ARGS ?= -n auto

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing Kronvex and its dependencies into $(VENV) (first run only)..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e 'clients/python[langchain,mcp]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(BIN)/python manage.py serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/api_latency.py

clean:
	rm -rf $(VENV) .data
