"""Train/test splits: by reference content (synthetic sets) or by image (authentic sets).

Taught in ``notebooks/07_finetuning.ipynb``.

On a synthetic set (KADID, LIVE, CSIQ, TID and the generated set) every reference
appears many times with different distortions; a split by image would test on
contents the model trained on. ``by="reference"`` puts all images of a reference on the
same side, so no ``ref_id`` is on both sides. Authentic sets (KonIQ, LIVEC) have one
image per content and are split by image. Ten seeded random splits is the protocol of
the paper (median and mean reported).
"""

from __future__ import annotations

import numpy as np

from gmiqa.datasets.base import record_field
from gmiqa.errors import ConfigError


def make_splits(
    records,
    n_splits: int = 10,
    train_fraction: float = 0.8,
    seed: int = 0,
    by: str = "reference",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` (train_indices, test_indices) pairs, reproducible under ``seed``.

    ``records``: a dataset, its ``.records``, or any records with ``ref_id``. With
    ``by="reference"`` ``round(train_fraction * n_references)`` references go to
    training (at least one on each side); with ``by="image"`` the same holds for
    images. Indices are sorted int64 arrays into ``records``.
    See ``notebooks/07_finetuning.ipynb``.
    """
    if by not in ("reference", "image"):
        raise ConfigError(f"split by {by!r}: use 'reference' or 'image'")
    if not 0.0 < float(train_fraction) < 1.0:
        raise ConfigError(f"train_fraction {train_fraction!r} must lie strictly between 0 and 1")
    if int(n_splits) < 1:
        raise ConfigError(f"n_splits {n_splits!r} must be at least 1")
    ref_ids = record_field(records, "ref_id").astype(np.int64)
    n = len(ref_ids)
    groups = np.unique(ref_ids) if by == "reference" else np.arange(n)
    if len(groups) < 2:
        raise ConfigError(
            f"cannot split {n} item(s) with {len(groups)} distinct "
            f"{'reference' if by == 'reference' else 'image'}(s): need at least 2"
        )
    n_train = min(max(round(float(train_fraction) * len(groups)), 1), len(groups) - 1)
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(int(n_splits)):
        train_groups = rng.permutation(groups)[:n_train]
        if by == "reference":
            in_train = np.isin(ref_ids, train_groups)
        else:
            in_train = np.zeros(n, dtype=bool)
            in_train[train_groups] = True
        splits.append((np.flatnonzero(in_train), np.flatnonzero(~in_train)))
    return splits


def cap_splits(split_list, max_images: int | None, train_fraction: float, seed: int):
    """Each split cut to at most ``max_images`` images (a seeded subset of its training and
    test images in the ``train_fraction`` ratio); unchanged when ``max_images`` is None.

    The smoke profile's cap (``FinetuneSettings.max_images``): it proves the code path on a
    real set in seconds. Taught in ``notebooks/07_finetuning.ipynb``.
    """
    if not max_images:
        return split_list
    n_train = max(1, round(int(max_images) * float(train_fraction)))
    n_test = max(1, int(max_images) - n_train)
    out = []
    for k, (train, test) in enumerate(split_list):
        rng = np.random.default_rng([int(seed), k, 7])
        train, test = np.asarray(train), np.asarray(test)
        if len(train) > n_train:
            train = np.sort(rng.choice(train, n_train, replace=False))
        if len(test) > n_test:
            test = np.sort(rng.choice(test, n_test, replace=False))
        out.append((train, test))
    return out


def finetune_splits(records, n_splits: int, settings, seed: int = 0, by: str = "reference"):
    """The splits fine-tuning uses, and every baseline measured beside it: :func:`make_splits`
    with ``settings.train_fraction``, then the profile's cap ``settings.max_images`` (a
    :class:`~gmiqa.profiles.FinetuneSettings`; smoke only). Taught in
    ``notebooks/07_finetuning.ipynb``.
    """
    splits = make_splits(records, n_splits, settings.train_fraction, seed, by=by)
    return cap_splits(splits, getattr(settings, "max_images", None), settings.train_fraction, seed)
