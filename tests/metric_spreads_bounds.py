"""The bounds of the notebook metrics, read from tests/metric_spreads.json.

Each bound lies outside the spread measured over kernel levels, thread counts and seeds,
by the margin the file states (``benchmarks/metric_spreads.py`` measures and re-measures
them; ``tests/test_metric_spreads.py`` checks the file). Not a test module.
"""

from __future__ import annotations

import json
import operator
from functools import cache
from pathlib import Path

SPREADS = Path(__file__).with_name("metric_spreads.json")
_OPS = {"<": operator.lt, ">": operator.gt}


@cache
def stored_bounds() -> dict[str, dict[str, dict]]:
    """notebook -> bounded metric -> its bound entry (op, bound, min, max, cells, ...)."""
    return json.loads(SPREADS.read_text(encoding="utf-8"))["bounds"]


def bounded_value(name: str, entry: dict, metrics: dict) -> float:
    """The value a bound applies to: a recorded metric, or a difference / ratio of two."""
    if "of" in entry:
        a, b = (float(metrics[k]) for k in entry["of"])
        return a / b if entry.get("ratio") else a - b
    return float(metrics[entry.get("source", name)])


def out_of_bounds(notebook: str, metrics: dict, bounds: dict | None = None) -> list[str]:
    """One line per bounded metric of ``notebook`` that ``metrics`` puts past its bound."""
    entries = (stored_bounds() if bounds is None else bounds).get(notebook, {})
    found = []
    for name, entry in entries.items():
        value = bounded_value(name, entry, metrics)
        if not _OPS[entry["op"]](value, entry["bound"]):
            found.append(
                f"{notebook}.{name} = {value:.6g}, not {entry['op']} {entry['bound']:.6g} "
                f"(measured {entry['min']:.6g} to {entry['max']:.6g} over {entry['cells']} runs)"
            )
    return found
