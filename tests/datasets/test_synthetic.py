"""The synthetic set: labels, determinism, scores, caches, sampler indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gmiqa.fr_quality
from gmiqa.datasets.base import record_field
from gmiqa.datasets.pristine import load_pristine
from gmiqa.datasets.splits import make_splits
from gmiqa.datasets.synthetic import SyntheticIQADataset, item_seed
from gmiqa.errors import ConfigError
from gmiqa.profiles import get_profile

SIZE = (32, 40)


@pytest.fixture(scope="module")
def pristine(shared):
    return load_pristine(shared / "data" / "pristine" / "kodak24", max_images=3)


def test_default_pristine_and_labels():
    ds = SyntheticIQADataset(image_size=SIZE, types=[1, 11], levels=[1, 5], max_pristine=2)
    assert len(ds) == 2 * 2 * 2
    assert [r.name for r in ds.references] == ["astronaut", "chelsea"]  # packaged photos
    item = ds[3]
    assert set(item) == {"image", "score", "raw_score", "ref_id", "type", "level", "name"}
    assert item["image"].shape == (3, *SIZE) and item["image"].dtype == torch.float32
    assert (item["ref_id"], item["type"], item["level"]) == (0, 11, 5)
    assert item["name"] == "astronaut_11_05"
    assert 0.0 <= item["score"] <= 1.0 and item["raw_score"] == item["score"]


def test_deterministic_and_seed_dependent(pristine):
    a = SyntheticIQADataset(pristine, image_size=SIZE, types=[11], levels=[3], progress=False)
    b = SyntheticIQADataset(pristine, image_size=SIZE, types=[11], levels=[3], progress=False)
    c = SyntheticIQADataset(pristine, image_size=SIZE, types=[11], levels=[3], seed=1)
    assert torch.equal(a[1]["image"], b[1]["image"])
    assert a[1]["score"] == b[1]["score"]
    assert not torch.equal(a[1]["image"], c[1]["image"])  # white noise depends on the seed
    # An item's seed does not depend on which other items the set holds.
    d = SyntheticIQADataset(pristine, image_size=SIZE, types=[1, 11], levels=[1, 3])
    j = int(d.indices(type=11, level=3, ref_ids=pristine[1].ref_id)[0])
    assert torch.equal(d[j]["image"], a[1]["image"])
    assert item_seed(0, 1, 11, 3) != item_seed(0, 1, 11, 4)


def test_scores_in_range_and_follow_level(pristine):
    ds = SyntheticIQADataset(pristine, image_size=(48, 64), types=[1, 10, 11], levels=[1, 5])
    scores = ds.score_all(progress=False)
    assert np.all((scores >= 0) & (scores <= 1))
    for ref in ds.references:
        for t in (1, 10, 11):
            mild = scores[ds.indices(type=t, level=1, ref_ids=ref.ref_id)][0]
            strong = scores[ds.indices(type=t, level=5, ref_ids=ref.ref_id)][0]
            assert mild > strong, (ref.name, t)


def test_indices_and_records(pristine):
    ds = SyntheticIQADataset(pristine, image_size=SIZE, types=[1, 2, 3], levels=[1, 2])
    assert len(ds.indices(type=2)) == 3 * 2
    assert len(ds.indices(type=[1, 3], level=2)) == 3 * 2
    refs = [pristine[0].ref_id, pristine[2].ref_id]
    sel = ds.indices(ref_ids=refs)
    assert set(ds.ref_ids[sel].tolist()) == set(refs)
    assert np.array_equal(ds.indices(), np.arange(len(ds)))


def test_splitting_does_not_compute_scores(pristine, monkeypatch):
    ds = SyntheticIQADataset(pristine, image_size=SIZE, types=[1], levels=[1, 2])

    def forbidden(*args):
        raise AssertionError("a split must not compute pseudo-scores")

    monkeypatch.setattr(gmiqa.fr_quality, "pseudo_quality", forbidden)
    for train, test in make_splits(ds.records, n_splits=3, train_fraction=0.67):
        assert not set(ds.ref_ids[train]) & set(ds.ref_ids[test])
    assert list(record_field(ds, "type")) == [1] * len(ds)


def test_cache_dir_scores_and_images(pristine, tmp_path, monkeypatch):
    kw = dict(image_size=SIZE, types=[11, 21], levels=[2], cache_dir=tmp_path)
    first = SyntheticIQADataset(pristine, **kw)
    scores = first.score_all(progress=False)
    assert len(list(tmp_path.glob("scores-*.npz"))) == 1
    assert len(list(tmp_path.glob("images-*/*.png"))) == len(first)
    plain = SyntheticIQADataset(pristine, image_size=SIZE, types=[11, 21], levels=[2])
    generated = [plain.distorted(i) for i in range(len(plain))]

    def forbidden(*args, **kwargs):
        raise AssertionError("cached items must not be regenerated")

    monkeypatch.setattr(gmiqa.fr_quality, "pseudo_quality", forbidden)
    monkeypatch.setattr("gmiqa.distortions.distort", forbidden)
    second = SyntheticIQADataset(pristine, **kw)
    np.testing.assert_array_equal(second.score_all(progress=False), scores)
    for i in range(len(second)):  # the lossless PNG cache equals what generation gives
        assert np.array_equal(second.distorted(i), generated[i])


def test_cache_is_keyed_by_inputs(pristine, tmp_path):
    SyntheticIQADataset(
        pristine, image_size=SIZE, types=[1], levels=[1], cache_dir=tmp_path
    ).score_all()
    other = SyntheticIQADataset(
        pristine, image_size=SIZE, types=[1], levels=[1], seed=5, cache_dir=tmp_path
    )
    assert np.isnan(other._scores).all()  # another seed is another cache entry
    other.score_all()
    assert len(list(tmp_path.glob("scores-*.npz"))) == 2


def test_from_profile_and_bad_settings(pristine):
    ds = SyntheticIQADataset.from_profile("smoke", pristine=pristine)
    assert ds.image_size == (128, 160)
    assert ds.types_used == (1, 10, 11, 16, 21, 25)
    assert len(ds) == len(pristine) * 6 * 5
    with pytest.raises(ConfigError, match="distortion types"):
        SyntheticIQADataset(pristine, image_size=SIZE, types=[26])
    with pytest.raises(ConfigError, match="levels"):
        SyntheticIQADataset(pristine, image_size=SIZE, levels=[0])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_folder_of_images(shared):
    folder = shared / "data" / "pristine" / "mcmaster"
    ds = SyntheticIQADataset(folder, image_size=SIZE, types=[16], levels=[1], max_pristine=2)
    assert len(ds) == 2
    assert ds[0]["image"].shape == (3, *SIZE)


def test_storage_jpeg_stores_every_item_as_a_jpeg_file_would(pristine):
    plain = SyntheticIQADataset(pristine, image_size=(128, 160), types=(1, 16), levels=(1,))
    stored = SyntheticIQADataset(pristine, image_size=(128, 160), types=(1, 16), levels=(1,),
                                 storage_jpeg=(60, 95))  # fmt: skip
    assert stored.fingerprint != plain.fingerprint  # a bank of one is never read as the other
    for i in range(len(plain)):
        a, b = plain.generate(i), stored.generate(i)
        assert b.dtype == np.uint8 and b.shape == a.shape
        assert np.array_equal(b, stored.generate(i))  # seeded per item
        diff = np.abs(a.astype(int) - b.astype(int)).mean()
        assert 0.1 < diff < 12.0  # stored at 60..95: close to the pixels, never equal


def test_storage_jpeg_is_set_in_cpu_and_absent_where_off():
    for name in ("smoke", "gpu-quick", "gpu"):  # off: fingerprints made before it hold
        assert "storage_jpeg" not in get_profile(name).to_dict()["data"], name
    cpu = get_profile("cpu")  # the cpu recipe stores every distorted image as a JPEG
    assert cpu.data.storage_jpeg == (60, 95)
    assert cpu.to_dict()["data"]["storage_jpeg"] == (60, 95)
    assert "storage_jpeg" not in cpu.replace(data={"storage_jpeg": None}).to_dict()["data"]
    assert SyntheticIQADataset.from_profile(
        cpu.replace(data={"max_pristine": 1}), pristine=None
    ).storage_jpeg == (60, 95)
    for bad in ((0, 90), (90, 60), (60, 99), (60.0, 90), (60,)):
        with pytest.raises(ConfigError, match="storage_jpeg"):
            cpu.replace(data={"storage_jpeg": bad})
