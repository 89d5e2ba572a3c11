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

This module needs only the standard library.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gmiqa.results import PAPER_CITATION, RESULT_PROVENANCE_KEYS, SCHEMA, validate_result

PROVENANCE_COLUMNS: tuple[str, ...] = ("profile", "dataset", "device", "commit", "date", "source")
PAPER_LABEL = "paper"  # prefix of the paper's columns
MISSING = "—"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short_commit(commit: str) -> str:
    sha, plus, rest = str(commit).partition("+")
    return sha[:10] + (plus + rest if plus else "")


def _source_name(result: Mapping) -> str:
    source = result.get("source") or result.get("title") or "this run"
    text = str(source)
    return Path(text).name if ("/" in text or "\\" in text) else text


def checked(result: Mapping, source: str | None = None) -> dict:
    """``result`` validated as a ``gmiqa-result/1`` document; ValueError naming its source.

    ``source`` defaults to the document's ``"source"`` (set by
    :func:`gmiqa.results.load_result`) or its title. Taught in ``notebooks/09_results.ipynb``.
    """
    name = source or str(result.get("source") or result.get("title") or "result")
    validate_result(dict(result), name)
    return dict(result)


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
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
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
    block = {
        **raw["provenance"],
        "profile": profile or "",
        "dataset": config.get("dataset") or raw["provenance"].get("dataset") or "",
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
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
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


def provenance_cells(result: Mapping) -> dict[str, str]:
    """The provenance columns of a result: profile, dataset, device, commit, date, source.

    Taught in ``notebooks/09_results.ipynb``.
    """
    block = result["provenance"]
    device = str(block["device"])
    name = block.get("device_name")
    if name and name != device:
        device = f"{device} ({name})"
    return {
        "profile": str(block["profile"]),
        "dataset": str(block["dataset"]),
        "device": device,
        "commit": _short_commit(block["commit"]),
        "date": str(block["date"]),
        "source": _source_name(result),
    }


@dataclass
class Row:
    """One table row: labels, the paper's values, measured values and their provenance.

    Taught in ``notebooks/09_results.ipynb``.
    """

    labels: dict[str, Any]
    paper: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, str] | None = None  # None: no measured number in this row
    command: str = ""  # for a row that was not measured: how to measure it


