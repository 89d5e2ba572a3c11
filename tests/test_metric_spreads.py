"""The measured spreads behind the notebook tests' bounds (tests/metric_spreads.json,
benchmarks/metric_spreads.py) and the reader the notebook test uses."""

from __future__ import annotations

import json
import re

import pytest
from metric_spreads_bounds import SPREADS, out_of_bounds, stored_bounds
from scripts import REPO, load_script

ms = load_script("metric_spreads")


def load_lock_module():
    import importlib.util

    path = REPO / "requirements" / "make_lock.py"
    spec = importlib.util.spec_from_file_location("make_lock", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(SPREADS.read_text(encoding="utf-8"))


def test_every_bound_lies_outside_its_measured_spread_by_the_stated_margin(doc):
    assert ms.problems(doc) == []
    assert doc["margins"] == ms.MARGINS and doc["command"].startswith("python benchmarks/metric_spreads.py measure")  # fmt: skip
    for notebook, bounds in doc["bounds"].items():
        for name, b in bounds.items():
            worst = b["max"] if b["op"] == "<" else b["min"]
            assert (worst < b["bound"]) if b["op"] == "<" else (worst > b["bound"]), name
            assert b["margin"] > 0, f"{notebook}.{name}: no margin"


def test_the_table_beside_the_file_is_the_files(doc):
    page = ms.table_page(doc)
    assert ms.table_path(SPREADS).read_text(encoding="utf-8") == page
    assert page.count("\n| ") == sum(len(b) for b in doc["bounds"].values()) + 1  # + the head


def test_axis_spreads_compare_cells_that_differ_in_one_setting_only():
    spec = ms.Spec("nb", "x", "<", "stat")

    def cell(cap, threads, seed, x):
        return {"aten_cpu_capability": cap, "omp_num_threads": threads, "seed": seed,
                "metrics": {"nb": {"x": x}}}  # fmt: skip

    cells = [cell("avx2", 1, 0, 1.0), cell("default", 1, 0, 1.5), cell("avx2", 2, 0, 1.25),
             cell("avx2", 1, 1, 3.0), cell("default", 2, 1, 9.0)]  # fmt: skip
    assert ms.axis_spread(spec, cells, "kernel") == 0.5
    assert ms.axis_spread(spec, cells, "threads") == 0.25
    assert ms.axis_spread(spec, cells, "seed") == 2.0
    assert ms.axis_spread(spec, cells[:1], "seed") is None


def test_every_empirical_check_has_a_bound_and_the_notebook_test_reads_them(doc):
    specs = {(s.notebook, s.metric) for s in ms.SPECS}
    stored = {(nb, name) for nb, bounds in doc["bounds"].items() for name in bounds}
    assert stored == specs
    assert stored_bounds() == doc["bounds"]
    source = (REPO / "tests" / "test_notebooks.py").read_text(encoding="utf-8")
    assert 'out_of_bounds(notebook.stem, recorded["metrics"])' in source
    # no empirical threshold left written into the notebook checks (a number < 1 other
    # than 0, 1/2 of a range, the paper's counts): each lives in the spreads file
    for nb, name in specs:
        metric = next(s for s in ms.SPECS if (s.notebook, s.metric) == (nb, name))
        key = metric.source or metric.metric
        assert not re.search(rf'm\["{key}"\] [<>]=? ?-?0\.\d*[1-9]', source), key


def test_the_grid_covers_kernel_levels_threads_and_seeds_or_says_why_not(doc):
    """Every cell of the grid (3 kernel levels x 1, 2 threads x seeds 0, 1) is measured or
    listed as not measured, with the reason; at least two kernel levels are measured."""
    cells = doc["cells"]
    measured = {ms._key(c) for c in cells}
    skipped = {s["cell"]: s["reason"] for s in doc["skipped"]}
    grid = {ms.cell_key(c, t, s) for c in ms.CAPABILITIES for t in (1, 2) for s in (0, 1)}
    assert not measured & set(skipped)
    assert grid <= measured | set(skipped), sorted(grid - measured - set(skipped))
    assert all(skipped.values())
    assert {c["aten_cpu_capability"] for c in cells} >= {"default", "avx2"}
    for cell in cells:  # torch ran the kernels the cell asked for
        assert cell["cpu_capability"].lower() == cell["aten_cpu_capability"], cell["cpu_capability"]
        assert set(cell["metrics"]) <= set(doc["notebooks"]) == set(ms.NOTEBOOKS)
    # the cell the notebook test itself runs here (one thread, seed 0) ran every notebook
    assert any(set(c["metrics"]) == set(ms.NOTEBOOKS) and c["omp_num_threads"] == 1
               and c["seed"] == 0 for c in cells)  # fmt: skip


def test_the_spreads_were_measured_with_the_locked_versions(doc):
    """A new lock (make lock) needs a new measurement: at least one cell ran with it."""
    pins = load_lock_module().read_lock()
    with_lock = [c for c in doc["cells"] if all(pins.get(n) == v for n, v in c["packages"].items())]  # fmt: skip
    assert doc["cells"] and all(c["packages"] for c in doc["cells"])
    assert with_lock, "no measured cell ran with requirements/lock.txt: re-measure"


def test_a_repeated_cell_came_back_bit_identical(doc):
    """The metrics of a seeded CPU run are bit-reproducible on one machine: the same cell
    run twice gave every metric (timings aside) to the last bit."""
    assert doc["repeats"], "no cell was run twice"
    for rep in doc["repeats"]:
        assert rep["bit_identical"] and rep["differ"] == [], rep


def _bounds():
    return {
        "nb": {
            "loss": {"op": "<", "bound": 0.3, "min": 0.1, "max": 0.2, "cells": 4},
            "gain": {
                "op": ">",
                "bound": 0.0,
                "min": 1.0,
                "max": 2.0,
                "cells": 4,
                "of": ["a", "b"],
            },  # fmt: skip
            "ratio": {
                "op": ">",
                "bound": 2.0,
                "min": 3,
                "max": 4,
                "cells": 4,
                "of": ["a", "b"],
                "ratio": True,
            },  # fmt: skip
            "upper": {"op": "<", "bound": 5.0, "min": 1, "max": 2, "cells": 4, "source": "a"},
        }
    }


def test_out_of_bounds_names_each_metric_past_its_bound():
    assert out_of_bounds("nb", {"loss": 0.29, "a": 4.0, "b": 1.0}, _bounds()) == []
    found = out_of_bounds("nb", {"loss": 0.3, "a": 6.0, "b": 6.0}, _bounds())
    assert [line.split(" =")[0] for line in found] == ["nb.loss", "nb.gain", "nb.ratio", "nb.upper"]
    assert "not < 0.3 (measured 0.1 to 0.2 over 4 runs)" in found[0]
    assert out_of_bounds("other", {}, _bounds()) == []


def test_margin_rule_for_each_kind():
    stat = ms.Spec("nb", "x", "<", "stat")
    b = ms.make_bound(stat, [0.20, 0.22])  # range 0.02 < 0.2 x 0.22
    assert b["bound"] == pytest.approx(0.264) and b["margin"] == pytest.approx(0.044)
    wide = ms.make_bound(ms.Spec("nb", "x", ">", "stat"), [0.1, 0.9])  # the range wins
    assert wide["bound"] == pytest.approx(-0.7) and wide["margin"] == pytest.approx(0.8)
    capped = ms.make_bound(ms.Spec("nb", "x", "<", "stat", limit=-1.0), [-0.99, -0.98])
    assert capped["bound"] == pytest.approx(-0.784)
    tol = ms.make_bound(ms.Spec("nb", "d", "<", "tolerance"), [1e-9, 3.1e-6])
    assert tol["bound"] == pytest.approx(3.1e-5) and tol["kind"] == "tolerance"
    assert ms.make_bound(ms.Spec("nb", "d", "<", "tolerance"), [0.0])["bound"] == ms.TOLERANCE_FLOOR
    rel = ms.make_bound(ms.Spec("nb", "g", ">", "relation", of=("a", "b")), [0.5, 0.7])
    assert rel["bound"] == 0.0 and rel["margin"] == 0.5
    bad = {"bounds": {"nb": {"x": {**b, "bound": 0.21}}}, "cells": [{"metrics": {"nb": {"x": 0.22}}}]}  # fmt: skip
    assert any("not < 0.21" in p for p in ms.problems(bad, [stat]))
    loose = {**bad, "bounds": {"nb": {"x": {**b, "bound": 0.5}}}}
    assert ms.problems(loose, [stat]) == ["nb.x: bound 0.5, the margin rule gives 0.264"]


@pytest.mark.parametrize("cell", ["avx9:1:0", "avx2:one:0", "avx2:0:0", "avx2:1"])
def test_measure_refuses_a_malformed_cell_in_one_line_and_writes_nothing(cell, tmp_path, capsys):
    out = tmp_path / "spreads.json"
    assert ms.main(["measure", "--cells", cell, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and cell in err[0]
    assert not out.exists()


def test_check_names_a_file_that_is_not_a_spreads_file(tmp_path, capsys):
    bad = tmp_path / "spreads.json"
    bad.write_text("[1, 2", encoding="utf-8")
    assert ms.main(["check", "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]


def test_a_kernel_level_the_cpu_lacks_is_skipped_not_run():
    assert ms.missing_flags("avx512", {"avx2", "fma"}) == ["avx512f", "avx512bw", "avx512vl", "avx512dq"]  # fmt: skip
    assert ms.missing_flags("default", set()) == []
    assert ms.missing_flags("avx2", {"avx2", "fma", "sse4_2"}) == []
