# One entry point per chore; CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo ui test bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.server-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[server]"
	touch $@ $(VENV)/.installed

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed $(VENV)/.server-installed

## demo: set up .venv and run the example pipeline end to end
demo: $(VENV)/.installed
	$(BIN)/headwater run examples/daily_etl.py --date 2026-01-05 --rerun

## ui: set up .venv with the server extra, then serve the web UI (and a scheduler) on the
## demo's runs; it prints a login URL to open. Ctrl-C stops it.
ui: $(VENV)/.server-installed
	$(BIN)/headwater dev --pipelines examples

# Test workers (pytest-xdist): one per CPU by default; `make test TEST_WORKERS=0` runs the
# suite in this process only. worksteal lets an idle worker take tests queued on a busy one.
TEST_WORKERS ?= auto

## test: set up .venv with the dev extras and run the whole test suite, in parallel
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

## bench: run the benchmarks and rewrite docs/benchmarks.md
bench: $(VENV)/.installed
	$(BIN)/python bench/run.py

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .headwater .pytest_cache
