"""The common protocol: get_baseline, evaluate (sign convention), splits, files, workers."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image
from test_brisque import _noisy_set
from test_niqe import texture

from gmiqa.baselines import (
    BRISQUE,
    NIQE,
    Baseline,
    evaluate,
    evaluate_splits,
    get_baseline,
    predict,
    score_files,
)
from gmiqa.datasets import make_splits
from gmiqa.errors import ConfigError
from gmiqa.images import load_image


class TinySet(torch.utils.data.Dataset):
    """Items and records in the layout of ``gmiqa.datasets`` (dicts, tensors in [0, 1])."""

    def __init__(self, images, scores, ref_ids, types):
        self.images = images
        self.records = [
            {"name": f"img{i}", "score": float(s), "ref_id": int(r), "type": int(t), "level": 0}
            for i, (s, r, t) in enumerate(zip(scores, ref_ids, types))
        ]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = torch.from_numpy(self.images[i]).permute(2, 0, 1).float() / 255.0
        return {"image": image, **self.records[i]}


@pytest.fixture(scope="module")
def tiny_set():
    images, scores = _noisy_set(6, seed=0)
    ref_ids = np.repeat(np.arange(6), 5)
    types = np.tile([1, 1, 2, 2, 2], 6)  # two pseudo-types, to exercise per-type SROCC
    return TinySet(images, scores, ref_ids, types)


@pytest.fixture(scope="module")
def csiq_pairs(shared):
    folder = shared / "data" / "csiq_sample"
    with open(folder / "dmos.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # DMOS in [0, 1] is lower = better; the protocol's scores are higher = better.
    return [(load_image(folder / r["image"]), 1.0 - float(r["dmos"])) for r in rows]


def test_get_baseline_builds_both_and_rejects_unknown_names(shared):
    models = shared / "data" / "calibration" / "models"
    niqe = get_baseline("NIQE", model_path=models / "niqe_modelparameters_live.mat")
    brisque = get_baseline(
        "brisque", model_path=models / "brisque_allmodel", range_path=models / "brisque_allrange"
    )
    assert isinstance(niqe, NIQE) and isinstance(brisque, BRISQUE)
    assert isinstance(niqe, Baseline) and isinstance(brisque, Baseline)
    with pytest.raises(ConfigError, match="niqe, brisque"):
        get_baseline("piqe")
    with pytest.raises(ConfigError, match="needs a regressor"):
        get_baseline("brisque")
    with pytest.raises(ConfigError, match="unknown options"):
        get_baseline("niqe", patch_size=96)


def test_evaluate_flips_lower_is_better_scores(shared, csiq_pairs):
    # Ten real CSIQ images (noise and blur, five levels each) with human DMOS: both
    # release models rank them well, and the sign convention makes that positive.
    models = shared / "data" / "calibration" / "models"
    for method in (
        get_baseline("niqe", model_path=models / "niqe_modelparameters_live.mat"),
        get_baseline(
            "brisque",
            model_path=models / "brisque_allmodel",
            range_path=models / "brisque_allrange",
        ),
    ):
        result = evaluate(method, csiq_pairs)
        assert result["sign"] == -1.0 and result["n"] == 10 and result["method"] == method.name
        assert result["srocc"] > 0.9, (method.name, result["srocc"])
        raw = predict(method, csiq_pairs)
        assert np.corrcoef(raw, [s for _, s in csiq_pairs])[0, 1] < 0  # raw: lower = better


def test_evaluate_on_a_dataset_reports_per_type_srocc(tiny_set):
    model = BRISQUE.fit(*_noisy_set(4, seed=100))
    result = evaluate(model, tiny_set, indices=np.arange(10, 30))
    assert result["sign"] == 1.0 and result["n"] == 20
    assert set(result["per_type_srocc"]) == {1, 2}
    assert result["srocc"] > 0.8


def test_evaluate_splits_fits_brisque_on_each_training_part(tiny_set):
    splits = make_splits(tiny_set, n_splits=3, train_fraction=0.5, seed=0)
    out = evaluate_splits("brisque", tiny_set, splits)
    assert out["method"] == "brisque" and len(out["per_split"]) == 3
    assert out["summary"]["srocc"]["splits"] == 3
    assert out["summary"]["srocc"]["median"] > 0.8
    # The same protocol with a fixed model scores only the test parts.
    fixed = BRISQUE.fit(*_noisy_set(4, seed=100))
    again = evaluate_splits(fixed, tiny_set, [{"train": s[0], "test": s[1]} for s in splits])
    assert [m["n"] for m in again["per_split"]] == [len(s[1]) for s in splits]
    # Raw test predictions come back per split, aligned with the test indices.
    assert [len(p) for p in out["predictions"]] == [len(s[1]) for s in splits]
    for test, given in zip(out["test_indices"], splits):
        np.testing.assert_array_equal(test, given[1])
    np.testing.assert_allclose(
        again["predictions"][0], fixed.score([tiny_set.images[i] for i in splits[0][1]])
    )


def test_predict_in_worker_processes_gives_the_same_scores():
    images = [texture(s, size=(100, 120)) for s in range(4)]
    pairs = [(img, 0.0) for img in images]
    model = BRISQUE.fit(*_noisy_set(3, seed=7))
    np.testing.assert_array_equal(predict(model, pairs, workers=2), predict(model, pairs))


def test_errors_name_the_dataset_item():
    pairs = [(texture(0, size=(100, 100)), 0.5), (np.full((100, 100, 3), 9, np.uint8), 0.1)]
    model = BRISQUE.fit(*_noisy_set(3, seed=7))
    with pytest.raises(Exception, match="item 1: constant image"):
        predict(model, pairs)


def test_score_files_reads_folders(tmp_path):
    for i in range(3):
        Image.fromarray(texture(i, size=(100, 110))).save(tmp_path / f"im{i}.png")
    model = BRISQUE.fit(*_noisy_set(3, seed=7))
    path = model.save(tmp_path / "models" / "b.npz")
    rows = score_files("brisque", [tmp_path], model_path=path)
    assert [r[0].rsplit("/", 1)[-1] for r in rows] == ["im0.png", "im1.png", "im2.png"]
    expected = model.score([texture(i, size=(100, 110)) for i in range(3)])
    np.testing.assert_allclose([r[1] for r in rows], expected)
