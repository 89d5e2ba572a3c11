"""MATLAB score files of the LIVE releases: one variable read, cell arrays of names.

Taught in ``notebooks/07_finetuning.ipynb``. LIVE (release 2), LIVEC and the LIVEC
development set publish their scores and file names as ``.mat`` files; their loaders and
the benchmarks read them through these two functions, which turn a missing file, an
unreadable one or a missing variable into a DatasetError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gmiqa.errors import DatasetError
from gmiqa.matfile import read_mat


def load_mat_variable(path: Path, variable: str, numeric: bool = False) -> np.ndarray:
    """The array ``variable`` of the MATLAB file ``path``; ``numeric``: as a flat float64
    array.

    A file scipy cannot read (empty, not MATLAB, v7.3/HDF5, corrupt, or one its parser
    crashes on: :func:`gmiqa.matfile.read_mat`), a missing variable, and a ``numeric``
    one that holds text, cells or complex values raise DatasetError naming the file (and
    the variable).
    """
    if not path.is_file():
        raise DatasetError(f"missing score file {path}")
    content = read_mat(path, DatasetError)
    if variable not in content:
        raise DatasetError(f"{path}: has no variable {variable!r}")
    value = content[variable]
    if not numeric:
        return value
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise DatasetError(f"{path}: variable {variable!r} holds {kind}, not numbers")
    return value.astype(np.float64).ravel()


def cell_strings(cell: np.ndarray, path: Path) -> list[str]:
    """The strings of a MATLAB cell array of names, stripped; ``path`` names the file."""
    names = []
    for entry in cell.ravel():
        value = np.asarray(entry).ravel()
        if value.size != 1:
            raise DatasetError(f"{path}: unexpected cell entry {entry!r}")
        names.append(str(value[0]).strip())
    return names
