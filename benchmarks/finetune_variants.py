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
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from gmiqa.datasets import load_dataset
from gmiqa.profiles import get_profile
from gmiqa.training.finetune import run_finetune

# name -> changes to the base profile's fine-tuning settings (dataclasses.replace)
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
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
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
        settings = dataclasses.replace(base.finetune, **variants[name])
        profile = base.replace(finetune=settings)
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
                  "splits": args.splits, "finetune": dataclasses.asdict(settings), "rows": rows}  # fmt: skip
        (args.out / f"{name}-{args.seed}.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
