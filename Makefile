# Self-documenting: `make help` lists the targets with their `##` comments.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Quieter TensorFlow logs; oneDNN on (measured faster on CPU, see README).
export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 1

.PHONY: help report test test-fast test-bench lint lab bench clean-reports

help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP) ## create .venv (or reuse it) with the package and dev tools

# STUDENT="Ada Lovelace": who runs the notebooks (config key `student`, in the report and the index; the model's
# seed is drawn from the name). Exported as GALAXY_LIB_STUDENT, which the notebooks' kernels inherit.
STUDENT ?=
ifneq ($(strip $(STUDENT)),)
export GALAXY_LIB_STUDENT := $(STUDENT)
endif

report: $(STAMP) ## the default HTML report (synthetic sky, CPU) into reports/default/; STUDENT="name" for a class
	$(BIN)/python -m galaxy_lib report -f parameters/default.yaml

# The tests run in TEST_WORKERS processes (pytest-xdist; two for two cores, `--dist loadgroup` keeps the smoke
# project's reports on one worker) and keep Python's bytecode caches (`__pycache__/`, git-ignored) even
# when PYTHONDONTWRITEBYTECODE is set: the suite starts Python hundreds of times (kernels, CLI processes).
TEST_WORKERS ?= 2
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

test: $(STAMP) ## ruff, then the test suite but its three long runs (make test-bench), on TEST_WORKERS=2 processes (real-data tests skip when ../shared is absent)
	$(BIN)/ruff check .
	@$(PYTEST) -m "not bench"; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test-bench: $(STAMP) ## the three long runs: two benchmark scripts end to end and the learning guard (CI runs them after make test)
	@$(PYTEST) -m bench; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test-fast: $(STAMP) ## ruff, then the tests not marked slow (no training, notebooks or reports)
	$(BIN)/ruff check .
	@$(PYTEST) -m "not slow and not bench"; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

lint: $(STAMP) ## ruff only
	$(BIN)/ruff check .

# `make lab PORT=8890 NO_BROWSER=1 IP=0.0.0.0 LAB_ARGS="--IdentityProvider.token=SECRET"`
PORT ?=
IP ?= 127.0.0.1
NO_BROWSER ?=
LAB_ARGS ?=
lab: $(STAMP) ## register the galaxy-lib kernel (once) and start JupyterLab on notebooks/, also as root; STUDENT= PORT= IP= NO_BROWSER=1 LAB_ARGS=
	$(BIN)/python -m galaxy_lib lab --ip $(IP) $(if $(PORT),--port $(PORT)) $(if $(NO_BROWSER),--no-browser) -- $(LAB_ARGS)

bench: $(STAMP) ## input-pipeline and training-speed benchmarks (minutes): results to benchmarks/results/, README tables rewritten
	$(BIN)/python benchmarks/bench_input.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_train.py --quick
	$(BIN)/python benchmarks/readme_tables.py
