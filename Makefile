# Every target installs what it needs into .venv first: a machine with only
# Python 3.11+ is enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test demo lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sandbox]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install ecspipe with the dev and sandbox extras

test: $(STAMP)     ## run the whole test suite (unit, moto, CLI, end to end)
	$(BIN)/python -m pytest -n 2 -q

demo: $(STAMP)     ## start the sandbox and run the whole story against it
	bash scripts/demo.sh

lint: $(STAMP)     ## ruff and mypy
	$(BIN)/ruff check src tests
	$(BIN)/mypy

bench: $(STAMP)    ## speed goals: startup time, API calls per command
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .demo
