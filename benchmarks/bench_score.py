"""`gmiqa score` on a folder of photos next to plain ResNet-50 inference, one run.

The issue's check: scoring a folder of 500 photos of 500x500 with the paper-sized model
(SCNet-50, the ``gpu`` profile's model settings) runs at >= 0.6x the images/s of plain
torchvision ResNet-50 inference on the same decoded images, measured side by side in the
same process (on 2 CPU cores for the CPU figure).

What is timed (after one warm-up batch each), interleaved batch by batch so that a
change in a shared machine's load falls on every benchmark alike; wall time and the
process's CPU time are both reported, with a ratio for each:

- ``plain_resnet50``: torchvision ResNet-50 (random weights, evaluation mode, no
  gradients, ImageNet normalisation) on the decoded images, in batches of
  ``--batch-size``: model time only (decoding is not counted);
- ``gmiqa_model_<name>``: ``GMIQA.score`` on the same decoded images and batches (model
  time only);
- ``gmiqa_score_<name>``: the ``gmiqa score`` code path on the folder, end to end:
  :func:`gmiqa.inference.expand_image_inputs` + :meth:`gmiqa.inference.QualityModel.stream`
  (file decoding on ``--workers`` threads, same-size batches, ``model.score``), with the
  model loaded from a checkpoint (random weights written by
  :func:`gmiqa.checkpoint.save_checkpoint` and read back by :func:`gmiqa.load_model`, as
  the command does, so each image is scored as the checkpoint's fine-tuning recipe
  scores it: the ``cpu`` model as the mean of a 4 x 4 grid of 128-px windows, the paper
  model whole; until issue 23 this benchmark scored every image whole);

for the models ``cpu`` (the cpu profile's small SCNet, the profile size a CPU run
trains) and ``paper`` (SCNet-50, the gpu profile's settings). Ratios are images/s over
plain ResNet-50's images/s in the same run.

The photos: 500x500 crops (random position, flips, 90-degree turns, a small brightness
change) of ``../shared/data/pristine`` when present, else of the photos shipped with
scikit-image (``skimage.data``), saved as JPEG (quality 92) in ``--folder`` (a temporary
folder unless given; an existing folder with enough images is reused).

Examples::

    # the issue's figure (500 photos; about 10 minutes on 2 CPU cores):
    python benchmarks/bench_score.py --device cpu
    # a shorter run on a shared machine:
    python benchmarks/bench_score.py --device cpu --images 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "data" / "results" / "bench_score_cpu.json"
MODELS = {"cpu": "cpu", "paper": "gpu"}  # benchmark name -> profile whose model settings


def source_photos() -> tuple[list[np.ndarray], str]:
    """uint8 RGB photos to crop from: ../shared/data/pristine if present, else skimage.data."""
    from gmiqa.images import IMAGE_SUFFIXES, load_image

    shared = REPO.parent / "shared" / "data" / "pristine"
    if shared.is_dir():
        files = sorted(p for p in shared.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            return [load_image(p) for p in files], str(shared)
    import skimage.data

    names = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
             "hubble_deep_field", "retina", "camera", "motorcycle_left"]  # fmt: skip
    photos = []
    for name in names:
        try:
            img = np.asarray(getattr(skimage.data, name)())
        except Exception:  # noqa: BLE001 - a photo that needs a download is skipped
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        photos.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return photos, "skimage.data"


def make_folder(folder: Path, n: int, size: int, seed: int = 0) -> tuple[list[Path], str]:
    """``n`` JPEG crops of ``size`` x ``size`` in ``folder`` (reused when already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo_{i:05d}.jpg" for i in range(n)]
    if all(p.is_file() for p in paths):
        return paths, "reused"
    photos, source = source_photos()
    rng = np.random.default_rng(seed)
    for i, path in enumerate(paths):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        if min(h, w) < size:  # upscale small photos so a crop fits
            f = size / min(h, w)
            img = np.asarray(
                Image.fromarray(img).resize((round(w * f) + 1, round(h * f) + 1), Image.BICUBIC)
            )
            h, w = img.shape[:2]
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        crop = img[y : y + size, x : x + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.rot90(crop, int(rng.integers(0, 4)))
        crop = np.clip(crop.astype(np.float32) * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)
        Image.fromarray(np.ascontiguousarray(crop)).save(path, "JPEG", quality=92)
    return paths, source


def write_checkpoint(profile_name: str, folder: Path) -> Path:
    """A checkpoint of the profile's model with random weights (seed 0), as training writes."""
    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.device import seed_everything
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    profile = get_profile(profile_name)
    seed_everything(0)
    model = build_model(profile.model)
    return save_checkpoint(folder / f"{profile_name}.safetensors", kind="finetune", model=model,
                           config={"profile": profile.to_dict()}, state={"done": True})  # fmt: skip


def batches(tensors: list[torch.Tensor], batch: int) -> list[torch.Tensor]:
    return [torch.stack(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500, help="photos in the folder (default 500)")
    ap.add_argument("--size", type=int, default=500, help="photo width = height (default 500)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="decoding threads (default 2)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    ap.add_argument("--models", default="cpu,paper", help="comma list of: cpu, paper")
    ap.add_argument("--folder", type=Path, default=None, help="photo folder (default: temporary)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON (gmiqa-result/1)")
    ap.add_argument("--no-out", action="store_true", help="print only, write no JSON")
    args = ap.parse_args(argv)

    from gmiqa.datasets.base import image_to_tensor
    from gmiqa.device import resolve_device
    from gmiqa.images import load_image
    from gmiqa.inference import expand_image_inputs, load_model, model_from_checkpoint
    from gmiqa.models import count_parameters

    dev = resolve_device(args.device)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown models {unknown}: choose from {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory(prefix="bench_score_") as tmp:
        folder = args.folder or Path(tmp) / "photos"
        paths, source = make_folder(folder, args.images, args.size)
        print(f"# {len(paths)} photos of {args.size}x{args.size} in {folder} (from {source}); "
              f"device {dev}, {torch.get_num_threads()} torch threads, batch {args.batch_size}, "
              f"{args.workers} decoding threads")  # fmt: skip
        decoded = [image_to_tensor(load_image(p)) for p in paths]
        xs = batches(decoded, args.batch_size)
        plain = torchvision.models.resnet50(weights=None).to(dev).eval()
        mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)

        def plain_forward(x):
            return plain((x - mean) / std)

        models, scorers_of, info = {}, {}, {}
        for name in names:
            ck = write_checkpoint(MODELS[name], Path(tmp))
            models[name], _ = model_from_checkpoint(ck, dev)  # the unfolded model
            # as `gmiqa score` loads it (BatchNorm folded once, at load)
            scorers_of[name] = load_model(ck, dev, args.batch_size, args.workers)
            info[name] = {"parameters": int(count_parameters(models[name])),
                          "backbone": str(models[name].backbone.__class__.__name__),
                          "profile": MODELS[name]}  # fmt: skip
        # warm-up: one batch through every model and the score path
        with torch.no_grad():
            plain_forward(xs[0].to(dev))
            for name, model in models.items():
                model.score(xs[0].to(dev))
                list(scorers_of[name].stream(paths[: args.batch_size]))
        # gmiqa score end to end: expand the folder, decode on threads, batch, score; the
        # generators are pulled one batch at a time, interleaved with the other benchmarks
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        files = [p for p, err in expand_image_inputs([folder]) if err is None]
        expand = (time.perf_counter() - t_wall, time.process_time() - t_cpu)
        if len(files) != len(paths):
            raise SystemExit(f"{folder}: found {len(files)} of {len(paths)} photos")
        scorers = {n: scorers_of[n].stream(files) for n in names}
        benches = ["plain_resnet50"] + [f"gmiqa_model_{n}" for n in names]
        benches += [f"gmiqa_score_{n}" for n in names]
        wall = dict.fromkeys(benches, 0.0)
        cpu = dict.fromkeys(benches, 0.0)
        scored = dict.fromkeys(names, 0)

        def timed(bench: str, fn) -> None:
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            wall[bench] += time.perf_counter() - t0
            cpu[bench] += time.process_time() - c0

        def pull(name: str, k: int) -> None:
            for _ in range(k):
                _, score, error = next(scorers[name])
                if error is not None:
                    raise SystemExit(f"gmiqa score failed: {error}")
                scored[name] += 1

        # Interleaved, one batch at a time, so that a change in the machine's load (it is
        # shared) falls on every benchmark alike: the ratios are side by side per batch.
        with torch.no_grad():
            for i, x in enumerate(xs):
                timed("plain_resnet50", lambda x=x: plain_forward(x.to(dev)))
                for n in names:
                    timed(f"gmiqa_model_{n}", lambda x=x, n=n: models[n].score(x.to(dev)))
                k = len(x)
                for n in names:
                    timed(f"gmiqa_score_{n}", lambda n=n, k=k: pull(n, k))
                print(f"# batch {i + 1}/{len(xs)}: " + ", ".join(
                    f"{b} {(i + 1) * args.batch_size / max(wall[b], 1e-9):.2f}"
                    for b in benches) + " img/s so far", flush=True)  # fmt: skip
        for n in names:
            wall[f"gmiqa_score_{n}"] += expand[0]
            cpu[f"gmiqa_score_{n}"] += expand[1]
            if scored[n] != len(paths):
                raise SystemExit(f"gmiqa score scored {scored[n]} of {len(paths)} photos")
        rows: list[dict] = []
        print(f"{'benchmark':<24}{'wall s':>10}{'images/s':>10}{'ratio':>8}"
              f"{'CPU s':>10}{'ratio (CPU time)':>18}")  # fmt: skip
        for b in benches:
            row = {"name": b, "images": len(paths), "seconds": wall[b],
                   "images_per_s": len(paths) / wall[b], "cpu_seconds": cpu[b],
                   "ratio": wall["plain_resnet50"] / wall[b],
                   "ratio_cpu_time": cpu["plain_resnet50"] / cpu[b]}  # fmt: skip
            row.update(info.get(b.rsplit("_", 1)[-1], {}) if b != "plain_resnet50" else {})
            rows.append(row)
            print(f"{b:<24}{wall[b]:>10.2f}{row['images_per_s']:>10.2f}{row['ratio']:>8.3f}"
                  f"{cpu[b]:>10.2f}{row['ratio_cpu_time']:>18.3f}")  # fmt: skip
    summary = {r["name"]: {"images_per_s": r["images_per_s"], "ratio": r["ratio"],
                           "ratio_cpu_time": r["ratio_cpu_time"]} for r in rows}  # fmt: skip
    paper = summary.get("gmiqa_score_paper", {}).get("ratio")
    checks = {"gmiqa_score_paper_ratio_min_0.6": paper,
              "gmiqa_score_paper_ratio_cpu_time":
                  summary.get("gmiqa_score_paper", {}).get("ratio_cpu_time"),
              "passed": None if paper is None else bool(paper >= 0.6)}  # fmt: skip
    print(f"# gmiqa score (paper-sized SCNet-50) / plain ResNet-50 images/s: {paper} "
          f"(goal >= 0.6, same run)")  # fmt: skip
    if not args.no_out:
        from gmiqa.device import describe_environment
        from gmiqa.provenance import provenance
        from gmiqa.results import make_result, script_command, write_result

        block = provenance(device=str(dev), cpu_threads=torch.get_num_threads(),
                           environment=describe_environment())  # fmt: skip
        result = make_result(
            {
                "summary": summary,
                "rows": rows,
                "checks": checks,
                "settings": {
                    "images": len(paths),
                    "size": args.size,
                    "batch_size": args.batch_size,
                    "workers": args.workers,
                    "source": source,
                },
            },  # fmt: skip
            profile=",".join(MODELS[n] for n in names),
            dataset=f"{len(paths)} crops {args.size}x{args.size} of {source}",
            command=script_command("benchmarks/bench_score.py"),
            title=f"gmiqa score vs plain ResNet-50 inference ({dev})",
            notes="One run, side by side; ratios are images/s over plain ResNet-50 images/s "
            "on the same decoded images in the same process. gmiqa_score_* includes decoding.",
            provenance_block=block,
        )
        print(f"# wrote {write_result(args.out, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
