"""The profile table in book/design.md says what gmiqa/profiles.py defines."""

from __future__ import annotations

import re

from gmiqa.book import REPO
from gmiqa.profiles import ALL_TYPES, PROFILES

ORDER = ("smoke", "cpu", "gpu")


def _cell(row: str, p) -> str:
    d, m, meta, pre, ft = p.data, p.model, p.meta, p.pretrain, p.finetune
    if row == "image size (W x H)":
        return f"{d.image_size[1]}x{d.image_size[0]}"
    if row == "pristine images":
        return "all found" if d.max_pristine is None else f"at most {d.max_pristine}"
    if row == "distortion types":
        return "all 25" if tuple(d.types) == ALL_TYPES else ", ".join(map(str, d.types))
    if row == "distorted images stored as":
        q = d.storage_jpeg
        return "lossless" if q is None else f"JPEG, quality {q[0]}-{q[1]}"
    if row == "backbone":
        if m.backbone in ("scnet50", "resnet50"):
            return m.backbone
        return f"{m.backbone}, blocks {tuple(m.layers)}, width {m.base_width}"
    if row == "feature / node / edge size":
        return f"{m.feature_dim} / {m.node_dim} / {m.edge_dim}"
    if row == "GCN-E layers":
        return str(m.edge_layers)
    if row == "meta-learning: steps x tasks":
        return f"{meta.steps} x {meta.tasks_per_step}"
    if row == "meta-learning: support / query images":
        return f"{meta.support_size} / {meta.query_size}"
    if row == "meta-learning: inner / outer lr":
        return f"{meta.inner_lr:g} / {meta.outer_lr:g}"
    if row == "graph pre-training: steps x batch":
        return f"{pre.steps} x {pre.batch_size}"
    if row == "graph pre-training: lr":
        return f"{pre.lr:g}"
    if row == "graph pre-training: at most passes over the images":
        return "no limit" if pre.max_epochs is None else f"{pre.max_epochs:g}"
    if row == "graph pre-training: two-pass step":
        return "yes" if pre.two_pass else "no"
    if row == "fine-tuning: epochs x batch":
        return f"{ft.epochs} x {ft.batch_size}"
    if row == "fine-tuning: lr, splits":
        return f"{ft.lr:g}, {ft.splits}"
    if row == "fine-tuning: test scoring, loss":
        scoring = (
            f"mean of {ft.eval_grid_side}x{ft.eval_grid_side} windows of {ft.crop} px"
            if ft.eval_grid_side
            else "whole image"
        )
        loss = ft.loss if ft.loss == "mse" else f"{ft.loss} (rank weight {ft.rank_weight:g})"
        return f"{scoring}, {loss}"
    if row == "bf16 autocast on CUDA":
        return "yes" if p.amp else "no"
    raise AssertionError(f"book/design.md: unknown row {row!r} in the profile table")


def test_profile_table_matches_profiles_py():
    text = (REPO / "book" / "design.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- profile-table:start -->(.*?)<!-- profile-table:end -->", text, re.S)
    assert block, "book/design.md: profile table markers missing"
    lines = [ln.strip() for ln in block.group(1).strip().splitlines()]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["setting", *ORDER], header
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    assert len(rows) >= 10
    for label, *cells in rows:
        expected = [_cell(label, PROFILES[name]) for name in ORDER]
        assert cells == expected, (
            f"book/design.md, row {label!r}: table says {cells}, gmiqa/profiles.py gives "
            f"{expected}; update the table"
        )
    # The settings quoted in the text below the table: the paper's margin in `gpu`, the
    # paper's level weight everywhere.
    assert PROFILES["gpu"].pretrain.margin == 0.1
    for p in PROFILES.values():
        assert p.pretrain.level_weight == 0.25


def test_cross_storage_table_is_the_stored_result():
    """The design chapter's cross-storage table shows data/results/cross-storage-livec-cpu.json."""
    import json

    text = (REPO / "book" / "design.md").read_text(encoding="utf-8")
    stored = json.loads((REPO / "data" / "results" / "cross-storage-livec-cpu.json").read_text())
    assert "+dirty" not in stored["provenance"]["commit"]
    pairs = stored["metrics"]["pairs"]
    results = REPO / "data" / "results"
    ablations = {"livec_dev": "ablation-livec-cpu.json",
                 "livec_dev_jpg": "ablation-livec_dev_jpg-cpu.json"}  # fmt: skip
    for source, target in (("livec_dev", "livec_dev_jpg"), ("livec_dev_jpg", "livec_dev")):
        for method, label in (("brisque", "BRISQUE + SVR"), ("gmiqa", "GMIQA")):
            row = pairs[f"{source}->{target}"][method]
            assert len(row["in_set"]) == len(row["cross"]) == stored["metrics"]["splits"] == 10
            expected = (f"| `{source}` ({'BMP' if source == 'livec_dev' else 'JPEG'}) | {label} "
                        f"| {row['in_set_median']:.3f} | {row['cross_median']:.3f} on `{target}` |")  # fmt: skip
            assert expected in text, expected
            # in-set: the stored ablation's row on the same splits, split for split
            rows = json.loads((results / ablations[source]).read_text())["metrics"]["rows"]
            assert (
                row["in_set"] == rows["graph" if method == "gmiqa" else method]["per_split_srocc"]
            )


