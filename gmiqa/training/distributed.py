"""Data-parallel training on several processes (``torchrun``) that equals one process.

Taught in the book's performance chapter (``book/performance.md``, "Several GPUs"); no
notebook runs several processes. The training loops of ``notebooks/06_graph_pretraining``
and ``07_finetuning`` go through these hooks with one process.

Run any stage under ``torchrun --nproc_per_node=G ...``: each process takes a contiguous
slice of every step's *global* batch, so G processes together see exactly the images
one process sees with the same seed (the samplers draw the global batch from RNGs
seeded by ``(seed, step)``, identically on every rank). What makes the update equal to
the single-process one, up to the order of floating-point reductions:

- **Per-image work is sharded, the loss is not.** A rank runs the backbone on its slice
  only; the per-image outputs (pre-training: features X; fine-tuning: ``(mu, sigma)``)
  are gathered from all ranks (:func:`gather_rows`, differentiable) and every rank then
  computes the graph and the loss of the *whole* batch, with the same step-seeded noise
  as one process. The distortion graph couples all images of a batch, so sharding it
  any other way would change the method. Gathering rows is cheap: 64 x 512 numbers.
- **Gradients**: :func:`gather_rows` passes each rank ``world_size`` times its rows'
  gradient, and DistributedDataParallel (DDP) averages over ranks, which gives exactly
  the gradient of the global-batch loss.
- **BatchNorm**: in training mode a BN normalises with the statistics of the batch it
  sees. With ``sync_batchnorm=True`` (default) every BN uses the statistics of the
  global batch: :class:`torch.nn.SyncBatchNorm` on CUDA, :class:`GlobalBatchNorm2d` (two
  differentiable all-reduces per layer) on the CPU, where PyTorch's SyncBatchNorm is not
  implemented. ``sync_batchnorm=False`` keeps per-rank statistics (cheaper on many GPUs,
  but no longer equal to one process); DDP then broadcasts rank 0's running statistics.
- **Checkpoints and logs** are written by rank 0 only (:attr:`DistContext.is_main`);
  the others wait at a barrier so that a file is complete before anyone reads it.

Single-process runs go through the same hooks with ``world_size == 1``, where every
hook is the identity: the training loops have one code path.

Hooks the training loops use::

    ctx = distributed.setup(device)           # reads torchrun's RANK/WORLD_SIZE/LOCAL_RANK
    runner = ctx.wrap(model)                  # DDP around the model (identity for 1 process)
    x_local = fetch(ctx.shard(global_indices))
    losses = runner.run(loss_fn, x_local, ...)   # loss_fn(view, ...) sees whole-batch outputs
    if ctx.is_main: save(...)
"""

from __future__ import annotations

import datetime as _dt
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from gmiqa.device import resolve_device
from gmiqa.errors import ConfigError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment; ``(0, 1, 0)`` without it."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ConfigError(f"torchrun environment is malformed: {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"torchrun environment gives rank {rank} of world size {world}")
    return rank, world, local


