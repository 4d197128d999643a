# Every target installs what it needs into .venv first: a machine with only
# Python 3.11+ is enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test demo lint bench awscli clean

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
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

AWSCLI_VENV := .venv-awscli
AWSCLI      := $(AWSCLI_VENV)/bin/aws
BENCH_ARGS  ?=

# The AWS CLI v1 for bench/baseline_awscli.sh, in a venv of its own: it pins botocore.
$(AWSCLI):
	test -x $(AWSCLI_VENV)/bin/python || $(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AWSCLI_VENV)/bin/python -m pip install --quiet "awscli==1.46.3"

awscli: $(AWSCLI)  ## the AWS CLI (v1) used by the benchmark's baseline, in .venv-awscli

bench: $(STAMP) $(AWSCLI)  ## speed goals vs. an AWS CLI baseline, against a local sandbox -> bench/RESULTS.md
	$(BIN)/python bench/bench.py --aws $(AWSCLI) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(AWSCLI_VENV) .pytest_cache .ruff_cache .mypy_cache .demo .bench
