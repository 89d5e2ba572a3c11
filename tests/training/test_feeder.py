"""Batches from an image bank: the crop and flip each seed draws, delivered as floats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gmiqa.errors import ConfigError


def _images(n=5, h=20, w=30):
    return np.random.default_rng(1).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_crops_and_flips_are_the_drawn_windows():
    from gmiqa.training.feeder import BatchFeeder

    images = _images()
    feeder = BatchFeeder(images, "cpu", crop=(8, 12), flip=True)
    idx = [3, 0, 3, 4, 1, 2]
    x = feeder.batch(idx, seed=7)
    assert x.shape == (6, 3, 8, 12) and x.dtype == torch.float32
    top, left, flip = feeder.windows(len(idx), 7)
    assert flip.any() and not flip.all()  # this seed draws both kinds
    for row, i in enumerate(idx):
        want = images[i, top[row] : top[row] + 8, left[row] : left[row] + 12]
        if flip[row]:
            want = want[:, ::-1]
        ref = torch.from_numpy(np.ascontiguousarray(want)).permute(2, 0, 1).float() / 255
        assert torch.equal(x[row], ref)
    assert torch.equal(feeder.batch(idx, seed=7), x)  # a function of the seed alone
    assert not torch.equal(feeder.batch(idx, seed=8), x)


def test_whole_images_without_crop_and_errors():
    from gmiqa.training.feeder import BatchFeeder

    images = _images()
    x = BatchFeeder(images, "cpu", crop=None, flip=False).batch([2], 0)
    assert torch.equal(x[0], torch.from_numpy(images[2]).permute(2, 0, 1).float() / 255)
    with pytest.raises(ConfigError, match="larger than the bank"):
        BatchFeeder(images, "cpu", crop=64)


def test_dataset_feeder_matches_bank_feeder(tmp_path):
    from gmiqa.datasets.synthetic import SyntheticIQADataset
    from gmiqa.training.feeder import DatasetFeeder, feeder_for

    ds = SyntheticIQADataset(None, image_size=(128, 136), types=(1,), levels=(1, 2),
                             max_pristine=2, progress=False)  # fmt: skip
    plain = DatasetFeeder(ds, "cpu", crop=128, flip=True)
    stacked = np.stack([ds.distorted(i) for i in range(len(ds))])
    from gmiqa.training.feeder import BatchFeeder

    banked = BatchFeeder(stacked, "cpu", crop=128, flip=True)
    assert torch.equal(plain.batch([0, 3, 1], 5), banked.batch([0, 3, 1], 5))
    assert isinstance(feeder_for(ds, "cpu", 128), DatasetFeeder)


def test_prefetcher_returns_each_steps_value_in_any_order():
    from gmiqa.training.feeder import Prefetcher

    calls = []

    def make(step):
        calls.append(step)
        return step * 10

    pre = Prefetcher(make, last_step=6, depth=2)
    try:
        assert [pre.get(s) for s in range(6)] == [0, 10, 20, 30, 40, 50]
        assert pre.get(2) == 20  # out of order (a resumed run) still gives the step's value
    finally:
        pre.close()
    assert set(calls) == set(range(6))


def test_prefetcher_at_depth_zero_makes_each_batch_in_line_on_the_calling_thread():
    import threading

    from gmiqa.training.feeder import Prefetcher, prefetch_depth

    threads = []

    def make(step):
        threads.append(threading.current_thread())
        return step * 10

    pre = Prefetcher(make, last_step=4, depth=0)
    try:
        assert [pre.get(s) for s in range(4)] == [0, 10, 20, 30]
    finally:
        pre.close()
    assert threads == [threading.current_thread()] * 4  # nothing made ahead, no worker
    assert prefetch_depth("cpu") == 0 and prefetch_depth(torch.device("cuda")) == 2


@pytest.mark.parametrize("stage", ["meta", "graph"])
def test_stages_feed_in_line_on_the_cpu_and_a_prefetch_thread_changes_nothing(
    stage, tmp_path, monkeypatch
):
    """Stages 1 and 2 ask for depth 0 on the CPU; forcing depth 2 gives the same checkpoint."""
    from tiny_setup import same_checkpoints, tiny_dataset, tiny_profile

    import gmiqa.training.feeder as feeder
    from gmiqa.training.meta import train_meta
    from gmiqa.training.pretrain import train_graph

    profile = tiny_profile().replace(
        meta={"crop": 128, "flip": True},
        pretrain={"types_per_step": 2, "graph_size": 2, "type_proxy_weight": 1.0,
                  "crop": 128, "flip": True},
    )  # fmt: skip
    ds = tiny_dataset(tmp_path / "cache")
    ds.build_bank(workers=1, progress=False)
    train = train_meta if stage == "meta" else train_graph
    depths = []
    real = feeder.Prefetcher

    class Recording(real):
        def __init__(self, make, last_step, depth=2):
            depths.append(depth)
            super().__init__(make, last_step, depth)

    monkeypatch.setattr(feeder, "Prefetcher", Recording)
    train(profile, ds, tmp_path / "inline.safetensors", device="cpu", progress=False)
    monkeypatch.setattr(feeder, "prefetch_depth", lambda device: 2)
    train(profile, ds, tmp_path / "thread.safetensors", device="cpu", progress=False)
    assert depths == [0, 2]
    same_checkpoints(tmp_path / "inline.safetensors", tmp_path / "thread.safetensors")
