"""MATLAB score files of the LIVE releases: one variable read, cell arrays of names.

Taught in ``notebooks/07_finetuning.ipynb``. LIVE (release 2), LIVEC and the LIVEC
development set publish their scores and file names as ``.mat`` files; their loaders and
the benchmarks read them through these two functions, which turn a missing file, an
unreadable one or a missing variable into a DatasetError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from gmiqa.errors import DatasetError


def load_mat_variable(path: Path, variable: str) -> np.ndarray:
    """The array ``variable`` of the MATLAB file ``path`` (DatasetError naming the file)."""
    if not path.is_file():
        raise DatasetError(f"missing score file {path}")
    try:
        content = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError) as exc:
        raise DatasetError(f"{path}: not a readable MATLAB file ({exc})") from None
    if variable not in content:
        raise DatasetError(f"{path}: has no variable {variable!r}")
    return content[variable]


def cell_strings(cell: np.ndarray, path: Path) -> list[str]:
    """The strings of a MATLAB cell array of names, stripped; ``path`` names the file."""
    names = []
    for entry in cell.ravel():
        value = np.asarray(entry).ravel()
        if value.size != 1:
            raise DatasetError(f"{path}: unexpected cell entry {entry!r}")
        names.append(str(value[0]).strip())
    return names
