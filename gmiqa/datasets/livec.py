"""LIVE In the Wild Image Quality Challenge (LIVEC; Ghadiyaram & Bovik, IEEE TIP 2016).

Taught in ``notebooks/07_finetuning.ipynb``.

Official layout (``ChallengeDB_release``)::

    Images/*.JPG, Images/*.bmp                 1,162 test images
    Images/trainingImages/t1.bmp .. t7.bmp     7 images used to train the raters
    Data/AllImages_release.mat   variable AllImages_release: 1169x1 cell of file names
    Data/AllMOS_release.mat      variable AllMOS_release: 1x1169 MOS, same order

The first 7 entries are the training images; they are left out, as in every published
evaluation. MOS is on about 0..100, higher = better; normalised by ``MOS / 100``.
Every image is its own content, so ``ref_id`` is its index (splits are by image).
"""

from __future__ import annotations

import os
from pathlib import Path

from gmiqa.datasets.base import (
    ImageListDataset,
    IQARecord,
    normalise_scores,
    require_image,
    resolve_root,
)
from gmiqa.datasets.matfiles import cell_strings, load_mat_variable
from gmiqa.datasets.paths import image_in_root
from gmiqa.datasets.table import score_scale
from gmiqa.errors import DatasetError

DEFAULT_DIR = "ChallengeDB_release"
NAMES_FILE = "Data/AllImages_release.mat"
MOS_FILE = "Data/AllMOS_release.mat"
SCORE_RANGE, HIGHER_IS_BETTER = score_scale("livec")  # gmiqa.datasets.table
N_TRAINING = 7


def find_root(root: str | os.PathLike) -> Path:
    """The ChallengeDB_release folder under or at ``root``; DatasetError if absent.

    See ``notebooks/07_finetuning.ipynb``.
    """
    return resolve_root(root, DEFAULT_DIR, [MOS_FILE])


def load_livec(root: str | os.PathLike, transform=None) -> ImageListDataset:
    """LIVEC's 1,162 test images from the official layout. See ``07_finetuning``."""
    folder = find_root(root)
    names_file, mos_file = folder / NAMES_FILE, folder / MOS_FILE
    names = cell_strings(load_mat_variable(names_file, "AllImages_release"), names_file)
    mos = load_mat_variable(mos_file, "AllMOS_release", numeric=True)
    if len(names) != len(mos):
        raise DatasetError(
            f"{names_file} lists {len(names)} images but {mos_file} has {len(mos)} scores"
        )
    names, mos = names[N_TRAINING:], mos[N_TRAINING:]
    where = [f"entry {i + 1 + N_TRAINING} of AllMOS_release" for i in range(len(mos))]
    scores = normalise_scores(mos, *SCORE_RANGE, HIGHER_IS_BETTER, source=mos_file, where=where)
    images = folder / "Images"
    records = []
    for index, (name, raw, score) in enumerate(zip(names, mos, scores)):
        path = image_in_root(images, name, names_file)
        require_image(path, f"{names_file} (scores in {mos_file.name})")
        records.append(IQARecord(name, float(score), float(raw), index, 0, 0, str(path)))
    return ImageListDataset(records, "livec", folder, transform)
