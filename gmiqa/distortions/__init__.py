"""The 25 KADID-10k distortion types at their 5 levels: one registry, one entry point.

Taught in ``notebooks/01_distortions.ipynb``. A port of the MATLAB generator released
with KADIS-700k (Lin, Hosu & Saupe 2019), following
``shared/reference/kadid_distortions.md`` step by step:

1. the input is stretched with ``mapmm`` (one global min and max over all channels),
2. the type's function is applied to the double image (``DISTORTIONS[t].fn``),
3. the output is stretched with ``mapmm`` again (results outside [0, 1] are *rescaled*,
   not clipped, as in the generator),
4. uint8 inputs get uint8 outputs with MATLAB's ``im2uint8`` rounding (NaN -> 0);
   float inputs get the same float dtype, clipped to [0, 1] (NaN -> 0).

Inputs: RGB ``(H, W, 3)`` uint8 or float in [0, 1], any size and aspect ratio.
Grayscale ``(H, W)`` or ``(H, W, 1)`` is processed as R = G = B and returned in its own
shape through MATLAB's ``rgb2gray`` weights (so colour-only types change it little).
RGBA (4 channels) is refused with :class:`~gmiqa.errors.ConfigError`: composite it first
(``gmiqa.images.load_image`` does, on white) rather than guess what the alpha means.

Randomness: ``seed`` seeds a numpy Generator; the same seed gives identical output.
MATLAB's streams cannot be reproduced, so random types (3, 5, 11-15, 19, 20, 23) match
the originals in statistics only.

Deviations that no Python library lets us avoid are stated in each function's
docstring: colour quantisation (6, median cut instead of minimum variance), JPEG2000
(9, OpenJPEG instead of MATLAB's codec), denoise (15, total-variation instead of the
pretrained DnCNN), quantisation (22, exact Otsu optimum). Unverified MATLAB bodies
(1, 7, 11, 17, 18, 20, 23) follow the reference's stated best reading.

``gmiqa.distortions.torch_ops.distort_batch`` runs the vectorisable types on tensors,
on any device.
"""

from gmiqa.distortions.pipeline import distort
from gmiqa.distortions.table import (
    DISTORTIONS,
    FAMILIES,
    LEVELS,
    TORCH_TYPES,
    Distortion,
    check_level,
    get_distortion,
)

__all__ = [
    "DISTORTIONS",
    "FAMILIES",
    "LEVELS",
    "TORCH_TYPES",
    "Distortion",
    "check_level",
    "distort",
    "get_distortion",
]
