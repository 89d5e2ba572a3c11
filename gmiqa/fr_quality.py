"""Full-reference (FR) quality measures, and the pseudo-quality label of the synthetic set.

Taught in ``notebooks/01_distortions.ipynb``.

The synthetic KADID-style set has no human scores, so (as KADIS-700k and DeepFL-IQA did)
each distorted image is labelled by FR measures computed against its pristine reference.
Three complementary measures are combined:

- **SSIM** (Wang et al. 2004): structure, on MATLAB-weighted grey (``rgb2gray``
  weights), with Wang's Gaussian window (sigma 1.5), K1=0.01, K2=0.03 and his automatic
  downsampling by ``max(1, round(min(H, W) / 256))``. Sensitive to blur and noise.
- **GMSD** (Xue et al. 2014): the standard deviation of the gradient-magnitude
  similarity map (Prewitt gradients on the 2x2-averaged, 2x-downsampled luma,
  c = 170 on the 0..255 scale). Among the best-correlated cheap FR measures on
  TID2013/KADID-style distortions, and it reacts to local structural damage
  (blocks, patches, jitter) that PSNR averages away.
- **PSNR** on RGB: the plain energy of the error; catches colour changes that a grey
  measure cannot see (saturation, colour diffusion, colour noise).

Each is mapped to [0, 1] (higher = better) and the three are averaged:
``ssim_score = clip(SSIM, 0, 1)``, ``gmsd_score = 1 - min(GMSD / 0.35, 1)`` (0.35 is
above the largest GMSD reachable in practice), ``psnr_score = clip((PSNR - 10) / 40, 0, 1)``
(10 dB is an unrecognisable image, 50 dB a visually identical one). The mapping is fixed
(no fitting to any human-rated set), so the label is reproducible and its agreement with
the distortion level can be checked per type (the notebook does).

Known blind spots: GMSD compares gradient *magnitudes*, so a photographic negative keeps
a perfect GMSD (the other two measures catch it); a shift of one colour channel barely
moves the grey measures, so colour shift (KADID type 5) saturates after level 3.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from gmiqa.errors import ConfigError

# MATLAB rgb2gray weights (not BT.709, which skimage.color.rgb2gray uses).
GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
# The BT.601 luma GMSD's reference code uses.
_GMSD_LUMA = np.array([0.299, 0.587, 0.114])

_GMSD_MAX = 0.35
_PSNR_LO, _PSNR_HI = 10.0, 50.0


def _as_float_rgb(image: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float64) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    else:
        raise ConfigError(f"{what}: dtype {arr.dtype} not supported (use uint8 or float in [0, 1])")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"{what}: expected an (H, W, 3) RGB image, got shape {arr.shape}")
    return arr


def _pair(distorted, reference) -> tuple[np.ndarray, np.ndarray]:
    d = _as_float_rgb(distorted, "distorted image")
    r = _as_float_rgb(reference, "reference image")
    if d.shape != r.shape:
        raise ConfigError(f"distorted image shape {d.shape} differs from reference {r.shape}")
    return d, r


def psnr(distorted: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB on RGB in [0, 1]; identical images give ``inf``. See ``01_distortions``."""
    d, r = _pair(distorted, reference)
    mse = float(np.mean((d - r) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(1.0 / mse))


def ssim(distorted: np.ndarray, reference: np.ndarray) -> float:
    """Wang et al.'s SSIM on MATLAB-weighted grey in [0, 1]. See ``01_distortions``."""

    d, r = _pair(distorted, reference)
    gd, gr = d @ GRAY_WEIGHTS, r @ GRAY_WEIGHTS
    # Wang's reference code downsamples large images so the window sees a fixed angle.
    f = max(1, round(min(gd.shape) / 256))
    if f > 1:
        k = np.ones((f, f)) / (f * f)
        gd = ndimage.correlate(gd, k, mode="reflect")[::f, ::f]
        gr = ndimage.correlate(gr, k, mode="reflect")[::f, ::f]
    if min(gd.shape) < 7:
        raise ConfigError(f"image {d.shape[:2]} too small for SSIM (needs at least 7x7)")
    return float(
        structural_similarity(
            gd,
            gr,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def gmsd(distorted: np.ndarray, reference: np.ndarray) -> float:
    """Gradient magnitude similarity deviation (0 = identical; larger = worse).

    Follows Xue et al.'s reference code: luma on 0..255, 2x2 mean filter and 2x
    downsampling, Prewitt/3 gradients, c = 170. See ``01_distortions``.
    """
    d, r = _pair(distorted, reference)
    yd, yr = 255.0 * (d @ _GMSD_LUMA), 255.0 * (r @ _GMSD_LUMA)
    ave = np.full((2, 2), 0.25)
    yd = ndimage.correlate(yd, ave, mode="nearest")[::2, ::2]
    yr = ndimage.correlate(yr, ave, mode="nearest")[::2, ::2]
    px = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64) / 3.0

    def mag(y):
        gx = ndimage.correlate(y, px, mode="nearest")
        gy = ndimage.correlate(y, px.T, mode="nearest")
        return np.sqrt(gx**2 + gy**2)

    md, mr = mag(yd), mag(yr)
    c = 170.0
    gms = (2.0 * md * mr + c) / (md**2 + mr**2 + c)
    return float(np.std(gms))


def fr_measures(distorted: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """The three raw FR measures ``{"ssim", "gmsd", "psnr"}``. See ``01_distortions``."""
    return {
        "ssim": ssim(distorted, reference),
        "gmsd": gmsd(distorted, reference),
        "psnr": psnr(distorted, reference),
    }


def combine_measures(measures: dict[str, float]) -> float:
    """Map raw measures to [0, 1] (higher = better) and average them. See ``01_distortions``."""
    s = float(np.clip(measures["ssim"], 0.0, 1.0))
    g = 1.0 - min(measures["gmsd"] / _GMSD_MAX, 1.0)
    p = measures["psnr"]
    p = 1.0 if not np.isfinite(p) else float(np.clip((p - _PSNR_LO) / (_PSNR_HI - _PSNR_LO), 0, 1))
    return float((s + g + p) / 3.0)


def pseudo_quality(distorted: np.ndarray, reference: np.ndarray) -> float:
    """Pseudo-quality label in [0, 1], higher = better: mean of mapped SSIM, GMSD and PSNR.

    ``distorted`` and ``reference`` are images of the same shape, uint8 or float in
    [0, 1], RGB (H, W, 3) or grey (H, W). Taught in ``notebooks/01_distortions.ipynb``.
    """
    return combine_measures(fr_measures(distorted, reference))
