"""KonIQ-10k (Hosu, Lin, Sziranyi & Saupe, IEEE TIP 2020): 10,073 authentic photos.

Taught in ``notebooks/07_finetuning.ipynb``.

Official layout (``koniq10k_1024x768.zip`` and ``koniq10k_scores_and_distributions.zip``
extracted into one folder)::

    koniq10k_scores_and_distributions.csv   columns image_name, c1..c5, c_total, MOS, SD, MOS_zscore
    1024x768/<id>.jpg                       (or 512x384/<id>.jpg, the half-size release)

``MOS`` is on 1..5, higher = better; normalised by ``(MOS - 1) / 4``. Every image is
its own content, so ``ref_id`` is the row index (splits are by image).
"""

from __future__ import annotations

import os
from pathlib import Path

from gmiqa.datasets.base import (
    ImageListDataset,
    IQARecord,
    csv_rows,
    normalise_scores,
    require_image,
    resolve_root,
)
from gmiqa.datasets.paths import image_in_root
from gmiqa.datasets.table import score_scale
from gmiqa.errors import DatasetError

DEFAULT_DIR = "koniq10k"
SCORE_FILE = "koniq10k_scores_and_distributions.csv"
SCORE_RANGE, HIGHER_IS_BETTER = score_scale("koniq10k")  # gmiqa.datasets.table
RESOLUTIONS = ("1024x768", "512x384")


def find_root(root: str | os.PathLike) -> Path:
    """The KonIQ-10k folder under or at ``root``; DatasetError naming the score csv if absent.

    See ``notebooks/07_finetuning.ipynb``.
    """
    return resolve_root(root, DEFAULT_DIR, [SCORE_FILE])


def load_koniq10k(
    root: str | os.PathLike, resolution: str = "1024x768", transform=None
) -> ImageListDataset:
    """KonIQ-10k from its official layout. See ``notebooks/07_finetuning.ipynb``."""
    if resolution not in RESOLUTIONS:
        raise DatasetError(f"KonIQ-10k resolution {resolution!r}: choose one of {RESOLUTIONS}")
    folder = find_root(root)
    score_file = folder / SCORE_FILE
    images = folder / resolution
    rows: list[tuple[str, float]] = []
    where: list[str] = []
    for line, row in csv_rows(score_file, ("image_name", "MOS")):
        try:
            rows.append((row["image_name"].strip(), float(row["MOS"])))
            where.append(f"line {line}")
        except (AttributeError, TypeError, ValueError):
            raise DatasetError(
                f"{score_file}, line {line}: MOS {row.get('MOS')!r} is not a number"
            ) from None
    scores = normalise_scores(
        [r[1] for r in rows], *SCORE_RANGE, HIGHER_IS_BETTER, source=score_file, where=where
    )
    records = []
    for index, ((name, mos), score) in enumerate(zip(rows, scores)):
        path = image_in_root(images, name, score_file)
        require_image(path, score_file)
        records.append(IQARecord(name, float(score), mos, index, 0, 0, str(path)))
    return ImageListDataset(records, "koniq10k", folder, transform)
