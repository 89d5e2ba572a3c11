"""Full-reference measures and the pseudo-quality label (``gmiqa.fr_quality``)."""

from __future__ import annotations

import numpy as np
import pytest

from gmiqa.datasets import fit_to_size, load_pristine
from gmiqa.errors import ConfigError
from gmiqa.fr_quality import combine_measures, fr_measures, gmsd, pseudo_quality, psnr, ssim


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return fit_to_size(load_pristine(max_images=1)[0].image, (96, 128))


def test_identical_images_score_best(image):
    assert pseudo_quality(image, image) == 1.0
    assert ssim(image, image) == pytest.approx(1.0)
    assert gmsd(image, image) == 0.0
    assert psnr(image, image) == float("inf")


def test_psnr_known_value():
    a = np.zeros((10, 10, 3))
    b = np.full((10, 10, 3), 0.1)
    assert psnr(b, a) == pytest.approx(20.0)


def test_more_noise_scores_lower(image):
    rng = np.random.default_rng(0)
    ref = image / 255.0
    scores = []
    for s in (0.01, 0.03, 0.1, 0.3):
        noisy = np.clip(ref + s * rng.standard_normal(ref.shape), 0, 1)
        m = fr_measures(noisy, image)
        scores.append((pseudo_quality(noisy, image), m["ssim"], -m["gmsd"], m["psnr"]))
    scores = np.array(scores)
    assert np.all(np.diff(scores, axis=0) < 0)
    assert 0.0 <= scores[:, 0].min() and scores[:, 0].max() <= 1.0


def test_pseudo_quality_in_unit_interval(image):
    inv = 255 - image
    m = fr_measures(inv, image)
    # A negative has no structure in common (SSIM < 0) and a huge error, but the same
    # gradient magnitudes: GMSD is blind to the sign of a gradient, hence 1/3 at most.
    assert m["ssim"] < 0 and m["psnr"] < 10 and m["gmsd"] < 0.05
    assert 0.3 < pseudo_quality(inv, image) <= 1 / 3 + 1e-9
    assert combine_measures({"ssim": -0.2, "gmsd": 0.9, "psnr": 3.0}) == 0.0
    assert combine_measures({"ssim": 1.0, "gmsd": 0.0, "psnr": 60.0}) == 1.0


def test_uint8_and_float_and_grey_agree(image):
    noisy = np.clip(image.astype(int) + 20, 0, 255).astype(np.uint8)
    assert pseudo_quality(noisy, image) == pytest.approx(
        pseudo_quality(noisy / 255.0, image / 255.0)
    )
    g, gn = image[..., 0], noisy[..., 0]
    assert pseudo_quality(gn, g) == pytest.approx(
        pseudo_quality(np.repeat(gn[..., None], 3, 2), np.repeat(g[..., None], 3, 2))
    )


def test_errors_name_the_problem(image):
    with pytest.raises(ConfigError, match=r"\(96, 128, 3\)"):
        pseudo_quality(image[:50], image)
    with pytest.raises(ConfigError, match="int32"):
        pseudo_quality(image.astype(np.int32), image)
    with pytest.raises(ConfigError, match="too small"):
        ssim(image[:4, :4], image[:4, :4])
