# GMIQA task runner. Every target creates the environment first if it is missing.
#   make book   - execute every notebook with papermill, then build the Jupyter Book
#   make test   - ruff, import contracts, unit tests, every notebook (smoke profile), book build
#   make setup  - the environment, from requirements/lock.txt
#   make lock   - re-resolve pyproject.toml's ranges into requirements/lock.txt
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

.PHONY: setup lock book execute build-book test lint unit notebooks clean lab

LOCK     := requirements/lock.txt

# The venv is rebuilt when the lock or pyproject.toml changes. It holds exactly the lock's
# versions (--no-deps: nothing the lock does not name; pip check: nothing missing), then
# gmiqa itself, editable, built by the lock's setuptools. The stamp records the lock's
# sha256 (tests/test_lock.py compares the installed versions with the lock it names).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing the locked environment: $(LOCK), $$(grep -c '^[a-z0-9].*==' $(LOCK)) pinned distributions"
	$(PY) -m pip install --quiet "$$(grep '^pip==' $(LOCK))"
	$(PY) -m pip install --quiet --no-deps --requirement $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	$(PY) -m ipykernel install --prefix $(VENV) --name gmiqa --display-name "GMIQA (.venv)" >/dev/null
	@sha256sum $(LOCK) > $(STAMP)
	@echo "setup: $(VENV) matches $(LOCK) ($$(cut -c1-12 $(STAMP)))"

setup: $(STAMP)

# Re-resolve pyproject.toml's ranges (and make_lock.py's torch pins) to the newest versions
# and rewrite the lock; then `make setup` installs it. Re-measure the notebook metrics'
# spreads after a refresh (benchmarks/metric_spreads.py, tests/metric_spreads.json).
lock:
	$(PYTHON) requirements/make_lock.py

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
