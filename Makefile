# civicpoll developer tasks. `make run` needs only python3 (>= 3.11): PostgreSQL and
# Redis come from Python wheels when DATABASE_URL / REDIS_URL are unset.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast lint docs docs-serve check bench soak fmt clean

help:
	@echo "make venv   - create .venv and install civicpoll[dev]"
	@echo "make run    - start the dev server on http://localhost:8000 (embedded PG/Redis)"
	@echo "make test   - browser and cluster deps + pytest"
	@echo "make test-fast - pytest without the tests marked slow"
	@echo "make docs   - build the manual (mkdocs build --strict) into site/"
	@echo "make lint   - ruff check, ruff format --check, mypy"
	@echo "make check  - lint + test"
	@echo "make bench  - vote throughput benchmark"
	@echo "make soak   - an hour of mixed load on one process (SOAK_ARGS=\"--duration 30m\")"
	@echo "make fmt    - ruff format + ruff check --fix"
	@echo "make clean  - remove caches and test artefacts"

venv: $(STAMP)

# Re-install whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(STAMP)
	$(BIN)/civicpoll dev

test: $(STAMP)
	scripts/browser-deps.sh
	scripts/cluster-deps.sh
	scripts/promtool-deps.sh
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow" --no-cov

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict -a 127.0.0.1:8001

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy service

check: lint test

bench: $(STAMP)
	bench/vote.sh

SOAK_ARGS ?=
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache htmlcov .coverage tests/artifacts site
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
