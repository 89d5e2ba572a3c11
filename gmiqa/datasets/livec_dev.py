"""The LIVEC development set, rebuilt from a LIVEC download and ``data/livec-dev.txt``.

Taught in ``book/reproduce.md`` ("The LIVEC development set") and used by
``notebooks/09_results.ipynb``, whose stored real-photo results were measured on it.

The development set is 300 of LIVEC's 1,162 test photos (all stored as BMP in the
release), in the official ``ChallengeDB_release`` layout so that
:func:`gmiqa.datasets.load_livec` reads it as it is::

    OUT/ChallengeDB_release/Images/<n>.png        the 300 photos, pixels as in the release
    OUT/ChallengeDB_release/Data/AllImages_release.mat   the release's 7 training names,
    OUT/ChallengeDB_release/Data/AllMOS_release.mat      then the 300 names (.png), with
    OUT/ChallengeDB_release/Data/AllStdDev_release.mat   their MOS and standard deviation

The photos are stored as PNG (lossless: the same pixels as the release's BMP files) and
keep the list's order, which decides the splits. ``gmiqa livec-dev --release DIR --out
DIR`` runs :func:`build_livec_dev`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from gmiqa.atomic import atomic_write
from gmiqa.datasets.base import read_score_text
from gmiqa.datasets.livec import (
    DEFAULT_DIR,
    MOS_FILE,
    N_TRAINING,
    NAMES_FILE,
    find_root,
)
from gmiqa.datasets.matfiles import cell_strings, load_mat_variable
from gmiqa.errors import DatasetError

STD_FILE = "Data/AllStdDev_release.mat"
LIST_NAME = "livec-dev.txt"


def default_list() -> Path:
    """``data/livec-dev.txt`` of this checkout (the 300 file names)."""
    return Path(__file__).resolve().parents[2] / "data" / LIST_NAME


def read_list(path: str | os.PathLike) -> list[str]:
    """The file names of a development-set list: one per line, ``#`` starts a comment.

    DatasetError naming the file when it is missing, empty or names a photo twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such list of LIVEC file names")
    names = []
    for line in read_score_text(path).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    if not names:
        raise DatasetError(f"{path}: lists no file names")
    seen: set[str] = set()
    twice = [n for n in names if n in seen or seen.add(n)]
    if twice:
        raise DatasetError(f"{path}: names {twice[0]} twice")
    return names


def build_livec_dev(
    release: str | os.PathLike,
    out: str | os.PathLike,
    names: str | os.PathLike | None = None,
) -> Path:
    """Write the development set into ``out/ChallengeDB_release``; return that folder.

    ``release``: a LIVEC download (the ``ChallengeDB_release`` folder or its parent);
    ``names``: the list (default ``data/livec-dev.txt``). Every file is written
    atomically, and files already in ``out`` are overwritten, never deleted. Raises
    DatasetError naming the file when the release lacks a listed photo or a score file.
    """
    folder = find_root(release)
    list_file = Path(names) if names is not None else default_list()
    listed = read_list(list_file)
    all_names = cell_strings(load_mat_variable(folder / NAMES_FILE, "AllImages_release"),
                              folder / NAMES_FILE)  # fmt: skip
    mos = load_mat_variable(folder / MOS_FILE, "AllMOS_release", numeric=True)
    std = load_mat_variable(folder / STD_FILE, "AllStdDev_release", numeric=True)
    if not len(all_names) == len(mos) == len(std):
        raise DatasetError(
            f"{folder / NAMES_FILE}, {folder / MOS_FILE} and {folder / STD_FILE} hold "
            f"{len(all_names)} names, {len(mos)} MOS and {len(std)} standard deviations: "
            "not one release"
        )
    where = {name: i for i, name in enumerate(all_names) if i >= N_TRAINING}
    missing = [n for n in listed if n not in where]
    if missing:
        raise DatasetError(
            f"{list_file} names {missing[0]!r} (and {len(missing) - 1} more), which "
            f"{folder / NAMES_FILE} does not list among its test photos: not the LIVEC "
            "release, or not its list"
        )
    dest = Path(out) / DEFAULT_DIR
    images = dest / "Images"
    images.mkdir(parents=True, exist_ok=True)
    dev_names = []
    for name in listed:
        src = folder / "Images" / name
        if not src.is_file():
            raise DatasetError(f"{src}: missing from the LIVEC download (listed in {LIST_NAME})")
        target = images / (Path(name).stem + ".png")
        with Image.open(src) as im:
            im.load()
            pixels = im.convert("RGB") if im.mode not in ("RGB", "L") else im.copy()
        atomic_write(target, lambda tmp, p=pixels: p.save(tmp, format="PNG"))
        dev_names.append(target.name)
    rows = list(range(N_TRAINING)) + [where[n] for n in listed]
    names_out = list(all_names[:N_TRAINING]) + dev_names
    cell = np.empty((len(names_out), 1), dtype=object)
    for i, n in enumerate(names_out):
        cell[i, 0] = np.array([n])
    for rel, variable, value in (
        (NAMES_FILE, "AllImages_release", cell),
        (MOS_FILE, "AllMOS_release", mos[rows][None, :]),
        (STD_FILE, "AllStdDev_release", std[rows][None, :]),
    ):
        atomic_write(dest / rel, lambda tmp, v=variable, x=value: scipy.io.savemat(
            tmp, {v: x}, format="5", appendmat=False))  # fmt: skip
    return dest
