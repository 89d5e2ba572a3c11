"""Embedding explorer: what the distortion graph learned, seen in two dimensions.

Taught in ``notebooks/08_embedding_explorer.ipynb``.

Three steps, each usable on its own:

1. :func:`extract_embeddings` runs one or more models over a labelled image set in
   batches that each hold ONE distortion type (as graph pre-training does) and keeps,
   per image, the node embedding ``V_i`` (the node builder's output, which depends on
   the image alone) and the level head's ``mu_i``; per batch, the graph code ``g``.
   Running several models (e.g. randomly initialised and pre-trained) in one pass
   gives every model exactly the same images and batches.
2. :func:`build_views` projects every (model, embedding kind) pair to 2-D with UMAP
   (umap-learn, imported inside the function) and attaches the labels a plot needs:
   distortion type, family, level, pseudo-quality score, predicted level, thumbnail.
3. Two front ends read the same :class:`ExplorerData`:

   - :class:`Explorer`, an ipywidgets panel for a live kernel: dropdowns choose the
     embedding, the colouring (type, family or level) and filter by type, family and
     level; a point list selects an image, whose thumbnail and scores are shown.
   - :func:`static_explorer`, one self-contained HTML block (plotly.js embedded inline,
     thumbnails as base64 JPEG, a few lines of JavaScript) with the same controls;
     hovering over or clicking a point shows its thumbnail and scores. It needs no
     kernel and no network, so it stays interactive in the static book.

:func:`knn_accuracy` measures, in the embedding's own dimensions (not in the UMAP
plane), how well the neighbours of a point predict its label.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gmiqa.atomic import atomic_write_text
from gmiqa.datasets.base import record_field
from gmiqa.device import resolve_device
from gmiqa.distortions import DISTORTIONS
from gmiqa.errors import ConfigError

KINDS = ("nodes", "graph codes")
COLOR_BY = ("type", "family", "level")

# 26 colours: matplotlib's tab10, then the light halves of tab20, then six of Dark2's
# and Set1's; the first ten (the families, few types) are the most distinct.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5", "#1b9e77", "#d95f02", "#7570b3", "#e7298a",
    "#66a61e", "#e6ab02",
)  # fmt: skip


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
        from tqdm.auto import tqdm

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
    import importlib

    from numba.core.registry import CPUDispatcher

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
    import warnings

    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) < 4:
        raise ConfigError(f"UMAP needs at least 4 points in a (P, D) array, got shape {x.shape}")
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, numba notes
        import umap

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


def view_name(kind: str, model: str) -> str:
    """The display name of a view: ``"nodes, pre-trained"``; see ``08_embedding_explorer``."""
    return f"{kind}, {model}"


def build_views(
    embeddings: Mapping[str, Embeddings],
    seed: int = 0,
    kinds: Sequence[str] = KINDS,
    **umap_options,
) -> ExplorerData:
    """Project every (kind, model) pair with :func:`project_umap` and attach the labels.

    Taught in ``notebooks/08_embedding_explorer.ipynb``. All models must come from one
    :func:`extract_embeddings` call (same images, same batches).
    """
    if not embeddings:
        raise ConfigError("build_views needs at least one Embeddings")
    first = next(iter(embeddings.values()))
    labels = first.images
    for e in embeddings.values():
        if e.images is not labels and e.images.names != labels.names:
            raise ConfigError(f"embeddings of {e.model!r} were made from other images")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ConfigError(f"unknown embedding kind(s) {bad}: choose from {KINDS}")
    views: dict[str, View] = {}
    for kind in kinds:
        for model, emb in embeddings.items():
            if kind == "nodes":
                xy = project_umap(emb.nodes, seed, **umap_options)
                idx = np.arange(len(labels))
                text = [
                    f"{labels.names[i]} ({type_name(labels.types[i])}, level {labels.levels[i]})"
                    for i in idx
                ]
                view = View(
                    view_name(kind, model), kind, model, xy, labels.types.copy(),
                    labels.levels.astype(np.float64), [(int(lv),) for lv in labels.levels],
                    labels.scores.copy(), emb.level_mu.copy(), idx, text,
                )  # fmt: skip
            else:
                xy = project_umap(emb.graph_codes, seed, **umap_options)
                counts: dict[int, int] = {}
                text, btypes, lv_mean, lv_sets, sc, pred, thumb = [], [], [], [], [], [], []
                for b in emb.batches:
                    t = int(labels.types[b[0]])
                    counts[t] = counts.get(t, 0) + 1
                    lvs = labels.levels[b]
                    text.append(
                        f"batch {counts[t]} of {type_name(t)}: {len(b)} images, levels "
                        + ",".join(str(int(v)) for v in sorted(lvs))
                    )
                    btypes.append(t)
                    lv_mean.append(float(lvs.mean()))
                    lv_sets.append(tuple(sorted({int(v) for v in lvs})))
                    sc.append(float(labels.scores[b].mean()))
                    pred.append(float(emb.level_mu[b].mean()))
                    thumb.append(int(b[0]))
                view = View(
                    view_name(kind, model), kind, model, xy, np.array(btypes, np.int64),
                    np.array(lv_mean), lv_sets, np.array(sc), np.array(pred),
                    np.array(thumb, np.int64), text,
                )  # fmt: skip
            views[view.name] = view
    return ExplorerData(views, list(labels.thumbnails))


def _point_details(data: ExplorerData, view: View, i: int) -> str:
    """HTML lines describing point i of a view (both front ends show the same)."""
    what = "batch mean" if view.kind == "graph codes" else "image"
    return (
        f"<b>{html.escape(view.text[i])}</b><br>"
        f"type {int(view.types[i])}: {html.escape(type_name(view.types[i]))} "
        f"({html.escape(type_family(view.types[i]))})<br>"
        f"level ({what}): {view.level[i]:.{0 if view.kind == 'nodes' else 2}f}<br>"
        f"pseudo-quality score ({what}): {view.score[i]:.3f}<br>"
        f"predicted level, {html.escape(view.model)} ({what}): {view.level_pred[i]:.2f}"
    )


# ---------------------------------------------------------------------------------------
# 3a. the live explorer (ipywidgets)
# ---------------------------------------------------------------------------------------


def scatter_on(
    ax,
    view: View,
    visible: np.ndarray | None = None,
    color_by: str = "type",
    selected: int | None = None,
    legend: bool = True,
):
    """Draw the ``visible`` points of a view on a matplotlib ``ax`` (all points if None).

    Taught in ``notebooks/08_embedding_explorer.ipynb``. Colours: one per distortion type
    or family (:data:`PALETTE`), or the level on a viridis scale (for graph codes the
    batch's mean level). Points filtered out are drawn in light grey for context; the
    ``selected`` point is ringed. Returns the colour-bar mappable for ``"level"``, else None.
    """
    if color_by not in COLOR_BY:
        raise ConfigError(f"color_by={color_by!r}: choose from {COLOR_BY}")
    vis = np.arange(len(view)) if visible is None else np.asarray(visible, dtype=np.int64)
    marker = "o" if view.kind == "nodes" else "D"
    ax.scatter(view.xy[:, 0], view.xy[:, 1], s=8, c="#dddddd", linewidths=0)  # context
    mappable = None
    if len(vis) and color_by == "level":
        mappable = ax.scatter(
            view.xy[vis, 0], view.xy[vis, 1], c=view.level[vis], cmap="viridis", vmin=1, vmax=5,
            s=28, marker=marker, edgecolors="white", linewidths=0.4,
        )  # fmt: skip
    elif len(vis):
        types = sorted({int(t) for t in view.types})
        if color_by == "type":
            keys, order = [type_name(t) for t in view.types], [type_name(t) for t in types]
        else:
            keys, order = view.families, sorted(set(view.families))
        for c, key in enumerate(order):
            pts = [i for i in vis if keys[i] == key]
            if pts:
                ax.scatter(
                    view.xy[pts, 0], view.xy[pts, 1], s=28, marker=marker,
                    color=PALETTE[c % len(PALETTE)], label=key, edgecolors="white",
                    linewidths=0.4,
                )  # fmt: skip
        if legend:
            ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if selected is not None:
        ax.scatter(
            [view.xy[selected, 0]], [view.xy[selected, 1]], s=160, facecolors="none",
            edgecolors="black", linewidths=1.5,
        )  # fmt: skip
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])
    return mappable


def render_scatter(
    view: View,
    visible: np.ndarray,
    color_by: str = "type",
    selected: int | None = None,
    size: tuple[float, float] = (6.4, 4.8),
    dpi: int = 80,
) -> bytes:
    """A PNG of :func:`scatter_on` for one view, with a title counting the visible points.

    Taught in ``notebooks/08_embedding_explorer.ipynb``. Uses matplotlib's Agg canvas
    directly (no pyplot, no global state), so it works inside widget callbacks.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    mappable = scatter_on(ax, view, visible, color_by, selected)
    if mappable is not None:
        fig.colorbar(mappable, ax=ax, label="level" if view.kind == "nodes" else "mean level")
    ax.set_title(f"{view.name}: {len(visible)} of {len(view)} points", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class Explorer:
    """The ipywidgets embedding explorer for a live kernel (``08_embedding_explorer``).

    Controls: ``embedding`` (which view), ``color_by`` (type, family, level) and the
    filters ``type``, ``family`` and ``level``. Changing any control redraws the
    scatter (``plot``, a PNG), refreshes ``status`` and the ``points`` list of the
    visible points; selecting an entry of ``points`` (click it, or call
    :meth:`select`) rings the point in the plot and shows its thumbnail
    (``thumbnail``) and its scores (``details``). Display it as the last expression
    of a cell, or with ``display(explorer.widget)``.

    Every control fires ordinary ipywidgets callbacks, so setting
    ``explorer.type.value = 10`` from code has the same effect as choosing it.
    """

    def __init__(self, data: ExplorerData, plot_size: tuple[float, float] = (6.4, 4.8)):
        import ipywidgets as w

        if not data.views:
            raise ConfigError("the explorer needs at least one view")
        self.data = data
        self.plot_size = plot_size
        layout = w.Layout(width="auto")
        style = {"description_width": "initial"}
        self.embedding = w.Dropdown(
            options=list(data.views), description="embedding", style=style, layout=layout
        )
        self.color_by = w.Dropdown(
            options=list(COLOR_BY), description="colour by", style=style, layout=layout
        )
        self.type = w.Dropdown(
            options=[("all", 0)] + [(f"{t}: {type_name(t)}", t) for t in data.types],
            description="type", style=style, layout=layout,
        )  # fmt: skip
        self.family = w.Dropdown(
            options=["all"] + data.families, description="family", style=style, layout=layout
        )
        self.level = w.Dropdown(
            options=[("all", 0)] + [(str(lv), lv) for lv in data.levels],
            description="level", style=style, layout=layout,
        )  # fmt: skip
        self.plot = w.Image(format="png")
        self.status = w.HTML()
        self.points = w.Select(options=[], rows=8, layout=w.Layout(width="320px"))
        self.thumbnail = w.Image(format="jpeg", layout=w.Layout(width="160px"))
        self.details = w.HTML()
        self._selected: int | None = None
        for control in self.controls.values():
            control.observe(self._on_control, names="value")
        self.points.observe(self._on_point, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.embedding, self.color_by]),
                w.HBox([self.type, self.family, self.level]),
                w.HBox(
                    [self.plot, w.VBox([self.status, self.points, self.thumbnail, self.details])]
                ),
            ]
        )
        self.refresh()

    @property
    def controls(self) -> dict:
        """The five controls by name: embedding, color_by, type, family, level."""
        return {
            "embedding": self.embedding,
            "color_by": self.color_by,
            "type": self.type,
            "family": self.family,
            "level": self.level,
        }

    @property
    def view(self) -> View:
        return self.data.views[self.embedding.value]

    def visible(self) -> np.ndarray:
        """Indices (into the current view) of the points that pass the filters."""
        return self.data.visible(
            self.embedding.value, self.type.value, self.family.value, self.level.value
        )

    def refresh(self) -> None:
        """Redraw everything from the controls' current values."""
        view, vis = self.view, self.visible()
        self._selected = None
        self.points.unobserve(self._on_point, names="value")
        self.points.options = [(view.text[i], int(i)) for i in vis]
        self.points.value = None
        self.points.observe(self._on_point, names="value")
        if len(vis):
            self.status.value = (
                f"{len(vis)} of {len(view)} {'images' if view.kind == 'nodes' else 'batches'} "
                "shown; pick one in the list"
            )
        else:
            self.status.value = "no point matches these filters (a type outside the family?)"
        self.thumbnail.value = b""
        self.details.value = ""
        self._draw()

    def select(self, index: int | None) -> None:
        """Select point ``index`` of the current view (it must be visible); None clears."""
        self.points.value = None if index is None else int(index)

    def _draw(self) -> None:
        self.plot.value = render_scatter(
            self.view, self.visible(), self.color_by.value, self._selected, self.plot_size
        )

    def _on_control(self, change) -> None:
        self.refresh()

    def _on_point(self, change) -> None:
        i = change["new"]
        self._selected = None if i is None else int(i)
        if i is None:
            self.thumbnail.value = b""
            self.details.value = ""
        else:
            view = self.view
            self.thumbnail.value = self.data.thumbnails[int(view.thumb[i])]
            self.details.value = _point_details(self.data, view, int(i))
        self._draw()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# ---------------------------------------------------------------------------------------
