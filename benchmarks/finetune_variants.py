"""Fine-tuning recipe variants on a human-rated set, every row on the same splits.

Each variant is the ``cpu`` profile's fine-tuning with some settings changed
(:data:`VARIANTS`); each is run from every initialisation given with ``--init`` and
written as ``OUT/<variant>-<seed>.json``: per-split SROCC of every row, its median,
spread, and the settings. Reruns reuse finished files (and finished splits). This is how
the fine-tuning recipe of the ``cpu`` profile was chosen (``data/results/
recipe-search-livec-cpu.json``, the design chapter's appendix)::

    python benchmarks/finetune_variants.py --root LIVEC_DEV \\
        --init none= --init graph=runs/cpu/checkpoints/graph.safetensors \\
        --variants paper,grid4 --splits 10 --seed 0 --out runs/variants
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from gmiqa.datasets import load_dataset
from gmiqa.profiles import get_profile
from gmiqa.provenance import provenance
from gmiqa.results import make_result, write_result
from gmiqa.training.finetune import run_finetune

# name -> changes to the base profile's fine-tuning settings (Profile.replace)
VARIANTS: dict[str, dict] = {
    "base": {},
    "whole": {"eval_crops": 0},
    "grid2": {"eval_crops": 2},
    "grid4": {"eval_crops": 4},
    "grid4_rank": {"eval_crops": 4, "loss": "mse+rank"},
    "grid4_e24": {"eval_crops": 4, "epochs": 24},
    "grid4_freeze2": {"eval_crops": 4, "freeze_backbone_epochs": 2},
    "grid4_crop192": {"eval_crops": 4, "crop": 192},
    "grid4_lr3e-4": {"eval_crops": 4, "lr": 3e-4},
    "grid4_head10": {"eval_crops": 4, "head_lr_mult": 10.0},
    "grid4_rank_e24": {"eval_crops": 4, "loss": "mse+rank", "epochs": 24},
    "grid4_rank_head10": {"eval_crops": 4, "loss": "mse+rank", "head_lr_mult": 10.0},
    "grid4_rank_w3": {"eval_crops": 4, "loss": "mse+rank", "rank_weight": 3.0},
    "grid3_rank_crop192": {"eval_crops": 3, "loss": "mse+rank", "crop": 192},
    # the cpu recipe (grid4_rank_w3) with half the training photos re-stored as JPEG at
    # quality 30..95 (benchmarks/jpeg_storage.py, the design chapter's "JPEG storage")
    "base_jpeg30_95": {"jpeg_quality": [30, 95]},
    # the cpu recipe on photos resampled to a shorter side of N px before cropping and
    # scoring: a 128-px window then sees about as much of the scene as in pre-training
    # (160x224 images); the design chapter's "JPEG-stored photos"
    "base_short224": {"resize_short": 224},
    "base_short288": {"resize_short": 288},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="the dataset folder")
    ap.add_argument("--dataset", default="livec")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--init", action="append", default=[],
                    help="ROW=CHECKPOINT (ROW= for a random start); repeat")  # fmt: skip
    ap.add_argument("--variants", default="base", help="comma-separated names of VARIANTS")
    ap.add_argument("--set", action="append", default=[], metavar="NAME:KEY=VALUE",
                    help="an extra variant: NAME:key=value[,key=value] (JSON values)")  # fmt: skip
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, action="append", required=True,
                    help="results folder (with --collect: repeat for each folder to gather)")  # fmt: skip
    ap.add_argument("--collect", type=Path, default=None, metavar="RESULT_JSON",
                    help="gather every OUT/*.json into one gmiqa-result/1 file and stop")  # fmt: skip
    args = ap.parse_args(argv)
    if args.collect is not None:
        return collect(args.out, args.collect, args.profile, args.dataset)
    if len(args.out) != 1:
        ap.error("give one --out when running variants")
    args.out = args.out[0]
    variants = dict(VARIANTS)
    for spec in args.set:
        name, _, body = spec.partition(":")
        changes = {}
        for item in body.split(","):
            key, _, value = item.partition("=")
            changes[key.strip()] = json.loads(value)
        variants[name] = changes
    inits = {}
    for spec in args.init or ["none="]:
        row, _, path = spec.partition("=")
        inits[row] = path or None
    base = get_profile(args.profile)
    dataset = load_dataset(args.dataset, args.root)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.variants.split(","):
        if name not in variants:
            print(f"unknown variant {name!r}: choose from {', '.join(variants)}", file=sys.stderr)
            return 2
        profile = base.replace(finetune=variants[name])  # stored names (eval_crops) too
        rows = {}
        for row, init in inits.items():
            out = args.out / "runs" / f"{name}-{row}-{args.seed}.json"
            t0 = time.perf_counter()
            res = run_finetune(profile, dataset, args.dataset, init, out, args.splits,
                               "cpu", args.seed, progress=False, work_dir=args.out / "work")  # fmt: skip
            sr = np.asarray([s["metrics"]["srocc"] for s in res["splits"]])
            rows[row] = {
                "init": init,
                "srocc_median": float(np.median(sr)),
                "srocc_q25": float(np.percentile(sr, 25)),
                "srocc_q75": float(np.percentile(sr, 75)),
                "per_split_srocc": sr.tolist(),
                "plcc_median": float(np.median([s["metrics"]["plcc"] for s in res["splits"]])),
                "seconds": float(sum(s.get("seconds", 0.0) for s in res["splits"])),
                "wall_seconds": time.perf_counter() - t0,
            }
            print(f"{name:>16} {row:>8} seed {args.seed}: median SROCC {rows[row]['srocc_median']:.3f}"
                  f" (IQR {rows[row]['srocc_q25']:.3f}-{rows[row]['srocc_q75']:.3f})", flush=True)  # fmt: skip
        record = {"variant": name, "changes": variants[name], "seed": args.seed,
                  "splits": args.splits, "finetune": profile.to_dict()["finetune"], "rows": rows,
                  "dataset_root": str(args.root), "provenance": provenance(device="cpu")}  # fmt: skip
        (args.out / f"{name}-{args.seed}.json").write_text(json.dumps(record, indent=1))
    return 0


def finished_runs(folders: list[Path]):
    """Every run under ``folders`` whose splits all finished, as ``(data, variant, row,
    seed, result)``: ``data`` is the name of the folder the runs read (recorded by
    :func:`main`), ``result`` the run's file as :func:`run_finetune` wrote it."""
    for folder in folders:
        roots = {json.loads(p.read_text()).get("dataset_root") for p in folder.glob("*.json")}
        roots.discard(None)
        data = Path(roots.pop()).name if len(roots) == 1 else folder.name
        for path in sorted((folder / "runs").glob("*.json")):
            if path.name.endswith(".partial.json"):
                continue
            variant, row, seed = path.stem.rsplit("-", 2)
            res = json.loads(path.read_text())
            if len(res["splits"]) == res["config"]["splits"]:
                yield data, variant, row, int(seed), res


