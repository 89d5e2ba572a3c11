"""Training batches from an image bank: random crops and flips, on the device, prefetched.

Taught in ``notebooks/06_graph_pretraining.ipynb``.

:class:`BatchFeeder` turns dataset indices into a float batch ``(B, 3, h, w)`` in [0, 1]
on the training device:

- **Where the pixels live.** On a GPU the whole bank is copied to device memory once as
  uint8 when it fits (``resident="auto"``: under half of the free memory); a batch is
  then one gather kernel, with no host-device copy at all. Otherwise (and on the CPU)
  rows are read from the memory-mapped bank, cropped, and copied through pinned memory.
- **Crops and flips** (``crop``, ``flip``): every image gets its own random window and
  horizontal flip, drawn from a generator seeded by the step, so a batch is a function
  of (seed, step) alone and a resumed run sees the same pixels. Cropping is one
  advanced-indexing gather that produces the flipped window directly.
- **Prefetch** (:class:`Prefetcher`): on a GPU a worker thread prepares the next steps'
  batches while the current step trains, so the data path overlaps the compute. On the
  CPU the batch is made when it is asked for (:func:`prefetch_depth`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from gmiqa.errors import ConfigError


class BatchFeeder:
    """Float batches ``(B, 3, h, w)`` in [0, 1] from a uint8 image array ``(N, H, W, 3)``.

    Taught in ``notebooks/06_graph_pretraining.ipynb``.

    Args:
        images: the bank's images (a numpy memmap or array, or a uint8 tensor).
        device: where batches are delivered.
        crop: ``(h, w)`` window (an int for a square) or None for the whole image.
        flip: random horizontal flips.
        channels_last: deliver batches in channels-last memory format.
        resident: ``"auto"``, True or False: keep the bank in device memory.
    """

    def __init__(
        self,
        images,
        device: torch.device | str,
        crop: int | tuple[int, int] | None = None,
        flip: bool = True,
        channels_last: bool = False,
        resident: bool | str = "auto",
    ) -> None:
        self.device = torch.device(device)
        n, h, w, c = (int(v) for v in images.shape)
        if c != 3:
            raise ConfigError(f"image bank has {c} channels, expected 3")
        if crop is None:
            crop = (h, w)
        elif isinstance(crop, int):
            crop = (crop, crop)
        self.crop = (int(crop[0]), int(crop[1]))
        if self.crop[0] > h or self.crop[1] > w:
            raise ConfigError(
                f"crop {self.crop[1]}x{self.crop[0]} is larger than the bank's images ({w}x{h})"
            )
        self.size = (h, w)
        self.flip = bool(flip)
        self.channels_last = bool(channels_last)
        self._host = images
        self._device_images = None
        if self.device.type == "cuda":
            nbytes = n * h * w * 3
            fits = nbytes < 0.5 * torch.cuda.mem_get_info(self.device)[0]
            if resident is True or (resident == "auto" and fits):
                self._device_images = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        self._arange = (torch.arange(self.crop[0]), torch.arange(self.crop[1]))

    @property
    def resident(self) -> bool:
        """True when the bank lives in device memory."""
        return self._device_images is not None

    def windows(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top, left and flip of ``count`` random windows, from a generator seeded by ``seed``."""
        rng = np.random.default_rng(seed)
        h, w = self.size
        top = rng.integers(0, h - self.crop[0] + 1, size=count)
        left = rng.integers(0, w - self.crop[1] + 1, size=count)
        flip = rng.random(count) < 0.5 if self.flip else np.zeros(count, dtype=bool)
        return top, left, flip

    def batch(self, indices, seed: int) -> torch.Tensor:
        """Images ``indices`` cropped and flipped as ``seed`` draws them: ``(B, 3, h, w)``."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        top, left, flip = self.windows(len(idx), seed)
        if self._device_images is not None:
            src, rows_of = self._device_images, torch.as_tensor(idx, device=self.device)
        else:
            # read each needed row once from the memory map (sorted reads), then gather
            unique, inverse = np.unique(idx, return_inverse=True)
            src = torch.from_numpy(np.ascontiguousarray(self._host[unique]))
            rows_of = torch.as_tensor(inverse)
        dev = src.device
        ry, rx = (a.to(dev) for a in self._arange)
        top_t = torch.as_tensor(top, device=dev)
        left_t = torch.as_tensor(left, device=dev)
        flip_t = torch.as_tensor(flip, device=dev)
        rows = top_t[:, None] + ry[None, :]
        cols = left_t[:, None] + torch.where(flip_t[:, None], rx.flip(0)[None, :], rx[None, :])
        out = src[rows_of[:, None, None], rows[:, :, None], cols[:, None, :]]  # (B, h, w, 3)
        if out.device != self.device:
            if self.device.type == "cuda":
                out = out.pin_memory().to(self.device, non_blocking=True)
            else:
                out = out.to(self.device)
        x = out.permute(0, 3, 1, 2).float().div_(255.0)  # a channels-last view of (B, 3, h, w)
        return (
            x.contiguous(memory_format=torch.channels_last)
            if self.channels_last
            else x.contiguous()
        )


def prefetch_depth(device: torch.device | str) -> int:
    """How many steps ahead :class:`Prefetcher` prepares batches on ``device``: 2 on CUDA, 0 elsewhere.

    On the CPU the batch (a gather from the memory-mapped bank, about 1% of a ``cpu``
    step) and the training step share the same cores: a worker thread running torch ops
    beside the step's intra-op threads made the ``cpu`` profile's stage 2 about 15%
    slower on 2 cores (100 steps: 56.7 s threaded, 48.3 s in line;
    ``benchmarks/bench_data.py`` prints both). On a GPU the step runs on the device and
    the thread hides the host work.
    """
    return 2 if torch.device(device).type == "cuda" else 0


class Prefetcher:
    """Computes ``make(step)`` for the next ``depth`` steps on a worker thread.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. ``get(step)`` returns
    ``make(step)`` (computed ahead when the steps are asked for in order) and schedules
    the following ones. The batch of a step depends on the step alone, so prefetching
    never changes what a step sees. ``depth=0``: no thread, ``make(step)`` is called in
    ``get`` (see :func:`prefetch_depth`).
    """

    def __init__(self, make: Callable[[int], object], last_step: int, depth: int = 2) -> None:
        self.make = make
        self.last_step = int(last_step)
        self.depth = max(0, int(depth))
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="gmiqa-prefetch") if self.depth else None
        )
        self._pending: dict[int, Future] = {}

    def get(self, step: int):
        if self._pool is None:
            return self.make(step)
        future = self._pending.pop(step, None)
        for ahead in range(step + 1, min(step + 1 + self.depth, self.last_step)):
            if ahead not in self._pending:
                self._pending[ahead] = self._pool.submit(self.make, ahead)
        for old in [s for s in self._pending if s <= step]:
            self._pending.pop(old).cancel()
        return future.result() if future is not None else self.make(step)

    def close(self) -> None:
        for f in self._pending.values():
            f.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._pending.clear()


class DatasetFeeder(BatchFeeder):
    """The same windows from a dataset without a bank: items are read one by one.

    For small sets (tests, a handful of images); training code takes either feeder. The
    items' float pixels are used as they are (no uint8 round trip). Every image of the
    dataset must have one size.
    """

    def __init__(self, dataset, device, crop=None, flip=True, channels_last=False) -> None:
        size = getattr(dataset, "image_size", None)
        if size is None:
            size = tuple(dataset[0]["image"].shape[-2:])
        h, w = int(size[0]), int(size[1])
        self.dataset = dataset
        super().__init__(_Shape((len(dataset), h, w, 3)), device, crop, flip, channels_last,
                         resident=False)  # fmt: skip

    def batch(self, indices, seed: int) -> torch.Tensor:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        top, left, flip = self.windows(len(idx), seed)
        ch, cw = self.crop
        out = []
        for k, i in enumerate(idx):
            item = self.dataset[int(i)]
            img = item["image"]
            if tuple(img.shape[-2:]) != self.size:
                raise ConfigError(
                    f"{item['name']}: image size {tuple(img.shape[-2:])} differs from the "
                    f"set's {self.size}: batches of one size need one image size"
                )
            img = img[:, top[k] : top[k] + ch, left[k] : left[k] + cw]
            out.append(img.flip(-1) if flip[k] else img)
        x = torch.stack(out).to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class _Shape:
    def __init__(self, shape) -> None:
        self.shape = shape


def feeder_for(dataset, device, crop=None, flip=False, channels_last=False) -> BatchFeeder:
    """A :class:`BatchFeeder` on the dataset's image bank, or a :class:`DatasetFeeder`."""
    bank = getattr(dataset, "bank", None)
    if bank is not None:
        return BatchFeeder(bank.images, device, crop, flip, channels_last)
    return DatasetFeeder(dataset, device, crop, flip, channels_last)
