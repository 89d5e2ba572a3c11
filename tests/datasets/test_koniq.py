"""KonIQ-10k loader on a fixture written in the official layout."""

from __future__ import annotations

import pytest
from conftest import make_koniq

from gmiqa.datasets import load_dataset
from gmiqa.datasets.koniq import load_koniq10k
from gmiqa.errors import DatasetError


def test_reads_official_layout(tmp_path):
    layout = make_koniq(tmp_path)
    ds = load_dataset("koniq10k", tmp_path)
    assert len(ds) == layout.count == 3
    assert [r.name for r in ds.records] == list(layout.raw)
    for r in ds.records:
        assert r.raw_score == pytest.approx(layout.raw[r.name])
        assert r.score == pytest.approx((layout.raw[r.name] - 1.0) / 4.0)
        assert (r.type, r.level) == (0, 0)
    # One image per content: every ref_id distinct (splits go by image).
    assert len({r.ref_id for r in ds.records}) == 3
    best = max(ds.records, key=lambda r: r.score)
    assert best.name == "4541917.jpg"  # MOS 4.31, the highest
    assert ds[0]["image"].shape == (3, 6, 8)  # native resolution, not resized


def test_other_resolution_folder(tmp_path):
    make_koniq(tmp_path)
    with pytest.raises(DatasetError, match="512x384"):
        load_koniq10k(tmp_path, resolution="512x384")  # images are only in 1024x768/
    with pytest.raises(DatasetError, match="resolution"):
        load_koniq10k(tmp_path, resolution="640x480")
