"""The dataset registry: official pages, archive URLs, checksums, licences, citations.

Taught in ``notebooks/07_finetuning.ipynb``.

One file, ``data/registry.json`` in the repository, is the single source. It is found
(1) at the path in the environment variable ``GMIQA_REGISTRY`` when set, else (2) at
``data/registry.json`` next to the ``gmiqa`` package in a checkout (the way this project
is used: an editable install of the repository that also holds the notebooks and the
book). An installed copy without the repository has no registry; it then raises a
DatasetError saying exactly that and how to point ``GMIQA_REGISTRY`` at the file,
rather than carrying a second copy that could drift from the first.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gmiqa.errors import ConfigError, DatasetError

REGISTRY_ENV = "GMIQA_REGISTRY"
KNOWN = ("kadid10k", "koniq10k", "livec", "live", "csiq", "tid2013")
_ALIASES = {
    "kadid": "kadid10k",
    "koniq": "koniq10k",
    "clive": "livec",
    "livechallenge": "livec",
    "liveinthewild": "livec",
    "liveiqa": "live",
    "liverelease2": "live",
    "tid": "tid2013",
}


def canonical_name(name: str) -> str:
    """Case- and punctuation-insensitive dataset name: "KADID-10k" -> "kadid10k".

    Unknown names raise ConfigError listing the known ones.
    See ``notebooks/07_finetuning.ipynb``.
    """
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    key = _ALIASES.get(key, key)
    if key not in KNOWN:
        raise ConfigError(f"unknown dataset {name!r}: choose one of {', '.join(KNOWN)}")
    return key


@dataclass(frozen=True)
class RegistryFile:
    """One published file of a dataset. See ``notebooks/07_finetuning.ipynb``."""

    filename: str
    url: str
    extract_to: str  # folder (relative to the data root) it is unpacked or placed in
    size_bytes: int | None = None
    sha256: str | None = None
    md5: str | None = None

    @property
    def is_archive(self) -> bool:
        return self.filename.lower().endswith((".zip", ".tar", ".tar.gz", ".tgz", ".rar"))

    def describe_checksum(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.md5:
            return f"md5 {self.md5}"
        return "no published checksum, not verified"


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry. See ``notebooks/07_finetuning.ipynb``."""

    key: str
    title: str
    page: str
    files: tuple[RegistryFile, ...]
    layout: str  # a file that exists under the data root once the set is in place
    manual: str | None  # why and how the set must be fetched by hand; None if automatic
    licence: str
    citation: str


def registry_path() -> Path:
    """Where the registry file is (see the module docstring); DatasetError if nowhere.

    See ``notebooks/07_finetuning.ipynb``.
    """
    env = os.environ.get(REGISTRY_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise DatasetError(f"{REGISTRY_ENV}={env}: no such registry file")
        return path
    path = Path(__file__).resolve().parents[2] / "data" / "registry.json"
    if not path.is_file():
        raise DatasetError(
            f"dataset registry not found at {path}: this gmiqa is installed without its "
            f"repository; set {REGISTRY_ENV} to the path of data/registry.json from the "
            "GMIQA repository"
        )
    return path


def load_registry(path: str | os.PathLike | None = None) -> dict[str, DatasetInfo]:
    """Every registry entry by key. See ``notebooks/07_finetuning.ipynb``."""
    path = Path(path) if path is not None else registry_path()
    try:
        raw = json.loads(path.read_text())
        entries = raw["datasets"]
        out = {}
        for key, e in entries.items():
            files = tuple(
                RegistryFile(
                    filename=f["filename"],
                    url=f["url"],
                    extract_to=f.get("extract_to", "."),
                    size_bytes=f.get("size_bytes"),
                    sha256=(f.get("sha256") or None),
                    md5=(f.get("md5") or None),
                )
                for f in e["files"]
            )
            out[key] = DatasetInfo(
                key=key,
                title=e["title"],
                page=e["page"],
                files=files,
                layout=e["layout"],
                manual=e.get("manual"),
                licence=e["licence"],
                citation=e["citation"],
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not a valid dataset registry ({exc!r})") from None
    return out


def get_dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name`` (any spelling :func:`canonical_name` accepts).

    See ``notebooks/07_finetuning.ipynb``.
    """
    key = canonical_name(name)
    registry = load_registry()
    if key not in registry:
        raise DatasetError(f"{registry_path()}: has no entry for {key!r}")
    return registry[key]
