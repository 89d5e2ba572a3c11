"""Atomic writes (gmiqa.atomic): files get the mode a plain write would give them."""

from __future__ import annotations

import os
import stat

import pytest

from gmiqa.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, current_umask


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_new_files_get_the_mode_the_umask_implies(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    for i, write in enumerate((atomic_write_bytes, atomic_write_text, atomic_write_json)):
        path = tmp_path / f"out{i}"
        write(path, b"x" if write is atomic_write_bytes else "x")
        assert _mode(path) == expected, (write.__name__, oct(_mode(path)))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "results.json"
    path.write_text("{}")
    os.chmod(path, 0o600)  # the owner made it private: a rewrite must not widen it
    atomic_write_json(path, {"a": 1})
    assert _mode(path) == 0o600 and path.read_text().startswith("{")
