"""Load-or-train of the three stages in a run folder (gmiqa.training.pipeline)."""

from __future__ import annotations

import json

import pytest

from gmiqa.errors import ConfigError


def test_ensure_stage_trains_upstream_then_reuses(tmp_path):
    from tiny_setup import tiny_dataset, tiny_profile

    from gmiqa.checkpoint import read_sidecar
    from gmiqa.training.pipeline import checkpoint_path, ensure_stage

    profile = tiny_profile().replace(
        meta={"steps": 1}, pretrain={"steps": 1}, finetune={"epochs": 1, "splits": 1}
    )
    ds = tiny_dataset(tmp_path / "cache")
    ft = ensure_stage("finetune", profile, tmp_path, "cpu", 0, progress=False, dataset=ds)
    paths = {s: checkpoint_path(tmp_path, s) for s in ("meta", "graph", "finetune")}
    assert ft == paths["finetune"] and all(p.exists() for p in paths.values())
    assert read_sidecar(paths["graph"])["config"]["init"] == str(paths["meta"])
    results = json.loads((tmp_path / "results" / "finetune-synthetic-graph.json").read_text())
    assert results["config"]["init"] == str(paths["graph"])
    stamps = {s: p.stat().st_mtime_ns for s, p in paths.items()}
    # Everything current: nothing is trained again.
    ensure_stage("finetune", profile, tmp_path, "cpu", 0, progress=False, dataset=ds)
    assert {s: p.stat().st_mtime_ns for s, p in paths.items()} == stamps
    # New stage 1 settings retrain stage 1 and, through the stored fingerprint, stage 2.
    changed = profile.replace(meta={"inner_lr": 0.02})
    ensure_stage("graph", changed, tmp_path, "cpu", 0, progress=False, dataset=ds)
    assert paths["meta"].stat().st_mtime_ns != stamps["meta"]
    assert paths["graph"].stat().st_mtime_ns != stamps["graph"]


def test_unknown_stage():
    from gmiqa.training.pipeline import checkpoint_path

    with pytest.raises(ConfigError, match="'finetuning'"):
        checkpoint_path(".", "finetuning")
