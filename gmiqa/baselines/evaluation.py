"""The baselines' factory, process pool and evaluation protocol (the face of
``gmiqa.baselines`` re-exports them).

Taught in ``notebooks/10_baselines.ipynb``; see the package docstring for the sign
convention and the split protocol.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from gmiqa.atomic import atomic_write_json
from gmiqa.baselines.brisque import BRISQUE, brisque_features
from gmiqa.baselines.niqe import NIQE, default_niqe
from gmiqa.baselines.nss import tensor_to_numpy
from gmiqa.datasets.base import record_field, source_provenance
from gmiqa.datasets.splits import finetune_splits
from gmiqa.datasets.table import split_by_for
from gmiqa.errors import ConfigError
from gmiqa.images import list_images, load_image
from gmiqa.metrics import correlation_metrics, per_group_srocc, summarise
from gmiqa.profiles import get_profile
from gmiqa.provenance import provenance

BASELINES: tuple[str, ...] = ("niqe", "brisque")


@runtime_checkable
class Baseline(Protocol):
    """What :func:`evaluate` needs from a method. Taught in ``notebooks/10_baselines.ipynb``."""

    name: str
    higher_is_better: bool

    def score(self, images) -> np.ndarray:
        """Scores of one image or a list, (N,). See ``notebooks/10_baselines.ipynb``."""
        ...


def get_baseline(name: str, **kwargs) -> Baseline:
    """Build a baseline by name. Taught in ``notebooks/10_baselines.ipynb``.

    ``"niqe"``: ``model_path`` (a ``.mat`` in the release's format or an ``.npz`` from
    ``NIQE.save``), else ``pristine`` (folder or list of images) to fit, else the model
    fitted on the packaged pristine photos; ``patch`` (96), ``sharpness_threshold`` (0.75).

    ``"brisque"``: ``model_path`` + ``range_path`` (the release's libsvm ``allmodel`` and
    ``allrange``), or ``model_path`` alone (an ``.npz`` from ``BRISQUE.save``), or
    ``train`` (a dataset or a list of (image, score) pairs) with optional
    ``train_indices`` to fit a regressor; ``C``, ``gamma``, ``epsilon`` go to the fit.
    """
    key = str(name).strip().lower()
    if key == "niqe":
        unknown = set(kwargs) - {"model_path", "pristine", "patch", "sharpness_threshold"}
        if unknown:
            raise ConfigError(f"niqe: unknown options {sorted(unknown)}")
        if kwargs.get("model_path") is not None:
            return NIQE.load(kwargs["model_path"])
        patch = int(kwargs.get("patch", 96))
        threshold = float(kwargs.get("sharpness_threshold", 0.75))
        if kwargs.get("pristine") is not None:
            return NIQE.from_pristine(kwargs["pristine"], patch, threshold)
        return default_niqe(patch, threshold)
    if key == "brisque":
        unknown = set(kwargs) - {
            "model_path",
            "range_path",
            "train",
            "train_indices",
            "C",
            "gamma",
            "epsilon",
        }
        if unknown:
            raise ConfigError(f"brisque: unknown options {sorted(unknown)}")
        model_path, range_path = kwargs.get("model_path"), kwargs.get("range_path")
        if model_path is not None and range_path is not None:
            return BRISQUE.load_libsvm(model_path, range_path)
        if model_path is not None:
            return BRISQUE.load(model_path)
        if range_path is not None:
            raise ConfigError("brisque: range_path needs model_path (the libsvm model)")
        if kwargs.get("train") is not None:
            fit_opts = {k: kwargs[k] for k in ("C", "gamma", "epsilon") if k in kwargs}
            return fit_brisque(kwargs["train"], kwargs.get("train_indices"), **fit_opts)
        raise ConfigError(
            "brisque needs a regressor: pass model_path and range_path (the original "
            "allmodel/allrange), model_path (a saved .npz), or train=<dataset> to fit one"
        )
    raise ConfigError(f"unknown baseline {name!r}: choose one of {', '.join(BASELINES)}")


# --- iterating over datasets ------------------------------------------------------------
def _item(dataset, index: int) -> tuple[object, float, dict]:
    item = dataset[int(index)]
    if isinstance(item, dict):
        if "image" not in item or "score" not in item:
            raise ConfigError(f"dataset item {index} lacks 'image' or 'score'")
        labels = {k: v for k, v in item.items() if k != "image"}
        return item["image"], float(item["score"]), labels
    try:
        image, score = item
    except (TypeError, ValueError):
        raise ConfigError(
            f"dataset item {index}: expected a dict with 'image' and 'score' or an "
            "(image, score) pair"
        ) from None
    return image, float(score), {}


def _indices(dataset, indices) -> np.ndarray:
    n = len(dataset)
    idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ConfigError(f"indices out of range for a dataset of {n} items")
    return idx


def _map(fn, dataset, idx: np.ndarray, workers: int) -> list:
    # Items are read (decoded or generated) here; the arithmetic runs in `workers` processes.
    def named(i):
        image, _, labels = _item(dataset, i)
        if hasattr(image, "detach"):  # send numpy to workers: smaller, no torch needed there
            image = tensor_to_numpy(image)
        return image, str(labels.get("name") or f"item {int(i)}")

    if workers <= 1 or len(idx) < 2:
        return [fn(*named(i)) for i in idx]
    out = []
    window = 16 * int(workers)  # bounded memory: only this many images in flight
    # fork starts a worker in milliseconds (spawn re-imports the caller's modules, torch
    # included, for seconds per worker); workers only run numpy/scipy, never torch.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=int(workers), mp_context=context) as pool:
        for start in range(0, len(idx), window):
            batch = [named(i) for i in idx[start : start + window]]
            out.extend(pool.map(fn, *zip(*batch), chunksize=4))
    return out


class _ScoreOne:
    """Picklable ``method.score_one`` (for worker processes)."""

    def __init__(self, method):
        self.method = method

    def __call__(self, image, name):
        if hasattr(self.method, "score_one"):
            return float(self.method.score_one(image, name=name))
        return float(self.method.score([image])[0])


def _brisque_features_named(image, name):
    return brisque_features(image, name=name)


def _labels(dataset, key: str, idx: np.ndarray) -> np.ndarray | None:
    if getattr(dataset, "records", None) is None:
        return None

    try:
        return np.asarray(record_field(dataset, key))[idx]
    except (KeyError, AttributeError):
        return None


def targets(dataset, indices=None) -> np.ndarray:
    """The ``score`` of each item, from ``.records`` when the dataset has them (no pixels
    decoded), else from the items. Taught in ``notebooks/10_baselines.ipynb``."""
    idx = _indices(dataset, indices)
    scores = _labels(dataset, "score", idx)
    if scores is None:
        scores = [_item(dataset, i)[1] for i in idx]
    return np.asarray(scores, dtype=np.float64)


def predict(method: Baseline, dataset, indices=None, workers: int = 1) -> np.ndarray:
    """Raw scores of ``method`` on the dataset's items ``indices`` (all by default).

    ``dataset``: a ``gmiqa.datasets`` Dataset (dict items) or a list of (image, score)
    pairs. ``workers`` > 1 spreads images over processes. Taught in
    ``notebooks/10_baselines.ipynb``.
    """
    idx = _indices(dataset, indices)
    return np.asarray(_map(_ScoreOne(method), dataset, idx, workers), dtype=np.float64)


def score_images(method: Baseline, images: Sequence, workers: int = 1) -> np.ndarray:
    """``method.score`` over a list of images, in ``workers`` processes when > 1.

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    pairs = [(img, 0.0) for img in images]
    return predict(method, pairs, None, workers)


