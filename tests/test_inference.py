"""The scoring API (gmiqa.inference): ``gmiqa.load_model(path).score(...)`` gives the numbers
``gmiqa score`` prints, for a file, a list, a folder, a glob pattern and a tensor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import gmiqa
from gmiqa.checkpoint import save_checkpoint
from gmiqa.cli import main
from gmiqa.datasets.base import image_to_tensor
from gmiqa.errors import CheckpointError, ImageReadError
from gmiqa.images import load_image
from gmiqa.models import build_model
from gmiqa.profiles import get_profile


def _checkpoint(folder, kind: str, finetune: dict | None = None):
    profile = get_profile("smoke")
    if finetune:
        profile = profile.replace(finetune=finetune)
    torch.manual_seed(0)
    return save_checkpoint(folder / f"{kind}.safetensors", kind=kind,
                           model=build_model(profile.model),
                           config={"profile": profile.to_dict()}, state={"done": True})  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A smoke checkpoint whose recipe scores a 2x2 grid of 96-pixel windows, and a folder
    of five images of two sizes (one in a subfolder)."""
    root = tmp_path_factory.mktemp("inference")
    ck = _checkpoint(root, "finetune", {"crop": 96, "eval_crops": 2})
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i, (h, w) in enumerate([(112, 128), (112, 128), (128, 112), (112, 128), (128, 112)]):
        where = folder / "sub" if i == 4 else folder
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(where / f"p{i}.png")
    return ck, folder


def _cli_scores(ck, inputs, capsys) -> dict[str, float]:
    assert main(["score", "--checkpoint", str(ck), "--device", "cpu", "--json", "--quiet",
                 "--batch-size", "2", *map(str, inputs)]) == 0  # fmt: skip
    return {r["path"]: r["score"] for r in json.loads(capsys.readouterr().out)}


def test_load_model_scores_equal_gmiqa_score(setup, capsys):
    ck, folder = setup
    expected = _cli_scores(ck, [folder], capsys)
    assert len(expected) == 5
    m = gmiqa.load_model(ck, device="cpu", batch_size=2)
    assert m.higher_is_better is True and m.score_range == (0.0, 1.0)
    assert m.profile == "smoke" and (m.crop, m.grid) == (96, 2)
    # a folder (recursive, sorted), as the command expands it
    got = m.score(folder)
    assert list(got) == list(expected)
    np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=0, atol=1e-6)
    # a list of files, in the order given
    files = list(expected)[::-1]
    assert list(m.score(files)) == files
    np.testing.assert_allclose([m.score(files)[p] for p in files], [expected[p] for p in files],
                               atol=1e-6)  # fmt: skip
    # a glob pattern
    assert set(m.score(str(folder / "**" / "*.png"))) == set(expected)
    # one file: a float
    one = files[0]
    assert isinstance(m.score(one), float)
    assert m.score(one) == pytest.approx(expected[one], abs=1e-6)
    # tensors: (3, H, W) -> float; (N, 3, H, W) -> (N,)
    same_size = [p for p in files if load_image(p).shape == load_image(files[0]).shape]
    x = torch.stack([image_to_tensor(load_image(p)) for p in same_size[:2]])
    assert m.score(x[0]) == pytest.approx(expected[files[0]], abs=1e-5)
    scores = m.score(x)
    assert scores.shape == (len(x),)
    for p, s in zip(same_size, scores.tolist()):
        assert s == pytest.approx(expected[p], abs=1e-5)


def test_load_model_errors_name_the_problem(setup, tmp_path):
    ck, folder = setup
    m = gmiqa.load_model(ck, device="cpu")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.png"):
        m.score([folder / "p0.png", bad])
    with pytest.raises(ImageReadError, match="no file matches"):
        m.score(str(tmp_path / "*.jpg"))
    meta = _checkpoint(tmp_path, "meta")
    with pytest.raises(CheckpointError, match="Fine-tune it first"):
        gmiqa.load_model(meta, device="cpu")
    assert gmiqa.load_model(meta, device="cpu", allow_pretraining=True).profile == "smoke"
