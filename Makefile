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

LOWER := .venv-lower
# test-gpu: notebooks share one GPU; a few at a time keep the cores busy feeding it
GPU_JOBS ?= 4

.PHONY: demo test test-sample test-lower test-device test-gpu rehearse-full export clean-nbs readme docs outputs reproduce bench help

help:
	@echo "make demo   train a pet-breed classifier on the best data available (offline is fine)"
	@echo "make test   check notebooks and modules agree, then run every notebook and tests/ with pytest"
	@echo "make test-lower     the smoke notebooks and tests again, in $(LOWER) at pyproject's lower bounds"
	@echo "make rehearse-full  run the notebooks at \`full\` on the CPU, shrunk, with a local download and stand-in weights"
	@echo "make test-device    every notebook with its batches on a second device simulated on the CPU, and under float16"
	@echo "make test-gpu       on a machine with a CUDA GPU: the notebooks at \`full\` (the rehearsal) and at \`smoke\` on the GPU"
	@echo "make docs   build the documentation site into _site/ from the notebooks' stored outputs"
	@echo "make outputs  run every notebook (or NB=nbs/04_lr_find.ipynb) at sample in Jupyter and store its outputs"
	@echo "make test-sample  run every notebook at sample on the real photos (PETS_PATH)"
	@echo "make reproduce  re-run the lessons at sample with another thread count: is every number a page quotes inside its interval?"
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

# get_profile's rule picks the data (README: "Which data make demo uses"). On real photos at CPU scale (`sample`:
# PETS_PATH, or the download on a CPU) the demo trains lesson 9's recipe; otherwise the profile's fine_tune.
demo: $(VENV)/.installed
	$(BIN)/pets-fastai train $$($(BIN)/python -W ignore -c "from pets_fastai.profiles import get_profile; print('--recipe' * (get_profile().name == 'sample'))")

test: $(VENV)/.installed-dev
	$(BIN)/python tools/docs/check_sync.py
	$(BIN)/pytest -n $(JOBS) --dist worksteal --durations=10

# Every notebook at `sample` on the real photos, two at a time (pytest-xdist); notebooks run in nbs/, so the path is made absolute
test-sample: $(VENV)/.installed-dev
	@test -n "$(PETS_PATH)" || { echo "make test-sample: set PETS_PATH to the pet photos, e.g. ../shared/data/oxford-iiit-pet-sample"; exit 1; }
	PETS_PROFILE=sample PETS_PATH=$(abspath $(PETS_PATH)) $(BIN)/pytest -n 2 --dist worksteal tests/test_notebooks.py

# A second environment at the lower bounds of pyproject.toml (tools/lower_bounds.py pins each one), smoke scale; the notebooks
# run shrunk (tests/helpers.py: SHRUNK), every line of them, their accuracy claims checked by `make test`.
$(LOWER)/.installed: pyproject.toml tools/lower_bounds.py
	$(PYTHON) -m venv $(LOWER)
	$(PYTHON) tools/lower_bounds.py > $(LOWER)/lower-bounds.txt
	$(LOWER)/bin/pip install -q -c $(LOWER)/lower-bounds.txt -e '.[dev]'
	touch $@

test-lower: $(LOWER)/.installed
	PETS_SHRINK=1 PETS_PROFILE=smoke $(LOWER)/bin/pytest -n $(JOBS) --dist worksteal --durations=10

# `full` on the CPU: a 127.0.0.1 server stands in for the download, random weights for torchvision's (README).
rehearse-full: $(VENV)/.installed-dev
	PETS_REHEARSE=1 $(BIN)/pytest tests/test_full_rehearsal.py -n $(JOBS) --dist worksteal --durations=10

# The GPU path on the CPU: a second device simulated with PyTorch's PrivateUse1 key (tests/fake_device.py) catches a model or
# tensor left on the CPU, and fastai's MixedPrecision with CPU float16 catches comparisons that float16 cannot meet.
# It runs `smoke` shrunk as rehearse-full shrinks `full` (tests/test_devices.py: SHRUNK): where tensors live, not what is learnt.
test-device: $(VENV)/.installed-dev
	PETS_FAKE_DEVICE=1 $(BIN)/pytest tests/test_devices.py -n $(JOBS) --dist worksteal --durations=10

# On a machine with a CUDA GPU: every notebook at `full` (the rehearsal, `slow` and `cuda` cells included) and at `smoke`.
test-gpu: $(VENV)/.installed-dev
	@$(BIN)/python -c "import sys, torch; torch.cuda.is_available() or sys.exit('make test-gpu: this machine has no CUDA GPU that PyTorch ' + torch.__version__ + ' can use (torch.cuda.is_available() is False): run it on a GPU machine, or make test-device here.')"
	PETS_REHEARSE=1 $(BIN)/pytest tests/test_full_rehearsal.py -n $(GPU_JOBS) --dist worksteal --durations=10
	PETS_PROFILE=smoke PETS_FLAGS=cuda $(BIN)/pytest tests/test_notebooks.py -n $(GPU_JOBS) --dist worksteal --durations=10

docs: $(VENV)/.installed-dev
	$(BIN)/python tools/docs/build.py

# Published outputs: run the notebooks in a Jupyter kernel at `sample` and store what they show (NB=... for some)
outputs: $(VENV)/.installed-dev
	$(BIN)/python tools/docs/outputs.py $(NB)

# The published numbers against a re-run: each lesson's `Headlines` again in a fresh kernel with another thread count
# (tools/reproduce.py); prints lesson, quantity, published, re-run, interval, ok, and keeps a record in pets_fastai/results/
reproduce: $(VENV)/.installed-dev
	$(BIN)/python tools/reproduce.py $(NB)

bench: $(VENV)/.installed
	$(BIN)/python tools/experiments/bench.py

export: $(VENV)/.installed-dev
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-export
	$(BIN)/python tools/docs/readme.py
