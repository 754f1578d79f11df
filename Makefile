# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint check-system clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3,11),(3,12)) else "registry needs Python 3.11 or 3.12")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# WeasyPrint needs the system's Pango (>= 1.44); say so plainly instead of failing deep in a render.
check-system:
	@$(PYTHON) -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("pango-1.0") else "WeasyPrint needs Pango: install it with  apt-get install libpango-1.0-0 libpangoft2-1.0-0  (Debian/Ubuntu) or  brew install pango  (macOS)")'

demo: check-system $(STAMP)
	$(BIN)/registry demo

test: check-system $(STAMP)
	$(BIN)/ruff check registry analyses tests benchmarks
	$(BIN)/mypy analyses registry
	$(BIN)/python -m pytest -n 2 -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m slow -q

lint: $(STAMP)
	$(BIN)/ruff check registry analyses tests benchmarks
	$(BIN)/mypy analyses registry

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
