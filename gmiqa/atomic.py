"""Atomic file writes: write to a temporary file in the same folder, fsync, rename.

A crash or Ctrl-C in the middle of a write leaves the previous file intact, never a
half-written one; checkpoints, metrics and result files all go through here.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# the temporaries atomic_write makes: ".<name>.<random>.tmp" (mkstemp's random part)
TEMPORARY_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux).

    Taught in ``notebooks/05_meta_learning.ipynb`` (checkpoints are written atomically).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not atomic across threads)
    os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: an existing file keeps its mode,
    a new one gets 0o666 less the umask (``mkstemp``'s 0o600 is for the temporary only)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and then move ``tmp_path`` onto ``path`` atomically.

    The file gets the mode a plain write would give it (its current mode, or 0o666 less
    the umask for a new file), not the temporary file's private 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    return atomic_write_text(
        path, json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n"
    )


def remove_stale_temporaries(folder: str | os.PathLike, older_than: float | None = None) -> list:
    """Delete the temporaries :func:`atomic_write` left under ``folder`` when a process died
    mid-write (SIGKILL, power loss). Call it only while holding the folder's lock, so no
    live writer's temporary is removed.

    Taught in ``notebooks/07_finetuning.ipynb`` (run folders).

    ``older_than``: only those last modified before this time (``time.time()`` value).
    Returns the removed paths.
    """
    removed = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if not TEMPORARY_NAME.match(name):
                continue
            p = Path(dirpath) / name
            try:
                if older_than is not None and p.stat().st_mtime >= older_than:
                    continue
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed
