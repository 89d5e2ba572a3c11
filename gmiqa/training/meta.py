"""Stage 1: meta-learning pre-training over distortion tasks (MAML, FOMAML, Meta-SGD).

Taught in ``notebooks/05_meta_learning.ipynb``. The paper's released code has no
meta-learning, so this stage is designed from its text (choices recorded in the book):

- **Tasks**: one task = one distortion type. Its images are split into a support and a
  query set *by reference content*: no content appears in both, so adaptation must
  generalise across scenes (:class:`gmiqa.training.samplers.MetaTaskSampler`).
- **Inner loop**: ``k`` gradient steps on the support loss, computed functionally with
  :func:`torch.func.functional_call` on a dict of adapted parameters; the module's own
  parameters are never modified in place.
- **Outer loop**: the query loss of the adapted parameters, averaged over a meta-batch
  of tasks, differentiated with respect to the initial parameters and stepped with Adam.
  Second-order MAML keeps the graph of the inner gradients (``create_graph=True``);
  first-order (FOMAML) detaches them, so the meta-gradient is the query gradient at the
  adapted parameters.
- **Meta-SGD** (optional): every parameter gets a learned inner learning rate of its own
  shape, initialised to ``inner_lr`` and stepped by the outer optimiser ("learn the
  initialisation and the optimisation rule").
- **BatchNorm**: every forward (support and query) normalises with the statistics of its
  own batch (training mode), as in MAML. Running statistics are updated only by the
  query forwards, on the module's real buffers; support forwards run on copies that are
  thrown away, so the inner loop leaves no trace in the buffers that later stages use in
  evaluation mode.
- **Loss**: mean squared error between the meta regressor's prediction
  (``GMIQA.meta_forward``) and the normalised full-reference pseudo-score.

Tasks' losses are back-propagated one task at a time (gradients accumulate), so memory
holds one task's second-order graph, not the whole meta-batch's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap
from torch.nn.modules.batchnorm import _BatchNorm

from gmiqa.datasets.bank import dataset_fingerprint
from gmiqa.datasets.base import record_field
from gmiqa.device import (
    autocast,
    prepare_model,
    resolve_device,
    seed_everything,
    training_channels_last,
)
from gmiqa.models import build_model
from gmiqa.profiles import MetaSettings, Profile
from gmiqa.training import distributed
from gmiqa.training import feeder as feeding  # module attributes: tests patch them
from gmiqa.training.loop import (
    file_identity,
    stage_config,
    step_rng,
    step_seed,
    train_steps,
)
from gmiqa.training.samplers import MetaTaskSampler, holdout_references

Batch = tuple[torch.Tensor, torch.Tensor]  # (inputs, targets)


@dataclass
class Task:
    """One task: a support batch and a query batch (inputs, targets) of one distortion type."""

    support: Batch
    query: Batch
    name: str = ""


class MethodModule(nn.Module):
    """Expose ``module.<method>`` as ``forward`` so :func:`functional_call` can call it.

    Taught in ``notebooks/05_meta_learning.ipynb`` (``MethodModule(model, "meta_forward")``).
    """

    def __init__(self, module: nn.Module, method: str):
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, *args, **kwargs):
        return getattr(self.module, self.method)(*args, **kwargs)


class MetaLearner:
    """Bi-level optimisation of ``module``'s initialisation on a stream of tasks.

    ``loss_fn(prediction, target)`` gives a scalar. ``param_filter(name)`` picks the
    parameters that are adapted in the inner loop and meta-learned (default: all that
    require gradients). Taught in ``notebooks/05_meta_learning.ipynb``.
    """

    def __init__(
        self,
        module: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        inner_steps: int = 1,
        inner_lr: float = 1e-3,
        first_order: bool = False,
        learn_inner_lr: bool = False,
        param_filter: Callable[[str], bool] | None = None,
        device: torch.device | None = None,
        amp: bool = False,
        vmap_tasks: bool = False,
    ):
        if inner_steps < 1:
            raise ValueError(f"inner_steps must be >= 1, got {inner_steps}")
        self.module = module
        self.loss_fn = loss_fn
        self.inner_steps = int(inner_steps)
        self.inner_lr = float(inner_lr)
        self.first_order = bool(first_order)
        self.device = device or next(module.parameters()).device
        self.amp = amp
        # run a meta-batch's tasks together (meta_outer_loss_vmapped) when they allow it
        self.vmap_tasks = bool(vmap_tasks)
        keep = param_filter or (lambda name: True)
        self.names = [n for n, p in module.named_parameters() if p.requires_grad and keep(n)]
        params = dict(module.named_parameters())
        self.inner_lrs: dict[str, torch.Tensor] = {}
        if learn_inner_lr:
            self.inner_lrs = {
                n: torch.full_like(params[n], self.inner_lr).requires_grad_(True)
                for n in self.names
            }

    def outer_parameters(self) -> list[torch.Tensor]:
        """What the outer optimiser steps: the module's parameters and Meta-SGD's rates."""
        return [p for p in self.module.parameters() if p.requires_grad] + list(
            self.inner_lrs.values()
        )

    def _forward(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp):
            return functional_call(self.module, {**params, **buffers}, (x,))

    def _loss(self, params, buffers, batch: Batch) -> torch.Tensor:
        x, y = batch
        pred = self._forward(params, buffers, x)
        if pred.dtype in (torch.float16, torch.bfloat16):  # losses in float32 under autocast
            pred = pred.float()
        return self.loss_fn(pred, y.to(pred.dtype))

    def adapt(self, support: Batch, params: dict | None = None) -> tuple[dict, torch.Tensor]:
        """Inner loop: ``inner_steps`` gradient steps on the support loss.

        Returns the adapted parameter dict (differentiable with respect to the initial
        parameters unless first-order) and the support loss before adaptation.
        """
        params = dict(params if params is not None else self.module.named_parameters())
        # Support forwards use throw-away copies of the BatchNorm buffers.
        scratch = {n: b.clone() for n, b in self.module.named_buffers()}
        first_loss = None
        for _ in range(self.inner_steps):
            loss = self._loss(params, scratch, support)
            if first_loss is None:
                first_loss = loss.detach()
            grads = torch.autograd.grad(
                loss,
                [params[n] for n in self.names],
                create_graph=not self.first_order,
                allow_unused=True,
            )
            new = dict(params)
            for name, grad in zip(self.names, grads):
                if grad is None:  # not used by this forward (e.g. the graph heads)
                    continue
                if self.first_order:
                    grad = grad.detach()
                rate = self.inner_lrs.get(name, self.inner_lr)
                new[name] = params[name] - rate * grad
            params = new
        return params, first_loss

    def task_loss(self, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
        """Query loss after adapting on the support set, and the support loss before it."""
        adapted, support_loss = self.adapt(task.support)
        buffers = dict(self.module.named_buffers())  # query forwards update running stats
        return self._loss(adapted, buffers, task.query), support_loss

    def evaluate(self, task: Task) -> tuple[float, float]:
        """Query loss at the initialisation and after adaptation, leaving every buffer as it was.

        Taught in ``notebooks/05_meta_learning.ipynb`` (does adaptation help on unseen tasks?).
        """
        adapted, _ = self.adapt(task.support)
        params = dict(self.module.named_parameters())
        with torch.no_grad():
            before = self._loss(
                params, {n: b.clone() for n, b in self.module.named_buffers()}, task.query
            )
            after = self._loss(
                {k: v.detach() for k, v in adapted.items()},
                {n: b.clone() for n, b in self.module.named_buffers()},
                task.query,
            )
        return float(before), float(after)

    def meta_loss(self, tasks: Sequence[Task]) -> torch.Tensor:
        """Mean query loss over a meta-batch, differentiable with respect to the initialisation."""
        return torch.stack([self.task_loss(t)[0] for t in tasks]).mean()

    def accumulate(self, tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
        """Back-propagate the meta-batch's mean query loss one task at a time.

        Gradients accumulate into ``.grad`` of :meth:`outer_parameters` (zero them first).
        Returns detached mean query and support losses for logging. With
        ``vmap_tasks=True`` the tasks run together (:func:`meta_outer_loss_vmapped`).
        """
        if self.vmap_tasks and can_vmap_tasks(self, tasks):
            return meta_outer_loss_vmapped(self, tasks)
        query_losses, support_losses = [], []
        for task in tasks:
            loss, support_loss = self.task_loss(task)
            (loss / len(tasks)).backward()
            query_losses.append(loss.detach())
            support_losses.append(support_loss)
        return {
            "query": torch.stack(query_losses).mean(),
            "support": torch.stack(support_losses).mean(),
        }


def _bn_momenta(module: nn.Module) -> dict[str, float | None]:
    """Buffer name -> momentum for every BatchNorm running statistic of ``module``."""

    out: dict[str, float | None] = {}
    for prefix, m in module.named_modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            dot = f"{prefix}." if prefix else ""
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out[dot + name] = m.momentum
    return out


def _batch_norm_by_moments(input, running_mean, running_var, weight=None, bias=None,
                           training=False, momentum=0.1, eps=1e-5):  # fmt: skip
    """``F.batch_norm`` in training mode written with mean/var (evaluation: the original).

    The fused kernel's second derivative is wrong under ``vmap`` over a batched input
    (torch 2.x: a second-order meta-gradient differs from the loop's by ~1e-2, also in
    float64); this composite is exact there. Statistics in float32 under autocast.
    """
    if not training:
        return _F_BATCH_NORM(input, running_mean, running_var, weight, bias, training, momentum,
                             eps)  # fmt: skip
    x = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean = x.mean(dims)
    var = x.var(dims, correction=0)
    if running_mean is not None:
        n = x.numel() // x.shape[1]
        with torch.no_grad():
            running_mean.mul_(1.0 - momentum).add_(momentum * mean.detach())
            running_var.mul_(1.0 - momentum).add_(momentum * n / max(n - 1, 1) * var.detach())
    out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + eps)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return out.to(input.dtype)


_F_BATCH_NORM = torch.nn.functional.batch_norm


class _BatchNormByMoments:
    """Within: ``torch.nn.functional.batch_norm`` (what BatchNorm modules call) is the composite."""

    def __enter__(self):
        torch.nn.functional.batch_norm = _batch_norm_by_moments

    def __exit__(self, *exc):
        torch.nn.functional.batch_norm = _F_BATCH_NORM


def can_vmap_tasks(learner: MetaLearner, tasks: Sequence[Task]) -> bool:
    """Whether :func:`meta_outer_loss_vmapped` can run ``tasks`` together.

    Taught in ``notebooks/05_meta_learning.ipynb``: at least two tasks, one support shape
    and one query shape, every BatchNorm with a momentum (not a cumulative average).
    """
    shapes = {(tuple(t.support[0].shape), tuple(t.query[0].shape)) for t in tasks}
    momenta = _bn_momenta(learner.module)
    return len(tasks) >= 2 and len(shapes) == 1 and all(m is not None for m in momenta.values())


def meta_outer_loss_vmapped(learner: MetaLearner, tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
    """:meth:`MetaLearner.accumulate` with the meta-batch's tasks run together (vmap over tasks).

    Taught in ``notebooks/05_meta_learning.ipynb``. Same contract and results as
    ``learner.accumulate(tasks)`` (tests compare the outer gradients and the BatchNorm
    running statistics to float rounding): gradients of the mean query loss accumulate
    into ``.grad`` of :meth:`MetaLearner.outer_parameters`; the detached mean query and
    support losses are returned.

    The whole outer step is one :func:`torch.func.vmap` over tasks of the inner loop
    (:func:`torch.func.grad_and_value` of the support loss, ``inner_steps`` times; its
    result detached for first order) and the query loss, then one ``backward``: each
    convolution runs once for all T tasks (T x the images) instead of T times, and the
    backward is one pass. BatchNorm keeps MAML's per-task statistics: every task
    normalises with its own batch (vmap keeps the tasks apart) and gets its own copies of
    the running statistics (support copies thrown away, as in :meth:`MetaLearner.adapt`);
    the module's buffers then receive exactly the sequential loop's updates, composed in
    closed form from the per-task copies (``r <- (1 - m) r + m s`` applied task after
    task). Memory holds every task's graph at once (the sequential loop one task's).

    Needs tasks whose support (and query) batches have one shape and BatchNorm layers
    with a momentum (:func:`can_vmap_tasks`); ``MetaLearner(..., vmap_tasks=True)``
    calls this from :meth:`MetaLearner.accumulate` when they do and runs the loop
    otherwise.
    """

    if not can_vmap_tasks(learner, tasks):
        raise ValueError(
            "meta_outer_loss_vmapped needs tasks of equal support and query shapes and "
            "BatchNorm layers with a momentum; use MetaLearner.accumulate"
        )
    module = learner.module
    n_tasks = len(tasks)
    momenta = _bn_momenta(module)
    params = dict(module.named_parameters())
    adapted0 = {n: params[n] for n in learner.names}
    fixed = {n: p for n, p in params.items() if n not in adapted0}
    buffers = dict(module.named_buffers())

    xs, ys = (torch.stack([t.support[i] for t in tasks]) for i in (0, 1))
    xq, yq = (torch.stack([t.query[i] for t in tasks]) for i in (0, 1))

    def copies() -> dict[str, torch.Tensor]:  # per-task running statistics
        return {n: buffers[n].detach().unsqueeze(0).repeat(n_tasks, *([1] * buffers[n].dim()))
                for n in momenta}  # fmt: skip

    constants = {n: b for n, b in buffers.items() if n not in momenta}
    support_buffers, query_buffers = copies(), copies()

    def support_loss(p, bufs, x, y):
        return learner._loss({**fixed, **p}, {**constants, **bufs}, (x, y))

    def one_task(p0, rates, s_bufs, q_bufs, x, y, x_q, y_q):
        p, first = p0, None
        for _ in range(learner.inner_steps):
            grads, loss = grad_and_value(support_loss)(p, s_bufs, x, y)
            first = loss if first is None else first
            if learner.first_order:
                grads = {k: g.detach() for k, g in grads.items()}
            p = {k: p[k] - rates.get(k, learner.inner_lr) * grads[k] for k in p}
        query = learner._loss({**fixed, **p}, {**constants, **q_bufs}, (x_q, y_q))
        return query, first.detach()

    with _BatchNormByMoments():  # forwards and (below) backward see the composite
        query, support = vmap(one_task, in_dims=(None, None, 0, 0, 0, 0, 0, 0))(
            adapted0, learner.inner_lrs, support_buffers, query_buffers, xs, ys, xq, yq
        )
    query.mean().backward()
    with torch.no_grad():  # the sequential loop's running statistics, in closed form
        for name, momentum in momenta.items():
            old, per_task = buffers[name], query_buffers[name]
            if name.endswith("num_batches_tracked"):
                old.add_(n_tasks)
                continue
            keep = 1.0 - momentum
            # task t's copy: keep * old + m * s_t; sequentially the last task weighs most
            weights = keep ** torch.arange(n_tasks - 1, -1, -1, dtype=per_task.dtype,
                                           device=per_task.device)  # fmt: skip
            steps = per_task - keep * old  # m * s_t
            mixed = torch.tensordot(weights, steps, dims=1)
            old.mul_(keep**n_tasks).add_(mixed)
    return {"query": query.detach().mean(), "support": support.mean()}


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred.reshape(-1) - target.reshape(-1)) ** 2)


def meta_config(
    profile: Profile, seed: int, data: str | None = None, backbone_weights=None
) -> dict:
    """The configuration stored with (and fingerprinting) a meta checkpoint."""
    p = profile.to_dict()
    # Only the settings stage 1 depends on decide whether its checkpoint is reusable;
    # vmap_tasks gives the same steps: it does not invalidate checkpoints.
    used = {
        "meta": {k: v for k, v in p["meta"].items() if k != "vmap_tasks"},
        "holdout": p["pretrain"]["holdout_references"],
    }
    return stage_config("meta", profile, seed, used, data, backbone_weights,
                        file_identity(backbone_weights))  # fmt: skip


def _meta_learner(profile: Profile, dev, seed: int, backbone_weights) -> tuple:
    """``(model, MetaLearner)`` of stage 1: the model on ``dev`` in training mode, eager
    (the inner loop runs through torch.func; Profile.compile is for stages 2-3)."""
    s = profile.meta
    seed_everything(seed)
    cl = training_channels_last(dev, profile.channels_last)
    model = prepare_model(build_model(profile.model, backbone_weights), dev, cl)
    model.train()
    learner = MetaLearner(
        MethodModule(model, "meta_forward"), mse, inner_steps=s.inner_steps,
        inner_lr=s.inner_lr, first_order=s.first_order, learn_inner_lr=s.learn_inner_lr,
        device=dev, amp=profile.amp, vmap_tasks=s.vmap_tasks,
    )  # fmt: skip
    return model, learner


def _meta_tasks(profile: Profile, dataset, dev, seed: int):
    """``make(step)``: the step's tasks (one distortion type each: support and query
    images with their scores), never from the references stage 2 holds out."""
    s = profile.meta
    # the references stage 2 probes on stay out of stage 1 too
    held_out = holdout_references(
        record_field(dataset, "ref_id"), profile.pretrain.holdout_references, seed
    )
    sampler = MetaTaskSampler(dataset.records, tasks_per_step=s.tasks_per_step,
                              support_size=s.support_size, query_size=s.query_size,
                              exclude_refs=held_out)  # fmt: skip
    score_col = record_field(dataset, "score").astype(np.float32)
    cl = training_channels_last(dev, profile.channels_last)
    feeder = feeding.feeder_for(dataset, dev, s.crop, s.flip, cl)

    def fetch(indices, seed_: int) -> Batch:
        y = torch.as_tensor(score_col[np.asarray(indices)], device=dev)
        return feeder.batch(indices, seed_), y

    def make(step: int) -> list[Task]:
        return [
            Task(
                fetch(t.support, step_seed(seed, step, 21 + 2 * k)),
                fetch(t.query, step_seed(seed, step, 22 + 2 * k)),
                f"type {t.type}",
            )
            for k, t in enumerate(sampler.sample(step_rng(seed, step)))
        ]

    return make


def train_meta(
    profile: Profile,
    dataset,
    checkpoint: str | Path,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    stop_after: int | None = None,
    settings: MetaSettings | None = None,
    backbone_weights: str | Path | None = None,
):
    """Train stage 1 on ``dataset`` (a synthetic set with types and reference ids).

    Writes ``checkpoint`` (resuming from it when it holds an unfinished run of the same
    configuration) and returns a :class:`~gmiqa.training.loop.StageResult`. Taught in
    ``notebooks/05_meta_learning.ipynb``.
    """

    if settings is not None:
        profile = profile.replace(meta=settings)
    s = profile.meta
    # under torchrun: this rank's GPU; every rank runs stage 1 alike, rank 0 saves it
    dev = distributed.setup(resolve_device(device)).device
    model, learner = _meta_learner(profile, dev, seed, backbone_weights)
    optimizer = torch.optim.Adam(learner.outer_parameters(), lr=s.outer_lr, foreach=True)
    make = _meta_tasks(profile, dataset, dev, seed)
    prefetch = feeding.Prefetcher(make, s.steps, feeding.prefetch_depth(dev))

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        optimizer.zero_grad(set_to_none=True)
        losses = learner.accumulate(prefetch.get(step))
        optimizer.step()
        return losses

    # Meta-SGD rates are saved as extra tensors, keyed by the wrapped parameter name.
    extra = {f"inner_lr.{k}": v for k, v in learner.inner_lrs.items()}
    config = meta_config(profile, seed, dataset_fingerprint(dataset), backbone_weights)
    try:
        return train_steps(
            kind="meta", path=Path(checkpoint), config=config, model=model,
            optimizer=optimizer, total_steps=s.steps, step_fn=step_fn, seed=seed,
            log_every=max(1, min(profile.pretrain.log_every, s.steps)),
            checkpoint_every=max(1, min(profile.pretrain.checkpoint_every, s.steps)),
            extra=extra, progress=progress, stop_after=stop_after,
        )  # fmt: skip
    finally:
        prefetch.close()
