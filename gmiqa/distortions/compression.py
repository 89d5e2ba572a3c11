"""Compression family (KADID types 9-10): JPEG2000 and JPEG through Pillow.

Taught in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, features

from gmiqa.errors import ConfigError


def _to_pil(img: np.ndarray) -> Image.Image:
    # MATLAB imwrite of a double image: clip, round(255*x) half away from zero.
    return Image.fromarray(np.floor(np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def _from_bytes(buf: io.BytesIO) -> np.ndarray:
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0


def jpeg2000(img: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Type 9: JPEG2000 at compression ratio ``ratio`` (raw 24-bit size / file size).

    MATLAB's codec is replaced by OpenJPEG (Pillow) with MATLAB's defaults: irreversible
    9/7 wavelet, colour transform, one quality layer at the ratio, no tiling, 5
    decomposition levels (``num_resolutions=6``; fewer for images under 32 px so that
    OpenJPEG accepts them). Rate allocation differs, so quality at equal ratio differs
    slightly.

    See ``notebooks/01_distortions.ipynb``.
    """
    if not features.check("jpg_2000"):
        raise ConfigError(
            "JPEG2000 (type 9) needs Pillow built with OpenJPEG; this Pillow lacks it"
        )
    pil = _to_pil(img)
    resolutions = max(1, min(6, int(math.floor(math.log2(max(1, min(pil.size))))) + 1))
    buf = io.BytesIO()
    pil.save(
        buf,
        format="JPEG2000",
        quality_mode="rates",
        quality_layers=[float(ratio)],
        irreversible=True,
        mct=1,
        num_resolutions=resolutions,
    )
    return _from_bytes(buf)


def jpeg(img: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Type 10: baseline JPEG at IJG quality ``quality``, 4:2:0 chroma subsampling. See ``01_distortions``."""
    buf = io.BytesIO()
    _to_pil(img).save(buf, format="JPEG", quality=int(quality), subsampling=2, optimize=False)
    return _from_bytes(buf)
