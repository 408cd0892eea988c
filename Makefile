# ccapki: two commands do everything on a fresh machine
#   make demo   set up the virtual environment and run the end-to-end demo (SQLite store)
#   make test   set up and run lint, format check, mypy --strict and the whole test suite
#   make test-pg  the whole test suite again, every store on PostgreSQL (CCAPKI_TEST_PG_URL;
#                 CI runs it after `make test`: under CI only sqlite_only tests may skip)
#   make bench  benchmarks (see benchmarks/README.md)

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test test-pg lint bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/ccapki demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy src

test: lint
	$(BIN)/python -m pytest -q

test-pg: $(STAMP)
	CCAPKI_TEST_BACKEND=postgresql $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
