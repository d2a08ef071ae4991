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
# server and the heaviest timing-bound one (schemathesis, on SQLite) run after
# the others, side by side. Bytecode is cached even where the environment says
# not to: pytest rewrites every test module's asserts, 3 s a process uncached.
# Temp files (SQLite hubs) go to memory where there is a tmpfs: no test is about
# the disk, and fsyncs were a fifth of the suite's CPU.
SERIAL_TESTS := tests/e2e/test_postgres_faults.py tests/e2e/test_http_schema.py
TEST_TMP := $(if $(wildcard /dev/shm/.),--basetemp=/dev/shm/perdure-tests-$(shell id -u))
test: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP)
	$(BIN)/python -m pytest tests -n 4 --dist worksteal -m "not pg_restart and not serial" \
	  $(TEST_TMP:%=%-parallel)
	$(BIN)/python -m pytest $(SERIAL_TESTS) -n 2 -m "pg_restart or serial" $(TEST_TMP:%=%-serial)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	PYTHONPATH=src $(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) perdure.db perdure.db-wal perdure.db-shm
