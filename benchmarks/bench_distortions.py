"""Images per second to generate the 125 KADID distortions (25 types x 5 levels) of one image.

Side by side, in one run, on one 512x384 pristine image:

- ``numpy``: ``gmiqa.distortions.distort`` (the MATLAB-faithful reference path), uint8 in
  and out, all 125 distortions;
- ``torch-cpu`` / ``torch-cuda``: ``gmiqa.distortions.torch_ops.distort_batch`` for the
  distortions of ``TORCH_TYPES`` (19 types x 5 levels), with batch 1 (one image, as the
  numpy path) and with a batch of ``--batch`` copies (how training uses it);
- ``baseline``: what a plain Pillow/numpy port would do for the types where Pillow or one
  numpy line has an obvious equivalent (GaussianBlur, BoxBlur, ImageEnhance, JPEG and
  JPEG2000 saves with Pillow defaults, numpy noise, NEAREST resizes, UnsharpMask, ...).
  It is faster because it skips what makes the port faithful (exact MATLAB kernels,
  colour spaces, ``mapmm``, Keys bicubic); it is a speed reference, not a substitute.

Ratios are printed against the numpy path on the same subset of distortions.

    python benchmarks/bench_distortions.py --repeats 3 --out runs/bench_distortions.json

Taught in ``notebooks/01_distortions.ipynb`` (the numbers appear in its summary).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter

from gmiqa.atomic import atomic_write_json
from gmiqa.datasets import fit_to_size, load_pristine
from gmiqa.distortions import DISTORTIONS, distort
from gmiqa.distortions.torch_ops import TORCH_TYPES, distort_batch
from gmiqa.provenance import provenance


def _pil(a: np.ndarray) -> Image.Image:
    return Image.fromarray(a)


def _encode(im: Image.Image, **kw) -> np.ndarray:
    buf = io.BytesIO()
    im.save(buf, **kw)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def _noise(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.clip(a.astype(np.float32) + n, 0, 255).astype(np.uint8)


def _blocks(a: np.ndarray, k: int, rng) -> np.ndarray:
    out = a.copy()
    h, w = a.shape[:2]
    for _ in range(k):
        y, x = rng.integers(0, h - 32), rng.integers(0, w - 32)
        out[y : y + 32, x : x + 32] = rng.integers(0, 256, 3)
    return out


# type -> f(uint8 array, parameter, rng) -> uint8 array: the plain Pillow/numpy operation.
BASELINE = {
    1: lambda a, p, r: np.asarray(_pil(a).filter(ImageFilter.GaussianBlur(p))),
    2: lambda a, p, r: np.asarray(_pil(a).filter(ImageFilter.BoxBlur(p))),
    6: lambda a, p, r: np.asarray(_pil(a).quantize(int(p)).convert("RGB")),
    7: lambda a, p, r: np.asarray(ImageEnhance.Color(_pil(a)).enhance(p)),
    8: lambda a, p, r: np.asarray(ImageEnhance.Color(_pil(a)).enhance(p)),
    9: lambda a, p, r: _encode(
        _pil(a), format="JPEG2000", quality_mode="rates", quality_layers=[p]
    ),
    10: lambda a, p, r: _encode(_pil(a), format="JPEG", quality=int(p)),
    11: lambda a, p, r: _noise(a, r.normal(0, 255 * p**0.5, a.shape).astype(np.float32)),
    13: lambda a, p, r: np.where(r.random(a.shape) < p, r.integers(0, 2, a.shape) * 255, a).astype(
        np.uint8
    ),
    14: lambda a, p, r: _noise(a, a * r.normal(0, p**0.5, a.shape).astype(np.float32)),
    16: lambda a, p, r: np.asarray(ImageEnhance.Brightness(_pil(a)).enhance(1 + p)),
    17: lambda a, p, r: np.asarray(ImageEnhance.Brightness(_pil(a)).enhance(1 - p)),
    18: lambda a, p, r: _noise(a, np.float32(255 * p)),
    21: lambda a, p, r: np.asarray(
        _pil(a)
        .resize((int(a.shape[1] * (0.95 - p**0.6)), int(a.shape[0] * (0.95 - p**0.6))), 0)
        .resize((a.shape[1], a.shape[0]), 0)
    ),
    23: lambda a, p, r: _blocks(a, int(p), r),
    24: lambda a, p, r: np.asarray(_pil(a).filter(ImageFilter.UnsharpMask(3, int(100 * p), 0))),
    25: lambda a, p, r: np.asarray(ImageEnhance.Contrast(_pil(a)).enhance(1 + p)),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_numpy(img: np.ndarray, types, repeats: int) -> dict[tuple[int, int], float]:
    """Best-of-``repeats`` seconds of ``distort`` per (type, level)."""
    out = {}
    for t in types:
        for lvl in range(1, 6):
            best = float("inf")
            for r in range(repeats):
                t0 = time.perf_counter()
                distort(img, t, lvl, seed=r)
                best = min(best, time.perf_counter() - t0)
            out[(t, lvl)] = best
    return out


def time_baseline(img: np.ndarray, types, repeats: int) -> dict[tuple[int, int], float]:
    out = {}
    rng = np.random.default_rng(0)
    for t in types:
        for lvl, p in enumerate(DISTORTIONS[t].levels, start=1):
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                BASELINE[t](img, p, rng)
                best = min(best, time.perf_counter() - t0)
            out[(t, lvl)] = best
    return out


def time_torch(
    img: np.ndarray, types, repeats: int, device: torch.device, batch: int
) -> dict[tuple[int, int], float]:
    """Best-of-``repeats`` seconds per image of ``distort_batch`` on a batch of copies."""
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float().div(255.0).to(device)
    x = x.repeat(batch, 1, 1, 1)
    gen = torch.Generator(device=device).manual_seed(0)
    for t in types:  # warm-up: kernels, cuDNN plans, allocator
        distort_batch(x, t, 3, generator=gen)
    _sync(device)
    out = {}
    for t in types:
        for lvl in range(1, 6):
            best = float("inf")
            for _ in range(repeats):
                _sync(device)
                t0 = time.perf_counter()
                distort_batch(x, t, lvl, generator=gen)
                _sync(device)
                best = min(best, time.perf_counter() - t0)
            out[(t, lvl)] = best / batch
    return out


def images_per_second(times: dict, keys) -> float:
    return len(keys) / sum(times[k] for k in keys)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--height", type=int, default=384)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many runs per op")
    ap.add_argument("--batch", type=int, default=16, help="batch size of the batched torch run")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave)")
    ap.add_argument("--no-cuda", action="store_true")
    ap.add_argument("--out", help="write the results (with provenance) to this JSON file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    img = fit_to_size(load_pristine(max_images=1)[0].image, (args.height, args.width))
    all_types = sorted(DISTORTIONS)
    torch_types = sorted(TORCH_TYPES)
    base_types = sorted(BASELINE)
    keys_all = [(t, lvl) for t in all_types for lvl in range(1, 6)]
    keys_torch = [(t, lvl) for t in torch_types for lvl in range(1, 6)]
    keys_base = [(t, lvl) for t in base_types for lvl in range(1, 6)]

    distort(img[:64, :64], 1, 1)  # import-time work outside the clock
    t_np = time_numpy(img, all_types, args.repeats)
    t_base = time_baseline(img, base_types, args.repeats)
    runs = {"numpy": t_np, "baseline": t_base}
    runs["torch-cpu-b1"] = time_torch(img, torch_types, args.repeats, torch.device("cpu"), 1)
    runs[f"torch-cpu-b{args.batch}"] = time_torch(
        img, torch_types, args.repeats, torch.device("cpu"), args.batch
    )
    if torch.cuda.is_available() and not args.no_cuda:
        dev = torch.device("cuda")
        runs["torch-cuda-b1"] = time_torch(img, torch_types, args.repeats, dev, 1)
        runs[f"torch-cuda-b{args.batch}"] = time_torch(
            img, torch_types, args.repeats, dev, args.batch
        )

    summary = {
        "image": f"{args.width}x{args.height}",
        "numpy_all_125": images_per_second(t_np, keys_all),
        "numpy_torch_subset": images_per_second(t_np, keys_torch),
        "numpy_baseline_subset": images_per_second(t_np, keys_base),
        "baseline_subset": images_per_second(t_base, keys_base),
    }
    for name, times in runs.items():
        if name.startswith("torch"):
            summary[name] = images_per_second(times, keys_torch)

    print(
        f"125 KADID distortions of one {args.width}x{args.height} image (images/s, higher = faster)"
    )
    print(f"  numpy path, all 125 distortions:       {summary['numpy_all_125']:9.1f}")
    nb = len(keys_base)
    print(f"  on the {nb} distortions with a plain Pillow/numpy equivalent:")
    print(f"    numpy path                           {summary['numpy_baseline_subset']:9.1f}")
    print(
        f"    plain Pillow/numpy baseline          {summary['baseline_subset']:9.1f}"
        f"   ({summary['baseline_subset'] / summary['numpy_baseline_subset']:.2f}x the numpy path)"
    )
    nt = len(keys_torch)
    print(f"  on the {nt} distortions of the torch path:")
    print(f"    numpy path                           {summary['numpy_torch_subset']:9.1f}")
    for name in runs:
        if name.startswith("torch"):
            ratio = summary[name] / summary["numpy_torch_subset"]
            print(f"    {name:<36} {summary[name]:9.1f}   ({ratio:.2f}x the numpy path)")
    per_type = {
        str(t): {
            name: round(1.0 / np.mean([times[(t, lvl)] for lvl in range(1, 6)]), 2)
            for name, times in runs.items()
            if (t, 1) in times
        }
        for t in all_types
    }
    print(
        "  per type (images/s): "
        + "; ".join(
            f"{t} {DISTORTIONS[int(t)].name} " + ", ".join(f"{k} {v:.0f}" for k, v in d.items())
            for t, d in per_type.items()
        )
    )
    result = {
        "summary": summary,
        "per_type_images_per_s": per_type,
        "settings": vars(args) | {"torch_threads": torch.get_num_threads()},
        "provenance": provenance(
            device="cuda" if "torch-cuda-b1" in runs else "cpu", benchmark="bench_distortions"
        ),
    }
    if args.out:
        atomic_write_json(args.out, result)
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
