"""Brightness family (KADID types 16-18): brighten, darken, mean shift.

Functions take float RGB in [0, 1], the level's parameter and a numpy Generator. Taught
in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import numpy as np

from gmiqa.distortions._matlab import curves, lab2rgb, rgb2lab, truncate


def brighten(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Type 16: tone curve through (0.5, 0.5 + amount/2), blended 2:1 from RGB and LAB L.

    ``J = (2*curves(I) + truncate(lab2rgb(100*curves(L/100), a, b))) / 3``.

    See ``notebooks/01_distortions.ipynb``.
    """
    c = 0.5 + amount / 2.0
    lab = rgb2lab(img)
    lab[..., 0] = 100.0 * curves(lab[..., 0] / 100.0, c)
    jl = truncate(lab2rgb(lab))
    jr = curves(img, c)
    return (2.0 * jr + jl) / 3.0


def darken(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Type 17: tone curve through (0.5, 0.5 - amount/2) per RGB channel (no LAB blend).

    The MATLAB body was not found; this is the documented best guess (ARNIQA's form).

    See ``notebooks/01_distortions.ipynb``.
    """
    return curves(img, 0.5 - amount / 2.0)


def mean_shift(img: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Type 18: ``clip(I + shift, 0, 1)``; the final ``mapmm`` turns it into a stretch. See ``01_distortions``."""
    return np.clip(img + shift, 0.0, 1.0)
