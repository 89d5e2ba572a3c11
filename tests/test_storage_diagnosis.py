"""benchmarks/storage_diagnosis.py: the photo statistics and rank errors behind the design
chapter's "JPEG-stored photos" section, on files whose answers are known."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scripts import load_script


@pytest.fixture(scope="module")
def diag():
    return load_script("storage_diagnosis")


def _jpeg(img: np.ndarray, quality: int) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("quality", [30, 50, 75, 90])
def test_jpeg_quality_reads_back_the_encoders_quality(diag, quality):
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    assert diag.jpeg_quality(_jpeg(img, quality)) == pytest.approx(quality, abs=1.0)
    assert np.isnan(diag.jpeg_quality(Image.fromarray(img)))  # not a JPEG


def test_noise_sigma_measures_added_gaussian_noise(diag):
    rng = np.random.default_rng(1)
    flat = np.full((200, 200), 120.0)
    for sigma in (2.0, 5.0, 10.0):
        assert diag.noise_sigma(flat + rng.normal(0, sigma, flat.shape)) == pytest.approx(
            sigma, rel=0.08
        )


def test_blockiness_sees_the_8x8_grid_of_a_jpeg_file(diag, tmp_path):
    rng = np.random.default_rng(2)
    smooth = np.cumsum(rng.normal(0, 1, (256, 256)), axis=1)
    img = np.clip(128 + 4 * smooth / smooth.std(), 0, 255).astype(np.uint8)
    img = np.repeat(img[..., None], 3, axis=2)
    Image.fromarray(img).save(tmp_path / "a.png")
    _jpeg(img, 20).save(tmp_path / "a.jpg", quality=20)
    png = diag.photo_stats(str(tmp_path / "a.png"))
    jpg = diag.photo_stats(str(tmp_path / "a.jpg"))
    assert abs(png["blockiness"] - 1.0) < 0.1 and jpg["blockiness"] > 1.3
    assert np.isnan(png["jpeg_quality"]) and jpg["jpeg_quality"] == pytest.approx(20, abs=1)


def test_rank_errors_are_zero_for_the_right_order_and_one_for_the_reverse(diag):
    names = ["a", "b", "c", "d", "e"]
    target = np.arange(5.0)
    assert set(diag.rank_errors(names, target * 2, target).values()) == {0.0}
    rev = diag.rank_errors(names, -target, target)
    assert rev["a"] == rev["e"] == 1.0 and rev["c"] == 0.0
    # a photo tested in two splits: its mean
    assert diag.mean_errors([{"a": 0.2}, {"a": 0.4, "b": 1.0}]) == pytest.approx(
        {"a": 0.3, "b": 1.0}
    )


def test_a_malformed_argument_or_result_file_is_one_line_exit_2(diag, tmp_path, capsys):
    out = tmp_path / "d.json"
    assert diag.main(["--set", "x=" + str(tmp_path), "--gmiqa", "nameless", "--out", str(out)]) == 2
    assert diag.main(["--set", "x=" + str(tmp_path / "missing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("storage_diagnosis: error:")]
    assert len(errors) == 2 and "Traceback" not in err and "NAME=RESULT_JSON" in errors[0]
    assert not out.exists()
