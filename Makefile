# claimsync — the project's vocabulary. Every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov lives in its own venv: its dependencies pin other versions than the project's tools.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Every install is from a lock file with hashes (pip's hash-checking mode): a changed or unlisted
# artifact fails. `make lock` regenerates the locks from the requirements*.txt pins.
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check --require-hashes
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(PIP_COMPILE_ARGS)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup checkov-setup lock test lint typecheck unit demo bench synth clean

help:
	@echo "make demo   - run the claim sync end to end on the local world (no cloud account)"
	@echo "make test   - lint, type-check and run every test"
	@echo "make setup  - create .venv and install everything (run by the others when needed)"
	@echo "make synth  - cdk synth with cdk-nag (AwsSolutions, HIPAA), cfn-lint and checkov, offline"
	@echo "make lock   - regenerate the hashed lock files from requirements*.txt (pip-compile)"
	@echo "make lint | typecheck | unit | bench | checkov-setup | clean"

setup: $(STAMP)

# requirements-dev.lock holds everything (runtime + tools, pip and setuptools included), with hashes.
$(STAMP): requirements-dev.lock pyproject.toml package.json package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_INSTALL) -r requirements-dev.lock
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

checkov-setup: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.lock
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r requirements-checkov.lock
	@touch $@

# Regenerate the locks after editing a pin in requirements*.txt (transitive pins are kept unless
# asked: make lock PIP_COMPILE_ARGS=--upgrade, or PIP_COMPILE_ARGS="--upgrade-package NAME").
# requirements-dev.txt is constrained by requirements.lock, so the runtime lock comes first.
lock: setup
	$(PIP_COMPILE) --output-file requirements.lock requirements.txt
	$(PIP_COMPILE) --output-file requirements-dev.lock requirements-dev.txt
	$(PIP_COMPILE) --output-file requirements-checkov.lock requirements-checkov.txt

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy lambdas local stacks

test: lint typecheck $(CHECKOV_STAMP)
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the test tree is broken"; fi; exit $$rc

unit: setup
	$(BIN)/python -m pytest -m unit

demo: setup
	$(BIN)/python -m local.demo

bench: setup
	$(BIN)/python -m bench

synth: setup $(CHECKOV_STAMP)
	$(BIN)/python -m stacks.synth

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .local-world cdk.out .mypy_cache .ruff_cache .pytest_cache node_modules .bundle-cache
