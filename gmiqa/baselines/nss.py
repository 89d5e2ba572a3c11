"""Natural-scene statistics shared by NIQE and BRISQUE, ported from the MATLAB originals.

Taught in ``notebooks/10_baselines.ipynb``. Every step reproduces what the original LIVE
releases (Mittal et al. 2012, 2013) compute in MATLAB, because both baselines must give
the published numbers for the published model files:

- grey conversion: MATLAB ``rgb2gray`` on ``uint8`` (luma weights 0.2989/0.5870/0.1140,
  rounded half away from zero back to ``uint8``), then doubles on the 0..255 scale;
- MSCN coefficients ``(I - mu) / (sigma + 1)`` with a 7x7 Gaussian window of sigma 7/6,
  zero padding (BRISQUE's ``filter2``) or edge replication (NIQE's ``imfilter``);
- generalised Gaussian (GGD) and asymmetric GGD (AGGD) parameters by moment matching
  against a lookup table of shapes 0.2:0.001:10 (the first best entry wins, as MATLAB's
  ``min`` does);
- products of neighbouring MSCN coefficients along four orientations with wrap-around
  (MATLAB ``circshift``);
- ``imresize(I, 0.5)``: bicubic interpolation with its antialiasing kernel, mirror
  boundaries, output size ``ceil(in / 2)``.

Images are checked before any of this runs: :func:`prepare_grey` rejects NaN and
infinite values, float images outside [0, 1], and images below a method's minimum size
with an error that names the image, never a failure deep inside scipy.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage, special

from gmiqa.errors import ImageReadError

#: MATLAB rgb2gray weights: the first row of the inverse of the NTSC (YIQ) transform.
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])

#: The shape grid both originals search (``gam = 0.2:0.001:10``).
SHAPE_GRID = 0.2 + 0.001 * np.arange(9801)

#: BRISQUE's neighbour shifts (row, column) and NIQE's; they give the same pairs under
#: wrap-around, but each method keeps its own so that the order of features is the original's.
BRISQUE_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
NIQE_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


class ImageContentError(ImageReadError):
    """An image a statistic cannot be computed on: too small, constant, NaN or out of range.

    Taught in ``notebooks/10_baselines.ipynb``.
    """


def _name(name: str | None) -> str:
    return name if name else "image"


def rgb2gray_uint8(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` for ``uint8`` RGB: weighted sum rounded half away from zero.

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    grey = rgb.astype(np.float64) @ RGB2GRAY
    # Values are non-negative, so floor(x + 0.5) is MATLAB's round-half-away-from-zero.
    return np.clip(np.floor(grey + 0.5), 0, 255).astype(np.uint8)


def tensor_to_numpy(tensor) -> np.ndarray:
    """A (C, H, W) or (H, W) tensor as a channel-last numpy array (no copy of values).

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    arr = tensor.detach().cpu().numpy()
    return np.moveaxis(arr, 0, -1) if arr.ndim == 3 else arr


def prepare_grey(image, name: str | None = None, min_side: int = 1) -> np.ndarray:
    """Validate one image and return its grey plane as float64 on the 0..255 scale.

    Accepts ``uint8`` RGB (H, W, 3), grey (H, W) or (H, W, 1), float in [0, 1] of the
    same shapes (converted with MATLAB's ``im2uint8`` rounding first, exactly as the
    originals see 8-bit images), or a torch tensor (3, H, W) in [0, 1]. Raises
    :class:`ImageContentError` naming ``name`` for NaN/inf, float values outside
    [0, 1], wrong shapes, or a side shorter than ``min_side``.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    label = _name(name)
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor (C, H, W)
        image = tensor_to_numpy(image)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ImageContentError(
            f"{label}: expected an (H, W, 3) RGB or (H, W) grey image, got shape {arr.shape}"
        )
    if arr.dtype == np.uint8:
        u8 = arr
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageContentError(f"{label}: contains NaN or infinite values")
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
        if lo < -1e-6 or hi > 1.0 + 1e-6:
            raise ImageContentError(
                f"{label}: float images must lie in [0, 1]; values span [{lo:.4g}, {hi:.4g}] "
                "(divide 0..255 data by 255, or pass uint8)"
            )
        # MATLAB im2uint8: scale to 0..255 and round half away from zero.
        u8 = np.floor(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        raise ImageContentError(
            f"{label}: integer images must be uint8, got {arr.dtype} (convert to float in [0, 1])"
        )
    else:
        raise ImageContentError(f"{label}: unsupported pixel type {arr.dtype}")
    h, w = u8.shape[:2]
    if min(h, w) < min_side:
        raise ImageContentError(
            f"{label}: {w}x{h} pixels is too small; this statistic needs at least "
            f"{min_side}x{min_side}"
        )
    grey = rgb2gray_uint8(u8) if u8.ndim == 3 else u8
    return grey.astype(np.float64)


@functools.lru_cache(maxsize=4)
def gaussian_window(size: int = 7, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """The 1-D factor of MATLAB ``fspecial('gaussian', size, sigma)``, normalised to sum 1.

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter(x: np.ndarray, padding: str) -> np.ndarray:
    g = gaussian_window()
    # The 2-D window is the outer product of g with itself: two 1-D passes give the
    # same result to rounding. 'constant' = filter2 (zeros), 'nearest' = imfilter 'replicate'.
    mode = {"zeros": "constant", "replicate": "nearest"}[padding]
    out = ndimage.correlate1d(x, g, axis=0, mode=mode, cval=0.0)
    return ndimage.correlate1d(out, g, axis=1, mode=mode, cval=0.0)


