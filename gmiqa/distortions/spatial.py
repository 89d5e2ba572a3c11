"""Spatial family (KADID types 19-23): jitter, non-eccentricity patch, pixelate,
quantisation, colour block.

Functions take float RGB in [0, 1], the level's parameter and a numpy Generator. Taught
in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import math

import numpy as np

from gmiqa.distortions._matlab import imresize_nearest_index, interp2_bicubic, multithresh


def jitter(
    img: np.ndarray, amount: float, rng: np.random.Generator, iterations: int = 5
) -> np.ndarray:
    """Type 19: ``imscatter``: 5 warps, each by a fresh N(0, amount^2) displacement field.

    Each warp samples ``out(r, c) = in(r - sy, c - sx)`` with Keys bicubic interpolation
    (``interp2 'bicubic'``) on the image padded by edge replication; the original's
    margins (rows from the column field and columns from the row field) are kept.
    Samples that fall outside the padded grid are NaN, as in MATLAB; not clipped.

    See ``notebooks/01_distortions.ipynb``.
    """
    h, w = img.shape[:2]
    y = img
    for _ in range(iterations):
        field = rng.standard_normal((h, w, 2)) * amount
        sy, sx = field[..., 0], field[..., 1]
        mr = int(math.ceil(np.max(np.abs(sx))))  # the original pads rows by the x field
        mc = int(math.ceil(np.max(np.abs(sy))))
        pad = [(mr, mr), (mc, mc)]
        yp = np.pad(y, pad + [(0, 0)], mode="edge")
        syp, sxp = np.pad(sy, pad, mode="edge"), np.pad(sx, pad, mode="edge")
        rr, cc = np.mgrid[0 : yp.shape[0], 0 : yp.shape[1]].astype(np.float64)
        z = interp2_bicubic(yp, rr - syp, cc - sxp)
        y = z[mr : mr + h, mc : mc + w]
    return y


def non_eccentricity_patch(img: np.ndarray, patches: float, rng: np.random.Generator) -> np.ndarray:
    """Type 20: ``patches`` times, copy a 16x16 patch to a spot within +-8 px of itself.

    Source top-left uniform in [16, W-32] x [16, H-32] (patch 16, margin 16); the
    destination is offset by ``round((rand - 0.5) * 16)`` per axis. For images smaller
    than 48 px the patch shrinks to a third of the side so that any size works.

    See ``notebooks/01_distortions.ipynb``.
    """
    out = img.copy()
    h, w = img.shape[:2]
    p = max(1, min(16, h // 3, w // 3))
    for _ in range(int(patches)):
        x_lo, x_hi = p, max(p, w - 2 * p)
        y_lo, y_hi = p, max(p, h - 2 * p)
        x = int(np.floor(x_lo + rng.random() * (x_hi - x_lo + 1)))
        y = int(np.floor(y_lo + rng.random() * (y_hi - y_lo + 1)))
        x, y = min(x, w - p), min(y, h - p)
        dx = int(np.round((rng.random() - 0.5) * p))
        dy = int(np.round((rng.random() - 0.5) * p))
        tx = int(np.clip(x + dx, 0, w - p))
        ty = int(np.clip(y + dy, 0, h - p))
        out[ty : ty + p, tx : tx + p] = out[y : y + p, x : x + p].copy()
    return out


def pixelate_scale(strength: float) -> float:
    """Pixelate's shrink factor ``z = 0.95 - strength**0.6``. See ``01_distortions``."""
    return 0.95 - strength**0.6


def pixelate_indices(h: int, w: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column source indices of ``imresize(imresize(I, z, 'nearest'), [h w], 'nearest')``. See ``01_distortions``."""
    z = pixelate_scale(strength)
    sh, sw = math.ceil(z * h), math.ceil(z * w)
    r1 = imresize_nearest_index(h, sh, z)
    c1 = imresize_nearest_index(w, sw, z)
    r2 = imresize_nearest_index(sh, h, h / sh)
    c2 = imresize_nearest_index(sw, w, w / sw)
    return r1[r2], c1[c2]


def pixelate(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Type 21: nearest-neighbour shrink by ``0.95 - strength**0.6`` and enlarge back. See ``01_distortions``."""
    rows, cols = pixelate_indices(img.shape[0], img.shape[1], strength)
    return img[rows[:, None], cols[None, :]]


def quantization(img: np.ndarray, n: float, rng: np.random.Generator) -> np.ndarray:
    """Type 22: ``n`` Otsu thresholds of all channels pooled, then ``imquantize``.

    ``v <= t1 -> 0``, ``t(k-1) < v <= t(k) -> t(k)``, ``v > tN -> 1``. Deviation: the
    thresholds are the exact optimum (dynamic programming), where MATLAB's search may
    stop at a local optimum.

    See ``notebooks/01_distortions.ipynb``.
    """
    t = multithresh(img, int(n))
    values = np.concatenate([[0.0], t[1:], [1.0]])
    return values[np.digitize(img, t, right=True)]


def color_block(img: np.ndarray, blocks: float, rng: np.random.Generator) -> np.ndarray:
    """Type 23: ``blocks`` 32x32 squares of a uniform random colour at random places.

    Top-left ``floor(rand*(W-32)), floor(rand*(H-32))``; later blocks may overlap earlier
    ones. The block shrinks to the image side for images under 32 px.

    See ``notebooks/01_distortions.ipynb``.
    """
    out = img.copy()
    h, w = img.shape[:2]
    b = min(32, h, w)
    for _ in range(int(blocks)):
        color = rng.random(3)
        x = int(np.floor(rng.random() * (w - b)))
        y = int(np.floor(rng.random() * (h - b)))
        out[y : y + b, x : x + b] = color
    return out
