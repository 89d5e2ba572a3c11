"""The MATLAB-equivalent helpers behind the port (``gmiqa.distortions._matlab``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gmiqa.distortions import _matlab as M
from gmiqa.distortions.spatial import pixelate_indices, pixelate_scale


def _disk_coverage(r: float, n: int = 200) -> np.ndarray:
    """Area of each pixel inside a disc of radius r, by supersampling (independent check)."""
    c = math.ceil(r - 0.5)
    s = (np.arange(n) + 0.5) / n - 0.5
    out = np.zeros((2 * c + 1, 2 * c + 1))
    for i in range(-c, c + 1):
        for j in range(-c, c + 1):
            yy, xx = np.meshgrid(i + s, j + s)
            out[i + c, j + c] = np.mean(xx**2 + yy**2 <= r * r)
    return out / out.sum()


@pytest.mark.parametrize("r,size", [(1, 3), (2, 5), (4, 9), (6, 13), (8, 17)])
def test_fspecial_disk_is_the_covered_area(r, size):
    h = M.fspecial_disk(r)
    assert h.shape == (size, size)
    np.testing.assert_allclose(h, _disk_coverage(r), atol=2e-4)
    np.testing.assert_allclose(h, h.T)


@pytest.mark.parametrize("length", [1, 2, 4, 6, 10])
@pytest.mark.parametrize("theta", [0, 30, 45, 90, 135, 180])
def test_fspecial_motion_line(length, theta):
    h = M.fspecial_motion(length, theta)
    assert h.shape[0] % 2 == 1 and h.shape[1] % 2 == 1
    assert h.sum() == pytest.approx(1.0, abs=1e-12) and (h >= 0).all()
    # Point symmetric about the centre (a line through it).
    np.testing.assert_allclose(h, np.rot90(h, 2), atol=1e-12)
    if length == 1:  # the identity (MATLAB leaves eps-sized weights beside it at some angles)
        assert h[h.shape[0] // 2, h.shape[1] // 2] == pytest.approx(1.0, abs=1e-12)
    if theta in (0, 180):
        assert h.shape == (1, length + 1 if length > 1 else 1)
    if theta == 90 and length > 1:
        assert h.shape == (length + 1, 1)


def test_fspecial_motion_is_counter_clockwise():
    h = M.fspecial_motion(10, 45)
    # 45 degrees counter-clockwise: the line runs from bottom-left to top-right.
    assert h[1, -2] > 0.05 and h[-2, 1] > 0.05 and h[1, 1] == 0 and h[-2, -2] == 0


@pytest.mark.parametrize("sigma,taps", [(0.1, 3), (0.5, 3), (1, 5), (2, 9), (5, 21), (4, 17)])
def test_imgaussfilt_kernel_size(sigma, taps):
    k = M.gauss_kernel_1d(sigma)
    assert k.size == taps and k.sum() == pytest.approx(1.0)


def test_imgaussfilt_replicates_borders():
    a = np.zeros((9, 9))
    a[:, :3] = 1.0
    out = M.imgaussfilt(a, 1.0)
    np.testing.assert_allclose(out[:, 0], 1.0)  # replicate: the border sees ones outside


def test_curves_scalar_is_the_parabola_and_two_points_interpolate():
    x = np.linspace(0, 1, 11)
    c = 0.7
    np.testing.assert_allclose(M.curves(x, c), np.clip((2 - 4 * c) * x**2 + (4 * c - 1) * x, 0, 1))
    y = M.curves(np.array([0.0, 0.3, 0.5, 0.7, 1.0]), (0.2, 0.8))
    np.testing.assert_allclose(y, [0, 0.2, 0.5, 0.8, 1.0], atol=1e-12)


def test_imshift_replicates_edges():
    g = np.arange(12.0).reshape(3, 4)
    out = M.imshift(g, (1, 2))
    np.testing.assert_array_equal(out[0], [0, 0, 0, 1])
    np.testing.assert_array_equal(out[2], [4, 4, 4, 5])


def test_ycbcr_studio_range_and_round_trip():
    x = np.random.default_rng(0).random((5, 7, 3))
    y = M.rgb2ycbcr(x)
    np.testing.assert_allclose(M.rgb2ycbcr(np.zeros(3)), [16 / 255, 128 / 255, 128 / 255])
    np.testing.assert_allclose(M.rgb2ycbcr(np.ones(3))[0], 235 / 255)
    np.testing.assert_allclose(M.ycbcr2rgb(y), x, atol=1e-12)


def test_mapmm_is_global_and_leaves_constants():
    x = np.dstack([np.full((2, 2), 0.2), np.full((2, 2), 0.4), np.full((2, 2), 0.6)])
    y = M.mapmm(x)
    np.testing.assert_allclose(y[0, 0], [0, 0.5, 1.0])  # one min and max over all channels
    c = np.full((3, 3, 3), 0.3)
    np.testing.assert_array_equal(M.mapmm(c), c)


def test_interp2_bicubic_keys_properties():
    rng = np.random.default_rng(0)
    a = rng.random((12, 15))
    r, c = np.mgrid[0:12, 0:15].astype(float)
    np.testing.assert_allclose(M.interp2_bicubic(a, r, c), a, atol=1e-12)  # interpolating
    lin = 2 * r + 3 * c  # Keys (a = -0.5) reproduces linear functions exactly
    out = M.interp2_bicubic(lin, r + 0.3, c - 0.2)
    inside = np.isfinite(out)
    np.testing.assert_allclose(out[inside], (lin + 0.6 - 0.6)[inside], atol=1e-9)
    assert np.isnan(out[-1, 0])  # row 11.3 is outside the grid: NaN, as MATLAB
    # a = -0.5 differs from a = -0.75 (torch/OpenCV): a half-pixel sample of a step
    step = (np.arange(8) >= 4).astype(float)[None].repeat(4, 0)
    mid = M.interp2_bicubic(step, np.array([[1.0]]), np.array([[3.5]]))[0, 0]
    assert mid == pytest.approx(0.5)
    quarter = M.interp2_bicubic(step, np.array([[1.0]]), np.array([[3.25]]))[0, 0]
    assert quarter == pytest.approx(0.203125)  # Keys a = -0.5 weights at t = 0.25


def test_pixelate_sizes_follow_matlab_ceil():
    # Reference section 4, type 21: shrunken sizes for a 384x512 image.
    expected = [(341, 455), (302, 402), (269, 358), (219, 292), (112, 149)]
    for s, (h, w) in zip((0.01, 0.05, 0.1, 0.2, 0.5), expected):
        z = pixelate_scale(s)
        assert (math.ceil(z * 384), math.ceil(z * 512)) == (h, w)
        rows, cols = pixelate_indices(384, 512, s)
        assert rows.shape == (384,) and cols.shape == (512,)
        # Each output pixel repeats one of the h x w shrunken pixels; the last two of those
        # may read the same (clamped) source index, as in MATLAB.
        assert h - 1 <= len(np.unique(rows)) <= h and w - 1 <= len(np.unique(cols)) <= w


def test_nearest_index_map():
    np.testing.assert_array_equal(M.imresize_nearest_index(4, 8, 2.0), [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(M.imresize_nearest_index(8, 4, 0.5), [1, 3, 5, 7])


def test_multithresh_matches_exhaustive_otsu_and_scales():
    from skimage import data
    from skimage.filters import threshold_multiotsu

    im = data.camera()
    t = M.multithresh(im / 255.0, 2)
    np.testing.assert_allclose(t, threshold_multiotsu(im, classes=3) / 255.0)
    t20 = M.multithresh(im / 255.0, 20)
    assert t20.shape == (20,) and np.all(np.diff(t20) > 0)
    assert M.multithresh(np.full(10, 0.4), 3).tolist() == [0.4, 0.4, 0.4]


def test_imnoise_statistics():
    rng = np.random.default_rng(0)
    a = np.full((200, 200, 3), 0.5)
    g = M.imnoise_gaussian(a, 0.005, rng) - 0.5
    assert g.var() == pytest.approx(0.005, rel=0.05)
    sp = M.imnoise_salt_pepper(a, 0.1, rng)
    assert np.mean(sp == 0) == pytest.approx(0.05, abs=0.005)
    assert np.mean(sp == 1) == pytest.approx(0.05, abs=0.005)
    # per value, not per pixel: channels of one pixel are hit independently
    assert np.mean((sp == 0).all(axis=2)) < 0.01
    sk = M.imnoise_speckle(a, 0.01, rng) / 0.5 - 1.0
    assert sk.var() == pytest.approx(0.01, rel=0.05)
    assert np.abs(sk).max() <= math.sqrt(3 * 0.01) + 1e-12  # uniform, not Gaussian
