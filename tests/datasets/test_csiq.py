"""CSIQ loader: the official workbook layout and the real ten-image sample in ../shared."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_csiq

from gmiqa.datasets import load_dataset
from gmiqa.datasets.csiq import TYPE_NAMES, load_csiq
from gmiqa.errors import DatasetError


def test_real_sample(shared):
    ds = load_dataset("CSIQ", shared / "data" / "csiq_sample")
    assert len(ds) == 10
    names = [r.name for r in ds.records]
    assert names[0] == "1600.AWGN.1.png" and names[-1] == "1600.BLUR.5.png"
    assert {r.ref_id for r in ds.records} == {0}
    assert {TYPE_NAMES[r.type] for r in ds.records} == {"awgn", "blur"}
    for r in ds.records:
        assert r.level == int(r.name.split(".")[2])
        assert r.score == pytest.approx(1.0 - r.raw_score)  # DMOS 0..1, lower = better
    # Official DMOS of this sample: 1600.BLUR.5 0.749795, 1600.AWGN.1 0.061989.
    by_name = {r.name: r for r in ds.records}
    assert by_name["1600.BLUR.5.png"].raw_score == pytest.approx(0.749795)
    for token in ("AWGN", "BLUR"):  # stronger distortion -> lower normalised score
        scores = [by_name[f"1600.{token}.{lv}.png"].score for lv in range(1, 6)]
        assert np.all(np.diff(scores) < 0)
    item = ds[0]
    assert item["image"].shape == (3, 512, 512)


def test_official_workbook(tmp_path):
    layout = make_csiq(tmp_path)
    ds = load_csiq(tmp_path)
    assert len(ds) == layout.count == 12
    assert [r.name for r in ds.records] == list(layout.raw)
    # The workbook stores reference 1600 as a number; names must still read "1600".
    assert {r.name.split(".")[0] for r in ds.records} == {"1600", "aerial_city"}
    for r in ds.records:
        assert r.raw_score == pytest.approx(layout.raw[r.name])
        assert r.score == pytest.approx(1.0 - r.raw_score)
    assert {TYPE_NAMES[r.type] for r in ds.records} == {"awgn", "jpeg2000"}
    assert len({r.ref_id for r in ds.records}) == 2
    assert ds[3]["image"].shape == (3, 8, 8)


def test_workbook_without_sheet(tmp_path):
    import openpyxl

    layout = make_csiq(tmp_path)
    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    book.save(layout.score_file)
    with pytest.raises(DatasetError, match="all_by_image"):
        load_csiq(tmp_path)


def test_missing_type_folder(tmp_path):
    import shutil

    layout = make_csiq(tmp_path)
    shutil.rmtree(layout.folder / "dst_imgs")
    with pytest.raises(DatasetError, match="dst_imgs"):
        load_csiq(layout.folder)
