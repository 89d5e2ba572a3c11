"""Probes of what pre-training learned: leave-reference-out k-NN, within-type level SROCC."""

from __future__ import annotations

import numpy as np
import pytest


def test_knn_counts_only_neighbours_of_other_references():
    from gmiqa.training.probe import knn_type_accuracy

    rng = np.random.default_rng(0)
    types = np.repeat([1, 2, 3], 20)
    groups = np.tile(np.arange(10), 6)
    centres = rng.normal(size=(4, 8)) * 5
    codes = centres[types] + rng.normal(size=(60, 8)) * 0.1
    assert knn_type_accuracy(codes, types, groups) == 1.0
    # codes that only encode the content: its own reference is excluded, so ~chance
    content = rng.normal(size=(10, 8))[groups] + rng.normal(size=(60, 8)) * 0.01
    assert knn_type_accuracy(content, types, groups) < 0.6


def test_within_type_level_srocc():
    from gmiqa.training.probe import within_type_level_srocc

    levels = np.tile([1, 2, 3, 4, 5], 4)
    types = np.repeat([1, 2, 3, 4], 5)
    assert within_type_level_srocc(levels * 2.0 + types * 10, levels, types) == pytest.approx(1.0)
    assert within_type_level_srocc(-levels.astype(float), levels, types) == pytest.approx(-1.0)
    assert within_type_level_srocc(np.zeros(20), levels, types) == 0.0


def test_own_graph_codes_do_not_depend_on_the_batch():
    import torch

    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    torch.manual_seed(0)
    model = build_model(get_profile("smoke").model).eval()
    feats = torch.randn(5, get_profile("smoke").model.feature_dim)
    codes, mu = model.own_graph_codes(feats)
    alone, mu1 = model.own_graph_codes(feats[2:3])
    assert codes.shape == (5, get_profile("smoke").model.node_dim) and mu.shape == (5,)
    assert torch.allclose(codes[2], alone[0], atol=1e-6) and torch.allclose(
        mu[2], mu1[0], atol=1e-6
    )


def test_severity_types_leave_out_the_signed_and_the_flat_level_scales():
    from gmiqa.distortions import DISTORTIONS
    from gmiqa.training.probe import severity_types

    kept = severity_types(np.arange(1, 26))
    assert set(range(1, 26)) - set(kept.tolist()) == {18, 21, 25}
    assert all(DISTORTIONS[int(t)].monotone for t in kept)
    assert severity_types([1, 18]).tolist() == [1]


def test_run_probe_reports_the_level_order_over_all_types_and_over_severity_types():
    import torch

    from gmiqa.datasets.synthetic import SyntheticIQADataset
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile
    from gmiqa.training.probe import run_probe

    profile = get_profile("smoke")  # types 1, 10, 11, 16, 21, 25 on 6 packaged photos
    ds = SyntheticIQADataset.from_profile(profile, seed=0)
    torch.manual_seed(0)
    report = run_probe(build_model(profile.model), ds, [0, 1], "cpu")
    assert report["severity_types"] == [1, 10, 11, 16]
    by_type = report["level_srocc_by_type"]
    assert set(by_type) == {"1", "10", "11", "16", "21", "25"}
    assert report["level_srocc"] == pytest.approx(np.mean(list(by_type.values())))
    assert report["level_srocc_severity_types"] == pytest.approx(
        np.mean([by_type[t] for t in ("1", "10", "11", "16")])
    )


def test_ensure_probe_writes_a_missing_report_once_without_the_finetune_warning(tmp_path, capsys):
    """A stage-2 checkpoint without its probe report gets one on the held-out references;
    an existing report is kept; a profile holding no reference out has no probe."""
    import json

    import torch
    from tiny_setup import tiny_profile

    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.datasets.base import record_field
    from gmiqa.datasets.synthetic import SyntheticIQADataset
    from gmiqa.models import build_model
    from gmiqa.training.probe import ensure_probe, probe_checkpoint_path
    from gmiqa.training.samplers import holdout_references

    small = {"image_size": (96, 96), "types": (1, 16), "levels": (1, 5)}
    profile = tiny_profile().replace(data=small, pretrain={"holdout_references": 1})
    ds = SyntheticIQADataset.from_profile(profile, cache_dir=tmp_path / "cache")
    ds.progress = False
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "graph.safetensors", kind="graph",
                         model=build_model(profile.model),
                         config={"profile": profile.to_dict()}, state={"done": True})  # fmt: skip
    assert ensure_probe(ck, tiny_profile(), ds, "cpu") is None  # nothing held out
    assert not probe_checkpoint_path(ck).exists()
    path = ensure_probe(ck, profile, ds, "cpu", seed=0)
    assert path == probe_checkpoint_path(ck) and path.is_file()
    report = json.loads(path.read_text())
    held = holdout_references(record_field(ds, "ref_id"), 1, 0)
    assert report["reference_ids"] == held and len(held) == 1
    assert report["references"] == 1 and report["images"] == 4  # 2 types x 2 levels
    assert 0.0 <= report["knn_type_accuracy"] <= 1.0
    assert "warning" not in capsys.readouterr().err  # loaded on purpose: no fine-tune advice
    path.write_text('{"kept": true}')
    assert ensure_probe(ck, profile, ds, "cpu", seed=0) == path
    assert json.loads(path.read_text()) == {"kept": True}
