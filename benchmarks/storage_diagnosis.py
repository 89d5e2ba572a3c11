"""Why BRISQUE is strong on LIVEC's JPEG-stored photos: a diagnosis on the two development sets.

For each set (a LIVEC-layout folder) this script measures per-photo statistics (sharpness,
noise, exposure, colourfulness, 8x8 blockiness, the JPEG quality of the file, its size and
the camera named in EXIF), their rank correlation with the MOS, BRISQUE + SVR on the
fine-tuning's own splits, and, given fine-tuning result files (``run_finetune``'s, which
hold every split's test predictions), which photos BRISQUE ranks right and GMIQA wrong.
A photo's *rank error* in a split is ``|rank(prediction) - rank(MOS)| / (n - 1)`` among that
split's test photos, averaged over the splits that test it; "BRISQUE right, GMIQA wrong"
means GMIQA's rank error exceeds BRISQUE's by more than ``--margin`` (0.2). The design
chapter's "JPEG-stored photos" section shows the result::

    python benchmarks/storage_diagnosis.py --set livec_dev=LIVEC_DEV \\
        --set livec_dev_jpg=LIVEC_DEV_JPG \\
        --gmiqa livec_dev_jpg=runs/variants-jpg/runs/base-graph-0.json \\
        --out data/results/storage-diagnosis-livec-cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.stats import rankdata, spearmanr

from gmiqa.baselines import evaluate_splits
from gmiqa.datasets import load_dataset
from gmiqa.datasets.splits import finetune_splits
from gmiqa.datasets.table import split_by_for
from gmiqa.errors import GMIQAError
from gmiqa.profiles import get_profile
from gmiqa.results import make_result, script_command, write_result

# IJG's luminance quantisation table (quality 50); a file's table scaled against it gives
# the quality its encoder was asked for (the sum is independent of the table's order)
_IJG_LUMA_SUM = 3688  # the sum of its 64 entries

STATS = ("sharpness", "gradient", "noise", "luminance", "contrast", "dark", "bright",
         "colourfulness", "blockiness", "jpeg_quality", "kbytes")  # fmt: skip


def jpeg_quality(img: Image.Image) -> float:
    """The IJG quality of a JPEG file's luminance table (NaN for other formats)."""
    tables = getattr(img, "quantization", None)
    if not tables:
        return float("nan")
    scale = 100.0 * float(np.sum(tables[0])) / _IJG_LUMA_SUM
    return (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale


def noise_sigma(grey: np.ndarray) -> float:
    """Immerkaer's (1996) estimate of the noise's standard deviation, in grey levels."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], float)
    c = ndimage.convolve(grey, kernel)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(c).mean() / 6.0)


def photo_stats(path: str) -> dict:
    """The statistics of one photo file (its pixels in 0..255 and the file itself)."""
    with Image.open(path) as img:
        quality = jpeg_quality(img)
        exif = img.getexif()
        camera = exif.get(272) if exif else None
        rgb = np.asarray(img.convert("RGB"), np.float64)
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    sobel = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    dh = np.abs(np.diff(grey, axis=1))
    return {
        "sharpness": float(ndimage.laplace(grey).var()),  # variance of the Laplacian
        "gradient": float(sobel.mean()),
        "noise": noise_sigma(grey),
        "luminance": float(grey.mean()),
        "contrast": float(grey.std()),
        "dark": float((grey < 16).mean()),  # share of crushed shadows
        "bright": float((grey > 240).mean()),  # share of blown highlights
        "colourfulness": float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())),
        # horizontal steps across 8-px block edges over steps anywhere: 1 = no JPEG grid
        "blockiness": float(dh[:, 7::8].mean() / (dh.mean() + 1e-9)),
        "jpeg_quality": quality,
        "kbytes": Path(path).stat().st_size / 1024.0,
        "camera": str(camera) if camera else None,
    }


def rank_errors(names, pred, target) -> dict[str, float]:
    """Each test photo's ``|rank(pred) - rank(target)| / (n - 1)`` within one split."""
    n = len(names)
    err = np.abs(rankdata(pred) - rankdata(target)) / max(1, n - 1)
    return dict(zip(map(str, names), err.tolist()))


def mean_errors(per_split: list[dict[str, float]]) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for split in per_split:
        for name, e in split.items():
            acc.setdefault(name, []).append(e)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _summary(values) -> dict:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"median": None, "q25": None, "q75": None, "n": 0}
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "n": int(len(v))}