def split_sizes(n: int, world_size: int) -> list[int]:
    """Rows per rank when ``n`` rows are split into ``world_size`` contiguous chunks.

    The first ``n % world_size`` ranks take one row more (as :func:`numpy.array_split`).
    """
    n, w = int(n), int(world_size)
    return [n // w + (1 if r < n % w else 0) for r in range(w)]


@dataclass
class DistContext:
    """Where this process stands: rank, world size, device, and the loop hooks.

    Taught in ``book/performance.md``. Build it with :func:`setup`.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None
    owns_group: bool = False  # True when setup() initialised the process group
    _counts: list[int] | None = None

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0: the one process that writes checkpoints, results and logs."""
        return self.rank == 0

    # ---- batches ---------------------------------------------------------------------
    def bounds(self, n: int) -> tuple[int, int]:
        """``(start, stop)`` of this rank's contiguous chunk of ``n`` rows."""
        sizes = split_sizes(n, self.world_size)
        start = sum(sizes[: self.rank])
        return start, start + sizes[self.rank]

    def shard(self, items):
        """This rank's contiguous chunk of one step's global batch (indices or a tensor).

        The chunks of all ranks, concatenated in rank order, are ``items`` again. Every
        rank must get at least one item (a global batch smaller than the number of
        processes raises ConfigError). The chunk sizes are remembered for the next
        :func:`gather_rows` (the whole-batch outputs of this batch).
        """
        n = len(items)
        if self.is_distributed and n < self.world_size:
            raise ConfigError(
                f"a global batch of {n} items cannot be split over {self.world_size} "
                "processes: use a batch size >= the number of processes"
            )
        self._counts = split_sizes(n, self.world_size)
        if not self.is_distributed:
            return items
        start, stop = self.bounds(n)
        return items[start:stop]

    # ---- model -----------------------------------------------------------------------
    def wrap(
        self,
        model: nn.Module,
        sync_batchnorm: bool = True,
        static_graph: bool = True,
    ) -> Runner:
        """A :class:`Runner` that runs ``model`` data-parallel (plain calls for one process).

        The model itself stays the object to checkpoint, evaluate and optimise: DDP
        shares its parameters. With ``sync_batchnorm`` its BatchNorm layers are converted
        in place (same parameters, buffers and state-dict keys) so that they normalise
        with global-batch statistics in training mode; evaluation mode is unchanged.
        ``static_graph``: the set of parameters a stage uses is the same every step (the
        unused heads, e.g. ``meta_head`` during pre-training, are found once).
        """
        return Runner(self, model, sync_batchnorm=sync_batchnorm, static_graph=static_graph)

    # ---- collectives -----------------------------------------------------------------
    def barrier(self) -> None:
        """Wait for every rank (no-op for one process)."""
        if self.is_distributed and dist.is_initialized():
            if self.backend == "nccl":
                dist.barrier(device_ids=[self.device.index or 0])
            else:
                dist.barrier()

    def gather_rows(self, local: Tensor) -> Tensor:
        """Rows of all ranks, in rank order, differentiable (see :func:`gather_rows`)."""
        if not self.is_distributed:
            return local
        if self._counts is None:
            raise RuntimeError("gather_rows() needs the chunk sizes of a preceding shard()")
        return gather_rows(local, self._counts, self.rank)


_CURRENT: DistContext | None = None


def current() -> DistContext:
    """The context :func:`setup` made in this process.

    Before any :func:`setup`: under torchrun (``WORLD_SIZE`` > 1) it joins the group with
    ``setup("auto")``, so that a stage without data-parallel support (stage 1) still
    writes its checkpoint from rank 0 only; otherwise a single-process context.
    """
    if _CURRENT is not None:
        return _CURRENT
    if env_world()[1] > 1:
        return setup("auto")
    return DistContext()


def setup(device: str | torch.device = "auto", timeout_s: float = 600.0) -> DistContext:
    """Join the process group torchrun describes (if any) and return the context.

    Taught in ``book/performance.md``. Without torchrun's environment
    (``WORLD_SIZE`` unset or 1) nothing is initialised and the context is single-process.
    With it: backend ``nccl`` on CUDA (device ``cuda:LOCAL_RANK``), ``gloo`` on the CPU.
    Calling it again in the same process returns the same group (stages run one after
    another). Call :func:`teardown` at the end of the program.
    """
    global _CURRENT

    rank, world, local = env_world()
    dev = resolve_device(device)
    if world == 1:
        _CURRENT = DistContext(device=dev)
        return _CURRENT
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA devices are visible"
            )
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise ConfigError(f"multi-process training supports cuda and cpu, not {dev.type!r}")
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world,
            timeout=_dt.timedelta(seconds=float(timeout_s)),
            **({"device_id": dev} if backend == "nccl" else {}),
        )
        owns = True
    else:
        if dist.get_world_size() != world:
            raise ConfigError(
                f"a process group of size {dist.get_world_size()} is already initialised, "
                f"but WORLD_SIZE is {world}"
            )
        if dist.get_backend() != backend:
            raise ConfigError(
                f"the process group uses {dist.get_backend()}, but device {dev} needs {backend}: "
                "run every stage of one torchrun job on the same kind of device"
            )
        owns = _CURRENT is not None and _CURRENT.owns_group
    _CURRENT = DistContext(rank, world, local, dev, dist.get_backend(), owns)
    return _CURRENT


