"""The registry and ``distort``: every type at every level, shapes, dtypes, determinism,
monotone degradation by a full-reference measure, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from gmiqa import fr_quality
from gmiqa.datasets import fit_to_size, load_pristine
from gmiqa.distortions import DISTORTIONS, FAMILIES, distort, get_distortion
from gmiqa.distortions._matlab import mapmm
from gmiqa.errors import ConfigError

TYPES = sorted(DISTORTIONS)
RANDOM = {3, 5, 11, 12, 13, 14, 15, 19, 20, 23}
NOT_MONOTONE = {18, 21, 25}


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Three 96x128 pristine crops, already spanning 0..255.

    The generator's input ``mapmm`` is then the identity, so a full-reference measure
    against the image sees only the distortion, not the stretch.
    """
    out = []
    for p in load_pristine(max_images=3):
        img = fit_to_size(p.image, (96, 128))
        out.append(np.floor(mapmm(img) * 255.0 + 0.5).astype(np.uint8))
    return out


def test_registry_has_25_types_in_7_families():
    assert TYPES == list(range(1, 26))
    assert sorted(t for ts in FAMILIES.values() for t in ts) == TYPES
    for t, d in DISTORTIONS.items():
        assert d.id == t and len(d.levels) == 5
        assert t in FAMILIES[d.family]
        assert d.random == (t in RANDOM), d.name
        assert d.monotone == (t not in NOT_MONOTONE), d.name
        assert d.monotone or len(d.note) > 20, f"{d.name}: non-monotone type needs a reason"
        assert d.measure in ("pseudo_quality", "psnr", "ssim")
        assert get_distortion(d.name) is d and get_distortion(str(t)) is d


def test_kadid_level_parameters():
    # Spot checks against the generator's table (reference section 4).
    assert DISTORTIONS[1].levels == (0.1, 0.5, 1, 2, 5)
    assert DISTORTIONS[9].levels == (16, 32, 45, 120, 400)
    assert DISTORTIONS[10].levels == (43, 36, 24, 7, 4)
    assert DISTORTIONS[18].levels == (0.15, 0.08, 0, -0.08, -0.15)
    assert DISTORTIONS[22].levels == (20, 16, 13, 10, 7)
    assert DISTORTIONS[25].levels == (0.3, 0.15, 0, -0.4, -0.6)


@pytest.mark.parametrize("t", TYPES)
def test_shape_dtype_and_determinism(t, images):
    img = images[0]
    for level in (1, 5):
        out = distort(img, t, level, seed=3)
        assert out.shape == img.shape and out.dtype == np.uint8
        again = distort(img, t, level, seed=3)
        np.testing.assert_array_equal(out, again)
    f32 = distort(img.astype(np.float32) / 255.0, t, 3, seed=3)
    assert f32.dtype == np.float32 and f32.shape == img.shape
    assert 0.0 <= f32.min() and f32.max() <= 1.0 and np.isfinite(f32).all()
    if t in RANDOM:
        a, b = distort(img, t, 5, seed=1), distort(img, t, 5, seed=2)
        assert not np.array_equal(a, b), "a different seed should draw differently"


@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize(
    "shape", [(37, 61, 3), (61, 23, 3), (40, 50), (40, 50, 1), (1, 1, 3), (2, 5, 3)]
)
def test_odd_sizes_aspect_ratios_and_grey(t, shape, images):
    h, w = shape[:2]
    img = np.ascontiguousarray(images[1][:h, :w])
    if len(shape) == 2:
        img = img[..., 1]
    elif shape[2] == 1:
        img = img[..., 1:2]
    out = distort(img, t, 4, seed=0)
    assert out.shape == img.shape and out.dtype == np.uint8
    f64 = distort(img / 255.0, t, 4, seed=0)
    assert f64.shape == img.shape and f64.dtype == np.float64 and np.isfinite(f64).all()


