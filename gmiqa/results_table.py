"""A results table that refuses a number without provenance.

Taught in ``notebooks/09_results.ipynb``; the chapter's tables are built by
:mod:`gmiqa.report`. A :class:`ResultsTable` has label columns (the set, the method,
the distortion type, ...), the paper's columns, the measured columns, and the
provenance columns :data:`PROVENANCE_COLUMNS` (profile, dataset, device, commit, date,
source) that say, on every row, what produced the measured numbers of that row. A
measured number can only enter a table together with a result document that passes
:func:`gmiqa.results.validate_result`; a source without provenance raises
``ValueError`` naming the file. Tables render as HTML (profile and commit on every row,
the rest of the provenance as numbered notes) or Markdown (every column); no pandas.

This module needs only the standard library.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gmiqa.results import validate_result

PROVENANCE_COLUMNS: tuple[str, ...] = ("profile", "dataset", "device", "commit", "date", "source")
PAPER_LABEL = "paper"  # prefix of the paper's columns
MISSING = "—"
LONG_TEXT = 24  # characters: longer text in an HTML table goes into the row's note
_NUMBER = re.compile(r"[+-]?[\d,]*\.?\d+(?:e[+-]?\d+)?")


def is_number(value: Any) -> bool:
    """True for an int or float that is not a bool (a JSON number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


DIRTY = "with uncommitted changes"


def short_commit(commit: str) -> str:
    """A commit as a reader sees it: 10 hex digits, and ``"<sha> with uncommitted changes"``
    for ``gmiqa.provenance.git_commit``'s ``"<sha>+dirty"`` (taught in
    ``notebooks/09_results.ipynb``)."""
    sha, plus, rest = str(commit).partition("+")
    if not plus:
        return sha[:10]
    return sha[:10] + (f" {DIRTY}" if rest == "dirty" else f" ({rest})")


# Folders of the machine a stored result was made on, as a reader's command names them.
_MACHINE_PATHS = (
    (r"(?:[^\s()'\",;=]*/)?shared/data/pristine/?", "PRISTINE"),
    (r"(?:[^\s()'\",;=]*/)?shared/data/livec_dev_jpg/?", "LIVEC_DEV_JPG"),
    (r"(?:[^\s()'\",;=]*/)?shared/data/livec_dev(?!\w)/?", "LIVEC_DEV"),
    (r"(?:[^\s()'\",;=]*/)?shared/data/csiq_sample/?", "CSIQ_SAMPLE"),
    (r"/(?:work|tmp|home|root)/[^\s()'\",;]*", "DIR"),
)


def public_command(command: str) -> str:
    """A stored command with the folders of the machine it ran on replaced by the names the
    book's commands use (``PRISTINE``, ``LIVEC_DEV``, ``DIR``); taught in
    ``notebooks/09_results.ipynb``."""
    text = str(command)
    for pattern, name in _MACHINE_PATHS:
        text = re.sub(pattern, name, text)
    return text


def source_name(result: Mapping) -> str:
    """A result's source as a table shows it: the file name of a path, else the text."""
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
        "dataset": public_command(str(block["dataset"])),  # no folder of the machine
        "device": device,
        "commit": short_commit(block["commit"]),
        "date": str(block["date"]),
        "source": source_name(result),
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
            if is_number(value) and not math.isfinite(value):
                raise ValueError(f"{self.title}: {key} is {value}; use a text saying why")
        prov = None
        if result is not None:
            prov = provenance_cells(checked(result))
        elif any(is_number(v) for v in measured.values()):
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
            values[column] = node if node is not None else f"not in {source_name(doc)}"
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
            p = sum(is_number(v) for v in row.paper.values())
            m = sum(is_number(v) for v in row.measured.values())
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
        if is_number(value):
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
        """An HTML table that fits a book page: the numbers first, then each row's
        profile and commit, then the paper's columns (shaded), then a note mark.

        Text longer than :data:`LONG_TEXT` characters (a label column such as the
        ablation's "components", a value cell such as "not measured (dataset not on this
        machine)") moves into the row's numbered note under the table, together with the
        rest of the row's provenance (dataset, device, date, source, or the command that
        would measure it); cells wrap. :meth:`to_markdown` keeps every column in full.
        """
        n_label, n_paper = len(self.label_columns), len(self.paper_columns)
        columns, formatted = self.columns, self._formatted()
        paper_cols = columns[n_label : n_label + n_paper]
        measured_cols = columns[n_label + n_paper : n_label + n_paper + len(self.measured_columns)]
        # label columns after the first whose text is long on most rows go to the note
        moved = [
            c
            for c in self.label_columns[1:]
            if formatted
            and sum(len(dict(zip(columns, f))[c]) > LONG_TEXT for f in formatted) * 2
            > len(formatted)
        ]
        labels = [c for c in self.label_columns if c not in moved]
        # a paper column without a number in any row says only why: that goes under the table
        empty = [
            c
            for c in paper_cols
            if not any(
                is_number(v) for v in (r.paper.get(c[len(PAPER_LABEL) + 1 :]) for r in self.rows)
            )
        ]
        paper_cols = [c for c in paper_cols if c not in empty]
        shown = labels + measured_cols + ["profile", "commit"] + paper_cols + ["note"]
        notes: dict[str, int] = {}
        body = []
        for row, cells in zip(self.rows, formatted):
            record = dict(zip(columns, cells))
            parts = [f"{c}: {record[c]}" for c in moved if record[c]]
            values = {}
            for c in labels + measured_cols + paper_cols:
                text = record[c]
                if c not in labels[:1] and len(text) > LONG_TEXT and not is_number(text):
                    parts.append(f"{c}: {text}")
                    text = "*"
                values[c] = text
            sha, _, rest = record["commit"].partition(" ")
            values["profile"], values["commit"] = record["profile"], sha
            if row.provenance is not None:
                parts.append(
                    ", ".join(
                        f"{c} {record[c]}" if c in ("dataset", "device") else record[c]
                        for c in ("dataset", "device", "date", "source")
                    )
                    + (f", commit {rest}" if rest else "")
                )
            elif row.command:
                parts.append(f"not measured; run: {row.command}")
            note = "; ".join(parts)
            mark = f"[{notes.setdefault(note, len(notes) + 1)}]" if note else MISSING
            values["note"] = mark
            if mark != MISSING:
                values = {k: (mark if v == "*" else v) for k, v in values.items()}
            tds = "".join(
                f"<td{self._html_style(c, paper_cols, labels, values[c])}>"
                f"{html.escape(values[c])}</td>"
                for c in shown
            )
            body.append(f"<tr>{tds}</tr>")
        head = "".join(
            f"<th{self._html_style(c, paper_cols, labels, '')}>{html.escape(c)}</th>" for c in shown
        )
        caption = (
            "<caption style='caption-side:top;text-align:left;white-space:normal'>"
            f"<b>{html.escape(self.title)}</b></caption>"
        )
        note = f"<p style='font-size:90%'>{html.escape(self.caption)}</p>" if self.caption else ""
        footnotes = ""
        if empty:
            said = [
                f"{c}: {', '.join(sorted({str(r.paper.get(c[len(PAPER_LABEL) + 1 :], MISSING)) for r in self.rows}))}"
                for c in empty
            ]
            footnotes += (
                "<p class='gmiqa-provenance' style='font-size:90%'>Not shown, no number in "
                f"any row: {html.escape('; '.join(said))}</p>"
            )
        if notes:
            items = "; ".join(f"[{n}] {html.escape(text)}" for text, n in notes.items())
            footnotes += f"<p class='gmiqa-provenance' style='font-size:90%'>Notes: {items}</p>"
        return (
            "<table class='gmiqa-results' style='font-size:85%'>"
            f"{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            + footnotes
            + note
        )

    @staticmethod
    def _html_style(column: str, paper_cols: list[str], labels: list[str], text: str) -> str:
        # numbers, profile, commit and note marks stay on one line; text wraps between
        # words (the book's output tables default to one line per cell)
        if column in labels:
            style = "white-space:normal;overflow-wrap:break-word"
        elif column in ("profile", "commit", "note") or (text and _NUMBER.fullmatch(text)):
            style = "white-space:nowrap"
        else:
            style = "white-space:normal"
        if column in paper_cols:
            style += ";background:#f3f0ff"
        elif column in ("profile", "commit", "note"):
            style += ";background:#f6f6f6"
        return f' style="{style}"'

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()
