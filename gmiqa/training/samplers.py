"""Which images each training step sees: meta-learning tasks and one-type graph batches.

Taught in ``notebooks/05_meta_learning.ipynb`` (tasks) and
``notebooks/06_graph_pretraining.ipynb`` (triplets of one-type batches).

Samplers read only the labels (``records``: ``ref_id``, ``type``, ``level``), never
pixels, and draw from a numpy Generator the caller seeds per step, so a step's images
are a function of (seed, step) alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gmiqa.errors import DatasetError


def _column(records, key: str) -> np.ndarray:
    if hasattr(records, "column"):  # the synthetic set's lazy records
        return np.asarray(records.column(key))
    return np.asarray([r[key] for r in records])


@dataclass(frozen=True)
class TaskIndices:
    """Dataset indices of one task's support and query sets (one distortion type)."""

    type: int
    support: np.ndarray
    query: np.ndarray


class MetaTaskSampler:
    """Tasks for stage 1: one distortion type each, support and query split by content.

    For each task the type's reference contents are shuffled and halved: the support
    set is drawn from one half and the query set from the other, so no content is in
    both. Types in one meta-batch are distinct. Taught in ``05_meta_learning``.
    """

    def __init__(
        self,
        records,
        tasks_per_step: int,
        support_size: int,
        query_size: int,
        types: Sequence[int] | None = None,
        exclude_refs: Sequence[int] = (),
    ):
        self.types_col = _column(records, "type")
        self.refs_col = _column(records, "ref_id")
        keep = ~np.isin(self.refs_col, np.asarray(list(exclude_refs), dtype=np.int64))
        available = sorted(set(self.types_col[keep].tolist()) - {0})
        self.types = [t for t in (types or available) if t in available]
        if not self.types:
            raise DatasetError("meta-learning needs a set with distortion types; found none")
        self.by_type = {t: np.flatnonzero((self.types_col == t) & keep) for t in self.types}
        for t, idx in self.by_type.items():
            if len(set(self.refs_col[idx].tolist())) < 2:
                raise DatasetError(
                    f"distortion type {t} has images of fewer than 2 reference contents: "
                    "support and query sets cannot be split by content"
                )
        self.tasks_per_step = min(int(tasks_per_step), len(self.types))
        self.support_size = int(support_size)
        self.query_size = int(query_size)

    def sample(self, rng: np.random.Generator) -> list[TaskIndices]:
        chosen = rng.choice(len(self.types), size=self.tasks_per_step, replace=False)
        tasks = []
        for k in chosen:
            t = self.types[int(k)]
            idx = self.by_type[t]
            refs = np.unique(self.refs_col[idx])
            rng.shuffle(refs)
            half = len(refs) // 2
            support_refs, query_refs = refs[:half], refs[half:]
            support_pool = idx[np.isin(self.refs_col[idx], support_refs)]
            query_pool = idx[np.isin(self.refs_col[idx], query_refs)]
            tasks.append(
                TaskIndices(
                    t,
                    _draw(rng, support_pool, self.support_size),
                    _draw(rng, query_pool, self.query_size),
                )
            )
        return tasks


def _draw(rng: np.random.Generator, pool: np.ndarray, size: int) -> np.ndarray:
    """``size`` items of ``pool``: without replacement when the pool is large enough."""
    return rng.choice(pool, size=size, replace=len(pool) < size)


@dataclass(frozen=True)
class TripletIndices:
    """Dataset indices of an anchor, a positive (same type) and a negative (other type) batch."""

    type: int
    negative_type: int
    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray


class TypeTripletSampler:
    """Triplets of batches for stage 2: every batch holds ONE distortion type.

    Anchor and positive are two disjoint batches of type ``t`` (when the type has enough
    images); the negative is a batch of another type. Levels and contents mix freely
    inside a batch, so the graph code has to capture the type. Taught in
    ``06_graph_pretraining``.
    """

    def __init__(self, records, batch_size: int, types: Sequence[int] | None = None):
        self.types_col = _column(records, "type")
        available = sorted(set(self.types_col.tolist()) - {0})
        self.types = [t for t in (types or available) if t in available]
        if len(self.types) < 2:
            raise DatasetError(
                f"graph pre-training needs at least 2 distortion types, found {self.types}"
            )
        self.by_type = {t: np.flatnonzero(self.types_col == t) for t in self.types}
        self.batch_size = int(batch_size)

    def sample(self, rng: np.random.Generator) -> TripletIndices:
        a, n = rng.choice(len(self.types), size=2, replace=False)
        t, u = self.types[int(a)], self.types[int(n)]
        pool = self.by_type[t]
        if len(pool) >= 2 * self.batch_size:
            both = rng.choice(pool, size=2 * self.batch_size, replace=False)
            anchor, positive = both[: self.batch_size], both[self.batch_size :]
        else:
            anchor, positive = _draw(rng, pool, self.batch_size), _draw(rng, pool, self.batch_size)
        return TripletIndices(t, u, anchor, positive, _draw(rng, self.by_type[u], self.batch_size))


