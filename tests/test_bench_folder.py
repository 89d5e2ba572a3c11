"""benchmarks/bench_folder.py: the folder it writes loads whole, and the result has provenance."""

from __future__ import annotations

import json

import pytest
from scripts import load_script

from gmiqa.results import validate_result


def test_a_small_run_writes_a_valid_result(tmp_path):
    out = tmp_path / "bench.json"
    result = load_script("bench_folder").main(
        ["--images", "25", "--size", "32x24", "--repeats", "2", "--out", str(out)]
    )
    assert result["images"] == 25 and len(result["load_seconds"]) == 2
    doc = validate_result(json.loads(out.read_text()), str(out))
    assert doc["metrics"]["load_seconds_median"] > 0


@pytest.mark.parametrize("argv", [["--images", "0"], ["--size", "big"], ["--repeats", "0"]])
def test_counts_that_time_nothing_are_a_usage_error(argv, tmp_path):
    with pytest.raises(SystemExit) as exc:
        load_script("bench_folder").main([*argv, "--out", str(tmp_path / "x.json")])
    assert exc.value.code == 2