def _rho(a, b) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10 or np.std(a[ok]) == 0:
        return None
    return float(spearmanr(a[ok], b[ok])[0])


def diagnose_set(root: Path, profile, splits: int, seed: int, gmiqa_file: Path | None,
                 margin: float) -> dict:  # fmt: skip
    dataset = load_dataset("livec", root)
    records = dataset.records
    names = [str(r.name) for r in records]
    mos = np.array([float(r.raw_score) for r in records])
    stats = [photo_stats(r.path) for r in records]
    out = {
        "photos": len(records),
        "mos": _summary(mos),
        "cameras_in_exif": sum(s["camera"] is not None for s in stats),
        "stats": {k: {**_summary([s[k] for s in stats]),
                      "srocc_with_mos": _rho([s[k] for s in stats], mos)} for k in STATS},
    }  # fmt: skip
    split_list = finetune_splits(records, splits, profile.finetune, seed, by=split_by_for("livec"))
    brisque = evaluate_splits("brisque", dataset, split_list)
    out["brisque_srocc"] = [float(m["srocc"]) for m in brisque["per_split"]]
    b_err = mean_errors([
        rank_errors([names[i] for i in test], pred, mos[test])
        for test, pred in zip(brisque["test_indices"], brisque["predictions"])
    ])  # fmt: skip
    if gmiqa_file is None:
        return out
    res = json.loads(Path(gmiqa_file).read_text())
    out["gmiqa_file"] = Path(gmiqa_file).name
    out["gmiqa_srocc"] = [float(s["metrics"]["srocc"]) for s in res["splits"]]
    g_err = mean_errors([
        rank_errors(s["predictions"]["name"], s["predictions"]["pred"], s["predictions"]["target"])
        for s in res["splits"]
    ])  # fmt: skip
    index = {n: i for i, n in enumerate(names)}
    both = sorted(set(g_err) & set(b_err))
    worse = [n for n in both if g_err[n] - b_err[n] > margin]
    rest = [n for n in both if n not in set(worse)]
    groups = {}
    for label, members in (("brisque_right_gmiqa_wrong", worse), ("rest", rest)):
        idx = [index[n] for n in members]
        groups[label] = {
            "photos": len(idx),
            "mos": _summary(mos[idx]),
            "stats": {k: _summary([stats[i][k] for i in idx]) for k in STATS},
        }
    out["groups"] = groups
    out["margin"] = margin
    # where GMIQA's error is: by MOS third (low, middle, high quality)
    thirds = np.percentile(mos, [100 / 3, 200 / 3])
    band = np.digitize(mos, thirds)
    out["rank_error_by_mos_third"] = {
        which: [float(np.mean([err[n] for n in both if band[index[n]] == b])) for b in range(3)]
        for which, err in (("gmiqa", g_err), ("brisque", b_err))
    }
    out["photo_errors"] = [{"name": n, "mos": float(mos[index[n]]), "gmiqa": g_err[n],
                            "brisque": b_err[n], **{k: stats[index[n]][k] for k in STATS}}
                           for n in both]  # fmt: skip
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", required=True, metavar="NAME=ROOT",
                    help="a LIVEC-layout folder and the name to report it under; repeat")  # fmt: skip
    ap.add_argument("--gmiqa", action="append", default=[], metavar="NAME=RESULT_JSON",
                    help="a fine-tuning result file on set NAME (per-split predictions)")  # fmt: skip
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--margin", type=float, default=0.2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    profile = get_profile(args.profile)
    sets = {}
    try:
        bad = [s for s in args.gmiqa if "=" not in s]
        if bad:
            raise ValueError(f"--gmiqa {bad[0]!r}: give NAME=RESULT_JSON")
        gm = dict(s.split("=", 1) for s in args.gmiqa)
        for spec in args.set:
            name, _, root = spec.partition("=")
            print(f"diagnosing {name} ({root})", file=sys.stderr, flush=True)
            sets[name] = diagnose_set(Path(root), profile, args.splits, args.seed,
                                      Path(gm[name]) if name in gm else None, args.margin)  # fmt: skip
    except (GMIQAError, OSError, ValueError, KeyError) as exc:
        print(f"storage_diagnosis: error: {exc}", file=sys.stderr)
        return 2
    doc = make_result(
        {"sets": sets},
        profile=profile.name,
        dataset=" and ".join(sets),
        command=script_command("benchmarks/storage_diagnosis.py", argv),
        title="Photo statistics, BRISQUE and GMIQA rank errors on the LIVEC development sets",
        device="cpu",
    )
    write_result(args.out, doc)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
