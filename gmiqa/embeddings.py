"""Embeddings of a labelled image set: extraction, nearest-neighbour accuracy, UMAP.

Taught in ``notebooks/08_embedding_explorer.ipynb``; the explorer front ends
(:mod:`gmiqa.explorer`, :mod:`gmiqa.explorer_static`) draw what these functions compute.

:func:`extract_embeddings` runs one or more models over a labelled image set in batches
that each hold ONE distortion type (as graph pre-training does) and keeps, per image,
the node embedding ``V_i`` and the level head's ``mu_i``; per batch, the graph code
``g``. :func:`knn_accuracy` measures, in the embedding's own dimensions, how well the
neighbours of a point predict its label; :func:`project_umap` maps it to 2-D.
"""

from __future__ import annotations

import importlib
import io
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from gmiqa.datasets.base import record_field
from gmiqa.device import resolve_device
from gmiqa.distortions import DISTORTIONS
from gmiqa.errors import ConfigError


def type_name(type_id: int) -> str:
    """The KADID-10k name of a distortion type id (``"gaussian_blur"``); see ``08_embedding_explorer``."""
    d = DISTORTIONS.get(int(type_id))
    return d.name if d is not None else f"type {int(type_id)}"


def type_family(type_id: int) -> str:
    """The family (blur, color, noise, ...) of a distortion type id; see ``08_embedding_explorer``."""
    d = DISTORTIONS.get(int(type_id))
    return d.family if d is not None else "none"


# ---------------------------------------------------------------------------------------
# 1. extraction
# ---------------------------------------------------------------------------------------


@dataclass
class ImageLabels:
    """Labels and thumbnails of the images an explorer shows (``08_embedding_explorer``)."""

    names: list[str]
    types: np.ndarray  # (N,) int
    levels: np.ndarray  # (N,) int
    scores: np.ndarray  # (N,) float, the set's quality label (higher = better)
    ref_ids: np.ndarray  # (N,) int
    thumbnails: list[bytes]  # JPEG bytes, one per image

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Embeddings:
    """What one model made of the images (``08_embedding_explorer``).

    ``nodes[i]`` is image i's node embedding V_i (the node builder's output: it depends
    on image i alone in evaluation mode). ``level_mu[i]`` is the level discriminator's
    mean for image i in the first batch that holds it (the level head also reads the
    mean of the image's edges, so it depends a little on the batch). ``graph_codes[b]``
    is the graph code of batch ``batches[b]`` (indices into the images), all of one type.
    """

    model: str
    images: ImageLabels
    nodes: np.ndarray  # (N, node_dim)
    level_mu: np.ndarray  # (N,)
    graph_codes: np.ndarray  # (B, node_dim)
    batches: list[np.ndarray] = field(default_factory=list)

    @property
    def batch_types(self) -> np.ndarray:
        """The distortion type of each batch, (B,)."""
        return np.array([int(self.images.types[b[0]]) for b in self.batches], dtype=np.int64)


def one_type_batches(
    types: Sequence[int] | np.ndarray, batch_size: int, batches_per_type: int = 5, seed: int = 0
) -> list[np.ndarray]:
    """Split item indices into batches that each hold ONE distortion type.

    Taught in ``notebooks/08_embedding_explorer.ipynb``. Per type: the items are
    shuffled and cut into batches of ``batch_size``; a short last batch is filled up
    with other items of the same type; while a type has fewer than
    ``batches_per_type`` batches, more are drawn at random from its items (without
    repetition inside a batch). So every item is in at least one batch and every type
    gives at least ``batches_per_type`` graph codes. Types with fewer than two items are
    skipped (a one-node graph has no edges to learn from).
    """
    types = np.asarray(types, dtype=np.int64)
    batch_size = int(batch_size)
    if batch_size < 2:
        raise ConfigError(f"batch_size={batch_size}: a distortion graph needs at least 2 images")
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for t in np.unique(types):
        idx = np.flatnonzero(types == t)
        if len(idx) < 2:
            continue
        size = min(batch_size, len(idx))
        perm = rng.permutation(idx)
        chunks = [perm[i : i + size] for i in range(0, len(perm), size)]
        last = chunks[-1]
        if len(last) < size:
            others = np.setdiff1d(idx, last)
            chunks[-1] = np.concatenate([last, rng.choice(others, size - len(last), replace=False)])
        while len(chunks) < batches_per_type:
            chunks.append(rng.choice(idx, size, replace=False))
        out.extend(np.sort(c) for c in chunks)
    return out