@dataclass(frozen=True)
class GraphBatchIndices:
    """One multi-graph step: ``indices`` holds ``len(types)`` consecutive graphs of one type each."""

    types: np.ndarray  # (G,) the distortion type of each graph
    indices: np.ndarray  # (G * graph_size,) dataset indices, graph after graph


class TypeGraphSampler:
    """Steps of ``types_per_step`` types x 2 graphs of ``graph_size`` images of one type.

    Taught in ``06_graph_pretraining``. The two graphs of a type are disjoint when the
    type has enough images; levels and contents mix freely inside a graph. ``allowed``
    restricts the draw to some items (pre-training keeps held-out references out).
    """

    def __init__(
        self,
        records,
        types_per_step: int,
        graph_size: int,
        allowed: np.ndarray | None = None,
    ):
        types_col = _column(records, "type")
        pool = np.arange(len(types_col)) if allowed is None else np.asarray(allowed)
        available = sorted(set(types_col[pool].tolist()) - {0})
        if len(available) < 2:
            raise DatasetError(
                f"graph pre-training needs at least 2 distortion types, found {available}"
            )
        self.types = available
        self.by_type = {t: pool[types_col[pool] == t] for t in available}
        self.types_per_step = min(int(types_per_step), len(available))
        self.graph_size = int(graph_size)
        if self.graph_size < 1:
            raise DatasetError(f"graph_size must be >= 1, got {graph_size}")

    def sample(self, rng: np.random.Generator) -> GraphBatchIndices:
        chosen = rng.choice(len(self.types), size=self.types_per_step, replace=False)
        types, indices = [], []
        for k in chosen:
            t = self.types[int(k)]
            both = _draw(rng, self.by_type[t], 2 * self.graph_size)
            types += [t, t]
            indices.append(both)
        return GraphBatchIndices(np.asarray(types), np.concatenate(indices))


def epoch_batches(
    indices: Sequence[int], batch_size: int, rng: np.random.Generator, drop_last: bool = True
) -> list[np.ndarray]:
    """Shuffled mini-batches covering ``indices`` once (fine-tuning epochs).

    Drops a last batch smaller than 2 images: BatchNorm cannot normalise one image.
    """
    order = rng.permutation(np.asarray(indices))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if not batches:
        return batches
    short = len(batches[-1]) < batch_size and len(batches) > 1
    if len(batches[-1]) < 2 or (drop_last and short):
        batches = batches[:-1]
    return batches


def stack_items(dataset, indices) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, H, W) and scores (N,) of ``dataset[i]`` for ``i`` in ``indices``.

    All images of one batch must share a size (synthetic sets do; real sets are scored
    one by one at native size instead).
    """
    items = [dataset[int(i)] for i in indices]
    shapes = {tuple(it["image"].shape) for it in items}
    if len(shapes) != 1:
        raise DatasetError(f"a batch mixes image sizes {sorted(shapes)}; batch by size instead")
    images = torch.stack([it["image"] for it in items])
    scores = torch.tensor([float(it["score"]) for it in items], dtype=torch.float32)
    return images, scores


def stack_labels(dataset, indices, key: str) -> torch.Tensor:
    """One label (e.g. ``"level"``) of the given items as a float tensor, without pixels."""
    records = dataset.records
    return torch.tensor([float(records[int(i)][key]) for i in indices], dtype=torch.float32)


def holdout_references(ref_ids, count: int, seed: int) -> list[int]:
    """The ``count`` references kept out of pre-training (drawn by ``seed``), sorted.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. At most a quarter of the
    references (rounded up) are held out, and at least 2 always stay in training, so a
    small folder of photos still trains on most of its content (13 packaged photos: 4
    held out, 9 trained; 110 photos: ``count``).
    """
    refs = np.unique(np.asarray(ref_ids))
    count = max(0, min(int(count), -(-len(refs) // 4), len(refs) - 2))
    if count == 0:
        return []
    rng = np.random.default_rng([int(seed), 7919])
    return sorted(int(r) for r in rng.choice(refs, size=count, replace=False))
