"""KADID-10k loader on a fixture written in the official layout."""

from __future__ import annotations

import pytest
import torch
from conftest import make_kadid

from gmiqa.datasets import load_dataset
from gmiqa.datasets.kadid import load_kadid10k


def test_reads_official_layout(tmp_path):
    layout = make_kadid(tmp_path)
    ds = load_kadid10k(tmp_path)  # the folder the archive was unpacked into
    assert len(ds) == layout.count == 8
    assert [r.name for r in ds.records] == list(layout.raw)
    for r in ds.records:
        assert r.raw_score == pytest.approx(layout.raw[r.name])
        assert r.score == pytest.approx((r.raw_score - 1.0) / 4.0)  # 1..5, higher = better
        ref, t, lv = (int(x) for x in r.name[1:-4].split("_"))
        assert (r.ref_id, r.type, r.level) == (ref, t, lv)
    assert {r.ref_id for r in ds.records} == {1, 2}
    assert {r.type for r in ds.records} == {1, 25}


def test_item_contract_and_names(tmp_path):
    make_kadid(tmp_path)
    ds = load_dataset("KADID-10k", tmp_path / "kadid10k")  # the set's own folder works too
    item = ds[0]
    assert set(item) == {"image", "score", "raw_score", "ref_id", "type", "level", "name"}
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 8, 8)
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert item["name"] == "I01_01_01.png"


def test_direction_level_one_beats_level_five(tmp_path):
    make_kadid(tmp_path)
    ds = load_kadid10k(tmp_path)
    by_name = {r.name: r.score for r in ds.records}
    assert by_name["I01_01_01.png"] > by_name["I01_01_05.png"]
