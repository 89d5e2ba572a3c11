"""Noise family (KADID types 11-15): white noise, white noise in a colour component,
impulse noise, multiplicative noise and denoise.

Functions take float RGB in [0, 1], the level's parameter and a numpy Generator. Taught
in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.restoration import denoise_tv_chambolle

from gmiqa.distortions._matlab import (
    imnoise_gaussian,
    imnoise_salt_pepper,
    imnoise_speckle,
    rgb2ycbcr,
    ycbcr2rgb,
)


def white_noise(img: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    """Type 11: ``imnoise(I, 'gaussian', 0, var)``: i.i.d. N(0, var) per value, clipped. See ``01_distortions``."""
    return imnoise_gaussian(img, var, rng)


def white_noise_color_component(
    img: np.ndarray, var: float, rng: np.random.Generator
) -> np.ndarray:
    """Type 12: Gaussian noise on Y, Cb and Cr (studio range), clipped in YCbCr only.

    The RGB result may leave [0, 1]; the generator's final ``mapmm`` rescales it.

    See ``notebooks/01_distortions.ipynb``.
    """
    return ycbcr2rgb(imnoise_gaussian(rgb2ycbcr(img), var, rng))


def impulse_noise(img: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """Type 13: ``imnoise(I, 'salt & pepper', d)``, each value of each channel independently. See ``01_distortions``."""
    return imnoise_salt_pepper(img, density, rng)


def multiplicative_noise(img: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    """Type 14: ``imnoise(I, 'speckle', var)``: ``I + I*n``, n uniform with variance var. See ``01_distortions``."""
    return imnoise_speckle(img, var, rng)


def denoise(img: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    """Type 15: white noise of variance ``var``, then a denoiser per RGB channel.

    Deviation: MATLAB applies its pretrained DnCNN (``denoisingNetwork('DnCNN')``) to R,
    G and B separately; those weights cannot be obtained here. Substitute: total-variation
    denoising (Chambolle, scikit-image) of each channel with weight equal to the noise
    standard deviation. Like DnCNN beyond its training noise range, it removes the noise
    at the cost of texture and fine detail (flat, "painted" regions) and its output
    degrades monotonically with the noise variance. The exact look (DnCNN's residual
    blotches) differs.

    See ``notebooks/01_distortions.ipynb``.
    """

    noisy = imnoise_gaussian(img, var, rng)
    w = math.sqrt(var)
    return np.stack([denoise_tv_chambolle(noisy[..., c], weight=w) for c in range(3)], axis=2)
