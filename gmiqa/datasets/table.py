"""The one table of IQA sets: name, loader, score scale and direction, split, registry.

Taught in ``notebooks/07_finetuning.ipynb``. Every fact about a set that more than one
place needs lives in its row here: the loaders read their score scale and direction,
:func:`gmiqa.datasets.load_dataset` its loader, :func:`gmiqa.datasets.canonical_name`
the names and aliases, the registry (``data/registry.json``) which sets it must describe,
fine-tuning and the baselines how a set is split, the command line the names it accepts.
Adding a set: a loader module and one row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from gmiqa.errors import ConfigError


@dataclass(frozen=True)
class DatasetEntry:
    """One IQA set. Taught in ``notebooks/07_finetuning.ipynb``.

    ``score_range``: the published score scale (MOS or DMOS), mapped onto [0, 1] (None
    for ``folder``: each folder declares its own or has it inferred);
    ``higher_is_better``: its direction (DMOS: False; the loaders flip it);
    ``split_by``: "reference" where contents repeat (synthetic and simulated
    distortions), "image" for authentic sets (one image per content); ``folder`` splits
    by its ``group`` column, each image its own content without one (the by-image split);
    ``loader``: ``"module:function"`` in ``gmiqa.datasets`` (None: built, not loaded);
    ``registry``: described in ``data/registry.json`` (downloadable files, citation).
    """

    name: str
    split_by: str
    score_range: tuple[float, float] | None
    higher_is_better: bool
    loader: str | None
    registry: bool = True
    aliases: tuple[str, ...] = ()

    def load_function(self) -> Callable:
        """The loader function of this set (``gmiqa.datasets.<module>.<function>``)."""
        if self.loader is None:
            raise ConfigError(f"dataset {self.name} is made, not loaded from a folder")
        module, function = self.loader.split(":")
        return getattr(importlib.import_module(f"gmiqa.datasets.{module}"), function)

    def find_root_function(self) -> Callable:
        """The loader module's ``find_root``: where the set's folder is inside a download."""
        if self.loader is None:
            raise ConfigError(f"dataset {self.name} is made, not downloaded")
        module = self.loader.split(":")[0]
        return importlib.import_module(f"gmiqa.datasets.{module}").find_root


# fmt: off
DATASETS: dict[str, DatasetEntry] = {e.name: e for e in (
    DatasetEntry("synthetic", "reference", (0.0, 1.0), True, None, registry=False),
    DatasetEntry("kadid10k", "reference", (1.0, 5.0), True, "kadid:load_kadid10k",
                 aliases=("kadid",)),
    DatasetEntry("koniq10k", "image", (1.0, 5.0), True, "koniq:load_koniq10k",
                 aliases=("koniq",)),
    DatasetEntry("livec", "image", (0.0, 100.0), True, "livec:load_livec",
                 aliases=("clive", "livechallenge", "liveinthewild")),
    DatasetEntry("live", "reference", (0.0, 100.0), False, "live:load_live",
                 aliases=("liveiqa", "liverelease2")),
    DatasetEntry("csiq", "reference", (0.0, 1.0), False, "csiq:load_csiq"),
    DatasetEntry("tid2013", "reference", (0.0, 9.0), True, "tid2013:load_tid2013",
                 aliases=("tid",)),
    DatasetEntry("folder", "reference", None, True, "folder:load_folder", registry=False),
)}
# fmt: on
# How each set is split (method.md, Evaluation): by content where contents repeat.
SPLIT_BY = {name: e.split_by for name, e in DATASETS.items()}
# The real sets: loaded from a folder (the official ones also described in the registry).
KNOWN = tuple(name for name, e in DATASETS.items() if e.loader is not None)
ALIASES = {alias: e.name for e in DATASETS.values() for alias in e.aliases}


def dataset_entry(name: str) -> DatasetEntry:
    """The table row of a canonical dataset name; ConfigError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}"
        ) from None


def split_by_for(dataset_name: str) -> str:
    """ "reference" or "image" for a dataset name (see :data:`SPLIT_BY`).

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    try:
        return SPLIT_BY[dataset_name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {dataset_name!r} for splitting: choose one of {', '.join(SPLIT_BY)}"
        ) from None


def score_scale(name: str) -> tuple[tuple[float, float], bool]:
    """``(score_range, higher_is_better)`` of a set: what its loader normalises with."""
    entry = dataset_entry(name)
    return entry.score_range, entry.higher_is_better
