# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Some machines (this project's CI among them) set PYTHONDONTWRITEBYTECODE=1: then every process
# (each pytest worker, each CLI run a test starts, each render worker) compiles the package and
# the tests from source again. Measured 2026-12-04 on the CI machine: the CLI tests cost 16 %
# less CPU with bytecode written (10.1 vs 12.1 CPU s, farm-bench median of 3, side by side).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-slow lint bench mutate check-system clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3,11),(3,12)) else "registry needs Python 3.11 or 3.12")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# WeasyPrint needs the system's Pango (>= 1.44); say so plainly instead of failing deep in a render.
# It subsets the embedded fonts with HarfBuzz's subset library; without it, fontTools (about
# twice the PDF-writing time, and WeasyPrint warns in each report's log line): say so.
check-system:
	@$(PYTHON) -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("pango-1.0") else "WeasyPrint needs Pango: install it with  apt-get install libpango-1.0-0 libpangoft2-1.0-0  (Debian/Ubuntu) or  brew install pango  (macOS)")'
	@$(PYTHON) -c 'import ctypes.util; ctypes.util.find_library("harfbuzz-subset") or print("note: WeasyPrint will subset fonts with fontTools, about twice as slow as with HarfBuzz: install it with  apt-get install libharfbuzz-subset0  (Debian/Ubuntu) or  brew install harfbuzz  (macOS)")'

demo: check-system $(STAMP)
	$(BIN)/registry demo

test: check-system $(STAMP)
	$(BIN)/ruff check registry analyses tests benchmarks tools
	$(BIN)/mypy analyses registry
	$(BIN)/python -m pytest -n 2 -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m slow -q

# The whole-run benchmarks at 1x, 10x and 100x; rows appended to benchmarks/RESULTS.md.
# 1000x (234,000 patients, 20 sites) too with  make bench BENCH_ARGS=--with-1000
bench: check-system $(STAMP)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# Mutation testing (mutmut) of analyses/, the flag lifecycle, the derived rules, the pull's
# batching and deletions, atomic outputs, redaction and secrets, each with its own tests;
# first issue #16's named bugs (tools/issue_mutants.py); scores in var/mutate/summary.md
# (docs/testing.md). Some groups: make mutate MUTATE_ARGS="log pull"
mutate: $(STAMP)
	$(BIN)/python tools/issue_mutants.py
	$(BIN)/python tools/mutate.py $(MUTATE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check registry analyses tests benchmarks tools
	$(BIN)/mypy analyses registry

clean:
	rm -rf var mutants .pytest_cache .mypy_cache .ruff_cache