def collect(folders: list[Path], result_path: Path, profile: str, dataset: str) -> int:
    """Every finished run under ``folders`` (``<folder>/runs/<variant>-<row>-<seed>.json``)
    as one result: a row per (data folder, variant, initialisation, split seed) with its
    per-split SROCC, median and interquartile range, and the commit it ran at.
    """
    runs = []
    for data, variant, row, seed, res in finished_runs(folders):
        sr = np.asarray([s["metrics"]["srocc"] for s in res["splits"]])
        if variant in VARIANTS:
            runs.append({
                "data": data, "variant": variant, "changes": VARIANTS[variant], "init": row,
                "seed": int(seed), "splits": len(sr),
                "srocc_median": float(np.median(sr)),
                "srocc_q25": float(np.percentile(sr, 25)),
                "srocc_q75": float(np.percentile(sr, 75)),
                "plcc_median": float(np.median([s["metrics"]["plcc"] for s in res["splits"]])),
                "per_split_srocc": sr.tolist(),
                "train_seconds": float(sum(s.get("seconds", 0.0) for s in res["splits"])),
                "commit": res["provenance"]["commit"],
            })  # fmt: skip
    if not runs:
        print(f"no finished variant runs under {', '.join(map(str, folders))}", file=sys.stderr)
        return 2
    commits = sorted({r["commit"] for r in runs})
    doc = make_result(
        {"runs": runs},
        profile=profile,
        dataset=dataset,
        command="python benchmarks/finetune_variants.py --root DATA --init ROW=CKPT "
        "--variants NAMES --seed S --out DIR (one call per data folder and seed), then "
        "--collect RESULT --out DIR [--out DIR ...]",
        title=f"Fine-tuning recipe variants on {dataset}, profile {profile}: every variant "
        "run to the end, per split, from each initialisation",
        notes="rows ran at the commits " + ", ".join(commits),
        device="cpu",
    )
    write_result(result_path, doc)
    print(f"written: {result_path} ({len(runs)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
