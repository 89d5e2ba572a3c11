"""MATLAB-equivalent helpers for the KADID-10k generator port (numpy/scipy).

Each helper restates the documented behaviour of the MATLAB function of the same name
(see ``shared/reference/kadid_distortions.md``, section 3). Taught in
``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage
from scipy.interpolate import CubicSpline
from skimage.color import lab2rgb as _lab2rgb
from skimage.color import rgb2lab as _rgb2lab

EPS = np.finfo(np.float64).eps

# MATLAB rgb2gray weights (skimage uses BT.709 weights, which differ).
GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])

# BT.601 studio-range YCbCr for double images (MATLAB rgb2ycbcr / ycbcr2rgb).
_YCC_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_YCC_MATRIX = (
    np.array(
        [
            [65.481, 128.553, 24.966],
            [-37.797, -74.203, 112.0],
            [112.0, -93.786, -18.214],
        ]
    )
    / 255.0
)
_YCC_INVERSE = np.linalg.inv(_YCC_MATRIX)


def mapmm(x: np.ndarray) -> np.ndarray:
    """Global min-max stretch to [0, 1] over all channels together; constant stays as is.

    NaN values are ignored for the min and max (MATLAB's min/max skip NaN) and kept.
    """
    x = np.asarray(x, dtype=np.float64)
    if np.isnan(x).all():  # e.g. a 1-pixel image jittered entirely off its grid
        return x.copy()
    lo, hi = np.nanmin(x), np.nanmax(x)
    if not hi > lo:
        return x.copy()
    return (x - lo) / (hi - lo)


def truncate(x: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return np.clip(x, lo, hi)


def rgb2gray(x: np.ndarray) -> np.ndarray:
    return x @ GRAY_WEIGHTS


def gradient(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``gradient`` (rows, columns): central differences, one-sided at the borders;
    zero along an axis of length 1 (where numpy's gradient refuses)."""
    gy = np.gradient(g, axis=0) if g.shape[0] > 1 else np.zeros_like(g)
    gx = np.gradient(g, axis=1) if g.shape[1] > 1 else np.zeros_like(g)
    return gy, gx


def rgb2ycbcr(x: np.ndarray) -> np.ndarray:
    return x @ _YCC_MATRIX.T + _YCC_OFFSET


def ycbcr2rgb(y: np.ndarray) -> np.ndarray:
    return (y - _YCC_OFFSET) @ _YCC_INVERSE.T


def rgb2lab(x: np.ndarray) -> np.ndarray:

    return _rgb2lab(x, illuminant="D65", observer="2")


def lab2rgb(lab: np.ndarray) -> np.ndarray:
    """skimage's lab2rgb clips out-of-gamut values, as MATLAB's ``truncate`` then would."""

    with warnings.catch_warnings():
        # "negative Z values" warnings for strongly amplified chroma are expected here.
        warnings.simplefilter("ignore", UserWarning)
        return _lab2rgb(lab, illuminant="D65", observer="2")


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """``fspecial('gaussian', size, sigma)``: zero below eps*max, normalised."""
    r = (size - 1) / 2.0
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < EPS * h.max()] = 0.0
    return h / h.sum()


