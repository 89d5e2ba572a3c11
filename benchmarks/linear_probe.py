"""How much of a human-rated set's ranking a *frozen* network already holds: ridge regression.

A diagnostic beside fine-tuning (design chapter, "Fine-tuning that reads what
pre-training learned"): for every split of ``--splits`` 80/20 splits by image, a ridge
regression (regularisation chosen by leave-one-out on the training part) maps frozen
features of the training photos to their scores and is scored by SROCC on the test
photos. Read-outs:

- ``X``: the SPP features of each whole photo (what the quality head reads);
- ``X_grid``: the same, averaged over a 4 x 4 grid of 128-px windows;
- ``stages``: the per-channel mean and standard deviation of every backbone stage's map
  of the whole photo.

::

    python benchmarks/linear_probe.py --root LIVEC_DEV --init none= \\
        --init graph=runs/cpu/checkpoints/graph.safetensors --out probe.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from tqdm.auto import tqdm

from gmiqa.datasets import load_dataset
from gmiqa.datasets.splits import make_splits
from gmiqa.inference import grid_windows
from gmiqa.profiles import get_profile
from gmiqa.provenance import provenance
from gmiqa.training.finetune import build_initialised

STAGES = ("layer1", "layer2", "layer3", "layer4")


@torch.no_grad()
def features(model, dataset) -> dict[str, np.ndarray]:
    """The three read-outs of every photo of ``dataset`` (rows in dataset order)."""
    maps = {}
    hooks = [getattr(model.backbone, k).register_forward_hook(
        lambda _m, _i, out, k=k: maps.__setitem__(k, out)) for k in STAGES]  # fmt: skip
    rows = {"X": [], "X_grid": [], "stages": []}
    try:
        for i in tqdm(range(len(dataset)), desc="features", leave=False):
            x = dataset[i]["image"]
            rows["X"].append(model.features(x[None])[0].numpy())
            stats = [torch.cat([maps[k][0].mean((1, 2)), maps[k][0].std((1, 2))]) for k in STAGES]
            rows["stages"].append(torch.cat(stats).numpy())
            h, w = x.shape[1:]
            windows = [x[:, t : t + 128, c : c + 128] for t, c in grid_windows(h, w, 128, 4)]
            rows["X_grid"].append(model.features(torch.stack(windows)).mean(0).numpy())
    finally:
        for hook in hooks:
            hook.remove()
    return {k: np.stack(v) for k, v in rows.items()}


def ridge_srocc(feats: np.ndarray, scores: np.ndarray, splits) -> list[float]:
    out = []
    for train, test in splits:
        mu, sd = feats[train].mean(0), feats[train].std(0) + 1e-6
        z = (feats - mu) / sd
        model = RidgeCV(alphas=np.logspace(-1, 5, 13)).fit(z[train], scores[train])
        out.append(float(spearmanr(model.predict(z[test]), scores[test])[0]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--dataset", default="livec")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--init", action="append", default=[], help="ROW=CHECKPOINT (ROW= random)")
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    profile = get_profile(args.profile)
    dataset = load_dataset(args.dataset, args.root)
    scores = np.asarray([r.score for r in dataset.records])
    splits = make_splits(dataset.records, args.splits, 0.8, args.seed, by="image")
    rows = {}
    for spec in args.init or ["none="]:
        row, _, path = spec.partition("=")
        model = build_initialised(profile, path or None, 0).eval()
        for readout, feats in features(model, dataset).items():
            sr = ridge_srocc(feats, scores, splits)
            rows[f"{row}/{readout}"] = {"srocc_median": float(np.median(sr)),
                                        "srocc_q25": float(np.percentile(sr, 25)),
                                        "srocc_q75": float(np.percentile(sr, 75)),
                                        "per_split_srocc": sr}  # fmt: skip
            print(f"{row:>8} {readout:>7}: median SROCC {np.median(sr):.3f}", flush=True)
    args.out.write_text(json.dumps({"rows": rows, "seed": args.seed, "root": str(args.root),
                                    "provenance": provenance(device="cpu")}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