def test_pretraining_variant_table_is_the_stored_results():
    """The adopted-storage table: the variant screen, the earlier recipe's ablations
    (data/results/earlier) and the stored ablations of the adopted recipe, whose graph rows
    are the screen's, split for split."""
    import json

    import numpy as np

    text = (REPO / "book" / "design.md").read_text(encoding="utf-8")
    results = REPO / "data" / "results"
    runs = json.loads((results / "pretrain-variants-livec-cpu.json").read_text())["metrics"]["runs"]
    variant = {(r["data"], r["seed"]): r for r in runs if r["init"] == "storage60_95"}
    assert all("+dirty" not in r["commit"] for r in variant.values())
    earlier_label = "meta + graph, lossless pre-training (earlier `cpu`)"
    adopted_label = "meta + graph, JPEG-stored pre-training (`cpu`)"
    cells = {"BRISQUE + SVR": [], earlier_label: [], adopted_label: [],
             "JPEG-stored pre-training minus BRISQUE": [],
             "splits above lossless pre-training": []}  # fmt: skip
    for data, stem in (
        ("livec_dev_jpg", "ablation-livec_dev_jpg-cpu"),
        ("livec_dev", "ablation-livec-cpu"),
    ):
        for seed in (0, 1):
            name = stem + ("-seed1" if seed else "") + ".json"
            rows = json.loads((results / name).read_text())["metrics"]["rows"]
            old = json.loads((results / "earlier" / name).read_text())["metrics"]["rows"]
            v = variant[(data, seed)]
            # gmiqa ablation after the adoption measured the screened model again
            assert rows["graph"]["per_split_srocc"] == v["per_split_srocc"], (data, seed)
            assert rows["brisque"]["per_split_srocc"] == old["brisque"]["per_split_srocc"]
            assert v["splits"] == len(old["graph"]["per_split_srocc"]) == 10
            paired = np.asarray(v["per_split_srocc"]) > np.asarray(old["graph"]["per_split_srocc"])
            cells["BRISQUE + SVR"].append(f"{rows['brisque']['srocc_median']:.3f}")
            cells[earlier_label].append(f"{old['graph']['srocc_median']:.3f}")
            cells[adopted_label].append(f"{rows['graph']['srocc_median']:.3f}")
            cells["JPEG-stored pre-training minus BRISQUE"].append(
                f"{rows['graph']['srocc_median'] - rows['brisque']['srocc_median']:+.3f}"
            )
            cells["splits above lossless pre-training"].append(f"{int(paired.sum())} of 10")
    for label, values in cells.items():
        line = f"| {label} | " + " | ".join(values) + " |"
        assert line in text, line


def test_view_variant_table_is_the_stored_screen():
    """The "how much of the photo a window sees" table: data/results/view-variants-livec-cpu.json
    beside the stored ablations' graph rows, with the paired splits above them."""
    import json

    import numpy as np

    text = (REPO / "book" / "design.md").read_text(encoding="utf-8")
    results = REPO / "data" / "results"
    doc = json.loads((results / "view-variants-livec-cpu.json").read_text())
    runs = {(r["data"], r["variant"], r["seed"]): r for r in doc["metrics"]["runs"]}
    assert all("+dirty" not in r["commit"] for r in runs.values())
    labels = {"whole": "`whole`: the whole photo through SPP",
              "base_short288": "`base_short288`: resampled to 288 px first"}  # fmt: skip
    base_cells, cells = [], {v: [] for v in labels}
    for data, stem in (
        ("livec_dev_jpg", "ablation-livec_dev_jpg-cpu"),
        ("livec_dev", "ablation-livec-cpu"),
    ):
        for seed in (0, 1):
            name = stem + ("-seed1" if seed else "") + ".json"
            graph = json.loads((results / name).read_text())["metrics"]["rows"]["graph"]
            base_cells.append(f"{graph['srocc_median']:.3f}")
            for variant in labels:
                r = runs[(data, variant, seed)]
                assert r["splits"] == 10 and r["init"] == "graph"
                above = np.asarray(r["per_split_srocc"]) > np.asarray(graph["per_split_srocc"])
                cells[variant].append(f"{r['srocc_median']:.3f} ({int(above.sum())} of 10)")
    lines = ["| `cpu` recipe: 4 x 4 windows at native size | " + " | ".join(base_cells) + " |"]
    lines += [f"| {labels[v]} | " + " | ".join(c) + " |" for v, c in cells.items()]
    for line in lines:
        assert line in text, line
