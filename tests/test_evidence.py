"""The book's lead evidence (gmiqa.evidence): made from the stored LIVEC ablation files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gmiqa.evidence import evidence_figure, evidence_files, evidence_markdown

RESULTS = Path(__file__).resolve().parent.parent / "data" / "results"


def test_the_stored_evidence_names_its_rows_seeds_and_commits():
    text = evidence_markdown(RESULTS)
    docs = [json.loads(f.read_text()) for f in evidence_files(RESULTS)]
    assert len(docs) == 2, "the book leads with two split seeds"
    graph = [d["metrics"]["rows"]["graph"]["srocc_median"] for d in docs]
    for value in graph:  # the full model's medians appear as stored, in bold
        assert f"**{value:.3f}" in text
    for d in docs:
        assert d["provenance"]["commit"][:10] in text
        assert "+dirty" not in d["provenance"]["commit"]
    assert "GMIQA above BRISQUE on" in text and "random start" in text


def test_a_missing_seed0_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ablation-livec-cpu.json"):
        evidence_markdown(tmp_path)


def test_paired_counts_follow_the_per_split_numbers(tmp_path):
    doc = json.loads((RESULTS / "ablation-livec-cpu.json").read_text())
    rows = doc["metrics"]["rows"]
    rows["brisque"]["per_split_srocc"] = [v + 1.0 for v in rows["graph"]["per_split_srocc"]]
    (tmp_path / "ablation-livec-cpu.json").write_text(json.dumps(doc))
    n = len(rows["graph"]["per_split_srocc"])
    assert f"GMIQA above BRISQUE on 0 of {n} splits" in evidence_markdown(tmp_path)


def test_the_figure_is_written(tmp_path):
    for f in evidence_files(RESULTS):
        shutil.copy(f, tmp_path / f.name)
    out = evidence_figure(tmp_path, tmp_path / "fig" / "e.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