def mscn(grey: np.ndarray, padding: str = "zeros", c: float = 1.0, exact_flat: bool = True):
    """Mean-subtracted contrast-normalised coefficients of a grey image (0..255 scale).

    Returns ``(mscn, mu, sigma)``; ``padding`` is ``"zeros"`` (BRISQUE) or
    ``"replicate"`` (NIQE). ``c = 1`` keeps flat regions finite (the originals' constant).

    ``exact_flat``: where the whole 7x7 neighbourhood (padding included) is one grey
    value, the coefficient is set to exactly 0. The originals leave there whatever
    rounding error the filter makes (about 1e-14, of either sign), and those specks
    still count as negative or positive samples in the AGGD fit; zero makes flat
    areas (saturated sky, clipped shadows) give the same features on every machine.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    if padding not in ("zeros", "replicate"):
        raise ValueError(f"padding must be 'zeros' or 'replicate', got {padding!r}")
    mu = _filter(grey, padding)
    var = np.abs(_filter(grey * grey, padding) - mu * mu)
    sigma = np.sqrt(var)
    coeffs = (grey - mu) / (sigma + c)
    # A flat window leaves a variance of rounding error only (< 1e-8 on the 0..255 scale);
    # the exact test runs only when some pixel is that close to flat.
    if exact_flat and (var < 1e-6).any():
        coeffs[flat_neighbourhoods(grey, gaussian_window().size, padding)] = 0.0
    return coeffs, mu, sigma


def _box_count(a: np.ndarray, h: int, w: int) -> np.ndarray:
    # Number of True values in every h x w window (valid positions), by an integral image.
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.int32 if a.size < 2**31 else np.int64)
    np.cumsum(np.cumsum(a, axis=0), axis=1, out=s[1:, 1:])
    return s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]


def flat_neighbourhoods(grey: np.ndarray, size: int = 7, padding: str = "zeros") -> np.ndarray:
    """True where the ``size`` x ``size`` neighbourhood (with the padding) is one value.

    A window is constant exactly when no two horizontally or vertically adjacent pixels
    inside it differ; counting differences with integral images is exact and much
    faster than a max/min filter. Taught in ``notebooks/10_baselines.ipynb``.
    """
    r = size // 2
    pad = np.pad(grey, r, mode="constant" if padding == "zeros" else "edge")
    horizontal = pad[:, 1:] != pad[:, :-1]
    vertical = pad[1:, :] != pad[:-1, :]
    return (_box_count(horizontal, size, size - 1) == 0) & (
        _box_count(vertical, size - 1, size) == 0
    )


def paired_product(coeffs: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """``coeffs * circshift(coeffs, shift)`` over the last two axes (wrap-around, as MATLAB).

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    return coeffs * np.roll(coeffs, shift, axis=(-2, -1))


def paired_products(coeffs: np.ndarray, shifts) -> np.ndarray:
    """:func:`paired_product` for several shifts, stacked on a new first axis.

    Written into one preallocated array: stacking separate products costs several
    times more on large images. Taught in ``notebooks/10_baselines.ipynb``.
    """
    out = np.empty((len(shifts),) + coeffs.shape)
    for k, shift in enumerate(shifts):
        np.multiply(coeffs, np.roll(coeffs, shift, axis=(-2, -1)), out=out[k])
    return out