def _correlate(pred: np.ndarray, target: np.ndarray, higher_is_better: bool, groups=None):
    sign = 1.0 if higher_is_better else -1.0
    out = correlation_metrics(sign * pred, target)
    out["sign"] = sign
    if groups is not None and np.any(groups != 0):
        out["per_type_srocc"] = {
            int(k): v for k, v in per_group_srocc(sign * pred, target, groups).items()
        }
    return out


def _types(dataset, idx: np.ndarray) -> np.ndarray | None:
    types = _labels(dataset, "type", idx)
    return None if types is None else types.astype(np.int64)


def evaluate(method: Baseline, dataset, indices=None, workers: int = 1) -> dict:
    """SROCC, KROCC, PLCC, RMSE (raw and logistic) of ``method`` on ``indices``.

    Lower-is-better scores are negated first (``"sign"`` = -1), so a good method has
    positive correlations; RMSE is on that signed scale (use the logistic RMSE to
    compare methods). Adds ``"per_type_srocc"`` when records carry distortion types.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    idx = _indices(dataset, indices)
    pred = predict(method, dataset, idx, workers)
    out = _correlate(pred, targets(dataset, idx), method.higher_is_better, _types(dataset, idx))
    out["method"] = method.name
    return out


def _split_pairs(splits) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for k, split in enumerate(splits):
        if isinstance(split, dict):
            train, test = split.get("train"), split.get("test")
        elif hasattr(split, "train") and hasattr(split, "test"):
            train, test = split.train, split.test
        else:
            try:
                train, test = split
            except (TypeError, ValueError):
                raise ConfigError(f"split {k}: expected (train_indices, test_indices)") from None
        pairs.append((np.asarray(train, np.int64).ravel(), np.asarray(test, np.int64).ravel()))
    if not pairs:
        raise ConfigError("no splits given")
    return pairs


def fit_brisque(train, indices=None, workers: int = 1, **fit_options) -> BRISQUE:
    """Fit BRISQUE's regressor on a dataset (or (image, score) pairs) ``indices``.

    Scores are the dataset's (higher = better), so the fitted model is higher-is-better.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    idx = _indices(train, indices)
    feats = np.stack(_map(_brisque_features_named, train, idx, workers))
    return BRISQUE.fit(features=feats, scores=targets(train, idx), **fit_options)


