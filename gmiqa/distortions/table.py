"""The table of the 25 KADID-10k distortion types: id, name, family, MATLAB name, the
parameter of each of the 5 levels, the function, and what a full-reference measure does
across the levels (the face ``gmiqa.distortions`` re-exports it).

Taught in ``notebooks/01_distortions.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gmiqa.distortions import blur, brightness, color, compression, noise, sharpness, spatial
from gmiqa.errors import ConfigError

FAMILIES: dict[str, tuple[int, ...]] = {
    "blur": (1, 2, 3),
    "color": (4, 5, 6, 7, 8),
    "compression": (9, 10),
    "noise": (11, 12, 13, 14, 15),
    "brightness": (16, 17, 18),
    "spatial": (19, 20, 21, 22, 23),
    "sharpness_contrast": (24, 25),
}

LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)

# The types gmiqa.distortions.torch_ops.distort_batch runs on tensors (it checks that its
# operations are exactly these).
TORCH_TYPES: frozenset[int] = frozenset(
    {1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 14, 16, 17, 18, 19, 21, 23, 24, 25}
)


@dataclass(frozen=True)
class Distortion:
    """One KADID-10k distortion type. Taught in ``notebooks/01_distortions.ipynb``.

    ``fn(image, parameter, rng)`` works on float RGB in [0, 1] after the input
    ``mapmm``; ``levels`` holds the parameter of levels 1..5 (1 mildest). ``monotone``
    says whether a full-reference measure is meant to fall from level 1 to 5; when it
    is not, ``note`` says why; ``measure`` names the ``gmiqa.fr_quality`` function
    (higher = better) by which it falls. ``random`` marks types that draw random numbers.
    """

    id: int
    name: str
    family: str
    matlab: str
    parameter: str
    levels: tuple[float, ...]
    fn: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
    random: bool = False
    monotone: bool = True
    note: str = ""
    measure: str = "pseudo_quality"  # the gmiqa.fr_quality measure that falls with level

    @property
    def torch(self) -> bool:
        """Whether ``gmiqa.distortions.torch_ops.distort_batch`` supports this type."""
        return self.id in TORCH_TYPES


def _d(i, name, family, matlab, parameter, levels, fn, **kw) -> Distortion:
    return Distortion(i, name, family, matlab, parameter, tuple(levels), fn, **kw)


_LIST = [
    _d(1, "gaussian_blur", "blur", "imblurgauss", "sigma", [0.1, 0.5, 1, 2, 5], blur.gaussian_blur),
    _d(2, "lens_blur", "blur", "imblurlens", "radius", [1, 2, 4, 6, 8], blur.lens_blur),
    _d(
        3,
        "motion_blur",
        "blur",
        "imblurmotion",
        "length",
        [1, 2, 4, 6, 10],
        blur.motion_blur,
        random=True,
    ),
    _d(
        4,
        "color_diffusion",
        "color",
        "imcolordiffuse",
        "amount",
        [1, 3, 6, 8, 12],
        color.color_diffusion,
    ),
    _d(
        5,
        "color_shift",
        "color",
        "imcolorshift",
        "amount",
        [1, 3, 6, 8, 12],
        color.color_shift,
        random=True,
        measure="psnr",
        note="PSNR falls monotonically; the pseudo-quality saturates from level 3 on because "
        "SSIM and GMSD on grey barely see a larger shift of the green channel alone",
    ),
    _d(
        6,
        "color_quantization",
        "color",
        "imcolorquantize",
        "colors",
        [64, 48, 32, 16, 8],
        color.color_quantization,
    ),
    _d(
        7,
        "color_saturation_hsv",
        "color",
        "imcolorsaturate",
        "factor",
        [0.4, 0.2, 0.1, 0, -0.4],
        color.color_saturation_hsv,
        note="levels 1-4 desaturate towards V = max(R, G, B); level 5 (factor -0.4) pushes "
        "colours past grey to the complementary hue (the final mapmm rescales the overshoot), "
        "a different kind of change that still scores lowest",
    ),
    _d(
        8,
        "color_saturation_lab",
        "color",
        "imsaturate",
        "factor",
        [1, 2, 3, 6, 9],
        color.color_saturation_lab,
    ),
    _d(
        9,
        "jpeg2000",
        "compression",
        "imcompressjp2k",
        "ratio",
        [16, 32, 45, 120, 400],
        compression.jpeg2000,
    ),
    _d(
        10, "jpeg", "compression", "imcompressjpeg", "quality", [43, 36, 24, 7, 4], compression.jpeg
    ),
    _d(
        11,
        "white_noise",
        "noise",
        "imnoisegauss",
        "variance",
        [0.001, 0.002, 0.003, 0.005, 0.01],
        noise.white_noise,
        random=True,
    ),
    _d(
        12,
        "white_noise_color_component",
        "noise",
        "imnoisecolorcomp",
        "variance",
        [0.0001, 0.0005, 0.001, 0.002, 0.003],
        noise.white_noise_color_component,
        random=True,
    ),
    _d(
        13,
        "impulse_noise",
        "noise",
        "imnoiseimpulse",
        "density",
        [0.001, 0.005, 0.01, 0.02, 0.03],
        noise.impulse_noise,
        random=True,
    ),
    _d(
        14,
        "multiplicative_noise",
        "noise",
        "imnoisemultiplicative",
        "variance",
        [0.001, 0.005, 0.01, 0.02, 0.05],
        noise.multiplicative_noise,
        random=True,
    ),
    _d(
        15,
        "denoise",
        "noise",
        "imdenoise",
        "variance",
        [0.01, 0.03, 0.05, 0.1, 0.15],
        noise.denoise,
        random=True,
    ),
    _d(
        16,
        "brighten",
        "brightness",
        "imbrighten",
        "amount",
        [0.1, 0.2, 0.4, 0.7, 1.1],
        brightness.brighten,
    ),
    _d(
        17,
        "darken",
        "brightness",
        "imdarken",
        "amount",
        [0.05, 0.1, 0.2, 0.4, 0.8],
        brightness.darken,
    ),
    _d(
        18,
        "mean_shift",
        "brightness",
        "immeanshift",
        "shift",
        [0.15, 0.08, 0, -0.08, -0.15],
        brightness.mean_shift,
        monotone=False,
        note="the shifts are signed (+0.15, +0.08, 0, -0.08, -0.15): level 3 is the identity "
        "and levels 1 and 5 are the largest changes, so no measure falls from 1 to 5",
    ),
    _d(
        19,
        "jitter",
        "spatial",
        "imjitter",
        "amount",
        [0.05, 0.1, 0.2, 0.5, 1],
        spatial.jitter,
        random=True,
    ),
    _d(
        20,
        "non_eccentricity_patch",
        "spatial",
        "imnoneccentricity",
        "patches",
        [20, 40, 60, 80, 100],
        spatial.non_eccentricity_patch,
        random=True,
    ),
    _d(
        21,
        "pixelate",
        "spatial",
        "impixelate",
        "strength",
        [0.01, 0.05, 0.1, 0.2, 0.5],
        spatial.pixelate,
        monotone=False,
        note="nearest-neighbour shrink and enlarge at scales 0.89, 0.78, 0.70, 0.57 displace "
        "pixels by up to half a pixel at every one of levels 1-4, so full-reference measures "
        "rate them alike (within a few hundredths, in either order); the blocks grow and "
        "level 5 (scale 0.29) is clearly worse",
    ),
    _d(
        22,
        "quantization",
        "spatial",
        "imnoisequantize",
        "thresholds",
        [20, 16, 13, 10, 7],
        spatial.quantization,
    ),
    _d(
        23,
        "color_block",
        "spatial",
        "imcolorblock",
        "blocks",
        [2, 4, 6, 8, 10],
        spatial.color_block,
        random=True,
    ),
    _d(
        24,
        "high_sharpen",
        "sharpness_contrast",
        "imsharpenHi",
        "amount",
        [1, 2, 3, 6, 12],
        sharpness.high_sharpen,
    ),
    _d(
        25,
        "contrast_change",
        "sharpness_contrast",
        "imcontrastc",
        "amount",
        [0.3, 0.15, 0, -0.4, -0.6],
        sharpness.contrast_change,
        monotone=False,
        note="the amounts are signed (+0.3, +0.15, 0, -0.4, -0.6): levels 1-2 raise contrast, "
        "level 3 is a mild S-curve, levels 4-5 lower it; the change is smallest at level 3",
    ),
]

DISTORTIONS: dict[int, Distortion] = {d.id: d for d in _LIST}
_BY_NAME: dict[str, Distortion] = {d.name: d for d in _LIST}


def get_distortion(id_or_name: int | str | Distortion) -> Distortion:
    """Look a type up by id (1..25, also "07") or name ("gaussian_blur"); else ConfigError.

    Taught in ``notebooks/01_distortions.ipynb``.
    """
    if isinstance(id_or_name, Distortion):
        return id_or_name
    if isinstance(id_or_name, (int, np.integer)) and not isinstance(id_or_name, bool):
        if int(id_or_name) in DISTORTIONS:
            return DISTORTIONS[int(id_or_name)]
        raise ConfigError(f"unknown distortion type {id_or_name!r}: ids are 1..25")
    if isinstance(id_or_name, str):
        key = id_or_name.strip().lower().replace("-", "_").replace(" ", "_")
        if key in _BY_NAME:
            return _BY_NAME[key]
        if key.isdigit() and int(key) in DISTORTIONS:
            return DISTORTIONS[int(key)]
    raise ConfigError(
        f"unknown distortion {id_or_name!r}: use an id 1..25 or one of {', '.join(_BY_NAME)}"
    )


def check_level(level) -> int:
    """Return ``level`` as an int in 1..5; anything else raises ConfigError naming it. See ``01_distortions``."""
    if (
        isinstance(level, bool)
        or not isinstance(level, (int, np.integer))
        or int(level) not in LEVELS
    ):
        raise ConfigError(f"distortion level {level!r} is outside 1..5 (1 mildest, 5 strongest)")
    return int(level)
