"""Every notebook in _toc.yml runs under papermill with the smoke profile, and its recorded
metrics fall in the ranges asserted here (a notebook test checks results, not only that
it ran). Executed copies land in _build/executed/smoke/, where the book test builds from.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gmiqa.book import REPO, execute_notebook, executed_dir, toc_notebooks
from gmiqa.notebook import read_metrics

NOTEBOOK_TIMEOUT = 300  # seconds per notebook in the smoke profile


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


# One entry per notebook: a function that checks the recorded metrics (dict).
CHECKS = {}


def check(name):
    def register(fn):
        CHECKS[name] = fn
        return fn

    return register


@check("00_quickstart")
def _(m):
    assert m["pristine_images"] >= 5
    assert m["torch_version"]
    assert m["min_side"] >= 128


# --- checks for later notebooks are added below this line (one function each) ---


NOTEBOOKS = toc_notebooks()


@pytest.mark.notebook
@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_and_records_metrics(notebook: Path, shared_run_dir):
    out = executed_dir("smoke") / notebook
    execute_notebook(
        REPO / notebook, out, profile="smoke", run_dir=shared_run_dir, timeout=NOTEBOOK_TIMEOUT
    )
    assert notebook.stem in CHECKS, (
        f"{notebook}: no metrics check registered in tests/test_notebooks.py"
    )
    recorded = read_metrics(shared_run_dir, "smoke", notebook.stem)
    assert recorded["provenance"]["commit"]
    CHECKS[notebook.stem](recorded["metrics"])
