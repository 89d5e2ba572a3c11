"""LIVE Image Quality Assessment Database, release 2 (Sheikh, Sabir & Bovik, IEEE TIP 2006).

Taught in ``notebooks/07_finetuning.ipynb``.

Official layout (``databaserelease2``)::

    jp2k/ jpeg/ wn/ gblur/ fastfading/   imgN.bmp, N from 1 in each folder
    refimgs/*.bmp                        the 29 references
    dmos.mat          dmos (1x982), orgs (1x982; 1 marks a copy of the reference)
    refnames_all.mat  refnames_all (1x982 cell): the reference of each entry
    dmos_realigned.mat  dmos_new, orgs: the realigned scores (a separate download)

The 982 entries run through the folders in the order jp2k (227), jpeg (233), wn (174),
gblur (174), fastfading (174); entry k of a folder is ``img{k}.bmp``. Reference copies
(``orgs == 1``, 203 of them) are left out, leaving 779 distorted images. DMOS is on about
0..100 with lower = better; normalised by ``1 - DMOS / 100`` (the scale widened where
values fall outside it, see ``normalise_scores``). ``realigned=False`` (default) uses
``dmos.mat`` from the release archive; ``realigned=True`` uses ``dmos_realigned.mat``
(what HyperIQA/GraphIQA's loaders read). There are no levels in LIVE: ``level`` is 0.
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

DEFAULT_DIR = "databaserelease2"
SCORE_FILE = "dmos.mat"
REALIGNED_FILE = "dmos_realigned.mat"
REFNAMES_FILE = "refnames_all.mat"
SCORE_RANGE, HIGHER_IS_BETTER = score_scale("live")  # gmiqa.datasets.table
# (folder, number of entries) in the order of dmos.mat; type ids follow this order.
FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))
TYPE_NAMES = {i + 1: folder for i, (folder, _) in enumerate(FOLDERS)}


def find_root(root: str | os.PathLike) -> Path:
    """The databaserelease2 folder under or at ``root``; DatasetError naming dmos.mat if absent.

    See ``notebooks/07_finetuning.ipynb``.
    """
    return resolve_root(root, DEFAULT_DIR, [SCORE_FILE, REALIGNED_FILE])


def load_live(root: str | os.PathLike, realigned: bool = False, transform=None) -> ImageListDataset:
    """LIVE release 2's 779 distorted images. See ``notebooks/07_finetuning.ipynb``."""
    folder = find_root(root)
    score_file = folder / (REALIGNED_FILE if realigned else SCORE_FILE)
    dmos = load_mat_variable(score_file, "dmos_new" if realigned else "dmos", numeric=True)
    orgs = load_mat_variable(score_file, "orgs", numeric=True)
    refs_file = folder / REFNAMES_FILE
    refnames = cell_strings(load_mat_variable(refs_file, "refnames_all"), refs_file)
    expected = sum(n for _, n in FOLDERS)
    for what, values, path in (
        ("scores", dmos, score_file),
        ("orgs", orgs, score_file),
        ("reference names", refnames, refs_file),
    ):
        if len(values) != expected:
            raise DatasetError(f"{path}: {len(values)} {what}, expected {expected} (release 2)")
    ref_ids = {name: i for i, name in enumerate(sorted(set(refnames)))}
    entries = []
    offset = 0
    for type_id, (sub, count) in enumerate(FOLDERS, start=1):
        for k in range(count):
            index = offset + k
            if orgs[index] == 1:  # a copy of the reference, not a distorted image
                continue
            entries.append((f"{sub}/img{k + 1}.bmp", type_id, refnames[index], dmos[index],
                            f"entry {index + 1} ({sub}/img{k + 1}.bmp)"))  # fmt: skip
        offset += count
    scores = normalise_scores([e[3] for e in entries], *SCORE_RANGE, HIGHER_IS_BETTER,
                              source=score_file, where=[e[4] for e in entries])  # fmt: skip
    records = []
    for (name, type_id, ref, raw, _), score in zip(entries, scores):
        path = image_in_root(folder, name, score_file)
        require_image(path, score_file)
        records.append(
            IQARecord(name, float(score), float(raw), ref_ids[ref], type_id, 0, str(path))
        )
    return ImageListDataset(records, "live", folder, transform)
