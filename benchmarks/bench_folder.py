"""Loading a folder dataset: a 12,000-name score list read and every file checked, timed.

The issue's check (``gmiqa.datasets.folder``): loading a 12,000-photo ``scores.csv`` and
checking its files takes under 5 s. What is timed is :func:`gmiqa.datasets.load_folder`
end to end: the score file read and hashed (SHA-256), the CSV parsed, every name resolved
inside the folder (the ``..`` / absolute / symlink-out checks), every image's header read
by Pillow (no pixel decoded), the scores checked and normalised, the records made.

The folder is written first (outside the timing): ``--images`` JPEG photos (quality 90)
of ``--size`` pixels, spread over sub-folders whose names hold spaces, file names with
parentheses, a ``group`` column (10 photos per scene) and a ``std`` column. The photos
are noise at the given size; the header check reads the first kilobytes of each file, so
the figure does not depend much on the size. The page cache holds the files just written
(a warm cache): a first read from a cold disk adds its own latency per file. Wall time
and the process's CPU time are both recorded, with the load average: on a shared machine
other processes stretch the wall time.

Examples::

    python benchmarks/bench_folder.py                       # the issue's 12,000 names
    python benchmarks/bench_folder.py --images 2000 --size 1024x768 --repeats 1
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "data" / "results" / "bench_folder_cpu.json"


def write_photos(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> None:
    """``n`` JPEG photos of ``size`` (width, height) and their ``scores.csv`` in ``folder``."""
    rng = np.random.default_rng(seed)
    width, height = size
    # a handful of distinct JPEG files, each written under many names: fast to make
    blobs = []
    for _ in range(8):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        blobs.append(buffer.getvalue())
    rows = ["image,mos,std,group"]
    for i in range(n):
        scene = f"scene {i // 10:05d}"
        name = f"batch {i // 1000:02d}/photo ({i}).jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(blobs[i % len(blobs)])
        rows.append(f'"{name}",{1 + 4 * rng.random():.4f},{0.5 * rng.random():.4f},{scene}')
    (folder / "scores.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def main(argv=None) -> dict:
    from gmiqa.datasets import load_folder
    from gmiqa.results import make_result, script_command, write_result

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=12_000, help="names in the score list")
    ap.add_argument("--size", default="512x384", help="photo size WIDTHxHEIGHT (default 512x384)")
    ap.add_argument("--repeats", type=int, default=3, help="timed loads (the median is reported)")
    ap.add_argument(
        "--folder", type=Path, default=None, help="where to write (default: a temporary folder)"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON")
    args = ap.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size {args.size!r}: give WIDTHxHEIGHT, e.g. 512x384")
    if args.images < 1 or args.repeats < 1 or min(width, height) < 1:
        ap.error("--images, --repeats and both sides of --size must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-folder-") as tmp:
        folder = args.folder or Path(tmp) / "photos"
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            ap.error(f"--folder {folder}: must be a new or empty folder")
        start = time.perf_counter()
        write_photos(folder, args.images, (width, height))
        written = time.perf_counter() - start
        seconds, cpu_seconds = [], []
        for _ in range(args.repeats):
            start, cpu = time.perf_counter(), time.process_time()
            dataset = load_folder(folder, score_range=(1, 5))
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu)
        assert len(dataset) == args.images and dataset.source["groups"] == -(-args.images // 10)
        size_bytes = sum(p.stat().st_size for p in folder.rglob("*.jpg"))
    result = {
        "images": args.images,
        "size": [width, height],
        "image_bytes": size_bytes,
        "write_seconds": written,
        "load_seconds": seconds,
        "load_seconds_median": statistics.median(seconds),
        "load_cpu_seconds": cpu_seconds,
        "load_cpu_seconds_median": statistics.median(cpu_seconds),
        "names_per_second": args.images / statistics.median(seconds),
        # other processes' share of the cores stretches the wall time, not the CPU time
        "load_average_1min": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "limit_seconds": 5.0,
    }
    print(f"{args.images} names ({width}x{height} JPEG, {size_bytes / 2**20:.0f} MiB): "
          f"loaded and checked in {statistics.median(seconds):.2f} s (median of "
          f"{args.repeats}: {', '.join(f'{s:.2f}' for s in seconds)}; CPU time "
          f"{statistics.median(cpu_seconds):.2f} s; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores); limit 5 s")  # fmt: skip
    doc = make_result(
        result,
        profile="cpu",
        dataset=f"folder of {args.images} generated JPEG photos",
        command=script_command("benchmarks/bench_folder.py", argv),
        title="folder dataset: a score list loaded and its files checked",
        device="cpu",
    )
    write_result(args.out, doc)
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
