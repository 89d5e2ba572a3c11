"""The natural-scene-statistics building blocks shared by NIQE and BRISQUE."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, stats

from gmiqa.baselines import nss
from gmiqa.baselines.nss import ImageContentError
from gmiqa.errors import ImageReadError


def test_rgb2gray_matches_matlab_on_primaries():
    # MATLAB: rgb2gray(uint8 cat(3, 255, 0, 0)) = 76, green 150, blue 29, white 255.
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    assert nss.rgb2gray_uint8(rgb).tolist() == [[76, 150, 29, 255]]


def test_float_input_is_read_as_im2uint8():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    as_float = u8.astype(np.float32) / 255.0
    np.testing.assert_array_equal(nss.prepare_grey(u8), nss.prepare_grey(as_float))


def test_tensor_input_is_accepted():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    tensor = torch.from_numpy(u8).permute(2, 0, 1).float() / 255.0
    np.testing.assert_array_equal(nss.prepare_grey(u8), nss.prepare_grey(tensor))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((20, 20, 3), np.nan), "NaN or infinite"),
        (np.full((20, 20, 3), np.inf), "NaN or infinite"),
        (np.full((20, 20, 3), 2.0), r"must lie in \[0, 1\]"),
        (np.zeros((20, 20, 4), np.uint8), "expected an"),
        (np.zeros((20, 20, 3), np.int16), "must be uint8"),
        (np.zeros((4, 30, 3), np.uint8), "too small"),
    ],
)
def test_bad_images_raise_named_errors(image, message):
    with pytest.raises(ImageContentError, match=message) as info:
        nss.prepare_grey(image, name="sample.png", min_side=8)
    assert "sample.png" in str(info.value)
    assert isinstance(info.value, ImageReadError)


def test_gaussian_window_is_fspecial_factor():
    g = nss.gaussian_window()
    assert g.shape == (7,) and abs(g.sum() - 1.0) < 1e-15
    x = np.arange(-3, 4)
    two_d = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    np.testing.assert_allclose(np.outer(g, g), two_d / two_d.sum(), rtol=1e-14)


def test_imresize_interior_weights_are_matlab_bicubic_antialiased():
    weights, indices = nss.imresize_weights(64, 0.5)
    assert weights.shape == (32, 8)
    expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    np.testing.assert_allclose(weights[10], expected + expected[::-1], atol=1e-15)
    # Output sample 11 (1-based) is centred between inputs 21 and 22 (1-based).
    assert indices[10].tolist() == list(range(17, 25))
    # Mirror boundary: first output uses input 1 twice (aux = [1..n, n..1]).
    assert indices[0].tolist().count(0) >= 2
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-14)


def test_imresize_half_keeps_constants_and_ramps():
    const = np.full((24, 30), 7.0)
    np.testing.assert_allclose(nss.imresize_half(const), 7.0, atol=1e-12)
    ramp = np.tile(np.arange(1.0, 41.0), (12, 1))
    out = nss.imresize_half(ramp)
    assert out.shape == (6, 20)
    # Away from the mirrored edges a symmetric kernel reproduces a linear ramp exactly:
    # output j (1-based) sits at input position 2j - 0.5.
    expected = np.broadcast_to(2 * np.arange(4.0, 18.0) - 0.5, (6, 14))
    np.testing.assert_allclose(out[:, 3:-3], expected, atol=1e-12)
    assert nss.imresize_half(np.ones((5, 7))).shape == (3, 4)  # ceil, as MATLAB


def test_nearest_table_entry_matches_brute_force():
    ggd, aggd = nss._tables()
    rng = np.random.default_rng(0)
    for table in (ggd, aggd):
        values = np.concatenate(
            [
                rng.uniform(table.min() * 0.9, table.max() * 1.1, 500),
                table[rng.integers(0, table.size, 50)],  # exact hits
                (table[:-1] + table[1:])[::97] / 2,  # midpoints: ties go to the lower index
            ]
        )
        brute = np.argmin(np.abs(table[None, :] - values[:, None]), axis=1)
        fast = nss._nearest(table, values)
        close = np.abs(np.abs(table[fast] - values) - np.abs(table[brute] - values)) < 1e-15
        assert close.all()
        assert (fast == brute).mean() > 0.99
    assert nss._nearest(aggd, np.array([np.nan])).tolist() == [0]


@pytest.mark.parametrize("shape", [0.8, 1.0, 2.0, 3.0])
def test_ggd_fit_recovers_the_shape(shape):
    x = stats.gennorm.rvs(shape, scale=1.3, size=200_000, random_state=0)
    est, sigma = nss.estimate_ggd(x)
    assert abs(est - shape) < 0.05 * shape + 0.02
    assert abs(sigma - x.std()) < 1e-2


def test_aggd_fit_sees_asymmetry():
    # An AGGD of shape 2: half-Gaussians of scales 0.5 and 2, each side carrying
    # probability proportional to its scale (the density is continuous at 0).
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal(100_000))
    n_left = 20_000  # 0.5 / (0.5 + 2.0) of the samples
    sample = np.concatenate([-0.5 * x[:n_left], 2.0 * x[n_left:]])
    alpha, left, right = nss.estimate_aggd(sample[None, :])
    assert abs(alpha[0] - 2.0) < 0.1
    assert abs(right[0] / left[0] - 4.0) < 0.1


def test_aggd_without_negative_values_is_nan():
    alpha, left, right = nss.estimate_aggd(np.array([[0.0, 1.0, 2.0], [-1.0, 1.0, 2.0]]))
    assert np.isnan(alpha[0]) and np.isnan(left[0])
    assert np.isfinite(alpha[1]) and np.isfinite(left[1])


@pytest.mark.parametrize("padding, mode", [("zeros", "constant"), ("replicate", "nearest")])
def test_flat_neighbourhoods_match_max_min_filter(padding, mode):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 3, (40, 50)).astype(np.float64)
    img[5:25, 10:40] = 9.0  # a flat patch, larger than the window
    img[:12, :12] = 0.0  # flat and touching the zero padding
    expected = ndimage.maximum_filter(img, 7, mode=mode) == ndimage.minimum_filter(
        img, 7, mode=mode
    )
    got = nss.flat_neighbourhoods(img, 7, padding)
    np.testing.assert_array_equal(got, expected)
    assert got.any()


def test_mscn_is_zero_on_flat_areas_and_normalised_elsewhere():
    rng = np.random.default_rng(0)
    img = np.full((64, 64), 120.0)
    img[:, 32:] = rng.integers(0, 256, (64, 32))
    coeffs, mu, sigma = nss.mscn(img, padding="replicate")
    assert np.all(coeffs[:, :25] == 0.0)
    assert 0.5 < coeffs[:, 40:].std() < 2.0
    loose, _, _ = nss.mscn(img, padding="replicate", exact_flat=False)
    np.testing.assert_allclose(loose, coeffs, atol=1e-9)


def test_paired_product_wraps_like_circshift():
    x = np.arange(12.0).reshape(3, 4)
    # circshift(x, [0 1]) moves columns right by one, the last wrapping to the front.
    np.testing.assert_array_equal(nss.paired_product(x, (0, 1)), x * x[:, [3, 0, 1, 2]])
    np.testing.assert_array_equal(nss.paired_product(x, (-1, 1)), x * np.roll(x, (-1, 1), (0, 1)))
