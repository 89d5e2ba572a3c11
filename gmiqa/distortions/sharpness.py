"""Sharpness and contrast family (KADID types 24-25): high sharpen, contrast change.

Functions take float RGB in [0, 1], the level's parameter and a numpy Generator. Taught
in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gmiqa.distortions._matlab import curves, fspecial_gaussian, lab2rgb, rgb2lab, truncate


def sharpen_kernel(amount: float) -> np.ndarray:
    """``imsharpen``'s kernel for Radius 3: ``(1+amount)*delta - amount*fspecial('gaussian', 13, 3)``. See ``01_distortions``."""
    g = fspecial_gaussian(13, 3.0)
    k = -amount * g
    k[6, 6] += 1.0 + amount
    return k


def high_sharpen(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Type 24: ``imsharpen(I, 'Radius', 3, 'Amount', amount)`` on LAB L, then clipped. See ``01_distortions``."""
    lab = rgb2lab(img)
    lab[..., 0] = ndimage.correlate(lab[..., 0], sharpen_kernel(amount), mode="nearest")
    return truncate(lab2rgb(lab))


def contrast_change(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Type 25: spline tone curve through (0.3, 0.25 - a/4) and (0.7, 0.75 + a/4), clipped. See ``01_distortions``."""
    return curves(img, (0.25 - amount / 4.0, 0.75 + amount / 4.0))
