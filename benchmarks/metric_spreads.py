"""Spreads of the notebook metrics that tests bound, and the bounds set outside them.

``tests/test_notebooks.py`` checks the numbers each notebook records. Where a check is a
mathematical fact (an SROCC lies in [-1, 1], a count is what the profile says) nothing is
measured. Where it is an empirical threshold (a training loss below some value, a baseline
above chance by some amount, a numerical difference below a tolerance) the threshold must
hold wherever the suite legitimately runs. This script measures each such metric over
what varies between machines and runs, and sets each bound outside the measured spread
with the margin :data:`MARGINS` states::

    python benchmarks/metric_spreads.py measure           # the grid, into tests/metric_spreads.json
    python benchmarks/metric_spreads.py measure --cells default:1:0 avx2:2:1
    python benchmarks/metric_spreads.py check             # stored bounds vs stored spreads
    python benchmarks/metric_spreads.py bounds            # bounds again from the stored cells

A cell of the grid is ``CAPABILITY:THREADS:SEED``: torch's kernel level
(``ATEN_CPU_CAPABILITY``: ``default``, ``avx2``, ``avx512``), intra-op threads
(``OMP_NUM_THREADS``) and the notebooks' ``SEED``. Each cell runs the notebooks of
:data:`NOTEBOOKS` in the book's order, smoke profile, one at a time, in a fresh run folder
(later notebooks reuse the checkpoints earlier ones trained, as in ``make test``). A kernel
level the CPU lacks is not run (its kernels die of SIGILL) and is listed as skipped, with
the reason. ``measure`` keeps the cells already in the file (``--fresh`` drops them), so a
grid can be completed on another machine; the file records, per cell, the CPU, torch's
kernel level and the package versions it ran with.

``--repeat CELL`` runs one cell a second time and stores whether every metric came back
bit-identical (the metrics of a seeded CPU run are: ``tests/test_metric_spreads.py``
holds the stored spreads to it).

``check`` exits 1 when a stored bound is not outside every stored value of its metric by
its margin, or when a bounded metric of :data:`SPECS` has no bound.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "metric_spreads.json"
PROFILE = "smoke"
CAPABILITIES = ("default", "avx2", "avx512")
# /proc/cpuinfo flags a kernel level needs; torch runs its AVX-512 kernels when asked even
# on a CPU without them (SIGILL), so the script asks the CPU first.
CPU_FLAGS = {"default": (), "avx2": ("avx2", "fma"), "avx512": ("avx512f", "avx512bw", "avx512vl", "avx512dq")}  # fmt: skip
# The book's order (10 before 09: the results chapter reads the baselines' splits).
NOTEBOOKS = (
    "01_distortions",
    "02_self_calibrated_conv",
    "03_spatial_pyramid_pooling",
    "04_distortion_graph",
    "05_meta_learning",
    "06_graph_pretraining",
    "07_finetuning",
    "10_baselines",
    "09_results",
)
# Margins. "stat": a statistic of a run (a loss, an SROCC, a receptive field in pixels);
# the bound lies beyond the worst measured value by the larger of the measured range and
# STAT_REL of that value's magnitude. "tolerance": a numerical difference that should be
# rounding error; the bound is TOLERANCE_FACTOR times the largest measured value, at least
# TOLERANCE_FLOOR (a few float32 ulps at 1). "relation": the claim itself is the bound
# (one number above another: the difference > 0); the margin is what was measured.
STAT_REL = 0.2
TOLERANCE_FACTOR = 10.0
TOLERANCE_FLOOR = 1e-6
MARGINS = {
    "stat": f"max(measured range, {STAT_REL} x |worst value|) beyond the worst value",
    "tolerance": f"{TOLERANCE_FACTOR:g} x the largest value, at least {TOLERANCE_FLOOR:g}",
    "relation": "the claim (difference > 0); the margin is the smallest measured difference",
}


class Spec(NamedTuple):
    """A bounded metric: ``op`` is ``<`` (upper bound) or ``>`` (lower bound)."""

    notebook: str
    metric: str
    op: str
    kind: str
    # the recorded metric bounded, when ``metric`` names a second bound of it
    source: str | None = None
    # a derived metric: (a, b) means metrics[a] - metrics[b], or metrics[a] / metrics[b]
    # with ratio=True
    of: tuple[str, str] | None = None
    ratio: bool = False
    limit: float | None = None  # a mathematical limit the bound never passes

    def value(self, metrics: dict) -> float:
        if self.of is None:
            return float(metrics[self.source or self.metric])
        a, b = (float(metrics[k]) for k in self.of)
        return a / b if self.ratio else a - b


# Every empirical check of tests/test_notebooks.py, one line each (tests/test_metric_spreads
# checks that each has a bound and that the notebook test reads it).
SPECS = (
    Spec("01_distortions", "mean_spearman_monotone_types", "<", "stat", limit=-1.0),
    Spec("01_distortions", "mean_spearman_level_quality", "<", "stat", limit=-1.0),
    Spec("01_distortions", "worst_monotone_type_spearman", "<", "stat", limit=-1.0),
    Spec("01_distortions", "mean_spearman_within_reference", "<", "stat", limit=-1.0),
    Spec("01_distortions", "fraction_monotone_types_falling", ">", "stat", limit=1.0),
    Spec("01_distortions", "torch_numpy_max_abs_diff", "<", "tolerance"),
    Spec("02_self_calibrated_conv", "rf_scconv", ">", "stat"),
    Spec(
        "02_self_calibrated_conv",
        "erf95_gain",
        ">",
        "relation",
        of=("erf95_scconv", "erf95_plain_conv"),
    ),  # fmt: skip
    Spec(
        "02_self_calibrated_conv",
        "rf_blocks_ratio",
        ">",
        "stat",
        of=("rf_sc_blocks", "rf_plain_blocks"),
        ratio=True,
    ),  # fmt: skip
    Spec("03_spatial_pyramid_pooling", "bucket_max_abs_diff", "<", "tolerance"),
    Spec("04_distortion_graph", "dense_sparse_max_diff", "<", "tolerance"),
    Spec("04_distortion_graph", "permutation_code_diff", "<", "tolerance"),
    Spec("04_distortion_graph", "score_batch_diff", "<", "tolerance"),
    Spec(
        "05_meta_learning",
        "query_loss_drop",
        ">",
        "relation",
        of=("first_query_loss", "final_query_loss"),
    ),  # fmt: skip
    Spec("06_graph_pretraining", "first_level_mse", "<", "stat"),
    Spec("06_graph_pretraining", "final_level_mse", "<", "stat"),
    Spec("07_finetuning", "rmse_median", "<", "stat"),
    Spec("07_finetuning", "final_train_loss", "<", "stat"),
    Spec("10_baselines", "niqe_srocc_median", ">", "stat", limit=1.0),
    Spec("10_baselines", "brisque_srocc_median", ">", "stat", limit=1.0),
    Spec("10_baselines", "niqe_level_srocc_mean", ">", "stat", limit=1.0),
    Spec("10_baselines", "brisque_level_srocc_mean", ">", "stat", limit=1.0),
    Spec("10_baselines", "mscn_shape_pristine", ">", "stat"),
    Spec(
        "10_baselines", "mscn_shape_pristine_upper", "<", "stat", source="mscn_shape_pristine"
    ),  # fmt: skip
    Spec("10_baselines", "mscn_shape_blur", ">", "stat"),
    Spec("10_baselines", "mscn_shape_blur_upper", "<", "stat", source="mscn_shape_blur"),
    Spec(
        "10_baselines",
        "niqe_blur_gain",
        ">",
        "relation",
        of=("niqe_blur_example", "niqe_pristine_example"),
    ),  # fmt: skip
    Spec("09_results", "niqe_srocc_median", ">", "stat", limit=1.0),
)
# What legitimately varies, and how much of it a grid covers.
AXES = {
    "ATEN_CPU_CAPABILITY": "default, avx2, avx512 (a level the CPU lacks is skipped: see skipped)",
    "OMP_NUM_THREADS": "1 (make test's workers) and 2",
    "SEED": "0 (what the notebook test runs) and 1",
    "packages": (
        "requirements/lock.txt; when the lock was made it was the newest resolvable set, so "
        "'lock vs newest' is one setting until `make lock` moves it: re-measure then"
    ),
}
# A value measured elsewhere and reported with its setting; it counts in the spread.
EXTERNAL = [
    {
        "source": "issue #29: a fresh 2-core machine with AVX-512 and AMX, the lock's versions "
        "(numpy 2.4.6, scipy 1.17.1, torch 2.14.1, ...), run alone, deterministic there",
        "cpu_capability": "AVX512",
        "seed": 0,
        "metrics": {"07_finetuning": {"final_train_loss": 0.21727491915225983}},
    }
]


def parse_cell(text: str) -> tuple[str, int, int]:
    """``CAPABILITY:THREADS:SEED`` -> (capability, threads, seed); ValueError when malformed."""
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in CAPABILITIES:
        raise ValueError(f"cell {text!r}: want CAPABILITY:THREADS:SEED, CAPABILITY one of {', '.join(CAPABILITIES)}")  # fmt: skip
    try:
        threads, seed = int(parts[1]), int(parts[2])
    except ValueError:
        raise ValueError(f"cell {text!r}: THREADS and SEED are integers") from None
    if threads < 1 or seed < 0:
        raise ValueError(f"cell {text!r}: THREADS >= 1 and SEED >= 0")
    return parts[0], threads, seed


def cell_key(capability: str, threads: int, seed: int) -> str:
    return f"{capability}:{threads}:{seed}"


def _key(cell: dict) -> str:
    return cell_key(cell["aten_cpu_capability"], cell["omp_num_threads"], cell["seed"])


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def missing_flags(capability: str, flags: set[str]) -> list[str]:
    return [f for f in CPU_FLAGS[capability] if f not in flags]


# The child: runs the notebooks in one process (one kernel at a time) and prints one JSON
# line, so that the kernel level and thread count are those of a fresh interpreter.
_CHILD = r"""
import json, sys, time
from pathlib import Path
import torch
from gmiqa.book import REPO, execute_notebook
from gmiqa.notebook import read_metrics
from gmiqa.provenance import provenance
run_dir, out_dir, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
metrics, seconds = {}, {}
for name in sys.argv[4:]:
    nb = Path("notebooks") / f"{name}.ipynb"
    start = time.perf_counter()
    execute_notebook(REPO / nb, out_dir / nb, profile="smoke", run_dir=run_dir, timeout=1800,
                     parameters={"SEED": seed})
    seconds[name] = round(time.perf_counter() - start, 1)
    metrics[name] = read_metrics(run_dir, "smoke", name)
    print(f"  {name}: {seconds[name]} s", file=sys.stderr, flush=True)
