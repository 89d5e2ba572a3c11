"""Pristine (reference) images for the synthetic KADID-style set.

Taught in ``notebooks/00_quickstart.ipynb`` and ``notebooks/01_distortions.ipynb``.

No image can be downloaded here, so the embedded default is made of photographs that
ship inside installed packages: scikit-image's natural photographs (colour and
greyscale; greyscale ones are kept as R=G=B because real photos are not all colourful),
plus scikit-learn's and matplotlib's sample photos when those packages are installed
(they are with the notebook extras). Any folder of images can be given instead, e.g.
the Kodak, CBSD68 and McMaster sets a user has on disk.

Synthetic scenes (charts, logos, text, microscopy, medical and astronomical images) are
left out: they are not what a camera user photographs and would teach the wrong
statistics.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gmiqa.errors import ImageReadError
from gmiqa.images import list_images, load_image

# (package, path inside the package, name). Order fixes the reference ids.
_PACKAGED = (
    ("skimage", "data/astronaut.png", "astronaut"),
    ("skimage", "data/chelsea.png", "chelsea"),
    ("skimage", "data/coffee.png", "coffee"),
    ("skimage", "data/motorcycle_left.png", "motorcycle"),
    ("skimage", "data/rocket.jpg", "rocket"),
    ("skimage", "data/camera.png", "camera"),
    ("skimage", "data/moon.png", "moon"),
    ("skimage", "data/grass.png", "grass"),
    ("skimage", "data/gravel.png", "gravel"),
    ("skimage", "data/brick.png", "brick"),
    ("sklearn", "datasets/images/china.jpg", "china"),
    ("sklearn", "datasets/images/flower.jpg", "flower"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper"),
)


@dataclass(frozen=True)
class PristineImage:
    """One reference content: ``ref_id`` groups every distorted version for splitting.

    See ``notebooks/01_distortions.ipynb``.
    """

    ref_id: int
    name: str
    source: str  # file path it was read from
    image: np.ndarray  # uint8 RGB (H, W, 3)


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def packaged_image_paths() -> list[tuple[str, Path]]:
    """(name, path) of the default pristine photos found in the installed packages.

    See ``notebooks/01_distortions.ipynb``.
    """
    found = []
    for package, rel, name in _PACKAGED:
        root = _package_dir(package)
        if root is not None and (root / rel).is_file():
            found.append((name, root / rel))
    if not found:
        raise ImageReadError("no packaged pristine photos found: is scikit-image installed?")
    return found


def load_pristine(
    folder: str | os.PathLike | None = None, max_images: int | None = None
) -> list[PristineImage]:
    """Load pristine images from ``folder`` (any image files), or the packaged default.

    See ``notebooks/01_distortions.ipynb``.
    """
    if folder is None:
        pairs = packaged_image_paths()
    else:
        pairs = [(p.stem, p) for p in list_images(folder)]
    if max_images is not None:
        pairs = pairs[: int(max_images)]
    return [
        PristineImage(i, name, str(path), load_image(path)) for i, (name, path) in enumerate(pairs)
    ]


def fit_to_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` so it just covers ``size`` = (height, width), then centre-crop.

    This prepares *references* (as KADID-10k did, which rescaled its references to
    512x384); models never see a resized input. Downscaling uses Lanczos-filtered
    resampling; an image smaller than ``size`` is enlarged the same way.
    See ``notebooks/01_distortions.ipynb``.
    """
    th, tw = int(size[0]), int(size[1])
    h, w = image.shape[:2]
    scale = max(th / h, tw / w)
    if abs(scale - 1.0) > 1e-9:
        nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
        image = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.LANCZOS))
        h, w = nh, nw
    top, left = (h - th) // 2, (w - tw) // 2
    return np.ascontiguousarray(image[top : top + th, left : left + tw])
