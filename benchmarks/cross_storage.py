"""Does a model fine-tuned on one storage rank the other? LIVEC's BMP- and JPEG-stored photos.

The diagnosis of the design chapter's "JPEG-stored photos" section asks whether what the
network (or BRISQUE) learns from one development set carries to the other. For each
ordered pair (source, target) of ``--set`` folders and each of the first ``--splits``
fine-tuning splits of the source (the ablation's own splits, ``--split-seed``), this
script fine-tunes with the profile's recipe on the split's training photos, then scores

- the split's test photos of the source (*in-set*, what the ablation measures), and
- every photo of the target (*cross*: other photos, other storage, never trained on).

BRISQUE + SVR is fitted on the same training photos and scored the same way. A cross
SROCC near the target's own in-set SROCC means the two storages ask for the same
ranking; a cross SROCC far below it means what was learned is tied to the storage::

    python benchmarks/cross_storage.py --set livec_dev=LIVEC_DEV \\
        --set livec_dev_jpg=LIVEC_DEV_JPG --init graph=runs/cpu/checkpoints/graph.safetensors \\
        --splits 3 --out data/results/cross-storage-livec-cpu.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from gmiqa.baselines.brisque import BRISQUE, features_batch
from gmiqa.baselines.evaluation import targets
from gmiqa.datasets import load_dataset
from gmiqa.datasets.splits import finetune_splits
from gmiqa.datasets.table import split_by_for
from gmiqa.device import resolve_device
from gmiqa.errors import GMIQAError
from gmiqa.profiles import get_profile
from gmiqa.results import make_result, script_command, write_result
from gmiqa.training.evaluate import predict
from gmiqa.training.finetune import DecodedImages, finetune_split
from gmiqa.training.loop import step_seed


def _srocc(pred, target) -> float:
    return float(spearmanr(pred, target)[0])


def cross_pair(profile, source, target, init, splits: int, seed: int, device,
               methods=("gmiqa", "brisque")) -> dict:  # fmt: skip
    """In-set and cross SROCC per split of ``source`` for GMIQA (``init``) and BRISQUE."""
    s = profile.finetune
    split_list = finetune_splits(source.records, splits, s, seed, by=split_by_for("livec"))
    every = np.arange(len(target))
    target_mos = targets(target, every)
    rows = {m: {"in_set": [], "cross": []} for m in methods}
    if "brisque" in methods:  # features once per photo, not once per split
        feats = {name: features_batch([ds[i]["image"] for i in range(len(ds))])
                 for name, ds in (("source", source), ("target", target))}  # fmt: skip
    decoded = DecodedImages(source, resize_short=s.resize_short) if "gmiqa" in methods else None
    for k, (train, test) in enumerate(split_list[:splits]):
        if "brisque" in methods:
            brisque = BRISQUE.fit(features=feats["source"][train],
                                  scores=targets(source, train))  # fmt: skip
            b = rows["brisque"]
            b["in_set"].append(_srocc(brisque.predict_features(feats["source"][test]),
                                      targets(source, test)))  # fmt: skip
            b["cross"].append(_srocc(brisque.predict_features(feats["target"]), target_mos))
            print(f"  split {k}: brisque in-set {b['in_set'][-1]:.3f} cross {b['cross'][-1]:.3f}",
                  file=sys.stderr, flush=True)  # fmt: skip
        if "gmiqa" not in methods:
            continue
        res = finetune_split(profile, source, train, test, init, device, step_seed(seed, k, 5),
                             progress=False, decoded=decoded)  # fmt: skip
        model = res.pop("model")
        rows["gmiqa"]["in_set"].append(float(res["metrics"]["srocc"]))
        pred = predict(model, target, every, device, s.batch_size, profile.amp, None, s.crop,
                       s.eval_grid_side, resize_short=s.resize_short)  # fmt: skip
        rows["gmiqa"]["cross"].append(_srocc(pred["pred"], target_mos))
        g = rows["gmiqa"]
        print(f"  split {k}: gmiqa in-set {g['in_set'][-1]:.3f} cross {g['cross'][-1]:.3f}",
              file=sys.stderr, flush=True)  # fmt: skip
    for method in rows.values():
        for kind in ("in_set", "cross"):
            method[f"{kind}_median"] = float(np.median(method[kind]))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", required=True, metavar="NAME=ROOT",
                    help="a LIVEC-layout folder and its name; give two")  # fmt: skip
    ap.add_argument(
        "--init",
        default="graph=",
        metavar="NAME=CHECKPOINT",
        help="the initialisation (NAME= for a random start)",
    )
    ap.add_argument("--methods", default="gmiqa,brisque", help="comma list of gmiqa, brisque")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        if len(args.set) != 2 or any("=" not in s for s in args.set):
            raise ValueError("give exactly two --set NAME=ROOT")
        if "=" not in args.init:
            raise ValueError(f"--init {args.init!r}: give NAME=CHECKPOINT or NAME=")
        init_name, _, init_path = args.init.partition("=")
        if init_path and not Path(init_path).is_file():
            raise ValueError(f"--init {init_path}: no such checkpoint file")
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        if not methods or set(methods) - {"gmiqa", "brisque"}:
            raise ValueError(f"--methods {args.methods!r}: a comma list of gmiqa, brisque")
        if args.splits < 1:
            raise ValueError(f"--splits {args.splits}: give at least 1")
        profile = get_profile(args.profile)
        sets = {n: load_dataset("livec", r) for n, r in (s.split("=", 1) for s in args.set)}
        device = resolve_device(args.device)
        names = list(sets)
        pairs = {}
        for src, dst in ((names[0], names[1]), (names[1], names[0])):
            print(f"fine-tuned on {src}, scored on {dst}", file=sys.stderr, flush=True)
            pairs[f"{src}->{dst}"] = cross_pair(profile, sets[src], sets[dst], init_path or None,
                                                args.splits, args.split_seed, device,
                                                methods)  # fmt: skip
    except (GMIQAError, OSError, ValueError) as exc:
        print(f"cross_storage: error: {exc}", file=sys.stderr)
        return 2
    doc = make_result(
        {
            "init": init_name if "gmiqa" in methods else None,
            "splits": args.splits,
            "split_seed": args.split_seed,
            "pairs": pairs,
        },
        profile=profile.name,
        dataset=" and ".join(names),
        command=script_command("benchmarks/cross_storage.py", argv),
        title="Fine-tuned on one LIVEC storage, scored on the other (GMIQA and BRISQUE)",
        device=str(device),
    )
    write_result(args.out, doc)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
