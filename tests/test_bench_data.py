"""benchmarks/bench_data.py answers counts it cannot time with a usage error (exit 2)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_data.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv", [["--steps", "1"], ["--batches", "0"], ["--fed-rounds", "-1"]])
def test_counts_that_time_nothing_are_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _bench().main(argv)
    assert exc.value.code == 2
    assert "--steps must be at least 2" in capsys.readouterr().err