def teardown() -> None:
    """Destroy the process group :func:`setup` created (no-op otherwise)."""
    global _CURRENT
    if _CURRENT is not None and _CURRENT.owns_group and dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = None


# ---- differentiable gather -------------------------------------------------------------
class _GatherRows(torch.autograd.Function):
    """All-gather of row chunks of unequal sizes; backward keeps this rank's rows.

    Every rank computes the same loss from the gathered rows, so every rank holds the
    same gradient of the full tensor: no communication is needed in backward. The
    gradient is multiplied by the world size because DDP divides by it when it averages
    the parameter gradients.
    """

    @staticmethod
    def forward(ctx, local: Tensor, counts: list[int], rank: int) -> Tensor:  # noqa: D102
        world = len(counts)
        top = max(counts)
        ctx.start = sum(counts[:rank])
        ctx.stop = ctx.start + counts[rank]
        ctx.world = world
        local = local.contiguous()
        if local.shape[0] != counts[rank]:
            raise RuntimeError(
                f"rank {rank} holds {local.shape[0]} rows but its shard has {counts[rank]}"
            )
        padded = local
        if local.shape[0] < top:
            pad = local.new_zeros((top - local.shape[0], *local.shape[1:]))
            padded = torch.cat([local, pad])
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        return torch.cat([p[:c] for p, c in zip(parts, counts)])

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        return grad[ctx.start : ctx.stop] * ctx.world, None, None


def gather_rows(local: Tensor, counts: Sequence[int], rank: int) -> Tensor:
    """Concatenate every rank's ``local`` rows (rank order); differentiable.

    Taught in ``book/performance.md``. ``counts[r]`` is rank r's number
    of rows (:func:`split_sizes`). Requires that every rank computes the same loss from
    the result (the backward pass returns ``world_size`` x this rank's rows' gradient,
    which DDP's averaging turns into the gradient of that loss).
    """
    return _GatherRows.apply(local, list(int(c) for c in counts), int(rank))


