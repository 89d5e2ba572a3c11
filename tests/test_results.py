"""Result files carry complete provenance; the paper's numbers are labelled as the paper's."""

from __future__ import annotations

import json
import math

import pytest

from gmiqa.book import REPO
from gmiqa.results import (
    RESULT_PROVENANCE_KEYS,
    SCHEMA,
    load_results,
    make_result,
    paper_results,
    validate_result,
    write_result,
)

RESULTS = REPO / "data" / "results"

PROVENANCE = {
    "commit": "0123abcd",
    "date": "2026-11-26T20:00:00+00:00",
    "device": "cpu",
    "profile": "smoke",
    "dataset": "synthetic",
    "command": "python -m gmiqa.book execute --profile smoke",
}


def _result(**changes):
    obj = {
        "schema": SCHEMA,
        "title": "test",
        "provenance": dict(PROVENANCE),
        "metrics": {"srocc": 0.5, "per_split": {"srocc": [0.4, 0.6]}},
    }
    obj.update(changes)
    return obj


@pytest.mark.parametrize(
    "path",
    sorted(RESULTS.rglob("*.json")),
    ids=lambda p: str(p.relative_to(RESULTS)),
)
def test_every_committed_result_file_validates(path):
    validate_result(json.loads(path.read_text(encoding="utf-8")), str(path))


def test_the_results_folder_documents_its_schema():
    readme = (RESULTS / "README.md").read_text(encoding="utf-8")
    assert SCHEMA in readme
    for key in RESULT_PROVENANCE_KEYS:
        assert f"`{key}`" in readme, key


def test_load_results_reads_and_validates_a_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.json").write_text(json.dumps(_result()), encoding="utf-8")
    (tmp_path / "sub" / "b.json").write_text(json.dumps(_result(title="b")), encoding="utf-8")
    loaded = load_results(tmp_path)
    assert [r["title"] for r in loaded] == ["test", "b"]
    assert loaded[0]["source"].endswith("a.json")
    assert load_results(tmp_path / "missing") == []


def test_a_file_without_provenance_fails_naming_the_file(tmp_path):
    bad = _result()
    del bad["provenance"]
    path = tmp_path / "no_provenance.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match="no_provenance.json: no provenance"):
        load_results(tmp_path)


@pytest.mark.parametrize("key", RESULT_PROVENANCE_KEYS)
def test_incomplete_provenance_fails_naming_the_key_and_the_file(tmp_path, key):
    bad = _result()
    bad["provenance"][key] = ""
    path = tmp_path / f"lacks_{key}.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"lacks_{key}\.json: provenance lacks {key}"):
        load_results(tmp_path)


def test_other_defects_are_named(tmp_path):
    with pytest.raises(ValueError, match="x.json: schema"):
        validate_result(_result(schema="other"), "x.json")
    with pytest.raises(ValueError, match="x.json: no metrics"):
        validate_result(_result(metrics={}), "x.json")
    with pytest.raises(ValueError, match=r"x.json: metric per_split.srocc\[1\] is nan"):
        validate_result(_result(metrics={"per_split": {"srocc": [0.1, math.nan]}}), "x.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        load_results(tmp_path)


def test_make_and_write_result_round_trip(tmp_path):
    block = {k: PROVENANCE[k] for k in ("commit", "date", "device")}
    obj = make_result(
        {"srocc": 0.7},
        profile="cpu",
        dataset="csiq_sample",
        command="gmiqa evaluate",
        title="round trip",
        provenance_block=block,
    )
    path = write_result(tmp_path / "r.json", obj)
    (loaded,) = load_results(tmp_path)
    assert loaded["metrics"] == {"srocc": 0.7}
    assert loaded["provenance"]["dataset"] == "csiq_sample"
    assert loaded["source"] == str(path)


def test_paper_results_are_the_specified_numbers_and_say_what_is_missing():
    paper = paper_results()
    assert "e0351549" in paper["source"]
    overall = paper["tables"]["overall"]["rows"]
    assert overall["LIVEC"] == {"SROCC": 0.881, "PLCC": 0.889}
    assert overall["KonIQ-10k"] == {"SROCC": 0.910, "PLCC": 0.926}
    assert overall["CSIQ"] == {"SROCC": 0.962, "PLCC": 0.973}
    assert overall["LIVE"] == {"SROCC": 0.979, "PLCC": 0.982}
    ablation = paper["tables"]["ablation"]
    assert ablation["order"] == ["BL", "BL+DGR", "+SC", "+Meta", "+SPP"]
    assert ablation["gains_percent"]["BL+DGR over BL"] == {"LIVEC": 2.9, "LIVE": 3.2}
    assert paper["tables"]["other"]["status"] == "not transcribed"
    for row in overall.values():
        assert all(0 < v < 1 for v in row.values())


def test_the_stored_pretraining_run_is_the_cpu_profile_of_today():
    """pretrain-cpu.json (shown in notebook 06) must be re-measured when the cpu recipe changes.

    Its stage-2 length and held-out references are those the cpu profile gives the 110 photos
    it was run on (10 held out: 100 x 25 types x 5 levels trained).
    """
    from gmiqa.profiles import get_profile
    from gmiqa.results import load_result
    from gmiqa.training.pretrain import stage_steps

    doc = load_result(RESULTS / "pretrain-cpu.json")
    cpu = get_profile("cpu").pretrain
    stages = doc["metrics"]["stages"]
    for name in ("graph", "graph_nometa"):
        assert stages[name]["steps"] == stage_steps(cpu, 100 * 25 * 5), name
        assert stages[name]["probe"]["references"] == cpu.holdout_references, name
        assert len(stages[name]["losses"]["steps"]) == stages[name]["steps"] // cpu.log_every
    assert stages["meta"]["steps"] == get_profile("cpu").meta.steps
