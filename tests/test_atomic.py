"""Atomic writes (gmiqa.atomic): files get the mode a plain write would give them, and the
temporaries a killed writer leaves are found and removed."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

import pytest

from gmiqa.atomic import (
    TEMPORARY_NAME,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    current_umask,
    remove_stale_temporaries,
)


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


def test_a_killed_writers_temporary_matches_the_pattern_and_is_removed(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    # what a SIGKILL inside atomic_write leaves: its mkstemp file, never renamed
    fd, tmp = tempfile.mkstemp(prefix=".scores.f8.", suffix=".tmp", dir=folder)
    os.close(fd)
    assert TEMPORARY_NAME.match(os.path.basename(tmp))
    (folder / "scores.f8.tmp").write_bytes(b"x")  # not of atomic_write's shape: kept
    atomic_write(
        folder / "scores.f8", lambda t: open(t, "wb").close()
    )  # a finished write leaves none
    assert remove_stale_temporaries(tmp_path) == [Path(tmp)]
    assert sorted(p.name for p in folder.iterdir()) == ["scores.f8", "scores.f8.tmp"]


def test_only_temporaries_older_than_a_time_are_removed(tmp_path):
    old, new = tmp_path / ".a.bin.abc123.tmp", tmp_path / ".b.bin.xyz789.tmp"
    for p in (old, new):
        p.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temporaries(tmp_path, older_than=time.time() - 3600) == [old]
    assert new.exists()
