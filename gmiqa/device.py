"""Device selection and the CUDA fast path (bf16 autocast, channels_last).

On CUDA the model runs in bfloat16 autocast with channels_last memory format; on the CPU
it runs in float32 so that CPU runs are bit-for-bit reproducible under a seed.
"""

from __future__ import annotations

import contextlib
import random

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
    x: torch.Tensor, device: torch.device, channels_last: bool = True
) -> torch.Tensor:
    """Move an image batch (N, 3, H, W) to ``device``; channels_last on CUDA."""
    x = x.to(device, non_blocking=True)
    if channels_last and device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def describe_environment() -> dict:
    """Versions and the device, as a dict the notebooks print and result files store."""
    import platform
    import warnings

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
