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


CORPUS_TEST = "tests/test_malformed_corpus.py::test_malformed_file_works_or_is_one_line_naming_it"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The number of generated malformed-file cases per reader (tests/malformed.py), in the
    test log of every run that ran the corpus."""
    ran: dict[str, int] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", "")
            if nodeid.startswith(CORPUS_TEST) and getattr(report, "when", "") == "call":
                reader = nodeid.split("[", 1)[1].split(":", 1)[0]
                ran[reader] = ran.get(reader, 0) + 1
    if not ran:
        return
    from malformed import counts

    generated = counts()
    terminalreporter.write_sep("-", "malformed-file corpus: generated cases per reader")
    for reader, n in generated.items():
        terminalreporter.write_line(f"{reader:<24} {n:>5} generated, {ran.get(reader, 0):>5} run")
    terminalreporter.write_line(
        f"{'total':<24} {sum(generated.values()):>5} generated, {sum(ran.values()):>5} run"
    )
