# GMIQA task runner. Every target creates the environment first if it is missing.
#   make book   - execute every notebook with papermill, then build the Jupyter Book
#   make test   - ruff, import contracts, unit tests, every notebook (smoke profile), book build
PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
PROFILE  ?= cpu
JOBS     ?= 2
STAMP    := $(VENV)/.gmiqa-installed
# The optional CSIQ demo of chapters 07 and 09 reads ten CSIQ images from this folder when
# the project's reference data sit next to the repository (a reader sets it, or uses
# DATA_DIR/csiq_sample).
export GMIQA_CSIQ_SAMPLE ?= $(wildcard $(abspath ../shared/data/csiq_sample))

.PHONY: setup book execute build-book test lint unit notebooks clean lab

# The venv is rebuilt when pyproject.toml changes. torch 2.14.1 / torchvision 0.29.1 are
# pinned here (not in pyproject) because these wheels are the ones served locally.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[notebooks,book,dev]"
	$(PY) -m ipykernel install --prefix $(VENV) --name gmiqa --display-name "GMIQA (.venv)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

execute: $(STAMP)
	$(PY) -m gmiqa.book execute --profile $(PROFILE)

build-book: $(STAMP)
	$(PY) -m gmiqa.book build --profile $(PROFILE)

book: execute build-book

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check gmiqa tests benchmarks
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) -m "not notebook and not book" tests

notebooks: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) -m notebook tests

# Two pytest runs: the book is built from the notebooks the first run executed.
test: $(STAMP)
	$(MAKE) lint
	$(PY) -m pytest -q -n $(JOBS) -m "not book" --durations=15 --junitxml=_build/junit-tests.xml tests
	$(PY) -m pytest -q -m book --junitxml=_build/junit-book.xml tests
	@$(PY) -m gmiqa.book totals _build/junit-tests.xml _build/junit-book.xml

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf _build runs/smoke
