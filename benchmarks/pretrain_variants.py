"""Pre-training variants: the ``cpu`` profile's stages 1 and 2 with some data settings changed.

Each variant (:data:`VARIANTS`) trains stages 1 and 2 into its own run folder
``OUT/<variant>`` (resumable; a finished stage is reused), from the same pristine photos
and seed as ``gmiqa pretrain --profile cpu``; its stage-2 checkpoint is then fine-tuned
with the unchanged ``cpu`` recipe by ``benchmarks/finetune_variants.py --init
NAME=OUT/<variant>/checkpoints/graph.safetensors``, so only the pre-training differs::

    python benchmarks/pretrain_variants.py --variant storage60_95 \\
        --pristine PRISTINE --out runs/pretrain-variants
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gmiqa.errors import GMIQAError
from gmiqa.profiles import get_profile
from gmiqa.training.pipeline import ensure_stage

# name -> changes to the cpu profile's sections (Profile.replace)
VARIANTS: dict[str, dict] = {
    # every distorted image stored as JPEG at a quality drawn from 60..95, as cameras
    # store photos (the design chapter's "JPEG-stored photos")
    "storage60_95": {"data": {"storage_jpeg": (60, 95)}},
}


def variant_profile(name: str, base: str = "cpu"):
    """The ``base`` profile with variant ``name``'s changes."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}: choose one of {', '.join(VARIANTS)}")
    return get_profile(base).replace(**VARIANTS[name])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", required=True, help=", ".join(VARIANTS))
    ap.add_argument("--pristine", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        profile = variant_profile(args.variant)
        if not args.pristine.is_dir():
            raise ValueError(f"--pristine {args.pristine}: no such folder")
        start = time.perf_counter()
        path = ensure_stage("graph", profile, args.out / args.variant, args.device, args.seed,
                            args.pristine, progress=not args.quiet)  # fmt: skip
    except (GMIQAError, OSError, ValueError) as exc:
        print(f"pretrain_variants: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.variant}: {path} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
