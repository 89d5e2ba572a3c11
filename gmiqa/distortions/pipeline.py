"""The distortion pipeline of the KADID-10k generator: input checks, ``mapmm`` before and
after the type's function, and the output in the input's shape and dtype (the steps the
docstring of ``gmiqa.distortions`` lists; the face re-exports :func:`distort`).

Taught in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gmiqa.distortions._matlab import GRAY_WEIGHTS, mapmm
from gmiqa.distortions.table import check_level, get_distortion
from gmiqa.errors import ConfigError


def _prepare(image) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        raise ConfigError(
            f"image of shape {arr.shape} has an alpha channel: composite it onto a background "
            "first (gmiqa.images.load_image does) or drop it with image[..., :3]"
        )
    grey = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1)
    if not (grey or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ConfigError(f"image shape {arr.shape} is not (H, W, 3) RGB, (H, W) or (H, W, 1) grey")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ConfigError(f"image shape {arr.shape} is empty")
    dtype = arr.dtype
    if dtype == np.uint8:
        x = arr.astype(np.float64) / 255.0
    elif np.issubdtype(dtype, np.floating):
        x = arr.astype(np.float64)
        if not np.isfinite(x).all():
            raise ConfigError("float image contains NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ConfigError(
                f"float image values must lie in [0, 1]; got min {lo:.4g}, max {hi:.4g}"
            )
    else:
        raise ConfigError(f"image dtype {dtype} not supported: use uint8, or float in [0, 1]")
    shape = arr.shape
    if grey:
        x = np.repeat(x.reshape(shape[0], shape[1], 1), 3, axis=2)

    def restore(y: np.ndarray) -> np.ndarray:
        y = np.clip(np.nan_to_num(y, nan=0.0), 0.0, 1.0)
        if grey:
            y = (y @ GRAY_WEIGHTS).reshape(shape)
        if dtype == np.uint8:
            return np.floor(y * 255.0 + 0.5).astype(np.uint8)
        return y.astype(dtype)

    return x, restore


def distort(image: np.ndarray, type: int | str, level: int, seed: int | None = None) -> np.ndarray:
    """Apply KADID distortion ``type`` (id or name) at ``level`` (1..5) to ``image``.

    Returns an image of the input's shape and dtype (see the module docstring for the
    pipeline and input rules). ``seed`` makes random types reproducible; ``None`` draws
    fresh entropy. Taught in ``notebooks/01_distortions.ipynb``.
    """
    d = get_distortion(type)
    lvl = check_level(level)
    x, restore = _prepare(image)
    rng = np.random.default_rng(seed)
    y = d.fn(mapmm(x), d.levels[lvl - 1], rng)
    return restore(mapmm(y))
