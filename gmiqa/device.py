"""Device selection and the fast paths (bf16 autocast, channels_last, torch.compile).

On CUDA the model runs in bfloat16 autocast with channels_last memory format; on the CPU
it runs in float32 so that CPU runs are bit-for-bit reproducible under a seed.
"""

from __future__ import annotations

import contextlib
import platform
import random
import warnings

import numpy as np
import torch

from gmiqa.errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> cuda if available, else mps if available, else cpu. Unknown -> ConfigError."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA when enabled; a no-op context elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device_images(
    x: torch.Tensor, device: torch.device, channels_last: bool | None = None
) -> torch.Tensor:
    """Move an image batch (N, 3, H, W) to ``device``.

    ``channels_last``: None (default) = channels-last memory format on CUDA only; True =
    on any device (a training stage whose model is channels-last, see
    :func:`prepare_model`); False = never.
    """
    x = x.to(device, non_blocking=True)
    wanted = device.type == "cuda" if channels_last is None else bool(channels_last)
    if wanted and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def training_channels_last(device: torch.device, enabled: bool = True) -> bool:
    """Whether a training stage keeps its model and batches channels-last on ``device``.

    On CUDA (tensor-core convolutions) and on the CPU, where oneDNN's channels-last
    convolutions made the ``cpu`` profile's training step 1.15-1.25x faster on this
    project's 2-core machine (``benchmarks/bench_training.py``). ``enabled`` is the
    profile's ``channels_last``.
    """
    return bool(enabled) and device.type in ("cuda", "cpu")


def compiles(device: torch.device, enabled: bool) -> bool:
    """Whether ``torch.compile`` is used: when the profile (or ``--compile``) asks, on CUDA.

    Off on the CPU: compiling there costs minutes of C++ builds for a run of minutes.
    """
    return bool(enabled) and device.type == "cuda"


def prepare_model(
    model: torch.nn.Module, device: torch.device, channels_last: bool = False, compile: bool = False
) -> torch.nn.Module:
    """Move ``model`` to ``device`` for training; channels-last and a compiled backbone on request.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. ``channels_last`` and ``compile``
    are decisions already made (:func:`training_channels_last`, :func:`compiles`). The
    backbone is compiled in place (``nn.Module.compile``): parameter names, checkpoints
    and ``functional_call`` see the same module; the graph heads stay eager (their shapes
    change with every graph).
    """
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        backbone = getattr(model, "backbone", model)
        backbone.compile()
    return model


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def describe_environment() -> dict:
    """Versions and the device, as a dict the notebooks print and result files store."""

    with warnings.catch_warnings():  # PyG's import-time torch.jit.script deprecation notice
        warnings.simplefilter("ignore", FutureWarning)
        import torch_geometric

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": str(resolve_device("auto")),
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
