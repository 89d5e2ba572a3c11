"""MATLAB score files (gmiqa.datasets.matfiles): a variable and a cell of names read back;
a missing file, an unreadable one, a missing variable and a bad cell name the file."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from gmiqa.datasets.matfiles import cell_strings, load_mat_variable
from gmiqa.errors import DatasetError


def test_a_variable_and_a_cell_of_names_read_back(tmp_path):
    path = tmp_path / "scores.mat"
    names = np.empty((1, 2), dtype=object)
    names[0, 0], names[0, 1] = np.array(["a.bmp "]), np.array(["b.bmp"])
    scipy.io.savemat(path, {"mos": np.array([[1.5, 2.5]]), "names": names})
    assert load_mat_variable(path, "mos").ravel().tolist() == [1.5, 2.5]
    assert cell_strings(load_mat_variable(path, "names"), path) == ["a.bmp", "b.bmp"]


def test_bad_files_are_one_error_naming_the_file(tmp_path):
    path = tmp_path / "scores.mat"
    with pytest.raises(DatasetError, match=f"missing score file {path}"):
        load_mat_variable(path, "mos")
    path.write_bytes(b"not a MATLAB file at all, just text" * 8)
    with pytest.raises(DatasetError, match="not a readable MATLAB file"):
        load_mat_variable(path, "mos")
    scipy.io.savemat(path, {"mos": np.zeros(3)})
    with pytest.raises(DatasetError, match="has no variable 'names'"):
        load_mat_variable(path, "names")
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = np.array([1.0, 2.0])  # two values where one name belongs
    with pytest.raises(DatasetError, match=f"{path}: unexpected cell entry"):
        cell_strings(cell, path)
