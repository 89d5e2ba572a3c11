"""Shared fixtures: the ../shared folder, a run folder common to all xdist workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GMIQA_SHARED", REPO.parent / "shared"))

# Two cores, two xdist workers: one intra-op thread each avoids oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder (CI has it); tests that need it are skipped without it."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present")
    return SHARED


@pytest.fixture(scope="session")
def shared_run_dir(tmp_path_factory) -> Path:
    """One run folder for this pytest session, shared by every xdist worker.

    Notebooks reuse checkpoints across stages (load-or-train); a fresh folder per session
    makes every test session train from scratch.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    run_dir = root / "notebook-runs"
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir
