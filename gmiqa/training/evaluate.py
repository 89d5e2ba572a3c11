"""Scoring a set with a model and measuring agreement with its labels.

Taught in ``notebooks/07_finetuning.ipynb``.

Images are scored at native size: images of one size go through the network together
(a score never depends on the other images of a batch, see ``GMIQA.score``), images of
different sizes never share a batch and are never resized.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from gmiqa.atomic import atomic_write_json
from gmiqa.baselines.evaluation import baseline_summary_line, evaluate_baseline_file
from gmiqa.datasets.base import source_provenance
from gmiqa.device import autocast, to_device_images
from gmiqa.errors import ImageReadError
from gmiqa.images import image_size
from gmiqa.inference import (
    model_from_checkpoint,
    recipe_resize,
    recipe_scoring,
    score_windows,
)
from gmiqa.metrics import correlation_metrics, per_group_srocc
from gmiqa.provenance import provenance
from gmiqa.score_output import print_pretraining_warning


def image_sizes(
    dataset, indices: Sequence[int], min_size: int | None = None
) -> list[tuple[int, int]]:
    """(height, width) of the given items without decoding pixels when possible.

    An unreadable image file raises ImageReadError naming it; with ``min_size`` (a model's
    ``min_input_size``) so does an image smaller than that, before any training or scoring.
    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    if getattr(dataset, "image_size", None) is not None:  # the synthetic set: one size
        sizes = [tuple(dataset.image_size)] * len(indices)
        if sizes and min_size is not None and min(sizes[0]) < min_size:
            raise ImageReadError(
                f"{getattr(dataset, 'name', 'dataset')}: images of {sizes[0][1]}x{sizes[0][0]} "
                f"(WxH) are smaller than this model's minimum {min_size}x{min_size}"
            )
        return sizes
    sizes = []
    for i in indices:
        record = dataset.records[int(i)]
        path = getattr(record, "path", None)
        if path is None:
            sizes.append(tuple(dataset[int(i)]["image"].shape[-2:]))
        else:
            sizes.append(image_size(path))  # reads the header only
        if min_size is not None and min(sizes[-1]) < min_size:
            h, w = sizes[-1]
            raise ImageReadError(
                f"{path or record.name}: image size {w}x{h} (WxH) is smaller than this model's "
                f"minimum {min_size}x{min_size}"
            )
    return sizes


def size_batches(
    indices: Sequence[int],
    sizes: Sequence[tuple[int, int]],
    batch_size: int,
    rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """Batches of at most ``batch_size`` items that share one image size.

    With ``rng`` the items are shuffled within each size and the batches shuffled;
    without it the order is deterministic (evaluation).
    """
    indices = np.asarray(indices)
    buckets: dict[tuple[int, int], list[int]] = {}
    for i, size in zip(indices.tolist(), sizes):
        buckets.setdefault(tuple(size), []).append(i)
    batches = []
    for size in sorted(buckets):
        items = np.asarray(buckets[size])
        if rng is not None:
            items = rng.permutation(items)
        batches.extend(items[j : j + batch_size] for j in range(0, len(items), batch_size))
    if rng is not None:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


@torch.no_grad()
def predict(
    model,
    dataset,
    indices: Sequence[int],
    device: torch.device,
    batch_size: int = 16,
    amp: bool = True,
    channels_last: bool | None = None,
    crop: int | None = None,
    grid: int = 0,
    resize_short: int | None = None,
) -> dict[str, np.ndarray]:
    """Scores of ``dataset[indices]`` in evaluation mode, with their labels.

    ``crop``, ``grid``, ``resize_short``: how each image is scored
    (:func:`gmiqa.inference.score_windows`; the defaults score whole images at native size).

    Returns arrays ``index``, ``pred``, ``target`` (normalised score), ``type``,
    ``level``, ``ref_id`` in the order of ``indices``. Taught in ``07_finetuning``.
    """
    was_training = model.training
    model.eval()
    indices = np.asarray(indices, dtype=np.int64)
    preds: dict[int, float] = {}
    labels: dict[int, dict] = {}
    try:
        sizes = image_sizes(dataset, indices, getattr(model, "min_input_size", None))
        for batch in size_batches(indices, sizes, batch_size):
            items = [dataset[int(i)] for i in batch]
            x = to_device_images(torch.stack([it["image"] for it in items]), device, channels_last)
            with autocast(device, amp):
                scores = score_windows(model, x, crop, grid, resize_short=resize_short)
            for i, item, s in zip(batch.tolist(), items, scores.float().cpu().tolist()):
                preds[i] = s
                labels[i] = item
    finally:
        model.train(was_training)
    return {
        "index": indices,
        "pred": np.asarray([preds[i] for i in indices.tolist()], dtype=np.float64),
        "target": np.asarray([float(labels[i]["score"]) for i in indices.tolist()]),
        "type": np.asarray([int(labels[i]["type"]) for i in indices.tolist()]),
        "level": np.asarray([int(labels[i]["level"]) for i in indices.tolist()]),
        "ref_id": np.asarray([int(labels[i]["ref_id"]) for i in indices.tolist()]),
        "name": np.asarray([str(labels[i]["name"]) for i in indices.tolist()]),
    }


def evaluate_predictions(pred: dict[str, np.ndarray]) -> dict:
    """SROCC, KROCC, PLCC (raw and logistic), RMSE and per-type SROCC of :func:`predict` output.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    out = {"metrics": correlation_metrics(pred["pred"], pred["target"])}
    if np.any(pred["type"] > 0):
        out["per_type_srocc"] = {
            str(k): v
            for k, v in per_group_srocc(pred["pred"], pred["target"], pred["type"]).items()
        }
    return out


def evaluate_checkpoint(checkpoint: str | os.PathLike, dataset, key: str,
                        out: str | os.PathLike, device, config: dict) -> dict:  # fmt: skip
    """Score every image of ``dataset`` with a fine-tuned checkpoint, as its fine-tuning
    recipe scores (:func:`gmiqa.inference.recipe_scoring`), and write the metrics,
    predictions and provenance to ``out`` (``gmiqa evaluate``).

    Taught in ``notebooks/07_finetuning.ipynb``. ``config`` is recorded as the run's
    settings. A pre-training checkpoint is scored too, with the warning on stderr.
    Returns the written record.
    """
    model, ck = model_from_checkpoint(checkpoint, device)
    print_pretraining_warning(ck)
    side = ck.path.with_suffix(".json")  # the sidecar, named when its recipe is malformed
    crop, grid = recipe_scoring(ck.config, side)
    pred = predict(model, dataset, list(range(len(dataset))), device, batch_size=8, crop=crop,
                   grid=grid, resize_short=recipe_resize(ck.config, side))  # fmt: skip
    record = {
        "config": {"dataset": key, "checkpoint": str(checkpoint), **config},
        **evaluate_predictions(pred),
        "predictions": {"name": pred["name"].tolist(), "pred": pred["pred"].tolist(),
                        "target": pred["target"].tolist()},
        "provenance": provenance(device=str(device), **source_provenance(dataset)),
    }  # fmt: skip
    atomic_write_json(out, record)
    return record


def evaluate_method(method: str, dataset, key: str, out: str | os.PathLike, *,
                    checkpoint=None, profile, seed: int = 0, n_splits: int | None = None,
                    root=None, device="cpu", **options) -> str:  # fmt: skip
    """``gmiqa evaluate``: a fine-tuned ``checkpoint`` (``method`` gmiqa) or a baseline (niqe,
    brisque; ``options`` as :func:`~gmiqa.baselines.evaluation.evaluate_baseline_file`
    takes them) scored on a labelled set and written to ``out``; returns the summary line.

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    if method != "gmiqa":
        res = evaluate_baseline_file(method, dataset, key, out, profile=profile, seed=seed,
                                     n_splits=n_splits, root=root, device=device, **options)  # fmt: skip
        return baseline_summary_line(res)
    config = {"method": method, "root": str(root), "profile": profile, "seed": seed}
    m = evaluate_checkpoint(checkpoint, dataset, key, out, device, config)["metrics"]
    return metrics_line(key, method, m)


def metrics_line(key: str, method: str, m: dict) -> str:
    """One line for :func:`evaluate_checkpoint`'s metrics (``gmiqa evaluate``)."""
    return (f"{key} ({method}): SROCC {m['srocc']:.4f} KROCC {m['krocc']:.4f} PLCC {m['plcc']:.4f} "
            f"PLCC(logistic) {m['plcc_logistic']:.4f} RMSE {m['rmse']:.4f} on {m['n']} images")  # fmt: skip
