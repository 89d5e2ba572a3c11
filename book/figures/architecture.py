"""Draw book/figures/architecture.svg, the GMIQA architecture figure of the intro.

Run from the repository root: ``python book/figures/architecture.py`` (needs matplotlib).
The SVG is committed; the book build does not run this script.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 10})

SHARED = "#dbe9f6"
STAGE = {1: "#fde7c8", 2: "#dff2d8", 3: "#efe0f5"}


def box(ax, x, y, w, h, text, color, bold=False):
    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=color, edgecolor="#444444", linewidth=1.0,
        )
    )  # fmt: skip
    ax.text(
        x + w / 2, y + h / 2, text, ha="center", va="center",
        fontsize=9.5, fontweight="bold" if bold else "normal", linespacing=1.3,
    )  # fmt: skip


def arrow(ax, start, end, text=""):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#333333", lw=1.1)
    )
    if text:
        ax.text((start[0] + end[0]) / 2 + 0.08, (start[1] + end[1]) / 2, text, fontsize=9,
                va="center", color="#333333")  # fmt: skip


def main(out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 6.0))
    ax.set_xlim(0, 9.3)
    ax.set_ylim(0, 6.2)
    ax.axis("off")

    # Shared trunk, left column.
    box(ax, 0.1, 5.35, 2.6, 0.65, "image, native size\n(no crop, no resize)", "#ffffff")
    box(ax, 0.1, 4.25, 2.6, 0.75, "SCNet-50 backbone\nself-calibrated bottlenecks", SHARED, True)
    box(ax, 0.1, 3.15, 2.6, 0.75, "1x1 reduce, SPP (1, 2, 4),\nlinear projection", SHARED, True)
    box(ax, 0.1, 2.2, 2.6, 0.6, "features X (N x D)", "#ffffff")
    arrow(ax, (1.4, 5.35), (1.4, 5.0))
    arrow(ax, (1.4, 4.25), (1.4, 3.9))
    arrow(ax, (1.4, 3.15), (1.4, 2.8))

    # Graph module (middle column) and the three stages' heads (right column).
    middle = [
        ((3.2, 3.15, 2.7, 0.7), "node builder (MLP)\nV: node embeddings", SHARED),
        ((3.2, 1.85, 2.7, 0.95), "edges x_i ⊙ x_j, GCN-E\n(a GCN over the N² edges)\nE: edge embeddings", SHARED),
        ((6.3, 4.95, 2.9, 1.0), "stage 1: quality regressor\nMSE, MAML over\ndistortion tasks", STAGE[1]),
        ((6.3, 3.35, 2.9, 1.3), "stage 2: type discriminator\nGCN-V on V, adjacency mean(E)\ngraph code, triplet loss\n+ level head (μ, σ), MSE", STAGE[2]),
        ((6.3, 1.95, 2.9, 1.05), "stage 3: quality head\nFC([V_i ; E_ii]) → score\nMSE on human ratings", STAGE[3]),
    ]  # fmt: skip
    for (x, y, w, h), text, color in middle:
        box(ax, x, y, w, h, text, color, bold=color == SHARED)
    for start, end in [
        ((2.7, 2.6), (3.2, 3.4)),  # X -> nodes
        ((2.7, 2.45), (3.2, 2.3)),  # X -> edges
        ((2.7, 3.85), (6.3, 5.2)),  # pooled features -> stage 1
        ((5.9, 3.65), (6.3, 4.0)),  # nodes -> stage 2
        ((5.9, 2.6), (6.3, 3.6)),  # edges -> stage 2
        ((5.9, 3.3), (6.3, 2.7)),  # nodes -> stage 3
        ((5.9, 2.2), (6.3, 2.3)),  # edges -> stage 3
    ]:
        arrow(ax, start, end)

    ax.text(
        0.1, 1.45,
        "Blue: the network every stage shares (each stage starts from the previous one's weights).\n"
        "Stage 1 trains backbone + SPP with a small regressor; stage 2 adds the graph module and\n"
        "the two discriminators on one-type batches; stage 3 scores each image from its own node\n"
        "and self-edge, so a score never depends on the rest of the batch.",
        fontsize=9.5, va="top", linespacing=1.4,
    )  # fmt: skip
    fig.savefig(out, format="svg", bbox_inches="tight")
    return out


if __name__ == "__main__":
    print(main(Path(__file__).with_name("architecture.svg")))
