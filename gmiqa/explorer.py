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

The steps live in their own modules: extraction, k-NN accuracy and UMAP in
:mod:`gmiqa.embeddings`, the static front end in :mod:`gmiqa.explorer_static`; every
name is importable from here as before. :func:`knn_accuracy` measures, in the embedding's own dimensions (not in the UMAP
plane), how well the neighbours of a point predict its label.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence

import numpy as np

# The embedding and static-explorer steps live in their own modules; their names stay
# importable from here (``from gmiqa import explorer as ex; ex.extract_embeddings``).
from gmiqa.embeddings import (  # noqa: F401
    Embeddings,
    ExplorerData,
    ImageLabels,
    View,
    enable_umap_jit_cache,
    extract_embeddings,
    knn_accuracy,
    one_type_batches,
    project_umap,
    thumbnail,
    type_family,
    type_name,
)
from gmiqa.errors import ConfigError
from gmiqa.explorer_static import COLOR_BY, PALETTE, StaticExplorer, static_explorer  # noqa: F401

KINDS = ("nodes", "graph codes")


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
    from matplotlib.backends.backend_agg import (
        FigureCanvasAgg,  # optional (the notebooks extra): imported only where used
    )
    from matplotlib.figure import Figure  # optional (the notebooks extra): imported only where used

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
        import ipywidgets as w  # optional (the notebooks extra): imported only where used

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
        from IPython.display import display  # optional (Jupyter): imported only where used

        display(self.widget)