print(json.dumps({"metrics": {k: v["metrics"] for k, v in metrics.items()},
                  "provenance": metrics[sys.argv[4]]["provenance"], "seconds": seconds}))
"""


def run_cell(capability: str, threads: int, seed: int, notebooks=NOTEBOOKS) -> dict:
    """Run ``notebooks`` in a fresh run folder under one cell's settings; their metrics."""
    env = dict(os.environ)
    env.update(
        ATEN_CPU_CAPABILITY=capability,
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    env.pop("GMIQA_RUN_DIR", None)
    with tempfile.TemporaryDirectory(prefix="metric-spreads-") as tmp:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, f"{tmp}/runs", f"{tmp}/executed", str(seed), *notebooks],
            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"cell {cell_key(capability, threads, seed)}: exit {proc.returncode}")  # fmt: skip
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    prov = result["provenance"]
    return {
        "aten_cpu_capability": capability,
        "omp_num_threads": threads,
        "seed": seed,
        "cpu_capability": prov.get("cpu_capability"),
        "cpu": prov.get("device_name") or platform.processor(),
        "packages": prov.get("packages") or {},
        "commit": prov.get("commit"),
        "seconds": result["seconds"],
        "total_seconds": round(time.perf_counter() - start, 1),
        "metrics": {
            nb: {
                k: v
                for k, v in m.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }  # fmt: skip
            for nb, m in result["metrics"].items()
        },
    }


