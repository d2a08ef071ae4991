# Every target bootstraps .venv itself: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/perdure serve examples/hello.py --store sqlite:///perdure.db --port 7071

# Four processes: the suite mostly waits (on leases, timers, real servers), so it
# overlaps well even on two cores. The test that restarts the shared PostgreSQL
# server, and the heaviest timing-bound one, run alone after the others.
test: $(STAMP)
	$(BIN)/python -m pytest tests -n 4 -m "not pg_restart and not serial"
	$(BIN)/python -m pytest tests -m "pg_restart or serial"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	PYTHONPATH=src $(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) perdure.db perdure.db-wal perdure.db-shm