def _cubic(x: np.ndarray) -> np.ndarray:
    # MATLAB imresize's cubic kernel (Keys, a = -0.5).
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@functools.lru_cache(maxsize=32)
def imresize_weights(in_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imresize``'s bicubic weights and source indices along one axis.

    Port of ``contributions()``: when shrinking, the kernel is stretched by ``1/scale``
    (antialiasing); weights are normalised per output sample; indices outside the
    signal are mirrored (``[1:n, n:-1:1]``); taps whose weight is zero for every output
    are dropped. Returns ``(weights (out, taps), indices (out, taps))`` with 0-based
    indices; the output length is ``ceil(in_length * scale)``.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    out_length = int(math.ceil(in_length * scale))
    width = 4.0
    if scale < 1.0:  # antialiasing: widen the kernel
        width = width / scale

        def kernel(v):
            return scale * _cubic(scale * v)

    else:
        kernel = _cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    idx = left[:, None] + np.arange(int(math.ceil(width)) + 2)[None, :]
    weights = kernel(u[:, None] - idx)
    weights = weights / weights.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    indices = aux[np.mod(idx.astype(np.int64) - 1, aux.size)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def imresize_matrix(in_length: int, scale: float) -> np.ndarray:
    """The same resampling as a dense (out, in) matrix (for inspection and tests).

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    weights, indices = imresize_weights(in_length, scale)
    matrix = np.zeros((weights.shape[0], in_length))
    rows = np.repeat(np.arange(weights.shape[0]), weights.shape[1])
    np.add.at(matrix, (rows, indices.ravel()), weights.ravel())
    return matrix


def _resize_axis0(x: np.ndarray, scale: float) -> np.ndarray:
    weights, indices = imresize_weights(x.shape[0], scale)
    # Accumulate tap by tap, in the order MATLAB's resizeAlongDim sums them.
    out = weights[:, 0, None] * x[indices[:, 0]]
    for k in range(1, weights.shape[1]):
        out += weights[:, k, None] * x[indices[:, k]]
    return out


def imresize_half(grey: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(grey, 0.5)`` (bicubic, antialiased) for a float 2-D image.

    MATLAB resizes along rows first, then columns; so does this.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    rows = _resize_axis0(np.asarray(grey, dtype=np.float64), 0.5)
    return np.ascontiguousarray(_resize_axis0(np.ascontiguousarray(rows.T), 0.5).T)


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    g = SHAPE_GRID
    gam1, gam2, gam3 = special.gamma(1.0 / g), special.gamma(2.0 / g), special.gamma(3.0 / g)
    ggd = gam1 * gam3 / gam2**2  # decreasing in the shape
    aggd = gam2**2 / (gam1 * gam3)  # increasing in the shape
    return ggd, aggd


def _nearest(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the first table entry closest to each value (MATLAB ``min`` semantics).

    ``table`` is strictly monotone, so the closest entry is one of the two neighbours
    of the insertion point; ties go to the lower index. NaN values give index 0, as
    MATLAB's ``min`` over an all-NaN vector does.
    """
    values = np.asarray(values, dtype=np.float64)
    increasing = table[-1] > table[0]
    t = table if increasing else table[::-1]
    pos = np.clip(np.searchsorted(t, np.nan_to_num(values, nan=t[0])), 1, t.size - 1)
    lo, hi = pos - 1, pos
    d_lo, d_hi = np.abs(values - t[lo]), np.abs(values - t[hi])
    if increasing:
        idx = np.where(d_lo <= d_hi, lo, hi)
    else:  # reversed table: the original's lower index is the higher position here
        idx = table.size - 1 - np.where(d_hi <= d_lo, hi, lo)
    return np.where(np.isnan(values), 0, idx)


def estimate_ggd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean GGD fit along the last axis: ``(shape, sigma)`` (BRISQUE's estimateggdparam).

    ``rho = E[x^2] / E[|x|]^2`` is matched to ``Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2``.
    An all-zero input has no defined shape: its shape is NaN.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    x = np.asarray(x, dtype=np.float64)
    sigma_sq = np.mean(x * x, axis=-1)
    e_abs = np.mean(np.abs(x), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = sigma_sq / e_abs**2
    ggd, _ = _tables()
    shape = SHAPE_GRID[_nearest(ggd, rho)]
    return np.where(np.isfinite(rho), shape, np.nan), np.sqrt(sigma_sq)


def estimate_aggd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD fit along the last axis: ``(shape, left_std, right_std)`` (estimateaggdparam).

    The standard deviations of the negative and positive parts set the asymmetry; the
    shape comes from the lookup table. Inputs without negative or without positive values
    have undefined parameters: NaN, where MATLAB gives NaN too (mean of an empty set).
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    # Negative and positive parts as clipped copies: sums of squares become dot
    # products (this is the hot loop; masked sums are several times slower).
    xn = np.minimum(x, 0.0)
    xp = x - xn
    n_neg, n_pos = np.count_nonzero(xn, axis=-1), np.count_nonzero(xp, axis=-1)
    neg_sq = np.einsum("...i,...i->...", xn, xn)
    pos_sq = np.einsum("...i,...i->...", xp, xp)
    abs_sum = xp.sum(axis=-1) - xn.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.sqrt(neg_sq / n_neg)
        right = np.sqrt(pos_sq / n_pos)
        gammahat = left / right
        rhat = (abs_sum / n) ** 2 / ((neg_sq + pos_sq) / n)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    _, aggd = _tables()
    shape = SHAPE_GRID[_nearest(aggd, rhatnorm)]
    return np.where(np.isfinite(rhatnorm), shape, np.nan), left, right


def gamma_ratio(shape: np.ndarray, a: float, b: float) -> np.ndarray:
    """``Gamma(a / shape) / Gamma(b / shape)``; NaN where the shape is NaN.

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    shape = np.asarray(shape, dtype=np.float64)
    return special.gamma(a / shape) / special.gamma(b / shape)
