"""TID2013 (Ponomarenko et al., Signal Processing: Image Communication 2015).

Taught in ``notebooks/07_finetuning.ipynb``.

Official layout (``tid2013.rar``)::

    mos_with_names.txt          lines "5.51429 i01_01_1.bmp"
    distorted_images/i01_01_1.bmp   reference 01, type 01 (of 24), level 1 (of 5)
    reference_images/I01.BMP

Letter case differs between the score file and the archive (``I25`` vs ``i25``, ``.BMP``
vs ``.bmp``), so file names are matched **case-insensitively**. MOS is on 0..9, higher
= better; normalised by ``MOS / 9``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gmiqa.datasets.base import (
    ImageListDataset,
    IQARecord,
    case_insensitive_index,
    normalise_scores,
    read_score_text,
    resolve_root,
)
from gmiqa.datasets.table import score_scale
from gmiqa.errors import DatasetError

DEFAULT_DIR = "tid2013"
SCORE_FILE = "mos_with_names.txt"
SCORE_RANGE, HIGHER_IS_BETTER = score_scale("tid2013")  # gmiqa.datasets.table
_NAME = re.compile(r"^i(\d+)_(\d+)_(\d+)\.bmp$", re.IGNORECASE)


def find_root(root: str | os.PathLike) -> Path:
    """The TID2013 folder under or at ``root``; DatasetError naming mos_with_names.txt if absent.

    See ``notebooks/07_finetuning.ipynb``.
    """
    return resolve_root(root, DEFAULT_DIR, [SCORE_FILE])


def load_tid2013(root: str | os.PathLike, transform=None) -> ImageListDataset:
    """TID2013's 3,000 distorted images. See ``notebooks/07_finetuning.ipynb``."""
    folder = find_root(root)
    score_file = folder / SCORE_FILE
    rows, where = [], []
    for line_no, line in enumerate(read_score_text(score_file).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        match = _NAME.match(parts[1]) if len(parts) == 2 else None
        try:
            mos = float(parts[0])
        except (IndexError, ValueError):
            match = None
        if match is None:
            raise DatasetError(f"{score_file}, line {line_no}: {line!r} is not 'MOS i01_01_1.bmp'")
        ref, dtype, level = (int(g) for g in match.groups())
        rows.append((parts[1], ref, dtype, level, mos))
        where.append(f"line {line_no}")
    index = case_insensitive_index(folder / "distorted_images")
    scores = normalise_scores(
        [r[4] for r in rows], *SCORE_RANGE, HIGHER_IS_BETTER, source=score_file, where=where
    )
    records = []
    for (name, ref, dtype, level, mos), score in zip(rows, scores):
        path = index.get(name.lower())
        if path is None:
            raise DatasetError(
                f"{score_file} names image {name}, but {folder / 'distorted_images' / name} "
                "does not exist (matched case-insensitively)"
            )
        records.append(IQARecord(name, float(score), mos, ref, dtype, level, str(path)))
    return ImageListDataset(records, "tid2013", folder, transform)
