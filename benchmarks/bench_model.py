"""Time GMIQA's forward/backward and inference next to torchvision's ResNet-50, same run.

On CUDA the models run in bf16 autocast with channels_last (as training does); on the CPU
in float32. Each line printed names device, batch, resolution and milliseconds; the JSON
file (``--out``) adds the provenance block (commit, date, device, versions).

Measured (per batch, median of ``--repeats`` after ``--warmup`` calls):

- ``gmiqa_train``: ``finetune_forward`` + MSE on a sample + backward (stage-3 step);
- ``gmiqa_pretrain``: ``pretrain_forward`` + level MSE + graph-code norm + backward
  (stage-2 step, one batch; the graph's N^2 edges make it grow with the batch);
- ``gmiqa_infer``: ``score`` (evaluation mode, no gradients);
- ``resnet50_train`` / ``resnet50_infer``: torchvision ResNet-50 (1000-class head).

Examples::

    python benchmarks/bench_model.py --profile gpu --batch 64 --height 384 --width 512
    python benchmarks/bench_model.py --device cpu --batch 2 --height 128 --width 160 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

from gmiqa.atomic import atomic_write_json
from gmiqa.device import autocast, resolve_device
from gmiqa.models import build_model, count_parameters
from gmiqa.profiles import get_profile
from gmiqa.provenance import provenance


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _time(fn, dev: torch.device, warmup: int, repeats: int) -> dict:
    for _ in range(warmup):
        fn()
    _sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for _ in range(repeats):
        _sync(dev)
        start = time.perf_counter()
        fn()
        _sync(dev)
        times.append((time.perf_counter() - start) * 1000.0)
    out = {"ms": statistics.median(times), "ms_all": times}
    if dev.type == "cuda":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--profile", default="gpu", help="model settings of this profile (gpu = SCNet-50)"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--height", type=int, default=384)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-amp", action="store_true", help="float32 on CUDA too")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--skip-pretrain", action="store_true", help="skip the graph step (N^4 memory)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    dev = resolve_device(args.device)
    amp = not args.no_amp and dev.type == "cuda"
    cl = not args.no_channels_last and dev.type == "cuda"
    fmt = torch.channels_last if cl else torch.contiguous_format
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    settings = get_profile(args.profile).model
    model = build_model(settings).to(dev, memory_format=fmt)
    resnet = torchvision.models.resnet50(weights=None).to(dev, memory_format=fmt)
    x = torch.rand(args.batch, 3, args.height, args.width, device=dev).contiguous(memory_format=fmt)
    target = torch.rand(args.batch, device=dev)
    levels = torch.randint(1, 6, (args.batch,), device=dev).float()

    def gmiqa_train():
        model.train()
        model.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            mu, sigma = model.finetune_forward(x)
            pred = mu + torch.randn_like(mu) * sigma
        torch.mean((pred.float() - target) ** 2).backward()

    def gmiqa_pretrain():
        model.train()
        model.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            out = model.pretrain_forward(x)
        loss = out.graph_code.float().pow(2).sum() + 0.25 * torch.mean(
            (out.level_pred.float() - levels) ** 2
        )
        loss.backward()

    def gmiqa_infer():
        with autocast(dev, amp):
            model.score(x)

    def resnet_train():
        resnet.train()
        resnet.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            y = resnet(x)
        y.float().logsumexp(1).mean().backward()

    @torch.no_grad()
    def resnet_infer():
        resnet.eval()
        with autocast(dev, amp):
            resnet(x)

    runs = {"gmiqa_train": gmiqa_train, "gmiqa_infer": gmiqa_infer}
    if not args.skip_pretrain:
        runs["gmiqa_pretrain"] = gmiqa_pretrain
    runs |= {"resnet50_train": resnet_train, "resnet50_infer": resnet_infer}
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    head = f"{name} ({dev}), batch {args.batch}, {args.width}x{args.height} (WxH), amp bf16 {amp}, channels_last {cl}"
    print(head, flush=True)
    results = {}
    for key, fn in runs.items():
        r = _time(fn, dev, args.warmup, args.repeats)
        r["images_per_s"] = args.batch / (r["ms"] / 1000.0)
        results[key] = r
        mem = f", peak {r['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in r else ""
        print(f"  {key:16s} {r['ms']:9.1f} ms  {r['images_per_s']:8.1f} images/s{mem}", flush=True)
    ratios = {
        "train_vs_resnet50": results["resnet50_train"]["ms"] / results["gmiqa_train"]["ms"],
        "infer_vs_resnet50": results["resnet50_infer"]["ms"] / results["gmiqa_infer"]["ms"],
    }
    print(
        f"  speed relative to ResNet-50 (>1 = faster): train {ratios['train_vs_resnet50']:.2f}x, "
        f"inference {ratios['infer_vs_resnet50']:.2f}x"
    )
    report = {
        "backbone": settings.backbone,
        "params_gmiqa": count_parameters(model),
        "params_resnet50": count_parameters(resnet),
        "batch": args.batch,
        "height": args.height,
        "width": args.width,
        "amp_bf16": amp,
        "channels_last": cl,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "results": results,
        "ratios": ratios,
        "provenance": provenance(device=str(dev), device_label=name),
    }
    if args.out is not None:
        atomic_write_json(args.out, report)
        print(f"wrote {args.out}")
    else:
        json.dump({k: report[k] for k in ("ratios", "provenance")}, sys.stdout, indent=1)
        print()
    return report


if __name__ == "__main__":
    main()
