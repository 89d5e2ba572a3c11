"""KADID-10k (Lin, Hosu & Saupe, QoMEX 2019): 81 references x 25 types x 5 levels.

Taught in ``notebooks/07_finetuning.ipynb``.

Official layout (the ``kadid10k.zip`` archive extracts to ``kadid10k/``)::

    kadid10k/dmos.csv          header: dist_img,ref_img,dmos,var
    kadid10k/images/I01_01_01.png   reference 01, type 01, level 01
    kadid10k/images/I01.png         the references

Despite its name the ``dmos`` column is a mean opinion score on 1..5 with higher =
better; it is normalised to [0, 1] by ``(dmos - 1) / 4``.
"""

from __future__ import annotations

import os
import re
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

DEFAULT_DIR = "kadid10k"
SCORE_FILE = "dmos.csv"
SCORE_RANGE, HIGHER_IS_BETTER = score_scale("kadid10k")  # gmiqa.datasets.table
_NAME = re.compile(r"^I(\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)


def find_root(root: str | os.PathLike) -> Path:
    """The ``kadid10k`` folder under or at ``root``; DatasetError naming dmos.csv if absent.

    See ``notebooks/07_finetuning.ipynb``.
    """
    return resolve_root(root, DEFAULT_DIR, [SCORE_FILE])


def load_kadid10k(root: str | os.PathLike, transform=None) -> ImageListDataset:
    """KADID-10k from its official layout. See ``notebooks/07_finetuning.ipynb``."""
    folder = find_root(root)
    score_file = folder / SCORE_FILE
    images = folder / "images"
    rows: list[tuple[str, int, int, int, float]] = []
    where: list[str] = []
    for line, row in csv_rows(score_file, ("dist_img", "dmos")):
        name = (row["dist_img"] or "").strip()
        match = _NAME.match(name)
        if match is None:
            raise DatasetError(f"{score_file}, line {line}: {name!r} is not like I01_01_01.png")
        try:
            dmos = float(row["dmos"])
        except (TypeError, ValueError):
            raise DatasetError(
                f"{score_file}, line {line}: dmos {row['dmos']!r} is not a number"
            ) from None
        ref, dtype, level = (int(g) for g in match.groups())
        rows.append((name, ref, dtype, level, dmos))
        where.append(f"line {line}")
    scores = normalise_scores(
        [r[4] for r in rows], *SCORE_RANGE, HIGHER_IS_BETTER, source=score_file, where=where
    )
    records = []
    for (name, ref, dtype, level, dmos), score in zip(rows, scores):
        path = image_in_root(images, name, score_file)
        require_image(path, score_file)
        records.append(IQARecord(name, float(score), dmos, ref, dtype, level, str(path)))
    return ImageListDataset(records, "kadid10k", folder, transform)
