"""Speed of the NIQE and BRISQUE features on 500x500 images (the issue's yardstick).

Prints images/s for each method in one process and in ``--workers`` processes
(``gmiqa.baselines.predict`` spreads images over processes), and the time those rates
give for 1,000 images. Images are random 500x500 crops (with random flips) of the
packaged pristine photos, so content is natural. Run:

    OMP_NUM_THREADS=1 python benchmarks/bench_baselines.py --images 50 --workers 2

Taught in ``notebooks/10_baselines.ipynb`` (section "Speed").
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from gmiqa.baselines import BRISQUE, default_niqe, predict
from gmiqa.datasets.pristine import fit_to_size, load_pristine


def make_images(n: int, size: int = 500, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    photos = [fit_to_size(p.image, (size + 60, size + 60)) for p in load_pristine()]
    out = []
    for i in range(n):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, 61, 2)
        crop = photo[top : top + size, left : left + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(np.ascontiguousarray(crop))
    return out


def rate(method, pairs, workers: int) -> tuple[float, float]:
    """(images per wall-clock second, CPU seconds per image of this process)."""
    predict(method, pairs[:2], workers=1)  # warm caches (tables, resize weights)
    start, cpu = time.perf_counter(), time.process_time()
    predict(method, pairs, workers=workers)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(pairs) / wall, cpu / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    images = make_images(args.images, args.size)
    pairs = [(img, 0.0) for img in images]
    niqe = default_niqe()
    # The regressor costs microseconds per image; the features are what is measured, so a
    # one-vector regressor stands in (no scikit-learn needed on the machine).
    brisque = BRISQUE(np.zeros((1, 36)), [0.0], 0.0, 0.05, np.zeros(36), np.ones(36))
    print(
        f"{args.images} images of {args.size}x{args.size}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs visible, "
        f"load average {os.getloadavg()[0]:.1f} (wall-clock rates shrink when other "
        "processes share the cores; CPU time per image does not)"
    )
    both = {1: 0.0, args.workers: 0.0}
    cpu_both = 0.0
    for method in (niqe, brisque):
        for workers in sorted(both):
            r, cpu = rate(method, pairs, workers)
            both[workers] += 1.0 / r
            line = f"  {method.name:8s} {workers} process(es): {r:6.1f} images/s wall"
            if workers == 1:
                cpu_both += cpu
                line += f", {1000 * cpu:5.1f} ms CPU/image"
            print(f"{line}  -> 1,000 images in {1000 / r:6.1f} s")
    for workers, seconds in both.items():
        print(
            f"  both     {workers} process(es): {1 / seconds:6.1f} images/s wall"
            f"  -> 1,000 images in {1000 * seconds:6.1f} s"
        )
    print(
        f"  CPU time of both per image {1000 * cpu_both:.1f} ms: 1,000 images on 2 otherwise "
        f"idle cores take about {1000 * cpu_both / 2:.0f} s"
    )


if __name__ == "__main__":
    main()
