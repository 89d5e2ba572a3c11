"""Image names from a score file, resolved inside the dataset's folder and nowhere else.

Taught in ``notebooks/07_finetuning.ipynb`` (loading a rated set). A score file is data
from outside: a name such as ``../../outside/secret.png``, ``/etc/passwd`` or a symlink
in the image folder that leads out of it would make a loader read (and score) files the
user never meant to give. :func:`image_in_root` refuses each with one line naming the
score file and the name.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from gmiqa.errors import DatasetError


def image_in_root(
    root: str | os.PathLike,
    name: str,
    source_file: str | os.PathLike | None = None,
    real_root: str | None = None,
) -> Path:
    """``root / name`` when ``name`` stays inside ``root``; DatasetError otherwise.

    Taught in ``notebooks/07_finetuning.ipynb``. Refused: an absolute name (``/x``,
    ``C:\\x``), a name with a ``..`` part, and a name whose file (through symlinks) lies
    outside ``root`` (symlinks that stay inside are followed). The error names
    ``source_file`` (the score file that lists ``name``). Missing files are left to the
    caller (``require_image``), so its message stays the one users know. ``real_root``:
    ``os.path.realpath(root)``, given by a caller that resolves many names in one root.
    """
    root = Path(root)
    text = str(name)
    check_name(root, text, source_file)
    path = root / text
    if os.path.lexists(path):
        real_root = real_root or os.path.realpath(root)
        real = os.path.realpath(path)
        if not inside(real, real_root):
            raise outside_link(root, text, real, source_file)
    return path


def _where(source_file) -> str:
    return f"{source_file}: " if source_file is not None else ""


def check_name(root, text: str, source_file=None) -> None:
    """DatasetError unless ``text`` is a relative name without a ``..`` part (no file read).

    Taught in ``notebooks/07_finetuning.ipynb``; the first half of :func:`image_in_root`.
    """
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if (
        text.startswith(("/", "\\"))
        or PureWindowsPath(text).drive
        or os.path.isabs(text)
        or ".." in parts
    ):
        raise DatasetError(
            f"{_where(source_file)}image name {text!r} leads outside the dataset folder "
            f"{root}; refused"
        )


def inside(real: str, real_root: str) -> bool:
    """Whether the resolved path ``real`` is ``real_root`` or lies under it."""
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def outside_link(root, text: str, real: str, source_file=None) -> DatasetError:
    """The error for a name whose file, through a link, lies at ``real`` outside ``root``."""
    return DatasetError(
        f"{_where(source_file)}image {text!r} is a link to {real}, outside the dataset folder "
        f"{root}; refused (copy the file into the folder to use it)"
    )
