"""Blur family (KADID types 1-3): Gaussian, lens and motion blur.

Each function takes a float RGB image in [0, 1] (already through the generator's input
``mapmm``), the level's parameter and a numpy Generator, and returns float RGB (the
output ``mapmm`` is applied by :func:`gmiqa.distortions.distort`). Taught in
``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import numpy as np

from gmiqa.distortions._matlab import (
    fspecial_disk,
    fspecial_motion,
    imfilter_replicate,
    imgaussfilt,
)


def gaussian_blur(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Type 1: ``imgaussfilt`` per channel (kernel ``2*ceil(2 sigma)+1``, replicate borders). See ``01_distortions``."""
    return imgaussfilt(img, sigma)


def lens_blur(img: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Type 2: correlation with ``fspecial('disk', radius)``, replicate borders. See ``01_distortions``."""
    return imfilter_replicate(img, fspecial_disk(radius))


def motion_angle(rng: np.random.Generator) -> int:
    """The motion direction: ``randi([0, 180])`` integer degrees, drawn per image. See ``01_distortions``."""
    return int(rng.integers(0, 181))


def motion_blur(img: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """Type 3: ``fspecial('motion', length, theta)`` with a random integer angle theta. See ``01_distortions``."""
    return imfilter_replicate(img, fspecial_motion(length, motion_angle(rng)))