# 3b. the static, self-contained explorer (plotly.js inline)
# ---------------------------------------------------------------------------------------

_JS = r"""
(function () {
  var root = document.getElementById("__ID__");
  var data = JSON.parse(root.querySelector("script.gx-data").textContent);
  var plot = root.querySelector(".gx-plot");
  var thumb = root.querySelector(".gx-thumb");
  var details = root.querySelector(".gx-details");
  var status = root.querySelector(".gx-status");
  var ctl = {};
  root.querySelectorAll("select[data-control]").forEach(function (s) {
    ctl[s.getAttribute("data-control")] = s;
    s.addEventListener("change", draw);
  });
  var current = null, bound = false;
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }
  function visible(v) {
    var t = +ctl.type.value, f = ctl.family.value, l = +ctl.level.value, out = [];
    for (var i = 0; i < v.x.length; i++) {
      if (t && v.type[i] !== t) continue;
      if (f !== "all" && data.family[v.type[i]] !== f) continue;
      if (l && v.levels[i].indexOf(l) < 0) continue;
      out.push(i);
    }
    return out;
  }
  function show(i) {
    var v = current, what = v.kind === "graph codes" ? "batch mean" : "image";
    thumb.src = "data:image/jpeg;base64," + data.thumbs[v.thumb[i]];
    thumb.style.visibility = "visible";
    details.innerHTML = "<b>" + esc(v.text[i]) + "</b><br>type " + v.type[i] + ": " +
      esc(data.typename[v.type[i]]) + " (" + esc(data.family[v.type[i]]) + ")<br>level (" +
      what + "): " + v.level[i].toFixed(v.kind === "nodes" ? 0 : 2) +
      "<br>pseudo-quality score (" + what + "): " +
      v.score[i].toFixed(3) + "<br>predicted level, " + esc(v.model) + " (" + what + "): " +
      v.pred[i].toFixed(2);
    root.setAttribute("data-shown-point", v.text[i]);
  }
  function draw() {
    var v = data.views[ctl.view.value], by = ctl.color.value, idx = visible(v);
    current = v;
    var sym = v.kind === "nodes" ? "circle" : "diamond", traces = [{
      x: v.x, y: v.y, mode: "markers", type: "scatter", hoverinfo: "skip", showlegend: false,
      marker: {color: "#dddddd", size: 5}, name: "other points"
    }];
    function pick(list, key) { return list.map(function (i) { return v[key][i]; }); }
    if (by === "level") {
      traces.push({x: pick(idx, "x"), y: pick(idx, "y"), customdata: idx, text: pick(idx, "text"),
        mode: "markers", type: "scatter", name: "level", hovertemplate: "%{text}<extra></extra>",
        marker: {color: pick(idx, "level"), colorscale: "Viridis", cmin: 1, cmax: 5, size: 9,
          symbol: sym, line: {color: "white", width: 0.5},
          colorbar: {title: {text: v.kind === "nodes" ? "level" : "mean level"}}}});
    } else {
      var keys = by === "type" ? data.types.map(function (t) { return data.typename[t]; })
                               : data.families;
      keys.forEach(function (key, c) {
        var pts = idx.filter(function (i) {
          return (by === "type" ? data.typename[v.type[i]] : data.family[v.type[i]]) === key;
        });
        if (!pts.length) return;
        traces.push({x: pick(pts, "x"), y: pick(pts, "y"), customdata: pts,
          text: pick(pts, "text"), mode: "markers", type: "scatter", name: key,
          hovertemplate: "%{text}<extra></extra>",
          marker: {color: data.palette[c % data.palette.length], size: 9, symbol: sym,
            line: {color: "white", width: 0.5}}});
      });
    }
    var layout = {title: {text: v.name + ": " + idx.length + " of " + v.x.length + " points",
        font: {size: 13}, x: 0.01, xanchor: "left"}, hovermode: "closest",
      margin: {l: 30, r: 10, t: 40, b: 30},
      xaxis: {title: {text: "UMAP 1"}, showticklabels: false, zeroline: false},
      yaxis: {title: {text: "UMAP 2"}, showticklabels: false, zeroline: false},
      legend: {font: {size: 10}}, height: 480};
    Plotly.react(plot, traces, layout, {displaylogo: false, responsive: true});
    status.textContent = idx.length + " of " + v.x.length + " " +
      (v.kind === "nodes" ? "images" : "batches") + " shown; hover over or click a point";
    root.setAttribute("data-shown", String(idx.length));
    if (!bound) {
      bound = true;
      plot.on("plotly_hover", function (e) { show(e.points[0].customdata); });
      plot.on("plotly_click", function (e) { show(e.points[0].customdata); });
    }
  }
  draw();
})();
"""