# ---- BatchNorm over the global batch ------------------------------------------------------
class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: every rank's loss depends on the sum, so the
    gradient of a rank's input is the sum over ranks of the gradients of the sum."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: D102
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: D102
        g = grad.clone()
        dist.all_reduce(g)
        return g


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are those of the global batch.

    Taught in ``book/performance.md``. For the CPU (gloo), where
    :class:`torch.nn.SyncBatchNorm` is not implemented: the per-channel sum and count,
    then the sum of squared deviations, are all-reduced with autograd-aware collectives
    (two small all-reduces per layer), so forward and backward equal one BatchNorm over
    the concatenated batch. Outside a process group, or in evaluation mode, it is
    :class:`torch.nn.BatchNorm2d`.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        c = x.shape[1]
        xf = x if x.dtype == torch.float64 else x.float()
        count = torch.full((1,), float(x.numel() // c), dtype=xf.dtype, device=x.device)
        total = _AllReduceSum.apply(torch.cat([xf.sum(dim=(0, 2, 3)), count]))
        n = total[c]
        mean = total[:c] / n
        centered = xf - mean.view(1, c, 1, 1)
        var = _AllReduceSum.apply((centered * centered).sum(dim=(0, 2, 3))) / n  # biased, as BN
        y = centered * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                if self.momentum is None:
                    factor = 1.0 / float(self.num_batches_tracked)
                else:
                    factor = float(self.momentum)
                unbiased = var * (n / (n - 1).clamp(min=1.0))
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.detach(), alpha=factor)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm2d in ``module`` (in place) by a global-batch version.

    CUDA: :class:`torch.nn.SyncBatchNorm`; CPU: :class:`GlobalBatchNorm2d`. Parameters
    and buffers are the same tensor objects, so optimisers built before keep working
    and state-dict keys do not change. Returns ``module``.
    """
    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d:  # exactly: leave subclasses alone
            if device.type == "cuda":
                new: nn.Module = nn.SyncBatchNorm(
                    child.num_features, child.eps, child.momentum, child.affine,
                    child.track_running_stats,
                )  # fmt: skip
            else:
                new = GlobalBatchNorm2d(
                    child.num_features, child.eps, child.momentum, child.affine,
                    child.track_running_stats,
                )  # fmt: skip
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean = child.running_mean
                new.running_var = child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_batchnorm(child, device)
    return module


# ---- the model runner ---------------------------------------------------------------------
class BatchView:
    """What a loss function sees: the model's entry points, on whole-batch outputs.

    Taught in ``book/performance.md``. ``view.pretrain_forward(x_local)``
    runs the backbone on this rank's images, gathers the features of the global batch
    and builds its distortion graph; ``view.finetune_forward(x_local)`` gathers
    ``(mu, sigma)``. For one process these are the model's own methods.
    """

    def __init__(self, ctx: DistContext, model: nn.Module) -> None:
        self.ctx = ctx
        self.model = model

    def __getattr__(self, name: str):  # anything else (heads, flags): the model's own
        return getattr(self.model, name)

    def features(self, x_local) -> Tensor:
        return self.ctx.gather_rows(self.model.features(x_local))

    def pretrain_forward(self, x_local):
        return self.model.graph(self.features(x_local))

    def finetune_forward(self, x_local) -> tuple[Tensor, Tensor]:
        mu, sigma = self.model.finetune_forward(x_local)
        return self.ctx.gather_rows(mu), self.ctx.gather_rows(sigma)

    def meta_forward(self, x_local) -> Tensor:
        return self.ctx.gather_rows(self.model.meta_forward(x_local))


class _Dispatch(nn.Module):
    """DDP needs one ``forward``; this one calls ``fn(BatchView(model), *args)``."""

    def __init__(self, ctx: DistContext, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._ctx = ctx

    def forward(self, fn: Callable[..., Any], *args, **kwargs):
        return fn(BatchView(self._ctx, self.model), *args, **kwargs)


class Runner:
    """Runs one training step's forward through DDP (or directly for one process).

    Taught in ``book/performance.md``. Build it with
    :meth:`DistContext.wrap`. ``runner.run(fn, *args)`` calls ``fn(view, *args)`` where
    ``view`` is a :class:`BatchView`; the whole step's forward (all its batches and
    losses) must happen inside one ``run`` call, followed by one backward. ``fn`` must
    return only tensors the loss uses: DDP decides from the returned tensors which
    parameters will receive gradients (a returned but unused ``sigma`` would make it
    wait for the sigma head's gradients forever).
    """

    def __init__(
        self,
        ctx: DistContext,
        model: nn.Module,
        sync_batchnorm: bool = True,
        static_graph: bool = True,
    ) -> None:
        self.ctx = ctx
        self.model = model
        self.dispatch = _Dispatch(ctx, model)
        self.ddp: nn.Module | None = None
        if ctx.is_distributed:
            if sync_batchnorm:
                convert_batchnorm(model, ctx.device)
            # with synced BatchNorm the running statistics stay equal on every rank, so
            # DDP need not broadcast rank 0's buffers before every forward
            sync = {"broadcast_buffers": not sync_batchnorm}
            if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
                sync = {"forward_sync_buffers": not sync_batchnorm}  # torch >= 2.14 name
            self.ddp = DistributedDataParallel(
                self.dispatch,
                device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                **sync,
                static_graph=static_graph,
                find_unused_parameters=not static_graph,
                gradient_as_bucket_view=True,
            )

    def run(self, fn: Callable[..., Any], *args, **kwargs):
        """``fn(view, *args, **kwargs)`` as the step's (data-parallel) forward."""
        if self.ddp is None:
            return self.dispatch(fn, *args, **kwargs)
        return self.ddp(fn, *args, **kwargs)

    @property
    def view(self) -> BatchView:
        """A :class:`BatchView` outside DDP (evaluation, no gradients)."""
        return BatchView(self.ctx, self.model)
