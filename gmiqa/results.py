"""Result files with provenance, and the paper's published numbers as data.

A result file is a small JSON document in ``data/results/`` (schema in
``data/results/README.md``)::

    {
      "schema": "gmiqa-result/1",
      "title": "GMIQA fine-tuned on LIVEC, 10 splits",
      "provenance": {"commit": "...", "date": "...", "device": "...",
                     "profile": "gpu", "dataset": "livec", "command": "gmiqa finetune ..."},
      "metrics": {"srocc_median": 0.0, "plcc_median": 0.0, "per_split": {"srocc": [...]}},
      "notes": "optional free text"
    }

Every number must say what produced it: a file whose provenance lacks any of
:data:`RESULT_PROVENANCE_KEYS` fails validation with an error that names the file.
:func:`paper_results` returns what the paper reports, labelled as the paper's, so a
chapter can put both side by side. Taught in ``notebooks/09_results.ipynb``.

This module only needs the standard library (``json``); :func:`make_result` imports
torch lazily through :func:`gmiqa.provenance.provenance` when it fills the block itself.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

from gmiqa.atomic import atomic_write_json
from gmiqa.provenance import check_provenance, provenance

SCHEMA = "gmiqa-result/1"

# check_provenance() requires commit, date and device; a result file also says which
# profile, which dataset and which command produced it.
RESULT_PROVENANCE_KEYS: tuple[str, ...] = (
    "commit",
    "date",
    "device",
    "profile",
    "dataset",
    "command",
)

PAPER_CITATION = (
    "Jia Y, Wei L (2026). Perceptual no-reference image quality assessment with "
    "meta-learning by graph representation learning and multi-scale feature fusion. "
    "PLoS One 21(6): e0351549. doi:10.1371/journal.pone.0351549"
)


def _check_metric_value(value: Any, where: str, source: str) -> None:
    if value is None or isinstance(value, bool) or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(
                f"{source}: metric {where} is {value}; store null and explain it in notes"
            )
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_metric_value(item, f"{where}[{i}]", source)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_metric_value(item, f"{where}.{key}", source)
        return
    raise ValueError(f"{source}: metric {where} has unsupported type {type(value).__name__}")


def validate_result(obj: Any, source: str) -> dict:
    """Check one result document; raise ValueError naming ``source`` when it is incomplete.

    Requirements: a JSON object with ``schema`` equal to :data:`SCHEMA`, a ``provenance``
    block with every key of :data:`RESULT_PROVENANCE_KEYS` non-empty, and a non-empty
    ``metrics`` object whose leaves are finite numbers, strings, booleans or null.
    Returns ``obj`` unchanged.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"{source}: a result file must hold a JSON object")
    if obj.get("schema") != SCHEMA:
        raise ValueError(f"{source}: schema is {obj.get('schema')!r}, expected {SCHEMA!r}")
    if "provenance" not in obj:
        raise ValueError(f"{source}: no provenance block")
    block = obj["provenance"]
    check_provenance(block, source)
    missing = [key for key in RESULT_PROVENANCE_KEYS if not block.get(key)]
    if missing:
        raise ValueError(f"{source}: provenance lacks {', '.join(missing)}")
    metrics = obj.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError(f"{source}: no metrics (expected a non-empty object)")
    for key, value in metrics.items():
        _check_metric_value(value, key, source)
    return obj


def read_json(path: str | Path):
    """A JSON file's content; invalid JSON raises ValueError naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def load_result(path: str | Path) -> dict:
    """Read and validate one result file; the returned dict gains ``"source"`` (the path)."""
    path = Path(path)
    obj = read_json(path)
    validate_result(obj, str(path))
    return {**obj, "source": str(path)}


def load_results(folder: str | Path) -> list[dict]:
    """Every ``*.json`` result file under ``folder`` (recursively, sorted by path), validated.

    A missing folder gives an empty list; an invalid file raises ValueError naming it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [load_result(path) for path in sorted(folder.rglob("*.json"))]


def make_result(
    metrics: dict,
    *,
    profile: str,
    dataset: str,
    command: str,
    title: str = "",
    notes: str = "",
    provenance_block: dict | None = None,
    device: str | None = None,
) -> dict:
    """Build a validated result document; provenance is measured here unless given."""
    if provenance_block is None:
        provenance_block = provenance(device=device)
    block = {**provenance_block, "profile": profile, "dataset": dataset, "command": command}
    obj = {"schema": SCHEMA, "title": title, "provenance": block, "metrics": metrics}
    if notes:
        obj["notes"] = notes
    return validate_result(obj, title or f"result for {dataset}")


def script_command(script: str, argv: list[str] | None = None) -> str:
    """The command line that ran ``script`` (a path from the repository root) with this
    process's arguments (or ``argv``), shell-quoted: a result's ``command``."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(shlex.quote(a) for a in ["python", script, *args])


def write_result(path: str | Path, result: dict) -> Path:
    """Validate ``result`` and write it atomically as JSON to ``path``."""

    validate_result(result, str(path))
    return atomic_write_json(path, result)


def paper_results() -> dict:
    """The paper's reported results as data, each table labelled with its source.

    Only what the project's specification transcribes from the paper is given as
    numbers: the full model's SROCC/PLCC on four sets, and the ablation's ordering with
    the two gains it states. The paper's other tables are marked ``"not transcribed"``
    rather than guessed.
    """
    return {
        "source": PAPER_CITATION,
        "bibtex_key": "jia2026gmiqa",
        "note": "Numbers reported by the paper's authors, not reproduced by this project.",
        "tables": {
            "overall": {
                "status": "transcribed",
                "description": "The full model (GMIQA) on four IQA sets; SROCC and PLCC as reported.",
                "columns": ["SROCC", "PLCC"],
                "rows": {
                    "LIVEC": {"SROCC": 0.881, "PLCC": 0.889},
                    "KonIQ-10k": {"SROCC": 0.910, "PLCC": 0.926},
                    "CSIQ": {"SROCC": 0.962, "PLCC": 0.973},
                    "LIVE": {"SROCC": 0.979, "PLCC": 0.982},
                },
            },
            "ablation": {
                "status": "transcribed: ordering and two gains only",
                "description": (
                    "Ablation on LIVEC and LIVE (SROCC). Each variant adds one component "
                    "to the previous one; the paper reports them in increasing order."
                ),
                "datasets": ["LIVEC", "LIVE"],
                "metric": "SROCC",
                "order": ["BL", "BL+DGR", "+SC", "+Meta", "+SPP"],
                "variants": {
                    "BL": "ResNet-50 on crops, no pre-training",
                    "BL+DGR": "BL with distortion-graph pre-training",
                    "+SC": "SCNet-50 (self-calibrated convolutions) as the backbone",
                    "+Meta": "meta-learning pre-training before the graph stage",
                    "+SPP": "spatial pyramid pooling on whole images: the full model",
                },
                "gains_percent": {
                    "BL+DGR over BL": {"LIVEC": 2.9, "LIVE": 3.2},
                },
                "values": "not transcribed: only the ordering and the gains above are given",
            },
            "other": {
                "status": "not transcribed",
                "description": (
                    "The rest of the paper's Tables 3-6 (every number beyond the two "
                    "entries above) is not part of this project's specification and is "
                    "not reproduced here; read it in the paper."
                ),
            },
        },
    }
