"""Records, score normalisation and the image-list dataset (gmiqa/datasets/base.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_image

from gmiqa.datasets.base import (
    ImageListDataset,
    IQARecord,
    normalise_scores,
    record_field,
    resolve_root,
)
from gmiqa.errors import DatasetError


def test_normalise_direction_and_range():
    up = normalise_scores([1.0, 3.0, 5.0], 1.0, 5.0, higher_is_better=True)
    np.testing.assert_allclose(up, [0.0, 0.5, 1.0])
    down = normalise_scores([0.0, 0.25, 1.0], 0.0, 1.0, higher_is_better=False)
    np.testing.assert_allclose(down, [1.0, 0.75, 0.0])
    # Outside the documented scale: widened, never clipped (no ties are created).
    spill = normalise_scores([-5.0, 50.0, 110.0], 0.0, 100.0, higher_is_better=False)
    assert spill[0] == 1.0 and spill[2] == 0.0 and 0 < spill[1] < 1
    assert len(set(spill.tolist())) == 3


def test_normalise_rejects_nan():
    with pytest.raises(DatasetError, match="NaN"):
        normalise_scores([1.0, float("nan")], 1.0, 5.0, True)


def test_record_access_and_fields():
    recs = [IQARecord("a", 0.5, 3.0, 7, 2, 1), {"name": "b", "ref_id": 9}]
    assert recs[0]["ref_id"] == recs[0].ref_id == 7
    np.testing.assert_array_equal(record_field(recs, "ref_id"), [7, 9])
    assert recs[0].to_dict()["type"] == 2


def test_image_list_dataset_with_transform(tmp_path):
    path = tmp_path / "x.png"
    write_image(path, size=(5, 7))
    rec = IQARecord("x.png", 0.25, 2.0, 0, path=str(path))
    ds = ImageListDataset([rec], "test", tmp_path, transform=lambda t: t.flip(-1))
    item = ds[0]
    assert item["image"].shape == (3, 5, 7)
    assert item["score"] == 0.25 and item["raw_score"] == 2.0
    plain = ImageListDataset([rec], "test", tmp_path)[0]["image"]
    assert np.array_equal(item["image"].numpy(), plain.flip(-1).numpy())
    with pytest.raises(DatasetError, match="no images"):
        ImageListDataset([], "empty", tmp_path)


def test_resolve_root_names_what_it_tried(tmp_path):
    (tmp_path / "kadid10k").mkdir()
    with pytest.raises(DatasetError) as info:
        resolve_root(tmp_path, "kadid10k", ["dmos.csv"])
    assert str(tmp_path / "kadid10k" / "dmos.csv") in str(info.value)