@pytest.mark.parametrize("t", [t for t in TYPES if t not in NOT_MONOTONE])
def test_levels_degrade_monotonically(t, images):
    d = DISTORTIONS[t]
    measure = getattr(fr_quality, d.measure)
    q = np.array(
        [[measure(distort(img, t, lvl, seed=7), img) for lvl in range(1, 6)] for img in images]
    ).mean(axis=0)
    assert np.all(np.diff(q) < 0), f"{d.name}: {d.measure} by level {np.round(q, 4)}"


def test_mean_shift_level_3_is_identity_and_ends_are_worst(images):
    img = images[0]
    np.testing.assert_array_equal(distort(img, 18, 3), img)
    q = [fr_quality.pseudo_quality(distort(img, 18, lvl), img) for lvl in range(1, 6)]
    assert q[2] == 1.0 and q[0] < q[1] < q[2] and q[4] < q[3] < q[2]


def test_contrast_change_least_at_level_3_and_worst_at_extremes(images):
    q = np.mean(
        [[fr_quality.psnr(distort(img, 25, lvl), img) for lvl in range(1, 6)] for img in images],
        axis=0,
    )
    # Amounts +0.3, +0.15, 0, -0.4, -0.6: the error grows with |amount| on either side.
    assert q[0] < q[1] < q[2] and q[4] < q[3]


def test_saturation_hsv_levels_1_to_4_desaturate_progressively(images):
    img = images[0]
    spread = [distort(img, 7, lvl).astype(float).std(axis=2).mean() for lvl in range(1, 5)]
    assert spread[0] > spread[1] > spread[2] > spread[3]
    grey = distort(img, 7, 4)  # factor 0: every channel equals V = max(R, G, B)
    assert np.abs(grey.astype(int) - grey[..., :1]).max() <= 1


def test_pixelate_level_5_is_worst(images):
    q = np.mean(
        [
            [fr_quality.pseudo_quality(distort(i, 21, lvl), i) for lvl in range(1, 6)]
            for i in images
        ],
        axis=0,
    )
    assert q[4] < q[:4].min() - 0.05


def test_grey_input_processed_as_r_equals_g_equals_b(images):
    grey = images[0][..., 1]
    out = distort(grey, 1, 4)
    rgb = distort(np.repeat(grey[..., None], 3, axis=2), 1, 4)
    # A blur of R=G=B stays R=G=B; the grey output is that value (rgb2gray weights sum to 1).
    assert np.abs(out.astype(int) - rgb[..., 0]).max() <= 1


@pytest.mark.parametrize("bad", ["gaussian_blurr", "no such type", 0, 26, -1, 3.0, None])
def test_unknown_distortion_names_the_value(bad, images):
    with pytest.raises(ConfigError, match=repr(bad).replace("(", r"\(").replace(")", r"\)")):
        distort(images[0], bad, 1)


@pytest.mark.parametrize("level", [0, 6, -1, 2.5, "3", True])
def test_level_outside_1_to_5_names_the_value(level, images):
    with pytest.raises(ConfigError, match=r"level .*outside 1\.\.5"):
        distort(images[0], "jpeg", level)
    with pytest.raises(ConfigError, match=repr(level)):
        distort(images[0], "jpeg", level)


def test_bad_images_are_refused_clearly(images):
    rgba = np.dstack([images[0], np.full(images[0].shape[:2], 255, np.uint8)])
    with pytest.raises(ConfigError, match="alpha"):
        distort(rgba, 1, 1)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        distort(images[0].astype(np.float32), 1, 1)  # float 0..255 is not float in [0, 1]
    with pytest.raises(ConfigError, match="uint16"):
        distort(images[0].astype(np.uint16), 1, 1)
    with pytest.raises(ConfigError, match="NaN"):
        distort(np.full((8, 8, 3), np.nan), 1, 1)
    with pytest.raises(ConfigError, match="shape"):
        distort(np.zeros((8, 8, 2), np.uint8), 1, 1)
