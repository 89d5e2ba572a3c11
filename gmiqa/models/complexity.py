"""Model complexity: parameters per module, FLOPs and latency, for the book's complexity table.

Taught in ``notebooks/04_distortion_graph.ipynb``. FLOPs come from
:class:`torch.utils.flop_counter.FlopCounterMode`, which counts a multiply and an add as
two FLOPs (FLOPs = 2 x MACs) and counts matrix products and convolutions only
(pooling, activations and normalisation are not counted).
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gmiqa.device import autocast, resolve_device


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (all, or only those with ``requires_grad``).

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _flops_per_child(model: nn.Module, counter: FlopCounterMode, run) -> dict[str, int]:
    # The counter's running total read before and after each top-level child's forward:
    # exact attribution without relying on FlopCounterMode's class-name-based module keys.
    flops = {name: 0 for name, _ in model.named_children()}
    handles = []
    for name, child in model.named_children():

        def pre(_m, _a, name=name):
            flops[name] -= counter.get_total_flops()

        def post(_m, _a, _o, name=name):
            flops[name] += counter.get_total_flops()

        handles += [child.register_forward_pre_hook(pre), child.register_forward_hook(post)]
    try:
        with counter:
            run()
    finally:
        for handle in handles:
            handle.remove()
    flops["total"] = counter.get_total_flops()
    return {k: int(v) for k, v in flops.items()}


def complexity_report(
    model: nn.Module,
    input_size: tuple[int, int] = (384, 512),
    device: str | torch.device = "cpu",
    repeats: int = 5,
    warmup: int = 1,
    amp: bool = True,
    channels_last: bool = True,
    graph_batch: int | None = None,
) -> dict:
    """Parameters per module, FLOPs and inference latency of ``model.score`` for one image.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Args:
        model: a :class:`~gmiqa.models.GMIQA` (any module with ``score``; parameters are
            reported per top-level child).
        input_size: (height, width) of the one image; (384, 512) is KADID-10k's 512x384.
        device: where to time it; on CUDA with ``amp`` the model runs in bf16 autocast and,
            with ``channels_last``, in the channels-last memory format.
        repeats, warmup: timed and untimed calls; the latency is their median.
            ``repeats=0`` skips timing (``latency_ms`` is None), e.g. with
            ``device="meta"``, which counts the FLOPs of a full-size model without
            computing anything.
        graph_batch: also count the FLOPs of ``pretrain_forward`` on this many images
            (the graph's N^2 edges make it grow as N^4).

    Returns a dict: ``params`` (per child and ``total``), ``flops`` (per child and
    ``total`` of scoring one image), ``latency_ms`` (median), ``latency_ms_all``,
    ``input_size``, ``device``, and ``pretrain_flops`` when ``graph_batch`` is given. The
    model is left on ``device`` in evaluation mode.
    """
    dev = resolve_device(device)
    model = model.to(dev).eval()
    use_amp = amp and dev.type == "cuda"
    if channels_last and dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    h, w = int(input_size[0]), int(input_size[1])
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(dev)
    if channels_last and dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    params = {name: count_parameters(child) for name, child in model.named_children()}
    params["total"] = count_parameters(model)

    with torch.no_grad(), autocast(dev, use_amp):
        counter = FlopCounterMode(display=False)
        flops = _flops_per_child(model, counter, lambda: model.score(x))

        times = []
        for i in range(int(warmup) + int(repeats) if repeats > 0 else 0):
            _sync(dev)
            start = time.perf_counter()
            model.score(x)
            _sync(dev)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)

        report = {
            "input_size": [h, w],
            "device": str(dev),
            "amp_bf16": use_amp,
            "params": params,
            "flops": flops,
            "latency_ms": statistics.median(times) if times else None,
            "latency_ms_all": times,
        }
        if graph_batch is not None:
            xb = torch.rand(int(graph_batch), 3, h, w, generator=torch.Generator().manual_seed(1))
            counter = FlopCounterMode(display=False)
            with counter:
                model.pretrain_forward(xb.to(dev))
            report["pretrain_batch"] = int(graph_batch)
            report["pretrain_flops"] = int(counter.get_total_flops())
    return report
