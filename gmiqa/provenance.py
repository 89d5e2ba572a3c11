"""Where a number came from: commit, date, device, versions.

Every result file and every recorded notebook metric carries this block, so the results
chapter can show next to each number what produced it.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import torch

from gmiqa._version import __version__
from gmiqa.device import resolve_device


def git_commit(path: str | Path | None = None) -> str:
    """The commit of the checkout containing ``path`` (this package by default).

    ``<sha>+dirty`` when tracked files differ from the commit; ``"unknown"`` outside git.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# The distributions whose code computes the project's numbers (the core, and the notebooks'
# scikit-learn and UMAP); their versions go into every provenance block.
PACKAGES = (
    "torch",
    "torchvision",
    "torch-geometric",
    "numpy",
    "scipy",
    "scikit-image",
    "pillow",
    "safetensors",
    "scikit-learn",
    "umap-learn",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (those not installed are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def provenance(device: str | None = None, **extra) -> dict:
    """A provenance block: commit, UTC date, device, library versions and torch's CPU kernel
    level (``ATEN_CPU_CAPABILITY`` chooses it; CPU results depend on it)."""

    dev = device
    if dev is None:
        dev = str(resolve_device("auto"))
    block = {
        "commit": git_commit(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(0)
        if str(dev).startswith("cuda")
        else platform.processor() or platform.machine(),
        "gmiqa": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "packages": package_versions(),
    }
    block.update(extra)
    return block


REQUIRED_KEYS = ("commit", "date", "device")


def check_provenance(block: dict, source: str) -> None:
    """Raise ValueError naming ``source`` if a provenance block lacks a required key."""
    if not isinstance(block, dict):
        raise ValueError(f"{source}: no provenance block")
    missing = [k for k in REQUIRED_KEYS if not block.get(k)]
    if missing:
        raise ValueError(f"{source}: provenance lacks {', '.join(missing)}")
