"""Seeded splits: content-independent by reference, or by image."""

from __future__ import annotations

import numpy as np
import pytest

from gmiqa.datasets.base import IQARecord
from gmiqa.datasets.splits import make_splits
from gmiqa.errors import ConfigError


def _records(n_refs=10, per_ref=6):
    return [
        IQARecord(f"{r}_{k}", 0.5, 0.5, r, 1 + k % 3, 1 + k % 5)
        for r in range(n_refs)
        for k in range(per_ref)
    ]


def test_by_reference_is_content_independent():
    recs = _records()
    ref = np.array([r.ref_id for r in recs])
    splits = make_splits(recs, n_splits=10, train_fraction=0.8, seed=3)
    assert len(splits) == 10
    for train, test in splits:
        assert not set(ref[train]) & set(ref[test])
        assert len(set(ref[train])) == 8 and len(set(ref[test])) == 2
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(recs)))
    assert len({tuple(t.tolist()) for _, t in splits}) > 1  # the ten splits differ


def test_seeded_and_reproducible():
    recs = _records()
    a = make_splits(recs, n_splits=4, seed=1)
    b = make_splits(recs, n_splits=4, seed=1)
    c = make_splits(recs, n_splits=4, seed=2)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_by_image():
    recs = [{"ref_id": i} for i in range(20)]
    for train, test in make_splits(recs, n_splits=3, train_fraction=0.75, by="image"):
        assert len(train) == 15 and len(test) == 5
        assert not set(train.tolist()) & set(test.tolist())


def test_bad_arguments():
    recs = _records(n_refs=1)
    with pytest.raises(ConfigError, match="distinct"):
        make_splits(recs)
    with pytest.raises(ConfigError, match="train_fraction"):
        make_splits(_records(), train_fraction=1.0)
    with pytest.raises(ConfigError, match="by"):
        make_splits(_records(), by="content")
    with pytest.raises(ConfigError, match="n_splits"):
        make_splits(_records(), n_splits=0)


def test_small_sets_keep_both_sides_non_empty():
    train, test = make_splits(_records(n_refs=2), n_splits=1, train_fraction=0.95)[0]
    assert len(train) and len(test)
