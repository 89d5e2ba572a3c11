"""A LIVEC-layout set re-stored as JPEG at a quality drawn per photo: a proxy for JPEG storage.

The LIVEC development set holds only photos that LIVEC stores losslessly (BMP). Most of
LIVEC is stored as JPEG, each photo at whatever quality its camera or editor chose; that
compression is independent of what people rated, yet it is exactly what a network
pre-trained on KADID's JPEG distortions has learnt to see. This script writes a copy of a
LIVEC-layout folder whose photos are stored as JPEG, each at a quality drawn uniformly from
``--quality LO,HI`` (seeded, so independent of the MOS), with 4:2:0 chroma subsampling
as cameras store it, and the same score files. The fine-tuning variants are then run on it
with ``benchmarks/finetune_variants.py`` (the design chapter, "JPEG storage")::

    python benchmarks/jpeg_storage.py make --root LIVEC_DEV --out runs/livec_dev_jpegmix \\
        --quality 50,95 --seed 20261205
    python benchmarks/finetune_variants.py --root runs/livec_dev_jpegmix \\
        --init graph=runs/cpu/checkpoints/graph.safetensors \\
        --variants base,base_jpeg30_95 --seed 0 --out runs/var_jpegmix   # and --seed 1
    python benchmarks/finetune_variants.py --root LIVEC_DEV --init graph=... \\
        --variants base_jpeg30_95 --seed 0 --out runs/var_livec_dev      # and --seed 1
    python benchmarks/jpeg_storage.py collect --variants runs/var_livec_dev \\
        runs/var_jpegmix --roots LIVEC_DEV runs/livec_dev_jpegmix \\
        --out data/results/jpeg-storage-livec-cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from gmiqa.atomic import atomic_write
from gmiqa.baselines import evaluate_splits
from gmiqa.datasets import load_dataset
from gmiqa.datasets.livec import MOS_FILE, NAMES_FILE, find_root
from gmiqa.datasets.livec_dev import STD_FILE
from gmiqa.datasets.matfiles import cell_strings, load_mat_variable
from gmiqa.datasets.splits import finetune_splits
from gmiqa.datasets.table import split_by_for
from gmiqa.errors import ConfigError, DatasetError, GMIQAError
from gmiqa.evidence import recipe_fingerprint
from gmiqa.profiles import get_profile
from gmiqa.results import make_result, script_command, write_result

# run as a script, the benchmarks folder is on sys.path: the variant runs are read the way
# finetune_variants.py reads them (one reader for both)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_variants import finished_runs  # noqa: E402


def write_jpeg_copy(root, out, quality: tuple[int, int], seed: int) -> dict[str, int]:
    """Write ``out/ChallengeDB_release`` with every listed photo of ``root`` stored as JPEG.

    Returns {new file name: quality}. The first 7 entries of the name list (LIVEC's
    training images, not shipped) are kept as they are.
    """
    lo, hi = quality
    if not 1 <= lo <= hi <= 95:
        raise ConfigError(f"--quality {lo},{hi}: need 1 <= LO <= HI <= 95")
    folder = find_root(root)
    names = cell_strings(
        load_mat_variable(folder / NAMES_FILE, "AllImages_release"), folder / NAMES_FILE
    )
    dest = Path(out) / "ChallengeDB_release"
    (dest / "Images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    chosen: dict[str, int] = {}
    new_names = []
    for name in names:
        src = folder / "Images" / name
        if not src.is_file():  # the 7 training images of the release are listed, not shipped
            new_names.append(name)
            continue
        q = int(rng.integers(lo, hi + 1))
        target = dest / "Images" / (Path(name).stem + ".jpg")
        with Image.open(src) as im:
            rgb = im.convert("RGB")
        atomic_write(target, lambda tmp, p=rgb, q=q: p.save(tmp, format="JPEG", quality=q,
                                                            subsampling=2))  # fmt: skip
        chosen[target.name] = q
        new_names.append(target.name)
    cell = np.empty((len(new_names), 1), dtype=object)
    for i, n in enumerate(new_names):
        cell[i, 0] = np.array([n])
    atomic_write(dest / NAMES_FILE, lambda tmp: scipy.io.savemat(
        tmp, {"AllImages_release": cell}, format="5", appendmat=False))  # fmt: skip
    for rel in (MOS_FILE, STD_FILE):
        data = (folder / rel).read_bytes()
        atomic_write(dest / rel, lambda tmp, d=data: Path(tmp).write_bytes(d))
    atomic_write(dest / "qualities.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(chosen, indent=1)))  # fmt: skip
    return chosen


def _run_rows(folders: list[Path]) -> list[dict]:
    """Every finished ``finetune_variants.py`` run under ``folders`` as a row: its data
    folder, variant, start, split seed, per-split SROCC and the commit it ran at."""
    return [{"data": data, "method": variant, "init": init, "seed": seed,
             "per_split_srocc": [s["metrics"]["srocc"] for s in res["splits"]],
             "commit": res["provenance"]["commit"],
             "jpeg_quality": res["config"]["profile"]["finetune"].get("jpeg_quality")}
            for data, variant, init, seed, res in finished_runs(folders)]  # fmt: skip


def _brisque_rows(roots: list[Path], seeds: list[int], splits: int, profile) -> list[dict]:
    """BRISQUE fitted on each split's training photos, on the splits fine-tuning uses."""
    rows = []
    for root in roots:
        dataset = load_dataset("livec", root)
        for seed in seeds:
            pairs = finetune_splits(dataset.records, splits, profile.finetune, seed,
                                    by=split_by_for("livec"))  # fmt: skip
            res = evaluate_splits("brisque", dataset, pairs, workers=2)
            rows.append({"data": Path(root).name, "method": "brisque", "init": None,
                         "seed": seed, "per_split_srocc": [m["srocc"] for m in res["per_split"]],
                         "commit": None})  # fmt: skip
    return rows


def collect(args) -> int:
    """Gather the GMIQA runs and measure BRISQUE on the same splits: one stored result."""
    profile = get_profile("cpu")
    rows = _run_rows(args.variants)
    if not rows:
        print(f"no finished runs under {', '.join(map(str, args.variants))}", file=sys.stderr)
        return 2
    seeds = sorted({r["seed"] for r in rows})
    rows += _brisque_rows(args.roots, seeds, args.splits, profile)
    for r in rows:
        sr = np.asarray(r["per_split_srocc"])
        r.update(srocc_median=float(np.median(sr)), srocc_q25=float(np.percentile(sr, 25)),
                 srocc_q75=float(np.percentile(sr, 75)))  # fmt: skip
    qualities = Path(args.roots[-1]) / "ChallengeDB_release" / "qualities.json"
    if not qualities.is_file():
        raise DatasetError(f"{qualities}: missing; the last --roots is the JPEG-stored copy")
    q = np.asarray(list(json.loads(qualities.read_text()).values()))
    metrics = {"rows": rows, "splits": args.splits, "recipe_fingerprint": recipe_fingerprint("cpu"),
               "stored_quality": {"min": int(q.min()), "max": int(q.max()),
                                  "median": float(np.median(q))}}  # fmt: skip
    doc = make_result(
        metrics,
        profile="cpu",
        dataset="livec",
        command=script_command("benchmarks/jpeg_storage.py"),
        title="JPEG storage: the cpu recipe, with JPEG re-storage in training, and BRISQUE, "
        "on the LIVEC development set as stored (lossless) and re-stored as JPEG",
        notes="GMIQA rows start from the cpu profile's stage-2 checkpoint (110 pristine "
        "photos); their commits are in the rows; BRISQUE is fitted per split",
        device="cpu",
    )
    write_result(args.out, doc)
    print(f"written: {args.out} ({len(rows)} rows)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("make", help="write the JPEG-stored copy")
    mk.add_argument("--root", required=True, help="a LIVEC-layout folder (the development set)")
    mk.add_argument("--out", required=True, type=Path)
    mk.add_argument("--quality", default="50,95", help="LO,HI: JPEG quality range (inclusive)")
    mk.add_argument("--seed", type=int, default=20261205)
    co = sub.add_parser("collect", help="gather runs, measure BRISQUE, write one result")
    co.add_argument("--variants", type=Path, nargs="+", required=True,
                    help="finetune_variants.py --out folders, one per data folder")  # fmt: skip
    co.add_argument("--roots", type=Path, nargs="+", required=True,
                    help="the data folders (the JPEG-stored copy last)")  # fmt: skip
    co.add_argument("--splits", type=int, default=10)
    co.add_argument("--out", type=Path, required=True, help="the result file")
    args = ap.parse_args(argv)
    try:
        if args.command == "collect":
            return collect(args)
        try:
            lo, hi = (int(v) for v in args.quality.split(","))
        except ValueError:
            raise ConfigError(f"--quality {args.quality!r}: give LO,HI, e.g. 50,95") from None
        chosen = write_jpeg_copy(args.root, args.out, (lo, hi), args.seed)
    except GMIQAError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    qs = np.array(list(chosen.values()))
    print(f"{len(qs)} photos stored as JPEG in {args.out}, quality {qs.min()}..{qs.max()} "
          f"(median {np.median(qs):.0f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
