# claimsync — the project's vocabulary. Every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup test lint typecheck unit demo bench synth clean

help:
	@echo "make demo   - run the claim sync end to end on the local world (no cloud account)"
	@echo "make test   - lint, type-check and run every test"
	@echo "make setup  - create .venv and install everything (run by the others when needed)"
	@echo "make synth  - cdk synth with cdk-nag (AwsSolutions, HIPAA) and cfn-lint, offline"
	@echo "make lint | typecheck | unit | bench | clean"

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml package.json package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy lambdas/claimsync

test: lint typecheck
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the test tree is broken"; fi; exit $$rc

unit: setup
	$(BIN)/python -m pytest -m unit

demo: setup
	$(BIN)/python -m local.demo

bench: setup
	$(BIN)/python -m bench

synth: setup
	$(BIN)/python -m stacks.synth

clean:
	rm -rf $(VENV) .local-world cdk.out .mypy_cache .ruff_cache .pytest_cache node_modules .bundle-cache