def thumbnail(image: torch.Tensor | np.ndarray, width: int = 96, quality: int = 80) -> bytes:
    """A small JPEG of an image (tensor (3, H, W) in [0, 1] or uint8 (H, W, 3)).

    Taught in ``notebooks/08_embedding_explorer.ipynb``. Only for display; no model
    ever sees a resized image.
    """
    if isinstance(image, torch.Tensor):
        array = (image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round()
        array = array.astype(np.uint8)
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    pil = Image.fromarray(array)
    height = max(1, round(pil.height * width / pil.width))
    pil = pil.resize((int(width), height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


@torch.no_grad()
def extract_embeddings(
    models: Mapping[str, torch.nn.Module],
    dataset,
    batch_size: int,
    batches_per_type: int = 5,
    seed: int = 0,
    device: str | torch.device = "auto",
    indices: Iterable[int] | None = None,
    thumb_width: int = 96,
    progress: bool = False,
) -> dict[str, Embeddings]:
    """Node embeddings per image and graph codes per one-type batch, for each model.

    Taught in ``notebooks/08_embedding_explorer.ipynb``.

    ``models``: name -> a GMIQA model (anything with ``pretrain_forward``), e.g.
    ``{"random init": m0, "pre-trained": m1}``; they run in evaluation mode (the
    level head gives ``mu``, BatchNorm uses running statistics) and their training flag
    is restored afterwards. ``dataset``: items are dicts with ``image``, ``type``,
    ``level``, ``score``, ``ref_id``, ``name`` (every gmiqa dataset); only items with a
    distortion type (``type`` > 0) are used. ``indices`` restricts the items. Batches come
    from :func:`one_type_batches`; images are loaded one type at a time, so memory holds
    one type's images, never the whole set.
    """
    if not models:
        raise ConfigError("extract_embeddings needs at least one model")
    dev = resolve_device(device)
    chosen = np.arange(len(dataset)) if indices is None else np.asarray(list(indices), np.int64)
    item_types = record_field(dataset, "type").astype(np.int64)[chosen]
    keep = item_types > 0
    chosen, item_types = chosen[keep], item_types[keep]
    if len(chosen) < 2:
        raise ConfigError(f"{len(chosen)} distorted images: the explorer needs at least 2")
    batches = one_type_batches(item_types, batch_size, batches_per_type, seed)
    # images are numbered in the order of their first batch: type by type
    order: dict[int, int] = {}
    for b in batches:
        for local in b:
            order.setdefault(int(local), len(order))
    n = len(order)
    names: list[str] = [""] * n
    types = np.zeros(n, np.int64)
    levels = np.zeros(n, np.int64)
    scores = np.zeros(n, np.float64)
    ref_ids = np.zeros(n, np.int64)
    thumbs: list[bytes] = [b""] * n
    nodes: dict[str, list] = {k: [None] * n for k in models}
    level_mu: dict[str, np.ndarray] = {k: np.full(n, np.nan) for k in models}
    codes: dict[str, list[np.ndarray]] = {k: [] for k in models}
    flags = {k: m.training for k, m in models.items()}
    for m in models.values():
        m.eval()
    try:
        by_type: dict[int, list[np.ndarray]] = {}
        for b in batches:
            by_type.setdefault(int(item_types[b[0]]), []).append(b)
        for type_batches in tqdm(list(by_type.values()), desc="types", disable=not progress):
            needed = sorted({int(i) for b in type_batches for i in b})
            images = {}
            for local in needed:
                item = dataset[int(chosen[local])]
                j = order[local]
                images[local] = item["image"]
                names[j] = str(item["name"])
                types[j], levels[j] = int(item["type"]), int(item["level"])
                scores[j], ref_ids[j] = float(item["score"]), int(item["ref_id"])
                thumbs[j] = thumbnail(item["image"], thumb_width)
            for b in type_batches:
                x = torch.stack([images[int(i)] for i in b]).to(dev)
                rows = [order[int(i)] for i in b]
                for name, model in models.items():
                    out = model.pretrain_forward(x)
                    v = out.node_embeddings.float().cpu().numpy()
                    mu = out.level_mu.float().cpu().numpy()
                    for r, j in enumerate(rows):
                        if nodes[name][j] is None:
                            nodes[name][j] = v[r]
                            level_mu[name][j] = mu[r]
                    codes[name].append(out.graph_code.float().cpu().numpy())
    finally:
        for k, m in models.items():
            m.train(flags[k])
    labels = ImageLabels(names, types, levels, scores, ref_ids, thumbs)
    mapped = [np.array([order[int(i)] for i in b], np.int64) for b in batches]
    return {
        name: Embeddings(
            name, labels, np.stack(nodes[name]), level_mu[name], np.stack(codes[name]), mapped
        )
        for name in models
    }


# ---------------------------------------------------------------------------------------
# 2. projection and views
# ---------------------------------------------------------------------------------------


def knn_accuracy(vectors: np.ndarray, labels: Sequence[int] | np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy of ``labels`` in ``vectors``' space.

    Taught in ``notebooks/08_embedding_explorer.ipynb``. Euclidean distance in the
    embedding's own dimensions (not in the UMAP plane); majority vote of the ``k``
    nearest other points, ties going to the smallest label. Chance level is about
    1 / (number of labels) for balanced labels.
    """
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y):
        raise ConfigError(f"vectors {x.shape} and labels ({len(y)},) do not match")
    if len(x) < 2:
        raise ConfigError("knn_accuracy needs at least 2 points")
    k = max(1, min(int(k), len(x) - 1))
    sq = (x**2).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * x @ x.T
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    classes, codes = np.unique(y, return_inverse=True)
    votes = codes[nearest]
    predicted = np.array([np.bincount(v, minlength=len(classes)).argmax() for v in votes])
    return float((predicted == codes).mean())


_UMAP_CACHE_ENABLED = False


def enable_umap_jit_cache() -> int:
    """Switch on numba's on-disk cache for umap-learn's compiled functions; return how many.

    Taught in ``notebooks/08_embedding_explorer.ipynb``. umap-learn compiles about a
    hundred numba functions on first use and caches only a few, so every fresh kernel
    pays 10-30 s of compilation before its first projection. This does what
    ``@numba.njit(cache=True)`` would: compiled code is written next to umap's own cache
    files (or to ``NUMBA_CACHE_DIR``) and reused by later processes; a function numba
    cannot cache is left as it is. Done once per process.
    """
    global _UMAP_CACHE_ENABLED
    if _UMAP_CACHE_ENABLED:
        return 0

    from numba.core.registry import (
        CPUDispatcher,  # optional (umap's dependency): imported only where used
    )

    count = 0
    for name in ("umap_", "layouts", "utils", "spectral", "distances", "sparse"):
        try:
            module = importlib.import_module(f"umap.{name}")
        except ImportError:
            continue
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher) and type(obj._cache).__name__ == "NullCache":
                try:
                    obj.enable_caching()
                    count += 1
                except (RuntimeError, OSError):  # no writable cache location for it
                    pass
    _UMAP_CACHE_ENABLED = True
    return count


def project_umap(
    vectors: np.ndarray,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int | None = 200,
    cache_jit: bool = True,
) -> np.ndarray:
    """2-D UMAP coordinates (P, 2) of ``vectors`` (P, D); seeded, so reproducible.

    Taught in ``notebooks/08_embedding_explorer.ipynb``. ``n_neighbors`` is lowered to
    P - 1 for small sets. The vectors are standardised per dimension first (embeddings
    of a randomly initialised model can have a few dimensions of huge variance).
    umap-learn is imported here, not at module import; ``cache_jit`` calls
    :func:`enable_umap_jit_cache` first.
    """

    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) < 4:
        raise ConfigError(f"UMAP needs at least 4 points in a (P, D) array, got shape {x.shape}")
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, numba notes
        import umap  # optional (the notebooks extra): imported only where used

        if cache_jit:
            enable_umap_jit_cache()
        reducer = umap.UMAP(
            n_neighbors=max(2, min(int(n_neighbors), len(x) - 1)),
            min_dist=float(min_dist),
            n_components=2,
            n_epochs=n_epochs,
            random_state=int(seed),
            init="spectral" if len(x) > 10 else "random",
        )
        return np.asarray(reducer.fit_transform(x), dtype=np.float64)


# The data both explorers show (gmiqa.explorer: widgets; gmiqa.explorer_static: HTML).
@dataclass
class View:
    """One 2-D scatter: an embedding kind of one model, with per-point labels.

    Taught in ``notebooks/08_embedding_explorer.ipynb``. For ``kind == "nodes"`` a point
    is an image; for ``"graph codes"`` a point is a one-type batch, and ``level``,
    ``score`` and ``level_pred`` are batch means while ``levels`` lists the levels the
    batch holds; its thumbnail is that of the batch's first image.
    """

    name: str
    kind: str
    model: str
    xy: np.ndarray  # (P, 2)
    types: np.ndarray  # (P,) int
    level: np.ndarray  # (P,) float
    levels: list[tuple[int, ...]]
    score: np.ndarray  # (P,)
    level_pred: np.ndarray  # (P,)
    thumb: np.ndarray  # (P,) index into ExplorerData.thumbnails
    text: list[str]  # one line per point

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def families(self) -> list[str]:
        return [type_family(t) for t in self.types]


@dataclass
class ExplorerData:
    """Views, thumbnails and label names shared by both explorers (``08_embedding_explorer``)."""

    views: dict[str, View]
    thumbnails: list[bytes]

    @property
    def types(self) -> list[int]:
        return sorted({int(t) for v in self.views.values() for t in v.types})

    @property
    def families(self) -> list[str]:
        return sorted({type_family(t) for t in self.types})

    @property
    def levels(self) -> list[int]:
        return sorted({lv for v in self.views.values() for ls in v.levels for lv in ls})

    def visible(self, view: str, type: int = 0, family: str = "all", level: int = 0) -> np.ndarray:
        """Indices of the points of ``view`` that pass the filters (0 / "all" = any)."""
        v = self.views[view]
        mask = np.ones(len(v), dtype=bool)
        if type:
            mask &= v.types == int(type)
        if family != "all":
            mask &= np.array([f == family for f in v.families], dtype=bool)
        if level:
            mask &= np.array([int(level) in ls for ls in v.levels], dtype=bool)
        return np.flatnonzero(mask)
