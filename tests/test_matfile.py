"""gmiqa.matfile.read_mat: any .mat file, even one scipy's parser crashes on, is read or
refused in one line naming it, and the reader goes on after a crash."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import scipy.io

from gmiqa.errors import DatasetError
from gmiqa.matfile import read_mat


def _crashing_file() -> bytes:
    """A cell array of names with one element's type byte inverted: scipy 1.17's mio5
    reader dies of SIGSEGV on it (found by the malformed-file corpus)."""
    cell = np.empty((1, 30), dtype=object)
    cell[0, :] = [f"ref{i}.bmp" for i in range(30)]
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"refnames_all": cell})
    data = bytearray(buf.getvalue())
    data[240] ^= 0xFF  # the miUTF8 type of the first name's characters
    return bytes(data)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the crash guard needs os.fork")
def test_a_file_scipy_crashes_on_is_one_error_and_the_next_read_works(tmp_path):
    good = tmp_path / "good.mat"
    scipy.io.savemat(good, {"x": np.arange(4.0)})
    bad = tmp_path / "bad.mat"
    bad.write_bytes(_crashing_file())
    for _ in range(2):
        with pytest.raises(
            DatasetError, match=r"bad\.mat: corrupt MATLAB file \(scipy's reader died of SIG"
        ):
            read_mat(bad, DatasetError)
        assert read_mat(good)["x"].tolist() == [[0.0, 1.0, 2.0, 3.0]]


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable MATLAB file"),
    (b"garbage" * 40, "not a readable MATLAB file"),
    (b"MATLAB 7.3 MAT-file".ljust(124, b" ") + b"\x00\x02IM" + b"\x89HDF\r\n\x1a\n", "v7.3"),
])  # fmt: skip
def test_unreadable_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "x.mat"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=rf"x\.mat: .*{message}"):
        read_mat(path, DatasetError)


def test_a_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"nope\.mat: no such MATLAB file"):
        read_mat(tmp_path / "nope.mat", DatasetError)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the reader child exists only with fork")
def test_the_reader_child_does_not_keep_a_lock_of_the_parent(tmp_path, monkeypatch):
    import fcntl

    import gmiqa.matfile

    monkeypatch.setattr(gmiqa.matfile, "_READER", None)  # the next read forks a new child
    good = tmp_path / "good.mat"
    scipy.io.savemat(good, {"x": np.arange(2.0)})
    lock = tmp_path / ".gmiqa.lock"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    read_mat(good)  # forks the reader child now, while the lock is held
    os.close(fd)  # the parent lets go: nobody else may hold it
    other = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(other)