class ResultsTable:
    """A table of the paper's numbers beside measured ones, with provenance on every row.

    ``label_columns``: e.g. ``["set", "method"]``; ``paper_columns``: the paper's metric
    names (shown as ``"paper SROCC"``); ``measured_columns``: metric names of measured
    values; ``formats``: a format spec per column (default ``".3f"`` for floats). Taught
    in ``notebooks/09_results.ipynb``.
    """

    def __init__(
        self,
        title: str,
        label_columns: Sequence[str],
        paper_columns: Sequence[str],
        measured_columns: Sequence[str],
        caption: str = "",
        formats: Mapping[str, str] | None = None,
    ) -> None:
        self.title = title
        self.label_columns = list(label_columns)
        self.paper_columns = list(paper_columns)
        self.measured_columns = list(measured_columns)
        self.caption = caption
        self.formats = dict(formats or {})
        self.rows: list[Row] = []

    # --- adding rows ------------------------------------------------------------------
    def add(
        self,
        labels: Mapping[str, Any],
        measured: Mapping[str, Any] | None = None,
        result: Mapping | None = None,
        paper: Mapping[str, Any] | None = None,
        missing: str = "",
        command: str = "",
    ) -> Row:
        """Add a row; measured numbers need ``result`` (a document with complete provenance).

        ``paper``: the paper's values for this row (numbers from
        :func:`gmiqa.results.paper_results`, or texts). ``missing`` fills the measured
        columns that have no value (e.g. ``"not measured (dataset not on this
        machine)"``) and ``command`` says how to measure them. Raises ValueError naming
        the source when ``result`` lacks provenance, or when numbers come without one.
        """
        measured = dict(measured or {})
        unknown = set(measured) - set(self.measured_columns)
        unknown |= set(paper or {}) - set(self.paper_columns)
        unknown |= set(labels) - set(self.label_columns)
        if unknown:
            raise ValueError(f"{self.title}: unknown columns {sorted(unknown)}")
        for key, value in measured.items():
            if _is_number(value) and not math.isfinite(value):
                raise ValueError(f"{self.title}: {key} is {value}; use a text saying why")
        prov = None
        if result is not None:
            prov = provenance_cells(checked(result))
        elif any(_is_number(v) for v in measured.values()):
            raise ValueError(
                f"{self.title}: row {dict(labels)} has measured numbers but no result with provenance"
            )
        first = True  # the reason goes in the first empty column, a dash in the others
        for col in self.measured_columns:
            if col not in measured or measured[col] is None:
                measured[col] = (missing or MISSING) if first else MISSING
                first = False
        row = Row(dict(labels), dict(paper or {}), measured, prov, command)
        self.rows.append(row)
        return row

    def add_result(
        self,
        labels: Mapping[str, Any],
        result: Mapping,
        keys: Mapping[str, str],
        paper: Mapping[str, Any] | None = None,
    ) -> Row:
        """Add a row whose measured columns are ``result["metrics"][keys[column]]``.

        A key may be a dotted path (``"per_type_srocc_median.11"``). A metric the result
        does not hold is shown as ``"not in <source>"``, never guessed.
        """
        doc = checked(result)
        values = {}
        for column, key in keys.items():
            node: Any = doc["metrics"]
            for part in key.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            values[column] = node if node is not None else f"not in {_source_name(doc)}"
        return self.add(labels, values, doc, paper)

    # --- reading back -----------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        paper = [f"{PAPER_LABEL} {c}" for c in self.paper_columns]
        return self.label_columns + paper + self.measured_columns + list(PROVENANCE_COLUMNS)

    def _cells(self, row: Row) -> list[Any]:
        paper = [row.paper.get(c, MISSING) for c in self.paper_columns]
        measured = [row.measured.get(c, MISSING) for c in self.measured_columns]
        if row.provenance is not None:
            prov = [row.provenance[c] for c in PROVENANCE_COLUMNS]
        elif row.command:
            prov = [MISSING] * (len(PROVENANCE_COLUMNS) - 1) + [f"run: {row.command}"]
        else:
            prov = [MISSING] * len(PROVENANCE_COLUMNS)
        return [row.labels.get(c, "") for c in self.label_columns] + paper + measured + prov

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by :attr:`columns` (raw values, unformatted)."""
        return [dict(zip(self.columns, self._cells(row))) for row in self.rows]

    def count(self) -> dict[str, int]:
        """Numbers shown: ``paper`` (from the paper), ``measured``, and ``measured_with_provenance``.

        A measured number counts as with provenance when every provenance column of its
        row is non-empty. ``rows_with_numbers``: rows holding at least one number.
        """
        paper = measured = with_prov = rows = 0
        for row in self.rows:
            p = sum(_is_number(v) for v in row.paper.values())
            m = sum(_is_number(v) for v in row.measured.values())
            paper += p
            measured += m
            if m and row.provenance and all(row.provenance.get(c) for c in PROVENANCE_COLUMNS):
                with_prov += m
            rows += bool(p or m)
        return {
            "paper": paper,
            "measured": measured,
            "measured_with_provenance": with_prov,
            "rows_with_numbers": rows,
        }

    # --- rendering --------------------------------------------------------------------
    def _format(self, column: str, value: Any) -> str:
        if value is None:
            return MISSING
        if _is_number(value):
            spec = self.formats.get(column)
            if spec:
                return format(value, spec)
            return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"
        return str(value)

    def _formatted(self) -> list[list[str]]:
        return [
            [self._format(col, v) for col, v in zip(self.columns, self._cells(row))]
            for row in self.rows
        ]

    def to_markdown(self) -> str:
        """A Markdown table with the title as a bold line and the caption below."""

        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"**{self.title}**", ""]
        lines.append("| " + " | ".join(esc(c) for c in self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        for cells in self._formatted():
            lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
        if self.caption:
            lines += ["", self.caption]
        return "\n".join(lines)

    def to_html(self) -> str:
        """An HTML table; the paper's columns and the provenance columns are shaded."""
        n_label, n_paper = len(self.label_columns), len(self.paper_columns)
        n_measured = len(self.measured_columns)

        def style(i: int) -> str:
            if n_label <= i < n_label + n_paper:
                return ' style="background:#f3f0ff"'
            if i >= n_label + n_paper + n_measured:
                return ' style="background:#f6f6f6;font-size:85%"'
            return ""

        head = "".join(f"<th{style(i)}>{html.escape(c)}</th>" for i, c in enumerate(self.columns))
        body = []
        for cells in self._formatted():
            tds = "".join(f"<td{style(i)}>{html.escape(c)}</td>" for i, c in enumerate(cells))
            body.append(f"<tr>{tds}</tr>")
        caption = f"<caption style='caption-side:top;text-align:left'><b>{html.escape(self.title)}</b></caption>"
        note = f"<p style='font-size:90%'>{html.escape(self.caption)}</p>" if self.caption else ""
        return (
            f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            + note
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


# --- the results chapter's tables --------------------------------------------------------
# The paper's set names and this project's dataset keys (gmiqa.datasets.canonical_name).
PAPER_SETS: dict[str, str] = {
    "LIVEC": "livec",
    "KonIQ-10k": "koniq10k",
    "CSIQ": "csiq",
    "LIVE": "live",
}
NOT_ON_MACHINE = "not measured (dataset not on this machine)"
NOT_IN_PAPER = "not in the paper"
NOT_TRANSCRIBED = "not transcribed"


def measure_command(dataset: str, profile: str = "gpu") -> str:
    """The command that fine-tunes and evaluates GMIQA on a downloaded set (10 splits).

    Taught in ``notebooks/09_results.ipynb``.
    """
    return (
        f"gmiqa finetune --profile {profile} --dataset {dataset} --root DATA_DIR "
        f"--init graph --splits 10"
    )


def method_of(result: Mapping) -> str:
    """The method a result measures: ``provenance["method"]`` when given, else ``"GMIQA"``.

    Taught in ``notebooks/09_results.ipynb``.
    """
    return str(result.get("provenance", {}).get("method") or "GMIQA")


def _has(result: Mapping, *keys: str) -> bool:
    metrics = result.get("metrics") or {}
    return all(_is_number(metrics.get(k)) for k in keys)


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
    The paper's per-type numbers are not transcribed (the specification gives none), so
    its column says so. Taught in ``notebooks/09_results.ipynb``.
    """
    table = ResultsTable(
        "Tables 3-4: SROCC per distortion type (median over splits)",
        ["type", "distortion", "method"], ["SROCC"], ["SROCC"],
        caption=paper_caption() + " The paper's per-type tables are not part of this "
        "project's specification: " + NOT_TRANSCRIBED + ".",
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

    def key(d):  # gains only between runs of one configuration (profile, set, loss)
        p = d["provenance"]
        return (p["profile"], p["dataset"], p.get("loss"))

    bases: dict = {}
    for d in docs:
        if init_of(d) == "none":
            bases.setdefault(key(d), d)

    def gain(d):
        base = bases.get(key(d))
        if base is None or base is d:
            return None
        b, v = base["metrics"].get("srocc_median"), d["metrics"].get("srocc_median")
        if not (_is_number(b) and _is_number(v)) or b == 0:
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
    from gmiqa.provenance import provenance
    from gmiqa.results import make_result

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
            t: _median([v for v in vals if _is_number(v) and math.isfinite(v)])
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
    from gmiqa.results import make_result

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
        if _is_number(value):
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
            table.add({"file": _source_name(d), "metric": key}, {"value": value}, d)
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
    "PROVENANCE_COLUMNS",
    "RESULT_PROVENANCE_KEYS",
    "ResultsTable",
    "Row",
    "ablation_table",
    "baseline_result",
    "check_sources",
    "checked",
    "complexity_result",
    "complexity_table",
    "finetune_result",
    "flat_numbers",
    "init_of",
    "measure_command",
    "method_of",
    "metrics_result",
    "overall_table",
    "paper_caption",
    "per_type_table",
    "provenance_cells",
    "stored_bench_table",
]
