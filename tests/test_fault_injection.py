"""One SIGKILL per stage at smoke scale: the rerun ends with the unkilled run's bytes.

The full check (5 random kills per stage) is ``python benchmarks/fault_injection.py``;
see ``book/reproduce.md`` (*Run folders*).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fault_injection.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.timeout(900)
def test_one_sigkill_per_stage_resumes_to_the_same_bytes(tmp_path):
    spec = importlib.util.spec_from_file_location("fault_injection", SCRIPT)
    fi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fi)
    lines: list[str] = []
    results = fi.run_all(tmp_path, kills=1, seed=0, echo=lines.append)
    assert [r["stage"] for r in results] == list(fi.STAGES)
    failed = [r for r in results if not r["ok"]]
    assert not failed, "\n".join(lines)
    assert all(r["identical"] and not r["orphans"] and not r["temporaries"] for r in results)