def _round_out(value: float, op: str) -> float:
    """``value`` to 3 significant digits, rounded away from the measured side."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10 ** (math.floor(math.log10(abs(value))) - 2)
    rounded = (math.ceil if op == "<" else math.floor)(value / scale) * scale
    return float(f"{rounded:.3g}")


def spread_values(spec: Spec, cells: list[dict]) -> list[float]:
    """The metric's value in every cell (measured here or reported elsewhere) that has it."""
    out = []
    for cell in cells:
        metrics = cell["metrics"].get(spec.notebook)
        if metrics is not None and all(k in metrics for k in (spec.of or (spec.source or spec.metric,))):  # fmt: skip
            out.append(spec.value(metrics))
    return out


def make_bound(spec: Spec, values: list[float]) -> dict:
    """The bound of one metric from its measured values, with the margin it keeps."""
    lo, hi = min(values), max(values)
    worst = hi if spec.op == "<" else lo
    if spec.kind == "relation":
        bound, margin = 0.0, (lo if spec.op == ">" else -hi)
    elif spec.kind == "tolerance":
        bound = _round_out(max(TOLERANCE_FACTOR * hi, TOLERANCE_FLOOR), "<")
        margin = bound - hi
    else:
        margin = max(hi - lo, STAT_REL * abs(worst))
        bound = _round_out(worst + margin if spec.op == "<" else worst - margin, spec.op)
        if spec.limit is not None:  # never past a mathematical limit (an SROCC of -1)
            bound = max(bound, spec.limit) if spec.op == "<" else min(bound, spec.limit)
    return {
        "op": spec.op,
        "bound": bound,
        "kind": spec.kind,
        "min": lo,
        "max": hi,
        "cells": len(values),
        "margin": margin,
        **({"source": spec.source} if spec.source else {}),
        **({"of": list(spec.of), "ratio": spec.ratio} if spec.of else {}),
    }


