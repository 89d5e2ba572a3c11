"""Colour family (KADID types 4-8): colour diffusion, colour shift, colour quantisation,
colour saturation in HSV and in LAB.

Functions take float RGB in [0, 1], the level's parameter and a numpy Generator. Taught
in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gmiqa.distortions._matlab import (
    gradient,
    imgaussfilt,
    imshift,
    lab2rgb,
    mapmm,
    rgb2gray,
    rgb2lab,
    truncate,
)


def color_diffusion(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Type 4: a and b of LAB blurred (sigma ``1.5*amount+2``) and multiplied by ``amount``. See ``01_distortions``."""
    lab = rgb2lab(img)
    sigma = 1.5 * amount + 2.0
    lab[..., 1:] = imgaussfilt(lab[..., 1:], sigma) * amount
    return truncate(lab2rgb(lab))


def _ps2(x: np.ndarray) -> np.ndarray:
    # Percentile stretch (the Re-IQA reading of the unpublished ps2): clip to the 1st..99th
    # percentile, then min-max to [0, 1].
    lo, hi = np.percentile(x, [1, 99])
    return mapmm(np.clip(x, lo, hi))


def edge_mask(img: np.ndarray) -> np.ndarray:
    """Colour shift's blend weight: smoothed, stretched gradient magnitude of the grey image. See ``01_distortions``."""
    gy, gx = gradient(rgb2gray(img))
    e = mapmm(imgaussfilt(np.sqrt(gx * gx + gy * gy), 4.0))
    return _ps2(truncate(e, 0.1, 1.0))


def shift_vector(amount: float, rng: np.random.Generator) -> tuple[int, int]:
    """``round(v/|v| * amount)`` with ``v = rand(1, 2)``: (down, right) pixels. See ``01_distortions``."""
    v = rng.random(2)
    n = float(np.hypot(v[0], v[1]))
    if n == 0.0:
        return (0, 0)
    s = np.floor(v / n * amount + 0.5)  # MATLAB round: half away from zero (values >= 0)
    return int(s[0]), int(s[1])


def color_shift(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Type 5: the green channel shifted by ``amount`` px, blended in mostly at edges. See ``01_distortions``."""
    e = edge_mask(img)
    s = shift_vector(amount, rng)
    out = img.copy()
    g = img[..., 1]
    out[..., 1] = imshift(g, s) * e + g * (1.0 - e)
    return out


def color_quantization(img: np.ndarray, colors: float, rng: np.random.Generator) -> np.ndarray:
    """Type 6: ``rgb2ind(I, n)`` + ``ind2rgb``: <= n colours with Floyd-Steinberg dithering.

    Deviation: MATLAB's minimum-variance quantiser is not available in Python; the
    palette comes from Pillow's median cut (``quantize(n, MEDIANCUT)``), then the image
    is mapped to that palette with Pillow's Floyd-Steinberg error diffusion.

    See ``notebooks/01_distortions.ipynb``.
    """
    u8 = Image.fromarray(np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    palette = u8.quantize(int(colors), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = u8.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB")
    return np.asarray(out, dtype=np.float64) / 255.0


def color_saturation_hsv(img: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Type 7: HSV saturation times ``factor`` (V and H unchanged).

    With V = max(R, G, B) fixed, scaling S moves every channel linearly towards V:
    ``c' = V + factor*(c - V)`` (exactly ``hsv2rgb`` of the scaled HSV, and defined for
    the negative factor of level 5 too). Not clipped: values above 1 at factor -0.4 are
    left to the generator's final ``mapmm`` (whether MATLAB clips here is unverified).

    See ``notebooks/01_distortions.ipynb``.
    """
    v = img.max(axis=2, keepdims=True)
    return v + factor * (img - v)


def color_saturation_lab(img: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Type 8: a and b of LAB multiplied by ``factor``, back to RGB, clipped. See ``01_distortions``."""
    lab = rgb2lab(img)
    lab[..., 1:] *= factor
    return truncate(lab2rgb(lab))
