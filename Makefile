# pets_fastai: `make demo` trains a pet-breed classifier, `make test` runs every notebook and test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Real photos when this checkout sits beside the shared sample; otherwise the demo says it uses generated data.
SAMPLE := $(wildcard ../shared/data/oxford-iiit-pet-sample)
export PETS_PATH ?= $(SAMPLE)
# pytest-xdist workers: one per core, at most 4 (there are only a dozen long tests, the notebooks)
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))

.PHONY: demo test export clean-nbs readme docs bench help

help:
	@echo "make demo   train a pet-breed classifier on the best data available (offline is fine)"
	@echo "make test   check notebooks and modules agree, then run every notebook and tests/ with pytest"
	@echo "make docs   build the documentation site into _site/ from the notebooks' stored outputs"
	@echo "make bench  print data-pipeline and training throughput, defaults against ours"
	@echo "make export regenerate pets_fastai/ and README.md from nbs/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@ $(VENV)/.installed

# On real photos the demo trains lesson 9's recipe (about a minute on two cores); otherwise the profile's fine_tune.
demo: $(VENV)/.installed
	$(BIN)/pets-fastai train $(if $(PETS_PATH),--recipe)

test: $(VENV)/.installed-dev
	$(BIN)/python tools/check_sync.py
	$(BIN)/pytest -n $(JOBS) --dist worksteal --durations=10

docs: $(VENV)/.installed-dev
	$(BIN)/python tools/build_docs.py

bench: $(VENV)/.installed
	$(BIN)/python tools/experiments/bench.py

export: $(VENV)/.installed-dev
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-export
	$(BIN)/python tools/readme.py