def bounds_of(cells: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for spec in SPECS:
        values = spread_values(spec, cells)
        if values:
            out.setdefault(spec.notebook, {})[spec.metric] = make_bound(spec, values)
    return out


def problems(doc: dict, specs=SPECS) -> list[str]:
    """What is wrong with a stored spreads document (empty: every bound holds its margin)."""
    found = []
    cells = doc.get("cells") or []
    for spec in specs:
        stored = doc.get("bounds", {}).get(spec.notebook, {}).get(spec.metric)
        if stored is None:
            found.append(f"{spec.notebook}.{spec.metric}: no bound")
            continue
        values = spread_values(spec, cells + doc.get("external", []))
        if not values:
            found.append(f"{spec.notebook}.{spec.metric}: no measured value")
            continue
        bound = stored["bound"]
        worst = max(values) if spec.op == "<" else min(values)
        ok = worst < bound if spec.op == "<" else worst > bound
        if not ok:
            found.append(f"{spec.notebook}.{spec.metric}: measured {worst:.6g} is not {spec.op} {bound:.6g}")  # fmt: skip
        elif spec.kind != "relation":
            want = make_bound(spec, values)["bound"]
            loose = bound > want if spec.op == "<" else bound < want
            tight = bound < want if spec.op == "<" else bound > want
            if tight or (loose and spec.limit is None):
                found.append(f"{spec.notebook}.{spec.metric}: bound {bound:.6g}, the margin rule gives {want:.6g}")  # fmt: skip
    for rep in doc.get("repeats", []):
        if not rep.get("bit_identical"):
            found.append(f"repeat of {rep['cell']}: metrics differ between two runs ({', '.join(rep.get('differ', []))})")  # fmt: skip
    return found


def _load(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a spreads file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells", []), list):
        raise ValueError(f"{path}: not a spreads file (no list of cells)")
    return doc


def table_path(path: Path) -> Path:
    """The Markdown table written beside a spreads file (``metric_spreads.md``)."""
    return path.with_suffix(".md")


def _write(path: Path, doc: dict) -> None:
    """The spreads file and, beside it, its table for people to read."""
    for target, text in ((path, json.dumps(doc, indent=1) + "\n"), (table_path(path), table_page(doc))):  # fmt: skip
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)


def _document(doc: dict, command: str) -> dict:
    cells = sorted(doc.get("cells", []), key=lambda c: (c["aten_cpu_capability"], c["omp_num_threads"], c["seed"]))  # fmt: skip
    return {
        "what": "spreads of the notebook metrics tests/test_notebooks.py bounds (smoke profile)",
        "command": command,
        "margins": MARGINS,
        "notebooks": list(NOTEBOOKS),
        "axes": AXES,
        "bounds": bounds_of(cells + EXTERNAL) if cells else {},
        "skipped": doc.get("skipped", []),
        "external": EXTERNAL,
        "repeats": [_repeat(r["cell"], r["differ"]) for r in doc.get("repeats", [])],
        "cells": cells,
    }


def measure(args) -> int:
    try:
        cells = [parse_cell(c) for c in args.cells]
        repeat = parse_cell(args.repeat) if args.repeat else None
        doc = {} if args.fresh else _load(args.out)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    notebooks = tuple(nb for nb in NOTEBOOKS if nb in (args.notebooks or NOTEBOOKS))
    if args.notebooks and len(notebooks) != len(set(args.notebooks)):
        print(f"--notebooks: choose from {', '.join(NOTEBOOKS)}", file=sys.stderr)
        return 2
    flags = cpu_flags()
    skipped = [s for s in doc.get("skipped", []) if s["cell"] not in {cell_key(*c) for c in cells}]
    have = {_key(c) for c in doc.get("cells", [])}  # fmt: skip
    command = "python benchmarks/metric_spreads.py measure"
    for cap, threads, seed in cells:
        key = cell_key(cap, threads, seed)
        lacking = missing_flags(cap, flags)
        if lacking:
            reason = f"this CPU ({platform.processor() or platform.machine()}) lacks {', '.join(lacking)}"
            print(f"{key}: skipped, {reason}", flush=True)
            skipped = [s for s in skipped if s["cell"] != key] + [{"cell": key, "reason": reason}]
            continue
        if key in have and not args.redo:
            print(f"{key}: kept from {args.out.name}", flush=True)
            continue
        print(f"{key}: running {len(notebooks)} notebooks ...", flush=True)
        cell = run_cell(cap, threads, seed, notebooks)
        doc["cells"] = [c for c in doc.get("cells", []) if _key(c) != key] + [cell]  # fmt: skip
        doc["skipped"] = skipped
        _write(args.out, _document(doc, command))
        print(f"{key}: {cell['total_seconds']} s", flush=True)
    doc["skipped"] = skipped
    if repeat is not None:
        key = cell_key(*repeat)
        first = next((c for c in doc.get("cells", []) if _key(c) == key), None)  # fmt: skip
        if first is None:
            print(f"--repeat {key}: not among the measured cells", file=sys.stderr)
            return 2
        print(f"{key}: running again to compare ...", flush=True)
        second = run_cell(*repeat)
        differ = [
            f"{nb}.{k}"
            for nb, m in first["metrics"].items()
            for k, v in m.items()
            if second["metrics"].get(nb, {}).get(k) != v
        ]
        rep = _repeat(key, differ)
        doc["repeats"] = [r for r in doc.get("repeats", []) if r["cell"] != key] + [rep]
    _write(args.out, _document(doc, command))
    found = problems(_load(args.out))
    for line in found:
        print(line)
    return 1 if found else 0


def check(args) -> int:
    try:
        doc = _load(args.out)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not doc:
        print(f"{args.out}: no such file", file=sys.stderr)
        return 2
    found = problems(doc)
    for line in found:
        print(line)
    if not found:
        print(table(doc))
    return 1 if found else 0


# Timings (wall seconds, images per second, latencies) differ between any two runs.
TIMINGS = ("seconds", "per_s", "per_second", "latency_ms", "_ms_512x384")


def is_timing(metric: str) -> bool:
    return metric.split(".")[-1].endswith(TIMINGS)


def _repeat(cell: str, differ: list[str]) -> dict:
    """A repeat's record from the metrics that differed between the two runs."""
    differ = [d for d in differ if not is_timing(d)]
    return {"cell": cell, "bit_identical": not differ, "differ": differ,
            "compared": f"every numeric metric but timings (names ending {', '.join(TIMINGS)})"}  # fmt: skip


def rebound(args) -> int:
    """Recompute the stored bounds from the stored cells (after a change of SPECS or MARGINS)."""
    try:
        doc = _load(args.out)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not doc.get("cells"):
        print(f"{args.out}: no measured cells", file=sys.stderr)
        return 2
    _write(
        args.out,
        _document(doc, doc.get("command") or "python benchmarks/metric_spreads.py measure"),
    )
    return check(args)


def table_page(doc: dict) -> str:
    """The page beside the spreads file: what was measured, and the table."""

    def shown(cell: dict) -> str:
        ran = [nb for nb in NOTEBOOKS if nb in cell["metrics"]]
        return _key(cell) + ("" if len(ran) == len(NOTEBOOKS) else f" ({', '.join(ran)} only)")

    cells = ", ".join(shown(c) for c in doc.get("cells", []))
    skipped = "; ".join(f"{s['cell']} ({s['reason']})" for s in doc.get("skipped", [])) or "none"
    repeats = "; ".join(f"{r['cell']}: {'bit-identical' if r['bit_identical'] else 'differs'}" for r in doc.get("repeats", [])) or "none"  # fmt: skip
    lines = [
        "# Measured spreads of the bounded notebook metrics",
        "",
        f"Made by `{doc['command']}` (benchmarks/metric_spreads.py) from {Path(OUT).name}; do not edit.",  # fmt: skip
        "Smoke profile. Cells (ATEN_CPU_CAPABILITY:OMP_NUM_THREADS:SEED) measured: "
        f"{cells}. Not measured: {skipped}. Run twice: {repeats}.",
        "Values reported elsewhere and counted: "
        + ("; ".join(e["source"] for e in doc.get("external", [])) or "none")
        + ".",
        "",
        "Margins: " + "; ".join(f"{k}: {v}" for k, v in doc["margins"].items()) + ".",
        "Columns kernel, threads, seed: the largest change between two measured runs that differ "
        "in that setting alone (- where no such pair was measured); runs counts the value "
        "reported elsewhere too.",
        "",
        table(doc),
        "",
    ]
    return "\n".join(lines)


AXIS_FIELDS = {"kernel": "aten_cpu_capability", "threads": "omp_num_threads", "seed": "seed"}


def axis_spread(spec: Spec, cells: list[dict], axis: str) -> float | None:
    """The largest change of a metric between two measured cells that differ in ``axis`` only."""
    field = AXIS_FIELDS[axis]
    others = [f for f in AXIS_FIELDS.values() if f != field]
    groups: dict[tuple, list[float]] = {}
    for cell in cells:
        values = spread_values(spec, [cell])
        if values:
            groups.setdefault(tuple(cell[f] for f in others), []).append(values[0])
    spans = [max(v) - min(v) for v in groups.values() if len(v) > 1]
    return max(spans) if spans else None


def table(doc: dict) -> str:
    """The measured spreads and bounds as a Markdown table: the range over every run, the
    largest change along each axis alone, the bound and its margin."""
    cells = doc.get("cells", [])
    head = (
        "| notebook | metric | kind | min | max | runs | kernel | threads | seed | bound | margin |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    by_name = {(s.notebook, s.metric): s for s in SPECS}
    for nb, metrics in doc.get("bounds", {}).items():
        for name, b in metrics.items():
            spec = by_name.get((nb, name))
            axes = [axis_spread(spec, cells, a) if spec else None for a in AXIS_FIELDS]
            shown = " | ".join("-" if v is None else f"{v:.3g}" for v in axes)
            lines.append(f"| {nb} | {name} | {b['kind']} | {b['min']:.4g} | {b['max']:.4g} | {b['cells']} | {shown} | {b['op']} {b['bound']:.4g} | {b['margin']:.3g} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    me = sub.add_parser("measure", help="run the grid and store spreads and bounds")
    me.add_argument("--cells", nargs="+", default=[cell_key(c, t, s) for c in CAPABILITIES for t in (1, 2) for s in (0, 1)])  # fmt: skip
    me.add_argument("--repeat", help="a measured cell to run again (bit-reproducibility)")
    me.add_argument("--notebooks", nargs="+", help="only these (a cell short of time; in order)")
    me.add_argument("--redo", action="store_true", help="run cells already in the file again")
    me.add_argument("--fresh", action="store_true", help="drop the cells already in the file")
    me.add_argument("--out", type=Path, default=OUT)
    ck = sub.add_parser("check", help="stored bounds against stored spreads; print the table")
    ck.add_argument("--out", type=Path, default=OUT)
    rb = sub.add_parser("bounds", help="recompute the stored bounds from the stored cells")
    rb.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    return {"measure": measure, "check": check, "bounds": rebound}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
