"""Side-by-side results tables: the paper's numbers next to GMIQA's, each with its provenance.

Taught in ``notebooks/09_results.ipynb``. A :class:`ResultsTable` has label columns (the
set, the method, the distortion type, ...), the paper's columns (numbers from
:func:`gmiqa.results.paper_results`, or a text such as ``"not transcribed"``), the
measured columns, and the provenance columns :data:`PROVENANCE_COLUMNS` (profile,
dataset, device, commit, date, source) that say, on every row, what produced the
measured numbers of that row.

A measured number can only enter a table together with a result document that passes
:func:`gmiqa.results.validate_result` (a ``gmiqa-result/1`` object with a complete
provenance block); a source without provenance raises ``ValueError`` naming the file.
The documents come from

- result files in ``data/results/`` (:func:`gmiqa.results.load_results`);
- the training pipeline's results JSON in a run folder (:func:`finetune_result`);
- a notebook's recorded metrics (:func:`metrics_result`);
- a computation in the current run (:func:`gmiqa.results.make_result`, which measures
  the provenance when it is called).

A row without measured numbers says why (``"not measured (dataset not on this
machine)"``) and gives the command that measures it. Tables render as HTML or
Markdown strings (no pandas); :meth:`ResultsTable.count` counts the numbers shown and
those with complete provenance, for the notebook's recorded metrics.

The table itself (:class:`ResultsTable`, :func:`checked`, :func:`provenance_cells`) is
in :mod:`gmiqa.results_table`; its names are importable from here as before. This module
needs only the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gmiqa.provenance import check_provenance, provenance
from gmiqa.results import (
    PAPER_CITATION,
    RESULT_PROVENANCE_KEYS,
    SCHEMA,
    make_result,
    read_json,
    validate_result,
)
from gmiqa.results_table import (  # noqa: F401  (re-exported: report.ResultsTable, ...)
    MISSING,
    PAPER_LABEL,
    PROVENANCE_COLUMNS,
    ResultsTable,
    Row,
    checked,
    is_number,
    provenance_cells,
    source_name,
)


def finetune_result(
    path: str | Path,
    command: str,
    metrics_keys: Sequence[str] | None = None,
    init: str | None = None,
) -> dict:
    """A fine-tuning results JSON of the training pipeline as a ``gmiqa-result/1`` document.

    ``path``: a ``results/finetune-<dataset>-<init>.json`` written by
    :func:`gmiqa.training.finetune.run_finetune` (configuration, per-split metrics,
    summary, per-type SROCC, provenance). ``command``: the command that produced it (the
    file does not store it). ``init``: the initialisation name (``"graph"``, ``"none"``,
    ...), stored as ``provenance["init"]``; by default the ``<init>`` part of the file
    name. The metrics are the medians and means over splits, the
    per-split SROCC and PLCC, and the median SROCC per distortion type. A file without a
    complete provenance block raises ValueError naming the file. Taught in
    ``notebooks/09_results.ipynb``.
    """
    path = Path(path)
    raw = read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("provenance"), dict):
        raise ValueError(f"{path}: no provenance block")
    config = raw.get("config") or {}
    profile = (config.get("profile") or {}).get("name") or raw["provenance"].get("profile")
    summary = raw.get("summary") or {}
    keys = metrics_keys or ("srocc", "plcc", "krocc", "plcc_logistic", "rmse", "rmse_logistic")
    metrics: dict[str, Any] = {}
    for key in keys:
        if key in summary:
            metrics[f"{key}_median"] = summary[key]["median"]
            metrics[f"{key}_mean"] = summary[key]["mean"]
    splits = raw.get("splits") or []
    metrics["splits"] = len(splits)
    metrics["per_split"] = {
        k: [s["metrics"][k] for s in splits if k in s.get("metrics", {})] for k in ("srocc", "plcc")
    }
    if raw.get("per_type_srocc_median"):
        metrics["per_type_srocc_median"] = dict(raw["per_type_srocc_median"])
    dataset = config.get("dataset") or raw["provenance"].get("dataset") or ""
    source = raw["provenance"].get("data_source") or {}
    if source.get("name"):  # a folder of rated photos is shown by its name (datasets.folder)
        dataset = f"{dataset}: {source['name']}"
    block = {
        **raw["provenance"],
        "profile": profile or "",
        "dataset": dataset,
        "command": command,
        "init": init or _init_from_name(path),
        "init_checkpoint": config.get("init"),
        "loss": config.get("loss"),
        "seed": config.get("seed"),
    }
    doc = {
        "schema": SCHEMA,
        "title": f"GMIQA fine-tuned on {block['dataset']} from init {block['init']}",
        "provenance": {k: v for k, v in block.items() if v is not None},
        "metrics": metrics,
    }
    validate_result(doc, str(path))
    return {**doc, "source": str(path)}


def _init_from_name(path: Path) -> str:
    # finetune-<dataset>-<init>.json (gmiqa.training.finetune.run_ablation, the CLI)
    parts = path.stem.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "finetune" else "graph"


def init_of(result: Mapping) -> str:
    """The fine-tuning initialisation of a GMIQA result: ``provenance["init"]``, else ``"graph"``.

    ``"graph"`` (meta-learning then graph pre-training) is the full model of Tables 1-4.
    Taught in ``notebooks/09_results.ipynb``.
    """
    return str(result.get("provenance", {}).get("init") or "graph")


def metrics_result(
    run_dir: str | Path, profile: str, notebook: str, dataset: str, command: str,
    keys: Sequence[str] | None = None,
) -> dict:  # fmt: skip
    """A notebook's recorded metrics (``gmiqa.notebook.record_metrics``) as a result document.

    ``dataset`` and ``command`` say what the metrics measure and how they were produced
    (the metrics file stores commit, date and device). ``keys`` selects metrics. A file
    whose provenance is incomplete raises ValueError naming it. Taught in
    ``notebooks/09_results.ipynb``.
    """
    path = Path(run_dir) / profile / "metrics" / f"{notebook}.json"
    raw = read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("provenance"), dict):
        raise ValueError(f"{path}: no provenance block")
    metrics = raw.get("metrics") or {}
    if keys is not None:
        metrics = {k: metrics[k] for k in keys if k in metrics}
    doc = {
        "schema": SCHEMA,
        "title": f"metrics recorded by {notebook}",
        "provenance": {
            **raw["provenance"],
            "profile": raw.get("profile") or profile,
            "dataset": dataset,
            "command": command,
        },
        "metrics": metrics,
    }
    validate_result(doc, str(path))
    return {**doc, "source": str(path)}


# --- the results chapter's tables --------------------------------------------------------
# The paper's set names and this project's dataset keys (gmiqa.datasets.canonical_name).
PAPER_SETS: dict[str, str] = {
    "LIVEC": "livec",
    "KonIQ-10k": "koniq10k",
    "CSIQ": "csiq",
    "LIVE": "live",
}
NOT_ON_MACHINE = "not measured on the whole set"
NOT_IN_PAPER = "not in the paper"
NOT_TRANSCRIBED = "not transcribed"


# What a page's placeholders stand for (the reproduce chapter says where each comes from).
PLACEHOLDERS: dict[str, str] = {
    "PRISTINE": "the 110 pristine photos of data/pristine-photos.tsv (data/pristine)",
    "WEIGHTS": "the ImageNet SCNet-50 file scnet50-dc6a7e87.pth (download_weights)",
    "DATA_DIR": "the folder a downloaded set is unpacked in (data/downloads/<set folder>)",
    "LIVEC_DEV": "the 300-photo LIVEC development set that `gmiqa livec-dev` writes",
}
TRAINING_COMMANDS = ("pretrain", "finetune", "ablation")


def run_command(subcommand: str, profile: str | None, *, dataset: str | None = None,
                root: str | None = None, out: str = "runs", pristine: str | None = "PRISTINE",
                backbone_weights: str | None = None, **options: object) -> str:  # fmt: skip
    """A ``gmiqa`` command as the book prints it: the one function behind every command a
    page generates, so that no page drifts from what the command line needs.

    Every command of one run folder needs the same ``--pristine`` and, for the ``gpu``
    profile, ``--backbone-weights`` (both are part of each checkpoint's fingerprint): a
    training subcommand gets ``--pristine PRISTINE`` unless ``pristine=None``, and a
    ``gpu`` one ``--backbone-weights WEIGHTS`` unless another file is named (placeholders
    in :data:`PLACEHOLDERS`). ``options``: further flags (``splits=10`` ->
    ``--splits 10``, ``inits="none,graph"``; ``True`` -> a flag without value);
    ``profile=None`` for a subcommand without profile (``livec-dev``). Taught in
    ``notebooks/09_results.ipynb``.
    """
    parts = ["gmiqa", subcommand] + (["--profile", profile] if profile else [])
    if dataset:
        parts += ["--dataset", dataset]
    if root:
        parts += ["--root", root]
    for key, value in options.items():
        if value is None or value is False:
            continue
        parts.append("--" + key.replace("_", "-"))
        if value is not True:
            parts.append(str(value))
    if subcommand in TRAINING_COMMANDS:
        if pristine:
            parts += ["--pristine", pristine]
        weights = backbone_weights or ("WEIGHTS" if profile == "gpu" else None)
        if weights:
            parts += ["--backbone-weights", weights]
    if out and subcommand != "score":
        parts += ["--out", out]
    return " ".join(parts)


def measure_command(dataset: str, profile: str = "gpu") -> str:
    """The command that fine-tunes and evaluates GMIQA on a downloaded set (10 splits),
    from :func:`run_command`. Taught in ``notebooks/09_results.ipynb``.
    """
    return run_command("finetune", profile, dataset=dataset, root="DATA_DIR", init="graph",
                       splits=10)  # fmt: skip


def method_of(result: Mapping) -> str:
    """The method a result measures: ``provenance["method"]`` when given, else ``"GMIQA"``.

    Taught in ``notebooks/09_results.ipynb``.
    """
    return str(result.get("provenance", {}).get("method") or "GMIQA")


def _has(result: Mapping, *keys: str) -> bool:
    metrics = result.get("metrics") or {}
    return all(is_number(metrics.get(k)) for k in keys)


def overall_table(
    paper: Mapping, results: Sequence[Mapping], set_labels: Mapping[str, str] | None = None
) -> ResultsTable:
    """Tables 1-2: overall SROCC/PLCC, the paper's beside every measured result.

    ``paper``: :func:`gmiqa.results.paper_results`. ``results``: validated documents with
    ``srocc_median`` and ``plcc_median`` metrics (stored files and this run's). For each
    of the paper's four sets, the results on that dataset are listed beside the paper's
    numbers, or one row says it was not measured and gives the command. Results on
    other sets follow, with ``"not in the paper"`` in the paper's columns.
    ``set_labels`` names other datasets (e.g. ``{"synthetic": "synthetic (KADID-style)"}``).
    Taught in ``notebooks/09_results.ipynb``.
    """
    rows = paper["tables"]["overall"]["rows"]
    table = ResultsTable(
        "Tables 1-2: overall SROCC and PLCC (median over splits)",
        ["set", "method"], ["SROCC", "PLCC"], ["SROCC", "PLCC", "splits"],
        caption=paper_caption(),
    )  # fmt: skip
    docs = [checked(r) for r in results]
    docs = [d for d in docs if method_of(d) != "GMIQA" or init_of(d) == "graph"]
    used = set()
    for label, key in PAPER_SETS.items():
        found = [
            (i, d) for i, d in enumerate(docs)
            if d["provenance"]["dataset"] == key and _has(d, "srocc_median", "plcc_median")
        ]  # fmt: skip
        paper_vals = dict(rows[label])
        if not found:
            table.add({"set": label, "method": "GMIQA"}, paper=paper_vals,
                      missing=NOT_ON_MACHINE, command=measure_command(key))  # fmt: skip
        for i, d in found:
            used.add(i)
            shown = paper_vals if method_of(d) == "GMIQA" else dict.fromkeys(paper_vals, MISSING)
            table.add_result({"set": label, "method": method_of(d)}, d,
                             {"SROCC": "srocc_median", "PLCC": "plcc_median", "splits": "splits"},
                             paper=shown)  # fmt: skip
    for i, d in enumerate(docs):
        if i in used or not _has(d, "srocc_median"):
            continue
        key = d["provenance"]["dataset"]
        table.add_result(
            {"set": (set_labels or {}).get(key, key), "method": method_of(d)}, d,
            {"SROCC": "srocc_median", "PLCC": "plcc_median", "splits": "splits"},
            paper=dict.fromkeys(["SROCC", "PLCC"], NOT_IN_PAPER),
        )  # fmt: skip
    return table


def per_type_table(results: Sequence[Mapping], type_names: Mapping[int, str]) -> ResultsTable:
    """Tables 3-4: SROCC within each distortion type, one row per (type, method).

    ``results``: documents with a ``per_type_srocc_median`` metric (type id -> SROCC).
    The paper's per-type numbers are not transcribed here, so its column says so. Taught in ``notebooks/09_results.ipynb``.
    """
    table = ResultsTable(
        "Tables 3-4: SROCC per distortion type (median over splits)",
        ["type", "distortion", "method"], ["SROCC"], ["SROCC"],
        caption=paper_caption() + " The paper's per-type tables are " + NOT_TRANSCRIBED
        + " here.",
    )  # fmt: skip
    docs = [checked(r) for r in results]
    docs = [d for d in docs if method_of(d) != "GMIQA" or init_of(d) == "graph"]
    types = sorted(
        {int(t) for d in docs for t in (d["metrics"].get("per_type_srocc_median") or {})}
    )
    for t in types:
        for d in docs:
            per_type = d["metrics"].get("per_type_srocc_median") or {}
            if str(t) not in per_type and t not in per_type:
                continue
            table.add_result(
                {"type": t, "distortion": type_names.get(t, str(t)), "method": method_of(d)},
                d, {"SROCC": f"per_type_srocc_median.{t}"},
                paper={"SROCC": NOT_TRANSCRIBED},
            )  # fmt: skip
    return table


# The GMIQA ablation rows: fine-tuning initialisations of the full architecture.
ABLATION_INITS: dict[str, str] = {
    "none": "no pre-training (SC backbone + SPP, random init)",
    "graph_nometa": "+DGR: graph pre-training from random init",
    "meta": "+Meta only: meta-learning, no graph stage",
    "graph": "+Meta +DGR: the full pipeline",
}


def ablation_table(
    paper: Mapping, results: Sequence[Mapping], commands: Mapping[str, str]
) -> ResultsTable:
    """Table 5: the paper's ablation (order, stated gains) beside GMIQA's pre-training ablation.

    ``results``: GMIQA documents with ``srocc_median`` / ``plcc_median`` whose
    ``provenance["init"]`` names a row of :data:`ABLATION_INITS` (several profiles may
    each give one); the full model (``"graph"``) stands beside the paper's last row.
    ``commands`` maps a row (``"BL"``, ``"BL+DGR"``, ``"+SC"``, ``"+Meta"``, or an init
    name) to the command that measures it when no result holds it. Gains are computed
    here from the two results they compare: relative SROCC gain (%) over the
    no-pre-training result of the same profile, dataset and fine-tuning loss. Taught in
    ``notebooks/09_results.ipynb``.
    """
    abl = paper["tables"]["ablation"]
    sets = abl["datasets"]
    gains = abl["gains_percent"]
    cols = [f"{s} SROCC" for s in sets] + [f"{s} gain %" for s in sets]
    gain_col = "gain over no pre-training %"
    table = ResultsTable(
        "Table 5: ablation (SROCC, median over splits)",
        ["row", "components"], cols, ["SROCC", "PLCC", gain_col],
        caption=paper_caption() + " The paper reports its five rows in increasing order and "
        "only the gains shown; its values are " + NOT_TRANSCRIBED + ". GMIQA's rows keep the "
        "architecture of the profile (SC backbone + SPP on whole images) and vary the "
        "pre-training; the paper's cumulative rows without SPP or with ResNet-50 are listed "
        "with the command that would measure them.",
        formats={gain_col: "+.1f", **{f"paper {s} gain %": "+.1f" for s in sets}},
    )  # fmt: skip
    docs = [checked(r) for r in results]
    docs = [d for d in docs if method_of(d) == "GMIQA"]

    def key(d):  # gains only between runs of one configuration (profile, set, loss, splits)
        p = d["provenance"]
        return (p["profile"], p["dataset"], p.get("loss"), p.get("split_seed"))

    bases: dict = {}
    for d in docs:
        if init_of(d) == "none":
            bases.setdefault(key(d), d)

    def gain(d):
        base = bases.get(key(d))
        if base is None or base is d:
            return None
        b, v = base["metrics"].get("srocc_median"), d["metrics"].get("srocc_median")
        if not (is_number(b) and is_number(v)) or b == 0:
            return None
        return 100.0 * (v - b) / abs(b)

    def paper_cells(variant):
        cells = {f"{s} SROCC": NOT_TRANSCRIBED for s in sets}
        for s in sets:
            cells[f"{s} gain %"] = MISSING
        for what, per_set in gains.items():
            if what.split(" over ")[0] == variant:
                for s in sets:
                    cells[f"{s} gain %"] = per_set.get(s, MISSING)
        return cells

    def add(name, label, what, paper_vals):
        found = [d for d in docs if init_of(d) == name]
        if not found:
            table.add({"row": label, "components": what}, paper=paper_vals,
                      missing="not measured in this profile", command=commands.get(name, ""))  # fmt: skip
        for d in found:
            row = table.add_result({"row": label, "components": what}, d,
                                   {"SROCC": "srocc_median", "PLCC": "plcc_median"},
                                   paper=paper_vals)  # fmt: skip
            g = gain(d)
            row.measured[gain_col] = g if g is not None else MISSING

    for variant in abl["order"]:
        name = "graph" if variant == "+SPP" else variant
        what = abl["variants"][variant]
        if name == "graph":
            what += " (GMIQA: " + ABLATION_INITS["graph"] + ")"
        add(name, f"paper {variant}", what, paper_cells(variant))
    not_paper = dict.fromkeys(cols, NOT_IN_PAPER)
    for name in ("none", "graph_nometa", "meta"):
        add(name, f"GMIQA init={name}", ABLATION_INITS[name], not_paper)
    return table


def ablation_row_results(ablation: Mapping, dataset: str | None = None) -> list[dict]:
    """The GMIQA rows of a stored ablation (:func:`load_ablation`) as one result document
    each, for Tables 1-2 and 5: ``provenance["init"]`` names the row, ``split_seed`` the
    ablation's splits, ``dataset`` (default: the ablation's) the set as a table shows it;
    the metrics are the row's median SROCC and PLCC, splits and per-split SROCC. Taught
    in ``notebooks/09_results.ipynb``.
    """
    doc = checked(ablation)
    out = []
    for name, row in doc["metrics"]["rows"].items():
        if row.get("kind", "gmiqa") != "gmiqa" or name not in ABLATION_INITS:
            continue
        metrics = {k: row[k] for k in ("srocc_median", "plcc_median", "splits") if k in row}
        metrics["per_split"] = {"srocc": list(row.get("per_split_srocc") or [])}
        block = {**doc["provenance"], "init": name,
                 "split_seed": int(doc["metrics"].get("seed") or 0),
                 "dataset": dataset or doc["provenance"]["dataset"]}  # fmt: skip
        result = {"schema": SCHEMA, "title": f"{name} row of {source_name(doc)}",
                  "provenance": block, "metrics": metrics}  # fmt: skip
        validate_result(result, str(doc.get("source")))
        out.append({**result, "source": doc.get("source", "")})
    return out


def baseline_result(
    evaluation: Mapping, *, profile: str, dataset: str, command: str, device: str,
    title: str = "",
) -> dict:  # fmt: skip
    """An :func:`gmiqa.baselines.evaluate_splits` output as a result document of this run.

    Metrics: median and mean SROCC/PLCC over splits, per-split values and the median
    SROCC per distortion type; ``provenance["method"]`` names the baseline and the
    provenance (commit, date, device) is measured now. Taught in
    ``notebooks/09_results.ipynb``.
    """

    per_split = list(evaluation["per_split"])
    summary = evaluation["summary"]
    metrics: dict[str, Any] = {}
    for key in ("srocc", "plcc", "krocc", "plcc_logistic"):
        if key in summary:
            metrics[f"{key}_median"] = summary[key]["median"]
            metrics[f"{key}_mean"] = summary[key]["mean"]
    metrics["splits"] = len(per_split)
    metrics["per_split"] = {k: [m[k] for m in per_split] for k in ("srocc", "plcc")}
    per_type: dict[str, list[float]] = {}
    for m in per_split:
        for t, v in (m.get("per_type_srocc") or {}).items():
            per_type.setdefault(str(int(t)), []).append(v)
    if per_type:
        metrics["per_type_srocc_median"] = {
            t: _median([v for v in vals if is_number(v) and math.isfinite(v)])
            for t, vals in sorted(per_type.items(), key=lambda kv: int(kv[0]))
        }
    name = str(evaluation.get("method", "baseline")).upper()
    block = provenance(device=device, method=name)
    doc = make_result(
        metrics, profile=profile, dataset=dataset, command=command,
        title=title or f"{name} on {dataset}", provenance_block=block,
    )  # fmt: skip
    return {**doc, "source": "this run"}


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def complexity_table(reports: Sequence[tuple[str, Mapping]]) -> ResultsTable:
    """Table 6: parameters, FLOPs and latency per model, each from a result document.

    ``reports``: (model label, document) pairs whose metrics hold ``params_total``,
    ``gflops`` and ``latency_ms`` (null when not timed); the paper's column says
    ``"not transcribed"``. Taught in ``notebooks/09_results.ipynb``.
    """
    table = ResultsTable(
        "Table 6: parameters, FLOPs and inference time (one image)",
        ["model", "input (WxH)"], ["params", "FLOPs", "time"],
        ["params (M)", "GFLOPs", "latency ms"],
        caption=paper_caption() + " Table 6 of the paper is " + NOT_TRANSCRIBED + ". FLOPs "
        "count a multiply-add as 2 and cover matrix products and convolutions "
        "(torch.utils.flop_counter); latency is the median of timed calls on the device shown.",
        formats={"params (M)": ".3f", "GFLOPs": ".3f", "latency ms": ".1f"},
    )  # fmt: skip
    for label, doc in reports:
        doc = checked(doc)
        m = doc["metrics"]
        size = m.get("input_size") or [None, None]
        row = table.add_result(
            {"model": label, "input (WxH)": f"{size[1]}x{size[0]}"}, doc,
            {"params (M)": "params_m", "GFLOPs": "gflops", "latency ms": "latency_ms"},
            paper=dict.fromkeys(["params", "FLOPs", "time"], NOT_TRANSCRIBED),
        )  # fmt: skip
        if m.get("latency_ms") is None:
            row.measured["latency ms"] = m.get("latency_note") or "not measured in this profile"
    return table


def complexity_result(report: Mapping, **result_args) -> dict:
    """A :func:`gmiqa.models.complexity_report` as a result document (``make_result`` args).

    ``latency_note`` (optional) says why the latency is null. Taught in
    ``notebooks/09_results.ipynb``.
    """

    metrics = {
        "input_size": list(report["input_size"]),
        "params_total": int(report["params"]["total"]),
        "params_m": report["params"]["total"] / 1e6,
        "params": {k: int(v) for k, v in report["params"].items()},
        "gflops": report["flops"]["total"] / 1e9,
        "latency_ms": report.get("latency_ms"),
    }
    if report.get("latency_ms") is None:
        metrics["latency_note"] = result_args.pop("latency_note", "not measured in this profile")
    else:
        result_args.pop("latency_note", None)
    return {**make_result(metrics, **result_args), "source": "this run"}


def flat_numbers(metrics: Mapping, prefix: str = "", limit: int = 40) -> dict[str, float]:
    """Numeric leaves of a nested metrics object as ``{"a.b": value}`` (lists skipped).

    Taught in ``notebooks/09_results.ipynb``.
    """
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if is_number(value):
            out[name] = value
        elif isinstance(value, Mapping):
            out.update(flat_numbers(value, name + ".", limit))
        if len(out) >= limit:
            break
    return dict(list(out.items())[:limit])


def stored_bench_table(results: Sequence[Mapping], limit: int = 20) -> ResultsTable:
    """Every stored ``bench_*`` result file, its numeric metrics one per row, with provenance.

    Taught in ``notebooks/09_results.ipynb``.
    """
    table = ResultsTable(
        "Stored speed measurements (data/results/bench_*.json)",
        ["file", "metric"], [], ["value"], caption="Measured by the benchmark scripts; "
        "each row's provenance says on which device and commit.",
    )  # fmt: skip
    for d in results:
        d = checked(d)
        for key, value in flat_numbers(d["metrics"], limit=limit).items():
            table.add({"file": source_name(d), "metric": key}, {"value": value}, d)
    return table


ABLATION_ROW_KEYS: tuple[str, ...] = (
    "srocc_median", "srocc_q25", "srocc_q75", "srocc_min", "srocc_max", "plcc_median",
    "per_split_srocc", "splits",
)  # fmt: skip


def ablation_result(summary: Mapping, command: str, title: str = "") -> dict:
    """``run_ablation``'s summary (``ablation-<dataset>.json``) as a ``gmiqa-result/1`` document.

    The summary's rows (``none``, ``meta``, ``graph_nometa``, ``graph``, ``niqe``,
    ``brisque``: median, IQR, min/max and per-split SROCC, median PLCC, splits) go to
    ``metrics["rows"]`` with ``split_by`` and ``seed``; its provenance block gains the
    profile, the dataset and ``command`` (the command that produced it, as typed). Store
    the document with :func:`gmiqa.results.write_result` as
    ``data/results/ablation-<dataset>-<profile>.json``. Taught in
    ``notebooks/09_results.ipynb``.
    """

    name = title or f"ablation on {summary.get('dataset')}"
    rows = summary.get("rows")
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError(f"{name}: an ablation summary needs a non-empty 'rows' object")
    check_provenance(summary.get("provenance") or {}, name)
    block = {
        **summary["provenance"],
        "profile": summary.get("profile"),
        "dataset": summary.get("dataset"),
        "command": command,
    }
    title = title or (
        f"GMIQA pre-training ablation on {summary.get('dataset')}, profile "
        f"{summary.get('profile')}, with NIQE/BRISQUE on the same splits"
    )
    doc = {
        "schema": SCHEMA,
        "title": title,
        "provenance": block,
        "metrics": {
            "rows": {k: dict(v) for k, v in rows.items()},
            "split_by": summary.get("split_by"),
            "seed": summary.get("seed"),
        },
    }
    return validate_result(doc, name)


def load_ablation(path: str | Path) -> dict:
    """Read an ablation result file; returns a ``gmiqa-result/1`` document with ``"source"``.

    Accepts a ``gmiqa-result/1`` document whose ``metrics["rows"]`` holds the rows (the
    form ``data/results`` stores, see its README), or ``run_ablation``'s raw summary,
    which is converted with :func:`ablation_result`; a raw summary records no command,
    so the converted document says so in its command and notes. A file without a
    complete provenance block raises ValueError naming it. Taught in
    ``notebooks/09_results.ipynb``.
    """
    path = Path(path)
    obj = read_json(path)
    if isinstance(obj, Mapping) and obj.get("schema") == SCHEMA:
        doc = validate_result(dict(obj), str(path))
        if not isinstance(doc["metrics"].get("rows"), Mapping) or not doc["metrics"]["rows"]:
            raise ValueError(f"{path}: an ablation result needs metrics.rows")
    elif isinstance(obj, Mapping) and "rows" in obj:
        prov = obj.get("provenance") or {}
        command = prov.get("command") or (
            f"gmiqa ablation --profile {obj.get('profile')} --dataset {obj.get('dataset')} "
            "(reconstructed: the file does not record its command)"
        )
        try:
            doc = ablation_result(obj, command, title=f"ablation {path.name}")
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        doc["notes"] = "converted from run_ablation's summary by gmiqa.report.load_ablation"
    else:
        raise ValueError(f"{path}: neither a gmiqa-result/1 document nor an ablation summary")
    return {**doc, "source": str(path)}


def ablation_rows_table(result: Mapping, title: str = "") -> ResultsTable:
    """One ablation result as a compact table: a row per initialisation or baseline.

    Columns: median SROCC over the splits, its interquartile range, min-max, median PLCC
    and the number of splits, with the result's provenance on every row. Taught in
    ``notebooks/09_results.ipynb``.
    """
    doc = checked(result)
    p = doc["provenance"]
    table = ResultsTable(
        title or f"{p['dataset']}: fine-tuning from each initialisation, and the baselines, "
        f"on the same splits (profile {p['profile']})",
        ["row", "kind"], [], ["median SROCC", "IQR", "min-max", "median PLCC", "splits"],
        caption="SROCC and PLCC between predicted and human scores on each split's test "
        "images; IQR = 25th-75th percentile over the splits. Rows: none = random "
        "initialisation; meta = stage 1 only; graph_nometa = stage 2 from a random start; "
        "graph = stage 1 then stage 2 (the full model); niqe / brisque = the baselines.",
        formats={"splits": "d"},
    )  # fmt: skip

    def num(row, key):
        v = row.get(key)
        return float(v) if is_number(v) and math.isfinite(v) else None

    def span(row, a, b):
        x, y = num(row, a), num(row, b)
        # two decimals and no spaces: a range stays on one line of a narrow column
        return f"{x:.2f}-{y:.2f}" if x is not None and y is not None else None

    for name, row in doc["metrics"]["rows"].items():
        table.add(
            {"row": name, "kind": row.get("kind", "")},
            {
                "median SROCC": num(row, "srocc_median"),
                "IQR": span(row, "srocc_q25", "srocc_q75"),
                "min-max": span(row, "srocc_min", "srocc_max"),
                "median PLCC": num(row, "plcc_median"),
                "splits": int(row["splits"]) if is_number(row.get("splits")) else None,
            },
            doc,
        )
    return table


def paper_caption() -> str:
    """The sentence that labels the paper's columns. Taught in ``notebooks/09_results.ipynb``."""
    return f"Columns 'paper ...': as reported by {PAPER_CITATION}; not reproduced by this project."


def check_sources(results: Sequence[Mapping]) -> list[dict]:
    """Validate every result (ValueError naming the first without complete provenance).

    Taught in ``notebooks/09_results.ipynb``.
    """
    return [checked(r) for r in results]


__all__ = [
    "ABLATION_INITS",
    "MISSING",
    "NOT_IN_PAPER",
    "NOT_ON_MACHINE",
    "NOT_TRANSCRIBED",
    "PAPER_SETS",
    "PLACEHOLDERS",
    "PROVENANCE_COLUMNS",
    "RESULT_PROVENANCE_KEYS",
    "ABLATION_ROW_KEYS",
    "ResultsTable",
    "Row",
    "ablation_result",
    "ablation_row_results",
    "ablation_rows_table",
    "ablation_table",
    "baseline_result",
    "check_sources",
    "checked",
    "complexity_result",
    "complexity_table",
    "finetune_result",
    "flat_numbers",
    "init_of",
    "load_ablation",
    "measure_command",
    "method_of",
    "metrics_result",
    "overall_table",
    "run_command",
    "paper_caption",
    "per_type_table",
    "provenance_cells",
    "stored_bench_table",
]
