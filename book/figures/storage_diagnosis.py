"""Draw book/figures/storage-diagnosis.svg, the design chapter's JPEG-storage diagnosis figure.

Run from the repository root: ``python book/figures/storage_diagnosis.py`` (needs
matplotlib). It reads ``data/results/storage-diagnosis-livec-cpu.json`` (made by
``benchmarks/storage_diagnosis.py``); the SVG is committed and the book build does not
run this script.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9})

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "data" / "results" / "storage-diagnosis-livec-cpu.json"
OUT = Path(__file__).with_name("storage-diagnosis.svg")
SHOWN = ("sharpness", "gradient", "noise", "contrast", "colourfulness", "dark", "bright",
         "blockiness", "kbytes")  # fmt: skip
COLOURS = {"livec_dev": "#4c72b0", "livec_dev_jpg": "#dd8452"}
LABELS = {"livec_dev": "livec_dev (BMP-stored)", "livec_dev_jpg": "livec_dev_jpg (JPEG-stored)"}


def main() -> Path:
    sets = json.loads(SOURCE.read_text())["metrics"]["sets"]
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.4), gridspec_kw={"width_ratios": [1.4, 1, 1]})
    ax = axes[0]
    y = np.arange(len(SHOWN))
    for k, (name, s) in enumerate(sets.items()):
        rho = [s["stats"][stat]["srocc_with_mos"] or 0.0 for stat in SHOWN]
        ax.barh(y + (k - 0.5) * 0.38, rho, height=0.36, color=COLOURS.get(name),
                label=LABELS.get(name, name))  # fmt: skip
    ax.set_yticks(y, SHOWN)
    ax.invert_yaxis()
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_xlabel("SROCC of the statistic with MOS")
    ax.set_title("(a) what the MOS follows, per set", fontsize=9)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    jpg = sets.get("livec_dev_jpg", {})
    photos = jpg.get("photo_errors", [])
    ax = axes[1]
    if photos:
        g = np.array([p["gmiqa"] for p in photos])
        b = np.array([p["brisque"] for p in photos])
        sc = ax.scatter(b, g, c=[p["mos"] for p in photos], s=9, cmap="viridis")
        lim = max(g.max(), b.max()) * 1.05
        ax.plot([0, lim], [0, lim], color="#444", lw=0.8)
        margin = jpg["margin"]
        ax.plot([0, lim - margin], [margin, lim], color="#c44", lw=0.8, ls="--")
        fig.colorbar(sc, ax=ax, fraction=0.05, pad=0.02).set_label("MOS", fontsize=8)
    ax.set_xlabel("BRISQUE rank error")
    ax.set_ylabel("GMIQA rank error")
    ax.set_title("(b) livec_dev_jpg, per photo (cpu)", fontsize=9)
    ax = axes[2]
    thirds = jpg.get("rank_error_by_mos_third", {})
    x = np.arange(3)
    for k, (method, colour) in enumerate((("gmiqa", "#55a868"), ("brisque", "#8172b3"))):
        if method in thirds:
            ax.bar(x + (k - 0.5) * 0.38, thirds[method], width=0.36, color=colour,
                   label="GMIQA (cpu)" if method == "gmiqa" else "BRISQUE + SVR")  # fmt: skip
    ax.set_xticks(x, ["lowest\nMOS third", "middle\nthird", "highest\nthird"])
    ax.set_ylabel("mean rank error")
    ax.set_title("(c) livec_dev_jpg, by MOS third", fontsize=9)
    ax.legend(fontsize=7.5, frameon=False)
    fig.tight_layout()
    fig.savefig(OUT, metadata={"Date": None})
    return OUT


if __name__ == "__main__":
    print(f"written: {main()}")
