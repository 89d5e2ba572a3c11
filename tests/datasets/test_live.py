"""LIVE release 2 loader on a fixture of dmos.mat / refnames_all.mat in the official layout."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from gmiqa.datasets import load_dataset
from gmiqa.datasets.live import FOLDERS, load_live
from gmiqa.errors import DatasetError


def test_counts_order_and_reference_copies(live_layout):
    ds = load_live(live_layout.folder)
    assert len(ds) == live_layout.count == 779  # 982 entries minus 203 reference copies
    assert [r.name for r in ds.records] == list(live_layout.raw)
    # Types follow the folder order of dmos.mat: jp2k, jpeg, wn, gblur, fastfading.
    for r in ds.records:
        assert r.name.split("/")[0] == FOLDERS[r.type - 1][0]
        assert r.level == 0
    refs = scipy.io.loadmat(live_layout.folder / "refnames_all.mat")["refnames_all"].ravel()
    assert len({r.ref_id for r in ds.records}) == len({str(np.ravel(x)[0]) for x in refs})


def test_direction_lower_dmos_is_better(live_layout):
    ds = load_dataset("LIVE", live_layout.folder.parent)
    raw = np.array([r.raw_score for r in ds.records])
    score = np.array([r.score for r in ds.records])
    assert np.all((score >= 0) & (score <= 1))
    assert raw.min() < 0 and raw.max() > 100  # the fixture spills past 0..100 like LIVE
    order = np.argsort(raw)
    assert np.all(np.diff(score[order]) <= 0)  # strictly anti-monotone in DMOS
    assert score[np.argmin(raw)] == pytest.approx(1.0)


def test_realigned_scores(tmp_path, live_layout):
    import shutil

    folder = tmp_path / "databaserelease2"
    shutil.copytree(live_layout.folder, folder)
    with pytest.raises(DatasetError, match="dmos_realigned.mat"):
        load_live(folder, realigned=True)
    old = scipy.io.loadmat(folder / "dmos.mat")
    scipy.io.savemat(
        folder / "dmos_realigned.mat", {"dmos_new": old["dmos"] * 0.5, "orgs": old["orgs"]}
    )
    ds = load_live(folder, realigned=True)
    assert len(ds) == 779
    first = ds.records[0]
    assert first.raw_score == pytest.approx(live_layout.raw[first.name] * 0.5)


def test_wrong_length_is_named(tmp_path):
    folder = tmp_path / "databaserelease2"
    folder.mkdir()
    scipy.io.savemat(folder / "dmos.mat", {"dmos": np.zeros((1, 5)), "orgs": np.zeros((1, 5))})
    refnames = np.empty((1, 5), dtype=object)
    refnames[0, :] = ["a.bmp"] * 5
    scipy.io.savemat(folder / "refnames_all.mat", {"refnames_all": refnames})
    with pytest.raises(DatasetError, match=r"dmos\.mat: 5 scores, expected 982"):
        load_live(folder)