def gauss_kernel_1d(sigma: float) -> np.ndarray:
    """1-D factor of ``imgaussfilt(A, sigma)``: ``2*ceil(2*sigma)+1`` taps, normalised."""
    r = int(math.ceil(2.0 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-(t * t) / (2.0 * sigma * sigma))
    return k / k.sum()


def imgaussfilt(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian filter of each plane, replicate borders (MATLAB ``imgaussfilt``)."""
    k = gauss_kernel_1d(sigma)
    out = ndimage.correlate1d(a, k, axis=0, mode="nearest")
    return ndimage.correlate1d(out, k, axis=1, mode="nearest")


def fspecial_disk(rad: float) -> np.ndarray:
    """``fspecial('disk', rad)``: each weight is the area of its pixel covered by the disc.

    A transcription of MATLAB's closed-form construction (arc segments per pixel plus the
    special case of the four axis pixels at the rim).
    """
    crad = int(math.ceil(rad - 0.5))
    y, x = np.mgrid[-crad : crad + 1, -crad : crad + 1].astype(np.float64)
    ax, ay = np.abs(x), np.abs(y)
    maxxy, minxy = np.maximum(ax, ay), np.minimum(ax, ay)
    r2 = rad * rad
    c1 = r2 < (maxxy + 0.5) ** 2 + (minxy - 0.5) ** 2
    m1 = np.where(c1, minxy - 0.5, np.sqrt(np.maximum(r2 - (maxxy + 0.5) ** 2, 0.0)))
    c2 = r2 > (maxxy - 0.5) ** 2 + (minxy + 0.5) ** 2
    m2 = np.where(c2, minxy + 0.5, np.sqrt(np.maximum(r2 - (maxxy - 0.5) ** 2, 0.0)))
    a1 = np.arcsin(np.clip(m1 / rad, -1.0, 1.0))
    a2 = np.arcsin(np.clip(m2 / rad, -1.0, 1.0))
    seg = (
        r2 * (0.5 * (a2 - a1) + 0.25 * (np.sin(2 * a2) - np.sin(2 * a1)))
        - (maxxy - 0.5) * (m2 - m1)
        + (m1 - minxy + 0.5)
    )
    on_rim = (
        (r2 < (maxxy + 0.5) ** 2 + (minxy + 0.5) ** 2)
        & (r2 > (maxxy - 0.5) ** 2 + (minxy - 0.5) ** 2)
    ) | ((minxy == 0) & (maxxy - 0.5 < rad) & (maxxy + 0.5 >= rad))
    sgrid = np.where(on_rim, seg, 0.0)
    sgrid = sgrid + ((maxxy + 0.5) ** 2 + (minxy + 0.5) ** 2 < r2)
    c = crad
    sgrid[c, c] = min(math.pi * r2, math.pi / 2)
    if crad > 0 and rad > crad - 0.5 and r2 < (crad - 0.5) ** 2 + 0.25:
        m1s = math.sqrt(r2 - (crad - 0.5) ** 2)
        m1n = m1s / rad
        sg0 = 2 * (
            r2 * (0.5 * math.asin(m1n) + 0.25 * math.sin(2 * math.asin(m1n))) - m1s * (crad - 0.5)
        )
        n = 2 * crad
        sgrid[n, c] = sg0
        sgrid[c, n] = sg0
        sgrid[c, 0] = sg0
        sgrid[0, c] = sg0
        sgrid[n - 1, c] -= sg0
        sgrid[c, n - 1] -= sg0
        sgrid[c, 1] -= sg0
        sgrid[1, c] -= sg0
    sgrid[c, c] = min(sgrid[c, c], 1.0)
    return sgrid / sgrid.sum()


def fspecial_motion(length: float, theta: float) -> np.ndarray:
    """``fspecial('motion', len, theta)``: an anti-aliased 1-pixel line, counter-clockwise."""
    length = max(1.0, float(length))
    half = (length - 1) / 2.0
    phi = (theta % 180) / 180.0 * math.pi
    cosphi, sinphi = math.cos(phi), math.sin(phi)
    xsign = 1 if cosphi > 0 else (-1 if cosphi < 0 else 0)
    lw = 1.0
    sx = math.trunc(half * cosphi + lw * xsign - length * EPS)
    sy = math.trunc(half * sinphi + lw - length * EPS)
    step = xsign if xsign != 0 else 1
    xs = np.arange(0, sx + step, step, dtype=np.float64)
    ys = np.arange(0, sy + 1, dtype=np.float64)
    x, y = np.meshgrid(xs, ys)
    dist = y * cosphi - x * sinphi
    rad = np.sqrt(x * x + y * y)
    last = (rad >= half) & (np.abs(dist) <= lw)
    with np.errstate(divide="ignore", invalid="ignore"):
        x2last = half - np.abs((x[last] + dist[last] * sinphi) / cosphi)
    dist[last] = np.sqrt(dist[last] ** 2 + x2last**2)
    dist = lw + EPS - np.abs(dist)
    dist[dist < 0] = 0.0
    r, c = dist.shape
    h = np.zeros((2 * r - 1, 2 * c - 1))
    h[:r, :c] = np.rot90(dist, 2)
    h[r - 1 :, c - 1 :] = dist
    h = h / (h.sum() + EPS * length * length)
    if cosphi > 0:
        h = np.flipud(h)
    return h


def imfilter_replicate(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``imfilter(A, h, 'replicate')`` on each plane: correlation with edge replication."""
    if a.ndim == 3:
        return np.stack(
            [ndimage.correlate(a[..., i], h, mode="nearest") for i in range(a.shape[2])], axis=2
        )
    return ndimage.correlate(a, h, mode="nearest")


def curves(x: np.ndarray, c) -> np.ndarray:
    """The generator's tone curve: interpolating spline through control points, clipped."""
    if np.ndim(c) == 0:
        px, py = [0.0, 0.5, 1.0], [0.0, float(c), 1.0]
    else:
        a, b = c
        px, py = [0.0, 0.3, 0.5, 0.7, 1.0], [0.0, float(a), 0.5, float(b), 1.0]
    return np.clip(CubicSpline(px, py)(x), 0.0, 1.0)


def imshift(g: np.ndarray, s: tuple[int, int]) -> np.ndarray:
    """Shift down by s[0], right by s[1] with replicated edges (``out[r,c] = g[r-s0, c-s1]``)."""
    h, w = g.shape[:2]
    rows = np.clip(np.arange(h) - int(s[0]), 0, h - 1)
    cols = np.clip(np.arange(w) - int(s[1]), 0, w - 1)
    return g[rows[:, None], cols[None, :]]


def imnoise_gaussian(a: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(a + math.sqrt(var) * rng.standard_normal(a.shape), 0.0, 1.0)


def imnoise_salt_pepper(a: np.ndarray, d: float, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(a.shape)
    out = a.copy()
    out[u < d / 2] = 0.0
    out[(u >= d / 2) & (u < d)] = 1.0
    return out


def imnoise_speckle(a: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    # MATLAB's speckle noise is uniform with variance var, not Gaussian.
    return np.clip(a + math.sqrt(12.0 * var) * a * (rng.random(a.shape) - 0.5), 0.0, 1.0)


def _keys(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    t2, t3 = t * t, t * t * t
    return np.where(
        t <= 1,
        (a + 2) * t3 - (a + 3) * t2 + 1,
        np.where(t < 2, a * t3 - 5 * a * t2 + 8 * a * t - 4 * a, 0.0),
    )


def _keys_extend(a: np.ndarray, axis: int) -> np.ndarray:
    # Two samples beyond each end: f(-1) = 3 f(0) - 3 f(1) + f(2), then again for f(-2).
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    if n >= 3:
        lo1 = 3 * a[0] - 3 * a[1] + a[2]
        lo2 = 3 * lo1 - 3 * a[0] + a[1]
        hi1 = 3 * a[n - 1] - 3 * a[n - 2] + a[n - 3]
        hi2 = 3 * hi1 - 3 * a[n - 1] + a[n - 2]
    else:  # too short for the rule: replicate
        lo1 = lo2 = a[0]
        hi1 = hi2 = a[n - 1]
    out = np.concatenate([lo2[None], lo1[None], a, hi1[None], hi2[None]], axis=0)
    return np.moveaxis(out, 0, axis)


def interp2_bicubic(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """MATLAB ``interp2(..., 'bicubic')``: Keys cubic convolution (a = -0.5).

    ``img`` is (H, W) or (H, W, C); ``rows``/``cols`` are (H', W') sample positions in
    0-based pixel units. Samples outside the grid are NaN. Beyond the borders the grid is
    extended with Keys' boundary rule ``f(-1) = 3 f(0) - 3 f(1) + f(2)``.
    """
    h, w = img.shape[:2]
    pad = _keys_extend(_keys_extend(np.asarray(img, dtype=np.float64), 0), 1)
    outside = (rows < 0) | (rows > h - 1) | (cols < 0) | (cols > w - 1)
    r = np.clip(rows, 0, h - 1)
    c = np.clip(cols, 0, w - 1)
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    fr, fc = r - r0, c - c0
    wr = [_keys(fr - i) for i in range(-1, 3)]
    wc = [_keys(fc - j) for j in range(-1, 3)]
    # Gather from the flattened, extended grid, channels first (contiguous takes): tap
    # (i, j) of a sample sits at base + i*stride + j.
    stride = pad.shape[1]
    planes = pad.reshape(pad.shape[0], stride, -1)
    flat = np.ascontiguousarray(np.moveaxis(planes, 2, 0)).reshape(planes.shape[2], -1)
    base = ((r0 + 1) * stride + (c0 + 1)).ravel()
    out = np.zeros((flat.shape[0], base.size))
    for i in range(4):
        wri = wr[i].ravel()
        for j in range(4):
            out += (wri * wc[j].ravel()) * np.take(flat, base + (i * stride + j), axis=1)
    out = np.moveaxis(out.reshape((flat.shape[0],) + rows.shape), 0, -1)
    if img.ndim == 2:
        out = out[..., 0]
    out = np.ascontiguousarray(out)
    out[outside] = np.nan
    return out


def imresize_nearest_index(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """0-based source indices of MATLAB's nearest ``imresize``: ``floor((x + 0.5) / scale)``."""
    idx = np.floor((np.arange(n_out) + 0.5) / scale).astype(np.int64)
    return np.clip(idx, 0, n_in - 1)


def multithresh(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` Otsu thresholds of ``values`` (exact optimum, by dynamic programming).

    256-bin histogram over [min, max] (bin k centred at min + k/255*(max-min), as
    ``imhist`` bins doubles); maximises the between-class variance over every split of
    the bins into ``n + 1`` contiguous non-empty classes. Returns the thresholds in the
    units of ``values``: the upper end (bin centre) of each lower class.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return np.full(n, lo)
    nb = 256
    idx = np.floor((v - lo) / (hi - lo) * (nb - 1) + 0.5).astype(np.int64)
    p = np.bincount(idx, minlength=nb).astype(np.float64)
    p /= p.sum()
    levels = np.arange(nb, dtype=np.float64)
    cw = np.concatenate([[0.0], np.cumsum(p)])  # cw[j] = weight of bins < j
    cm = np.concatenate([[0.0], np.cumsum(p * levels)])
    # score(i, j): class of bins i..j-1; w*mu^2 = m^2/w (0 for an empty class).
    w = cw[None, :] - cw[:, None]
    m = cm[None, :] - cm[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(w > 1e-15, m * m / w, 0.0)
    valid = np.arange(nb + 1)[None, :] > np.arange(nb + 1)[:, None]
    score = np.where(valid, score, -np.inf)
    k = n + 1
    best = score[0].copy()  # best[j]: one class covering bins 0..j-1
    back = np.zeros((k, nb + 1), dtype=np.int64)
    for cls in range(1, k):
        total = best[:, None] + score  # from split i to end j
        back[cls] = np.argmax(total, axis=0)
        best = total[back[cls], np.arange(nb + 1)]
    ends = []
    j = nb
    for cls in range(k - 1, 0, -1):
        j = back[cls, j]
        ends.append(j)
    ends = np.array(sorted(ends), dtype=np.float64)  # first bin of each upper class
    return lo + (ends - 1) / (nb - 1) * (hi - lo)
