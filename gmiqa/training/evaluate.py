"""Scoring a set with a model and measuring agreement with its labels.

Taught in ``notebooks/07_finetuning.ipynb``.

Images are scored at native size: images of one size go through the network together
(a score never depends on the other images of a batch, see ``GMIQA.score``), images of
different sizes never share a batch and are never resized.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gmiqa.device import autocast, to_device_images
from gmiqa.errors import ConfigError, ImageReadError
from gmiqa.images import image_size
from gmiqa.metrics import correlation_metrics, per_group_srocc


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


def grid_windows(height: int, width: int, crop: int, grid: int) -> list[tuple[int, int]]:
    """Top-left corners of a ``grid`` x ``grid`` set of ``crop``-pixel windows spread evenly
    over a ``height`` x ``width`` image, first and last flush with the borders (one window:
    the centre). Taught in ``notebooks/07_finetuning.ipynb``."""
    if grid < 1 or crop < 1:
        raise ConfigError(f"a crop grid needs grid >= 1 and crop >= 1, got {grid}, {crop}")
    if grid == 1:
        return [((height - crop) // 2, (width - crop) // 2)]
    tops = np.linspace(0, height - crop, grid).round().astype(int).tolist()
    lefts = np.linspace(0, width - crop, grid).round().astype(int).tolist()
    return [(t, left) for t in tops for left in lefts]


def recipe_scoring(config: dict) -> tuple[int | None, int]:
    """``(crop, eval_crops)`` of the fine-tuning recipe a checkpoint's sidecar ``config``
    records: how its model scores an image (:func:`score_images`). ``(None, 0)`` (whole
    images) when the sidecar records no fine-tuning settings. Taught in ``07_finetuning``.
    """
    profile = config.get("profile") if isinstance(config, dict) else None
    ft = profile.get("finetune") if isinstance(profile, dict) else None
    if not isinstance(ft, dict) or not ft.get("eval_crops") or not ft.get("crop"):
        return None, 0
    return int(ft["crop"]), int(ft["eval_crops"])


@torch.no_grad()
def score_images(model, x: torch.Tensor, crop: int | None = None, grid: int = 0,
                 chunk: int = 64) -> torch.Tensor:  # fmt: skip
    """Quality scores (N,) of a batch ``x`` (N, 3, H, W), as the fine-tuning recipe scores.

    ``grid`` 0 (or no ``crop``): ``model.score`` of the whole images at native size (the
    paper). ``grid`` G: the mean score of the G x G windows of :func:`grid_windows`, each
    ``crop`` x ``crop``, scored ``chunk`` windows at a time; an image smaller than ``crop``
    is scored whole. Each image's score depends on that image alone. Taught in
    ``notebooks/07_finetuning.ipynb``.
    """
    n, _, h, w = x.shape
    if not grid or not crop or min(h, w) < crop:
        return model.score(x)
    corners = grid_windows(h, w, int(crop), int(grid))
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None
    windows = torch.stack([x[:, :, t : t + crop, c : c + crop] for t, c in corners], 1)
    windows = windows.reshape(n * len(corners), x.shape[1], crop, crop)
    if fmt is not None:
        windows = windows.contiguous(memory_format=fmt)
    scores = torch.cat([model.score(windows[i : i + chunk]) for i in range(0, len(windows), chunk)])
    return scores.float().view(n, len(corners)).mean(dim=1)


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
) -> dict[str, np.ndarray]:
    """Scores of ``dataset[indices]`` in evaluation mode, with their labels.

    ``crop``, ``grid``: how each image is scored (:func:`score_images`; the defaults score
    whole images).

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
                scores = score_images(model, x, crop, grid)
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
