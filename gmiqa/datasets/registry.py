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

from gmiqa.datasets.table import ALIASES, KNOWN
from gmiqa.errors import ConfigError, DatasetError

REGISTRY_ENV = "GMIQA_REGISTRY"


def canonical_name(name: str) -> str:
    """Case- and punctuation-insensitive dataset name: "KADID-10k" -> "kadid10k".

    Unknown names raise ConfigError listing the known ones.
    See ``notebooks/07_finetuning.ipynb``.
    """
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    key = ALIASES.get(key, key)
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


# -- backbone weights --------------------------------------------------------------------
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class WeightsInfo:
    """A ``weights`` entry of the registry: a published backbone state-dict file.

    See ``notebooks/07_finetuning.ipynb``. ``sha256`` is the whole published digest, or
    ``None`` where only ``sha256_prefix`` (the hex digits of a torch.hub-style file name
    ``<name>-<prefix>.pth``) is published; ``checksum_source`` says which.
    """

    key: str
    title: str
    page: str
    filename: str
    url: str
    backbone: str  # the ModelSettings.backbone the file is for
    use: str
    licence: str
    citation: str
    size_bytes: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    checksum_source: str | None = None
    mirrors: tuple[str, ...] = ()

    def describe_checksum(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.sha256_prefix:
            return f"sha256 starting with {self.sha256_prefix} (only this prefix is published)"
        return "no published checksum, not verified"


def _weights_entry(key: str, e: dict) -> WeightsInfo:
    sha256 = (e.get("sha256") or "").lower() or None
    prefix = (e.get("sha256_prefix") or "").lower() or None
    size = e.get("size_bytes")
    info = WeightsInfo(
        key=key,
        title=e["title"],
        page=e["page"],
        filename=e["filename"],
        url=e["url"],
        backbone=e["backbone"],
        use=e["use"],
        licence=e["licence"],
        citation=e["citation"],
        size_bytes=None if size is None else int(size),
        sha256=sha256,
        sha256_prefix=prefix,
        checksum_source=e.get("checksum_source"),
        mirrors=tuple(str(m) for m in e.get("mirrors", ())),
    )
    name = info.filename
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"weights {key!r}: filename {name!r} must be a plain file name")
    for what, url in (("url", info.url), ("page", info.page)):
        if not str(url).startswith(("http://", "https://")):
            raise ValueError(f"weights {key!r}: {what} {url!r} is not an http(s) address")
    if sha256 is not None and not (len(sha256) == 64 and _HEX.fullmatch(sha256)):
        raise ValueError(f"weights {key!r}: sha256 {sha256!r} is not 64 hex digits")
    if prefix is not None and not (len(prefix) <= 64 and _HEX.fullmatch(prefix)):
        raise ValueError(f"weights {key!r}: sha256_prefix {prefix!r} is not hex digits")
    if sha256 and prefix and not sha256.startswith(prefix):
        raise ValueError(f"weights {key!r}: sha256 does not start with its sha256_prefix")
    if info.size_bytes is not None and info.size_bytes <= 0:
        raise ValueError(f"weights {key!r}: size_bytes must be positive")
    return info


def load_weights_registry(path: str | os.PathLike | None = None) -> dict[str, WeightsInfo]:
    """Every ``weights`` entry of the registry by key ({} for a registry without them).

    See ``notebooks/07_finetuning.ipynb``. A malformed entry raises DatasetError naming the
    registry file and the entry.
    """
    path = Path(path) if path is not None else registry_path()
    try:
        raw = json.loads(path.read_text())
        return {key: _weights_entry(key, e) for key, e in raw.get("weights", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetError(f"{path}: not a valid weights registry ({exc})") from None


def get_weights_info(name: str) -> WeightsInfo:
    """The ``weights`` entry ``name``: its key (``"scnet50_imagenet"``) or its backbone
    (``"scnet50"``, ``"resnet50"``) where one entry is for that backbone.

    Unknown names raise ConfigError listing the entries. See ``notebooks/07_finetuning.ipynb``.
    """
    registry = load_weights_registry()
    key = str(name).strip().lower()
    if key in registry:
        return registry[key]
    matches = [w for w in registry.values() if w.backbone.lower() == key]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(registry) or "none"
    raise ConfigError(f"no backbone weights {name!r} in {registry_path()}: choose one of {known}")
