"""Task and batch sampling (gmiqa.training.samplers): content-disjoint tasks, one-type batches."""

from __future__ import annotations

import numpy as np
import pytest

from gmiqa.errors import DatasetError
from gmiqa.training.samplers import MetaTaskSampler, TypeTripletSampler, epoch_batches


def _records(refs=6, types=(1, 2, 3), levels=(1, 2, 3, 4, 5)):
    return [
        {"ref_id": r, "type": t, "level": lv, "score": 0.5, "name": f"{r}_{t}_{lv}"}
        for r in range(refs) for t in types for lv in levels
    ]  # fmt: skip


def test_meta_tasks_split_by_content_and_one_type_each():
    recs = _records()
    sampler = MetaTaskSampler(recs, tasks_per_step=3, support_size=4, query_size=5)
    for step in range(20):
        tasks = sampler.sample(np.random.default_rng(step))
        assert len({t.type for t in tasks}) == 3  # distinct types in a meta-batch
        for t in tasks:
            assert len(t.support) == 4 and len(t.query) == 5
            assert {recs[i]["type"] for i in np.concatenate([t.support, t.query])} == {t.type}
            s_refs = {recs[i]["ref_id"] for i in t.support}
            q_refs = {recs[i]["ref_id"] for i in t.query}
            assert not s_refs & q_refs


def test_meta_sampler_is_a_function_of_the_rng():
    sampler = MetaTaskSampler(_records(), 2, 3, 3)
    a = sampler.sample(np.random.default_rng(7))
    b = sampler.sample(np.random.default_rng(7))
    assert [(t.type, t.support.tolist(), t.query.tolist()) for t in a] == [
        (t.type, t.support.tolist(), t.query.tolist()) for t in b
    ]


def test_meta_sampler_needs_two_contents_per_type():
    with pytest.raises(DatasetError, match="fewer than 2 reference"):
        MetaTaskSampler(_records(refs=1), 1, 2, 2)
    with pytest.raises(DatasetError, match="distortion types"):
        MetaTaskSampler(_records(types=(0,)), 1, 2, 2)


def test_triplets_anchor_positive_same_type_negative_other():
    recs = _records()
    sampler = TypeTripletSampler(recs, batch_size=6)
    for step in range(20):
        tri = sampler.sample(np.random.default_rng(step))
        types = [{recs[i]["type"] for i in b} for b in (tri.anchor, tri.positive, tri.negative)]
        assert types[0] == types[1] == {tri.type}
        assert types[2] == {tri.negative_type} and tri.negative_type != tri.type
        assert not set(tri.anchor.tolist()) & set(tri.positive.tolist())  # 30 per type >= 12
    with pytest.raises(DatasetError, match="at least 2 distortion types"):
        TypeTripletSampler(_records(types=(4,)), 2)


def test_epoch_batches_cover_each_item_once():
    batches = epoch_batches(range(10), 4, np.random.default_rng(0), drop_last=False)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(10))
    assert [len(b) for b in epoch_batches(range(9), 4, np.random.default_rng(0))] == [4, 4]
