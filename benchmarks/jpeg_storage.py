"""A LIVEC-layout set re-stored as JPEG at a quality drawn per photo: a proxy for JPEG storage.

The LIVEC development set holds only photos that LIVEC stores losslessly (BMP). Most of
LIVEC is stored as JPEG, each photo at whatever quality its camera or editor chose; that
compression is independent of what people rated, yet it is exactly what a network
pre-trained on KADID's JPEG distortions has learnt to see. This script writes a copy of a
LIVEC-layout folder whose photos are stored as JPEG, each at a quality drawn uniformly from
``--quality LO,HI`` (seeded, so independent of the MOS), with 4:2:0 chroma subsampling
as cameras store it, and the same score files. The fine-tuning variants are then run on it
with ``benchmarks/finetune_variants.py`` (the design chapter, "JPEG storage")::

    python benchmarks/jpeg_storage.py --root LIVEC_DEV --out runs/livec_dev_jpegmix \\
        --quality 50,95 --seed 20261205
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
from gmiqa.datasets.livec import MOS_FILE, NAMES_FILE, _cell_strings, _load_mat, find_root
from gmiqa.datasets.livec_dev import STD_FILE
from gmiqa.errors import DatasetError


def restore_as_jpeg(root, out, quality: tuple[int, int], seed: int) -> dict[str, int]:
    """Write ``out/ChallengeDB_release`` with every listed photo of ``root`` stored as JPEG.

    Returns {new file name: quality}. The first 7 entries of the name list (LIVEC's
    training images, not shipped) are kept as they are.
    """
    lo, hi = quality
    if not 1 <= lo <= hi <= 95:
        raise DatasetError(f"--quality {lo},{hi}: need 1 <= LO <= HI <= 95")
    folder = find_root(root)
    names = _cell_strings(_load_mat(folder / NAMES_FILE, "AllImages_release"), folder / NAMES_FILE)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--root", required=True, help="a LIVEC-layout folder (e.g. the development set)"
    )
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--quality", default="50,95", help="LO,HI: JPEG quality range (inclusive)")
    ap.add_argument("--seed", type=int, default=20261205)
    args = ap.parse_args(argv)
    lo, hi = (int(v) for v in args.quality.split(","))
    try:
        chosen = restore_as_jpeg(args.root, args.out, (lo, hi), args.seed)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    qs = np.array(list(chosen.values()))
    print(f"{len(qs)} photos stored as JPEG in {args.out}, quality {qs.min()}..{qs.max()} "
          f"(median {np.median(qs):.0f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
