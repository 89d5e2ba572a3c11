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

import torch
from torch import nn
from torch.func import functional_call

from gmiqa.device import autocast, to_device_images
from gmiqa.profiles import MetaSettings, Profile

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
        Returns detached mean query and support losses for logging.
        """
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


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred.reshape(-1) - target.reshape(-1)) ** 2)


def meta_config(profile: Profile, seed: int) -> dict:
    """The configuration stored with (and fingerprinting) a meta checkpoint."""
    from gmiqa.training.loop import config_fingerprint

    p = profile.to_dict()
    # Only the settings stage 1 depends on decide whether its checkpoint is reusable.
    used = {
        "stage": "meta",
        "seed": int(seed),
        "data": p["data"],
        "model": p["model"],
        "meta": p["meta"],
        "amp": p["amp"],
    }
    return {
        "stage": "meta",
        "seed": int(seed),
        "profile": p,
        "fingerprint": config_fingerprint(used),
    }


def train_meta(
    profile: Profile,
    dataset,
    checkpoint: str | Path,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    stop_after: int | None = None,
    settings: MetaSettings | None = None,
):
    """Train stage 1 on ``dataset`` (a synthetic set with types and reference ids).

    Writes ``checkpoint`` (resuming from it when it holds an unfinished run of the same
    configuration) and returns a :class:`~gmiqa.training.loop.StageResult`. Taught in
    ``notebooks/05_meta_learning.ipynb``.
    """
    from gmiqa.device import resolve_device, seed_everything
    from gmiqa.models import build_model
    from gmiqa.training.loop import step_rng, train_steps
    from gmiqa.training.samplers import MetaTaskSampler, stack_items

    s = settings or profile.meta
    if settings is not None:
        profile = profile.replace(meta=settings)
    from gmiqa.training import distributed

    # under torchrun: this rank's GPU; every rank runs stage 1 alike, rank 0 saves it
    dev = distributed.setup(resolve_device(device)).device
    seed_everything(seed)
    model = build_model(profile.model).to(dev)
    if dev.type == "cuda" and profile.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    learner = MetaLearner(
        MethodModule(model, "meta_forward"),
        mse,
        inner_steps=s.inner_steps,
        inner_lr=s.inner_lr,
        first_order=s.first_order,
        learn_inner_lr=s.learn_inner_lr,
        device=dev,
        amp=profile.amp,
    )
    optimizer = torch.optim.Adam(learner.outer_parameters(), lr=s.outer_lr)
    sampler = MetaTaskSampler(
        dataset.records,
        tasks_per_step=s.tasks_per_step,
        support_size=s.support_size,
        query_size=s.query_size,
    )

    def fetch(indices) -> Batch:
        images, scores = stack_items(dataset, indices)
        return to_device_images(images, dev, profile.channels_last), scores.to(dev)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        optimizer.zero_grad(set_to_none=True)
        tasks = [
            Task(fetch(t.support), fetch(t.query), f"type {t.type}")
            for t in sampler.sample(step_rng(seed, step))
        ]
        losses = learner.accumulate(tasks)
        optimizer.step()
        return losses

    # Meta-SGD rates are saved as extra tensors, keyed by the wrapped parameter name.
    extra = {f"inner_lr.{k}": v for k, v in learner.inner_lrs.items()}
    return train_steps(
        kind="meta",
        path=Path(checkpoint),
        config=meta_config(profile, seed),
        model=model,
        optimizer=optimizer,
        total_steps=s.steps,
        step_fn=step_fn,
        seed=seed,
        log_every=max(1, min(profile.pretrain.log_every, s.steps)),
        checkpoint_every=max(1, min(profile.pretrain.checkpoint_every, s.steps)),
        extra=extra,
        progress=progress,
        stop_after=stop_after,
    )
