"""Scoring a set at native sizes and its metrics (gmiqa.training.evaluate)."""

from __future__ import annotations

import numpy as np
import torch

from gmiqa.training.evaluate import evaluate_predictions, predict, size_batches


def test_size_batches_never_mix_sizes():
    sizes = [(128, 128), (128, 160), (128, 128), (130, 128), (128, 128)]
    batches = size_batches(range(5), sizes, 2)
    assert [b.tolist() for b in batches] == [[0, 2], [4], [1], [3]]
    shuffled = size_batches(range(5), sizes, 2, np.random.default_rng(0))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(5))
    for b in shuffled:
        assert len({sizes[i] for i in b}) == 1


class _Set:
    """Images of two sizes with labels, like a real set at native resolution."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.images = [torch.rand(3, 128 + 8 * (i % 2), 128, generator=g) for i in range(7)]
        self.records = [
            {"score": i / 6, "type": 1 + i % 2, "level": 1, "ref_id": i, "name": f"im{i}"}
            for i in range(7)
        ]

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {**self.records[i], "image": self.images[i]}


def test_predict_matches_one_by_one_scores_and_restores_mode():
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    torch.manual_seed(0)
    model = build_model(get_profile("smoke").model).train()
    ds = _Set()
    out = predict(model, ds, [6, 0, 3, 1], torch.device("cpu"), batch_size=3)
    assert model.training
    assert out["name"].tolist() == ["im6", "im0", "im3", "im1"]
    alone = [float(model.score(ds[i]["image"][None])[0]) for i in (6, 0, 3, 1)]
    np.testing.assert_allclose(out["pred"], alone, rtol=1e-5, atol=1e-6)
    res = evaluate_predictions(predict(model, ds, range(7), torch.device("cpu")))
    assert res["metrics"]["n"] == 7 and set(res["per_type_srocc"]) == {"1", "2"}


def test_unreadable_or_too_small_image_in_a_set_names_the_file(tmp_path):
    """An empty image file or one below the model's minimum size: an error naming the file."""
    import pytest
    from PIL import Image

    from gmiqa.datasets.base import ImageListDataset, IQARecord
    from gmiqa.errors import ImageReadError
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    torch.manual_seed(0)
    model = build_model(get_profile("smoke").model)
    rng = np.random.default_rng(0)
    records = []
    for i in range(3):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        records.append(IQARecord(path.name, i / 2, i / 2, i, path=str(path)))
    dataset = ImageListDataset(records, "tiny", tmp_path)
    assert len(predict(model, dataset, [0, 1, 2], torch.device("cpu"))["pred"]) == 3
    victim = tmp_path / "im1.png"
    victim.write_bytes(b"")  # zero bytes
    with pytest.raises(ImageReadError) as info:
        predict(model, dataset, [0, 1, 2], torch.device("cpu"))
    assert str(victim) in str(info.value)
    m = model.min_input_size
    Image.fromarray(rng.integers(0, 256, (m - 1, 64, 3), dtype=np.uint8)).save(victim)
    with pytest.raises(ImageReadError) as info:
        predict(model, dataset, [0, 1, 2], torch.device("cpu"))
    assert str(victim) in str(info.value) and "smaller" in str(info.value)
