"""LIVEC loader on the real score files of the release (../shared/data/formats/livec)."""

from __future__ import annotations

import pytest
import scipy.io

from gmiqa.datasets import load_dataset
from gmiqa.datasets.livec import load_livec


def test_real_mat_files(livec_layout, shared):
    ds = load_livec(livec_layout.folder.parent)
    assert len(ds) == 1162  # 1169 entries minus the 7 training images
    assert not any(r.name.startswith("t") for r in ds.records)
    assert ds.records[0].name == "100.bmp"
    mos = scipy.io.loadmat(shared / "data/formats/livec/AllMOS_release.mat")["AllMOS_release"]
    assert ds.records[0].raw_score == pytest.approx(float(mos.ravel()[7]))
    for r in ds.records:
        assert r.raw_score == pytest.approx(livec_layout.raw[r.name])
        assert r.score == pytest.approx(r.raw_score / 100.0)  # MOS 0..100, higher = better
        assert 0.0 <= r.score <= 1.0
    assert {r.name.rsplit(".", 1)[1] for r in ds.records} == {"JPG", "bmp"}
    assert len({r.ref_id for r in ds.records}) == 1162


def test_load_dataset_name_and_item(livec_layout):
    ds = load_dataset("LIVE-C", livec_layout.folder)
    item = ds[5]
    assert item["image"].shape == (3, 4, 4)
    assert item["name"] == ds.records[5].name
