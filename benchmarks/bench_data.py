"""Does the data path keep the training step busy? Bank build, batch delivery, step, one run.

Measures, side by side in one process:

1. **bank build**: the synthetic set of a profile generated into an image bank by a
   process pool (``gmiqa.datasets.bank``), images/s in all and per worker;
2. **delivery**: batches of the profile's stage-2 step (types x 2 graphs x graph size,
   random crops and flips) from the bank to the device
   (``gmiqa.training.feeder.BatchFeeder``), images/s;
3. **consumption**: the profile's stage-2 training step (forward, loss, backward, optimizer)
   on such batches, images/s, in the memory layout ``train_graph`` uses (channels-last on
   CUDA and the CPU), and beside it, interleaved step by step, the same step on contiguous
   tensors (the ratio is what channels-last buys);
4. **fed steps**: the same step with its batches made from the bank by
   ``gmiqa.training.feeder.Prefetcher`` two steps ahead on a worker thread, and in line
   (depth 0), in alternating blocks of steps: what the prefetch thread buys or costs on
   this device (``prefetch_depth`` picks the depth the training stages use).

It prints the ratio delivery / consumption (the data path keeps up when it is well above
1) and writes JSON with provenance. Examples::

    python benchmarks/bench_data.py --profile cpu --pristine ../shared/data/pristine
    python benchmarks/bench_data.py --profile gpu-quick --device cuda --pristine DIR
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def main(argv=None) -> dict:
    from gmiqa.device import (
        autocast,
        prepare_model,
        resolve_device,
        seed_everything,
        training_channels_last,
    )
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile
    from gmiqa.training.feeder import BatchFeeder, Prefetcher, prefetch_depth
    from gmiqa.training.loop import make_optimizer
    from gmiqa.training.pipeline import synthetic_dataset
    from gmiqa.training.pretrain import multi_graph_losses
    from gmiqa.training.samplers import TypeGraphSampler

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--pristine", type=Path, default=None, help="pristine photos (default: packaged)"
    )
    ap.add_argument("--references", type=int, default=None, help="use only this many photos")
    ap.add_argument("--workers", type=int, default=None, help="bank processes (default: all cores)")
    ap.add_argument("--batches", type=int, default=40, help="batches timed for delivery")
    ap.add_argument("--steps", type=int, default=10, help="training steps timed")
    ap.add_argument(
        "--fed-rounds", type=int, default=3,
        help="alternating blocks of --steps fed steps per prefetch depth (0: skip)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default: data/results/)")
    args = ap.parse_args(argv)
    if args.steps < 2 or args.batches < 1 or args.fed_rounds < 0:
        ap.error("--steps must be at least 2 (one warm-up step, then timed ones), --batches at "
                 "least 1 and --fed-rounds at least 0")  # fmt: skip

    profile = get_profile(args.profile)
    if args.references:
        profile = profile.replace(data={"max_pristine": args.references})
    s = profile.pretrain
    if s.types_per_step == 0:
        raise SystemExit(
            f"profile {profile.name} uses the paper's triplet step; pick cpu or gpu-quick"
        )
    dev = resolve_device(args.device)
    workers = args.workers or os.cpu_count() or 1
    result: dict = {"profile": profile.name, "device": str(dev), "workers": workers}
    with tempfile.TemporaryDirectory() as tmp:
        ds = synthetic_dataset(profile, tmp, args.pristine, 0)
        t0 = time.perf_counter()
        bank = ds.build_bank(workers=workers, progress=True)
        build_s = time.perf_counter() - t0
        result["bank"] = {
            "images": len(bank), "size_hw": list(bank.image_size), "seconds": build_s,
            "images_per_s": len(bank) / build_s, "images_per_s_per_worker": len(bank) / build_s / workers,
        }  # fmt: skip
        feeder = BatchFeeder(
            bank.images, dev, s.crop, s.flip, training_channels_last(dev, profile.channels_last)
        )
        sampler = TypeGraphSampler(ds.records, s.types_per_step, s.graph_size)
        rng = np.random.default_rng(0)
        draws = [sampler.sample(rng) for _ in range(args.batches + args.steps + 2)]
        per_batch = len(draws[0].indices)
        feeder.batch(draws[0].indices, 0)  # warm-up (a resident bank is copied here)
        _sync(dev)
        t0 = time.perf_counter()
        for k in range(args.batches):
            feeder.batch(draws[k + 1].indices, k)
        _sync(dev)
        deliver_s = time.perf_counter() - t0
        result["delivery"] = {
            "batch_images": per_batch, "crop": s.crop, "resident": feeder.resident,
            "images_per_s": args.batches * per_batch / deliver_s,
        }  # fmt: skip

        # The step as train_graph runs it (channels-last where the profile asks:
        # gmiqa.device.training_channels_last), and the same step with contiguous tensors,
        # interleaved step by step so that a change in the machine's load falls on both.
        cl = training_channels_last(dev, profile.channels_last)
        layouts = {"training": cl, "contiguous": False} if cl else {"training": False}
        steppers = {}
        for name, layout in layouts.items():
            seed_everything(0)
            model = prepare_model(build_model(profile.model), dev, layout).train()
            proxies = torch.randn(26, profile.model.feature_dim, device=dev, requires_grad=True)
            opt = make_optimizer(list(model.parameters()) + [proxies], s.lr, s.weight_decay)
            steppers[name] = (model, proxies, opt, layout)
        batches = [
            (feeder.batch(d.indices, 100 + k), torch.as_tensor(d.types, device=dev),
             torch.as_tensor(ds.levels[d.indices], dtype=torch.float32, device=dev))
            for k, d in enumerate(draws[args.batches + 1 :])
        ]  # fmt: skip

        def step(name, b):
            model, proxies, opt, layout = steppers[name]
            x, types, lv = b
            x = x.contiguous(
                memory_format=torch.channels_last if layout else torch.contiguous_format
            )
            opt.zero_grad(set_to_none=True)
            with autocast(dev, profile.amp):
                losses = multi_graph_losses(
                    model, x, types, lv, s.graph_size, s.margin, s.level_weight,
                    s.node_triplet_weight, proxies, s.type_proxy_weight, s.proxy_scale,
                    s.level_rank_weight,
                )  # fmt: skip
            losses["loss"].backward()
            opt.step()

        seconds = dict.fromkeys(steppers, 0.0)
        for name in steppers:
            step(name, batches[0])  # warm-up
        for b in batches[1:]:
            for name in steppers:
                _sync(dev)
                t0 = time.perf_counter()
                step(name, b)
                _sync(dev)
                seconds[name] += time.perf_counter() - t0
        n_images = (len(batches) - 1) * per_batch
        result["training_step"] = {
            "images_per_s": n_images / seconds["training"], "channels_last": cl,
        }  # fmt: skip
        if "contiguous" in seconds:
            result["training_step_contiguous"] = {"images_per_s": n_images / seconds["contiguous"]}
            result["channels_last_speedup"] = seconds["contiguous"] / seconds["training"]
        if args.fed_rounds > 0:
            # Batches made from the bank as train_graph makes them (Prefetcher), by a
            # worker thread two steps ahead and in line, alternating blocks of steps.
            def fed_block(depth: int, round_: int) -> float:
                base = 1000 * (round_ + 1)

                def make(k: int):
                    d = draws[(base + k) % len(draws)]
                    return (feeder.batch(d.indices, base + k), torch.as_tensor(d.types, device=dev),
                            torch.as_tensor(ds.levels[d.indices], dtype=torch.float32, device=dev))  # fmt: skip

                pre = Prefetcher(make, args.steps, depth)
                try:
                    pre.get(0)  # the first batch is never prefetched: outside the clock
                    _sync(dev)
                    t0 = time.perf_counter()
                    for k in range(1, args.steps):
                        step("training", pre.get(k))
                    _sync(dev)
                    return time.perf_counter() - t0
                finally:
                    pre.close()

            fed = {2: 0.0, 0: 0.0}
            for r in range(args.fed_rounds):
                for depth in fed:
                    fed[depth] += fed_block(depth, r)
            n_fed = args.fed_rounds * (args.steps - 1)
            result["fed_steps"] = {
                "steps_per_s_thread": n_fed / fed[2], "steps_per_s_inline": n_fed / fed[0],
                "inline_over_thread": fed[2] / fed[0], "training_depth": prefetch_depth(dev),
            }  # fmt: skip
    ratio = result["delivery"]["images_per_s"] / result["training_step"]["images_per_s"]
    result["delivery_over_consumption"] = ratio
    b = result["bank"]
    print(f"bank build: {b['images']} images of {b['size_hw'][1]}x{b['size_hw'][0]} in "
          f"{b['seconds']:.1f} s = {b['images_per_s']:.1f} images/s "
          f"({b['images_per_s_per_worker']:.1f} per worker, {workers} workers)")  # fmt: skip
    print(f"delivery:   {result['delivery']['images_per_s']:.1f} images/s "
          f"(batches of {per_batch}, crop {s.crop}, resident={feeder.resident})")  # fmt: skip
    print(f"training:   {result['training_step']['images_per_s']:.1f} images/s "
          f"(stage-2 step of profile {profile.name})")  # fmt: skip
    print(f"delivery / consumption = {ratio:.2f}x")
    if "channels_last_speedup" in result:
        print(f"training step, contiguous tensors: "
              f"{result['training_step_contiguous']['images_per_s']:.1f} images/s; channels-last "
              f"is {result['channels_last_speedup']:.2f}x as fast")  # fmt: skip
    if "fed_steps" in result:
        f = result["fed_steps"]
        print(f"fed steps:  {f['steps_per_s_thread']:.2f} steps/s with a prefetch thread, "
              f"{f['steps_per_s_inline']:.2f} in line ({f['inline_over_thread']:.2f}x); "
              f"the training stages use depth {f['training_depth']}")  # fmt: skip
    import sys

    from gmiqa.results import make_result, write_result

    doc = make_result(
        result,
        profile=profile.name,
        dataset=f"synthetic ({args.pristine or 'packaged photos'})",
        command="python " + " ".join(sys.argv),
        title=f"data path vs stage-2 training step, profile {profile.name}, {dev.type}",
        device=str(dev),
    )
    out = args.out or Path("data/results") / f"bench_data_{profile.name}_{dev.type}.json"
    write_result(out, doc)
    print(f"written: {out}")
    return result


if __name__ == "__main__":
    main()
