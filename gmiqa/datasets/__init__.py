"""Datasets: pristine images, the synthetic KADID-style set, real IQA set loaders, splits.

Taught in ``notebooks/01_distortions.ipynb`` (synthetic set) and
``notebooks/07_finetuning.ipynb`` (real sets and splits).

Every dataset is a ``torch.utils.data.Dataset`` of dicts ``{"image", "score", "raw_score",
"ref_id", "type", "level", "name"}`` (score in [0, 1], higher = better; images at native
resolution) with ``.records`` (the same labels without pixels) for splitting.
"""

from __future__ import annotations

import os

from gmiqa.datasets.base import (
    ImageListDataset,
    IQARecord,
    normalise_scores,
    record_field,
)
from gmiqa.datasets.csiq import load_csiq
from gmiqa.datasets.download import (
    download,
    download_file,
    download_weights,
    ensure_dataset,
    safe_extract,
)
from gmiqa.datasets.folder import load_folder, write_folder
from gmiqa.datasets.kadid import load_kadid10k
from gmiqa.datasets.koniq import load_koniq10k
from gmiqa.datasets.live import load_live
from gmiqa.datasets.livec import load_livec
from gmiqa.datasets.pristine import PristineImage, fit_to_size, load_pristine, packaged_image_paths
from gmiqa.datasets.registry import (
    DatasetInfo,
    canonical_name,
    get_dataset_info,
    load_registry,
)
from gmiqa.datasets.splits import cap_splits, finetune_splits, make_splits
from gmiqa.datasets.synthetic import SyntheticIQADataset
from gmiqa.datasets.table import (
    DATASETS,
    KNOWN,
    SPLIT_BY,
    DatasetEntry,
    dataset_entry,
    split_by_for,
)
from gmiqa.datasets.tid2013 import load_tid2013

# name -> loader, from the one dataset table (gmiqa.datasets.table)
LOADERS = {name: DATASETS[name].load_function() for name in KNOWN}


def load_dataset(name: str, root: str | os.PathLike, **options) -> ImageListDataset:
    """Load a real IQA set by name (case- and punctuation-insensitive: "KADID-10k",
    "kadid10k", "LIVEC", "tid2013", ...) from ``root`` (the set's folder or its parent).

    ``options`` go to the loader (e.g. ``realigned=True`` for LIVE, ``resolution="512x384"``
    for KonIQ, ``score_range=(1, 5)`` for ``"folder"``: your own photos with a
    ``scores.csv``, :func:`load_folder`; ``transform``). Never downloads; see ``ensure_dataset`` and ``download``.
    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    return LOADERS[canonical_name(name)](root, **options)


__all__ = [
    "DATASETS",
    "KNOWN",
    "DatasetEntry",
    "dataset_entry",
    "split_by_for",
    "LOADERS",
    "SPLIT_BY",
    "DatasetInfo",
    "IQARecord",
    "ImageListDataset",
    "PristineImage",
    "SyntheticIQADataset",
    "canonical_name",
    "download",
    "download_file",
    "download_weights",
    "ensure_dataset",
    "fit_to_size",
    "get_dataset_info",
    "load_csiq",
    "load_folder",
    "load_dataset",
    "load_kadid10k",
    "load_koniq10k",
    "load_live",
    "load_livec",
    "load_pristine",
    "load_registry",
    "load_tid2013",
    "cap_splits",
    "finetune_splits",
    "make_splits",
    "normalise_scores",
    "packaged_image_paths",
    "record_field",
    "safe_extract",
    "write_folder",
]