def _options(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(
        f'<option value="{html.escape(str(v))}">{html.escape(str(label))}</option>'
        for v, label in pairs
    )


class StaticExplorer:
    """A self-contained interactive explorer as HTML (``08_embedding_explorer``).

    Shown inline in a notebook (``_repr_html_``), it is kept by the executed notebook and
    rendered by the book as raw HTML: plotly.js is embedded (no CDN), the thumbnails are
    base64 JPEG, so it works offline and without a kernel. :meth:`save` writes a
    standalone page.
    """

    def __init__(self, fragment: str, element_id: str):
        self.fragment = fragment
        self.element_id = element_id

    def _repr_html_(self) -> str:
        return self.fragment

    def page(self, title: str = "GMIQA embedding explorer") -> str:
        """A complete HTML page around the fragment."""
        return (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title></head>\n<body>\n{self.fragment}\n</body></html>\n"
        )

    def save(self, path: str | Path, title: str = "GMIQA embedding explorer") -> Path:
        """Write :meth:`page` to ``path`` atomically."""
        return atomic_write_text(Path(path), self.page(title))

    def __len__(self) -> int:
        return len(self.fragment)


def static_explorer(
    data: ExplorerData, title: str = "", include_plotlyjs: bool = True
) -> StaticExplorer:
    """Build the self-contained interactive explorer (see :class:`StaticExplorer`).

    Taught in ``notebooks/08_embedding_explorer.ipynb``. ``include_plotlyjs=False``
    leaves plotly.js out, for a page that already loads it. Element ids are derived from
    the data, so the same data give the same HTML.
    """
    views = {}
    for name, v in data.views.items():
        views[name] = {
            "name": name,
            "kind": v.kind,
            "model": v.model,
            "x": [round(float(a), 4) for a in v.xy[:, 0]],
            "y": [round(float(a), 4) for a in v.xy[:, 1]],
            "type": [int(t) for t in v.types],
            "level": [round(float(a), 3) for a in v.level],
            "levels": [list(ls) for ls in v.levels],
            "score": [round(float(a), 4) for a in v.score],
            "pred": [round(float(a), 3) for a in v.level_pred],
            "thumb": [int(t) for t in v.thumb],
            "text": list(v.text),
        }
    payload = {
        "views": views,
        "thumbs": [base64.b64encode(b).decode("ascii") for b in data.thumbnails],
        "types": data.types,
        "typename": {t: type_name(t) for t in data.types},
        "family": {t: type_family(t) for t in data.types},
        "families": data.families,
        "palette": list(PALETTE),
    }
    blob = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    element_id = "gmiqa-explorer-" + hashlib.sha256(blob.encode()).hexdigest()[:12]
    select = 'style="margin-right:1em"'
    controls = (
        f'<label>embedding <select data-control="view" {select}>'
        f"{_options((n, n) for n in data.views)}</select></label>"
        f'<label>colour by <select data-control="color" {select}>'
        f"{_options((c, c) for c in COLOR_BY)}</select></label>"
        f'<label>type <select data-control="type" {select}>'
        f"{_options([('0', 'all')] + [(str(t), f'{t}: {type_name(t)}') for t in data.types])}"
        "</select></label>"
        f'<label>family <select data-control="family" {select}>'
        f"{_options([('all', 'all')] + [(f, f) for f in data.families])}</select></label>"
        f'<label>level <select data-control="level" {select}>'
        f"{_options([('0', 'all')] + [(str(lv), str(lv)) for lv in data.levels])}"
        "</select></label>"
    )
    heading = f"<p><b>{html.escape(title)}</b></p>" if title else ""
    plotlyjs = ""
    if include_plotlyjs:
        from plotly.offline import get_plotlyjs

        plotlyjs = (
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
            f"<script>if (!window.Plotly) {{ {get_plotlyjs()} }}</script>\n"
        )
    fragment = (
        f'<div id="{element_id}" class="gmiqa-explorer" style="font-family:sans-serif;'
        'font-size:13px">'
        f'{heading}<div class="gx-controls" style="margin-bottom:6px">{controls}</div>'
        '<div style="display:flex;flex-wrap:wrap;align-items:flex-start">'
        '<div class="gx-plot" style="flex:1 1 440px;min-width:320px;height:480px"></div>'
        '<div style="width:210px;padding-left:10px">'
        '<div class="gx-status" style="margin-bottom:6px"></div>'
        '<img class="gx-thumb" alt="thumbnail of the point under the pointer" '
        'style="width:192px;max-width:100%;visibility:hidden;border:1px solid #ccc">'
        '<div class="gx-details" style="margin-top:6px">Hover over or click a point to see '
        "its image and scores.</div></div></div>"
        f'<script type="application/json" class="gx-data">{blob}</script></div>\n'
        f"{plotlyjs}<script>{_JS.replace('__ID__', element_id)}</script>\n"
    )
    return StaticExplorer(fragment, element_id)
