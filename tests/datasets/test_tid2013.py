"""TID2013 loader on a fixture with the archive's letter-case mix."""

from __future__ import annotations

import pytest
from conftest import make_tid2013

from gmiqa.datasets import load_dataset


def test_reads_layout_case_insensitively(tmp_path):
    layout = make_tid2013(tmp_path)
    assert layout.image_paths["i25_24_5.bmp"].name == "I25_24_5.BMP"
    ds = load_dataset("TID2013", tmp_path)
    assert len(ds) == layout.count == 8
    assert [r.name for r in ds.records] == list(layout.raw)
    for r in ds.records:
        assert r.raw_score == pytest.approx(layout.raw[r.name])
        assert r.score == pytest.approx(r.raw_score / 9.0)  # MOS 0..9, higher = better
        ref, t, lv = (int(x) for x in r.name[1:-4].split("_"))
        assert (r.ref_id, r.type, r.level) == (ref, t, lv)
        assert r.path == str(layout.image_paths[r.name])
    index = [r.name for r in ds.records].index("i25_24_5.bmp")
    assert ds[index]["image"].shape == (3, 8, 8)