def evaluate_splits(method: str | Baseline, dataset, splits, workers: int = 1, **options) -> dict:
    """Evaluate a baseline on each (train, test) split, as the learned model is evaluated.

    ``method``: ``"niqe"``, ``"brisque"`` (a regressor is fitted on each split's training
    part unless ``options`` name a model file) or a built method. Per-image work (NIQE
    scores, BRISQUE features) is done once for all splits. Returns ``{"method",
    "higher_is_better", "per_split": [metrics...], "summary": gmiqa.metrics.summarise(...),
    "test_indices": [...], "predictions": [raw scores of each split's test items]}``.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    pairs = _split_pairs(splits)
    needed = np.unique(np.concatenate([np.concatenate(p) for p in pairs]))
    _indices(dataset, needed)
    target = dict(zip(needed.tolist(), targets(dataset, needed)))
    types = _types(dataset, needed)
    type_of = dict(zip(needed.tolist(), types)) if types is not None else None
    fit_per_split = (
        isinstance(method, str)
        and method.strip().lower() == "brisque"
        and options.get("model_path") is None
    )
    fit_options = {k: options.pop(k) for k in ("C", "gamma", "epsilon") if k in options}
    per_split, predictions = [], []
    if fit_per_split:
        if options:
            raise ConfigError(f"brisque: unknown options {sorted(options)}")
        feats = np.stack(_map(_brisque_features_named, dataset, needed, workers))
        row = {int(i): k for k, i in enumerate(needed)}
        name = "brisque"
        for train, test in pairs:
            model = BRISQUE.fit(
                features=feats[[row[int(i)] for i in train]],
                scores=[target[int(i)] for i in train],
                **fit_options,
            )
            pred = model.predict_features(feats[[row[int(i)] for i in test]])
            groups = np.array([type_of[int(i)] for i in test]) if type_of else None
            per_split.append(
                _correlate(pred, np.array([target[int(i)] for i in test]), True, groups)
            )
            predictions.append(pred)
    else:
        built = (
            get_baseline(method, **options, **fit_options) if isinstance(method, str) else method
        )
        name = built.name
        tested = np.unique(np.concatenate([p[1] for p in pairs]))
        scores = dict(zip(tested.tolist(), predict(built, dataset, tested, workers)))
        for _, test in pairs:
            groups = np.array([type_of[int(i)] for i in test]) if type_of else None
            pred = np.array([scores[int(i)] for i in test])
            per_split.append(
                _correlate(
                    pred, np.array([target[int(i)] for i in test]), built.higher_is_better, groups
                )
            )
            predictions.append(pred)
    scalar = [{k: v for k, v in m.items() if k != "per_type_srocc"} for m in per_split]
    return {
        "method": name,
        "higher_is_better": True if fit_per_split else built.higher_is_better,
        "per_split": per_split,
        "summary": summarise(scalar),
        "test_indices": [test for _, test in pairs],
        "predictions": predictions,
    }


def score_files(
    name: str, paths: Iterable[str | os.PathLike], workers: int = 1, **options
) -> list[tuple[str, float]]:
    """Score image files with a baseline: the function the command line calls.

    A folder in ``paths`` stands for every image inside it. Returns (path, score) pairs;
    the direction is the method's ``higher_is_better``. Taught in
    ``notebooks/10_baselines.ipynb``.
    """

    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files.extend(list_images(p) if p.is_dir() else [p])
    method = get_baseline(name, **options)
    pairs = [(load_image(f), 0.0) for f in files]
    scores = predict(method, pairs, None, workers)
    return [(str(f), float(s)) for f, s in zip(files, scores)]


def evaluate_baseline_file(method: str, dataset, key: str, out: str | os.PathLike, *,
                           profile, seed: int = 0, n_splits: int | None = None,
                           root=None, device: str = "cpu", **options) -> dict:  # fmt: skip
    """NIQE or BRISQUE on the same content-independent splits that fine-tuning uses,
    written to ``out`` (``gmiqa evaluate --method niqe|brisque``).

    Taught in ``notebooks/10_baselines.ipynb``. BRISQUE's regressor is fitted on each
    split's training part unless ``model_path`` (and ``range_path`` for the release's
    libsvm files) names a model; NIQE uses the model it is given or one fitted on the
    packaged pristine photos. Returns the written record (``config``, ``per_split``,
    ``summary``, ``provenance``).
    """
    if method not in BASELINES:
        raise ConfigError(f"unknown method {method!r}: choose gmiqa, niqe or brisque")
    profile = get_profile(profile)
    n = n_splits or profile.finetune.splits
    by = split_by_for(key)
    splits = finetune_splits(dataset.records, n, profile.finetune, seed, by=by)
    for name, value in options.items():
        if not Path(value).is_file():
            raise ConfigError(f"{value}: no such {name.replace('_', ' ')}")
    options = {name: str(value) for name, value in options.items()}
    res = evaluate_splits(method, dataset, splits, **options)
    record = {
        "config": {"dataset": key, "method": method, "root": str(root), "splits": n,
                   "split_by": by, "profile": profile.name, "seed": seed, **options},
        "per_split": res["per_split"],
        "summary": res["summary"],
        "provenance": provenance(device=str(device), **source_provenance(dataset)),
    }  # fmt: skip
    atomic_write_json(out, record)
    return record


def baseline_summary_line(record: dict) -> str:
    """One line for :func:`evaluate_baseline_file`'s record (``gmiqa evaluate --method``)."""
    c, med = record["config"], record["summary"]
    return (f"{c['dataset']} ({c['method']}, {c['splits']} splits by {c['split_by']}): median "
            f"SROCC {med['srocc']['median']:.4f} PLCC {med['plcc']['median']:.4f} "
            f"PLCC(logistic) {med['plcc_logistic']['median']:.4f}")  # fmt: skip
