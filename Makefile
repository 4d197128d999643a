# Every target installs what it needs into .venv first: a machine with only
# Python 3.11+ is enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test demo lint bench awscli checkov clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sandbox]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install ecspipe with the dev and sandbox extras

test: $(STAMP) checkov  ## run the whole test suite (unit, moto, CLI, end to end)
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

CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

# checkov, which the tests run on the exported templates, in a venv of its own: it
# pins boto3==1.35.49 (ecspipe needs >=1.40). If it cannot be installed, `make test`
# still runs, and that one test is skipped saying so.
$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "checkov==3.3.30"

checkov:  ## checkov in .venv-checkov, for the tests of `ecspipe export`
	@$(MAKE) --no-print-directory $(CHECKOV) || echo "warning: checkov could not be installed in $(CHECKOV_VENV); the checkov test of the exported templates is skipped"

clean:
	rm -rf $(VENV) $(AWSCLI_VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .mypy_cache .demo .bench
