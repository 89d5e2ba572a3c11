"""What every training stage shares: per-step seeding, loss logging, checkpoints and resume.

Taught in ``notebooks/05_meta_learning.ipynb``.

Reproducibility and resume rest on one rule: every random choice of step ``s`` (which
images, which tasks, the reparameterisation noise) comes from RNGs seeded by
``(seed, s)``, never from a state carried across steps. A run resumed at step ``s`` from
a checkpoint (weights, BatchNorm buffers, optimizer state) therefore replays exactly
what an uninterrupted run does; on the CPU the final weights are bit-identical.

Losses stay on the device and are read back (a host-device sync) only every
``log_every`` steps.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from gmiqa.checkpoint import load_checkpoint, read_sidecar, save_checkpoint
from gmiqa.errors import CheckpointError, ConfigError
from gmiqa.training.distributed import current


def step_seed(seed: int, step: int, salt: int = 0) -> int:
    """A 63-bit seed derived from (seed, step, salt); different steps get unrelated streams."""
    digest = hashlib.sha256(f"{int(seed)}:{int(step)}:{int(salt)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def step_rng(seed: int, step: int, salt: int = 0) -> np.random.Generator:
    """The numpy generator for step ``step`` (data sampling)."""
    return np.random.default_rng(step_seed(seed, step, salt))


def config_fingerprint(config: dict) -> str:
    """A short hash of a JSON-able configuration (decides whether a checkpoint is reusable)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stage_config(stage: str, profile, seed: int, used: dict, data: str | None,
                 backbone_weights, weights_identity: str | None, **recorded) -> dict:  # fmt: skip
    """The configuration stored with a pre-training checkpoint (stage 1 or 2), fingerprinted.

    The fingerprint covers what the stage's weights depend on: the stage, seed, data and
    model settings, ``amp``, the stage's own ``used`` settings, how held-out references
    are picked, the data's fingerprint and the backbone weights' identity
    (``weights_identity``). ``recorded`` is stored beside them, after the profile.
    Taught in ``notebooks/05_meta_learning.ipynb``.
    """
    p = profile.to_dict()
    fingerprinted = {
        "stage": stage, "seed": int(seed), "data": p["data"], "model": p["model"],
        "amp": p["amp"], **used,
        "holdout_rule": "at most a quarter",  # how samplers.holdout_references picks them
        "data_fingerprint": data,  # other photos or another labelled set: another run
        "backbone_weights": weights_identity,
    }  # fmt: skip
    return {
        "stage": stage, "seed": int(seed), "profile": p, **recorded, "data_fingerprint": data,
        "backbone_weights": str(backbone_weights) if backbone_weights else None,
        "fingerprint": config_fingerprint(fingerprinted),
    }  # fmt: skip


def file_identity(path) -> str | None:
    """Name, size and mtime of a file such as a weights file (None for none): a fingerprint part."""
    if path is None:
        return None

    st = os.stat(path)
    return f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}"


class TrainingInterrupted(RuntimeError):  # noqa: N818 - it is a signal, not an error
    """Raised by a ``stop_after`` hook (tests simulate an interruption with it)."""


@dataclass
class LossLog:
    """Loss history kept on the device between reads (no per-step host sync)."""

    log_every: int
    history: dict[str, list[float]] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    _pending: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> bool:
        """Record the losses of ``step``; every ``log_every`` steps average and read them."""
        for key, value in losses.items():
            self._pending.setdefault(key, []).append(value.detach().float())
        if (step + 1) % self.log_every != 0:
            return False
        self.flush(step)
        return True

    def flush(self, step: int) -> None:
        if not self._pending:
            return
        for key, values in self._pending.items():
            self.history.setdefault(key, []).append(float(torch.stack(values).mean().item()))
        self.steps.append(int(step) + 1)
        self._pending = {}

    def last(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.history.items() if v}

    def to_dict(self) -> dict:
        return {"steps": list(self.steps), **{k: list(v) for k, v in self.history.items()}}

    @classmethod
    def from_dict(cls, log_every: int, data: dict | None) -> LossLog:
        data = dict(data or {})
        steps = [int(s) for s in data.pop("steps", [])]
        return cls(log_every, {k: [float(x) for x in v] for k, v in data.items()}, steps)


@dataclass
class StageResult:
    """What a stage trainer returns; taught in ``notebooks/05_meta_learning.ipynb``."""

    checkpoint: Path
    history: dict  # {"steps": [...], "<loss name>": [...]}
    steps: int
    resumed_from: int  # 0 for a fresh run
    seconds: float


def progress_bar(total: int, initial: int, desc: str, enabled: bool):
    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, leave=False)


def try_resume(
    path: Path,
    kind: str,
    config: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    extra: dict[str, torch.Tensor] | None = None,
) -> tuple[int, dict, bool]:
    """Restore model, optimizer and extra tensors from ``path`` when it matches ``config``.

    Returns (step, history, done). A missing checkpoint or one written with another
    configuration returns (0, {}, False) and the stage starts afresh.
    """
    if not Path(path).exists():
        return 0, {}, False
    try:
        side = read_sidecar(path)
    except CheckpointError:
        return 0, {}, False
    if side.get("kind") != kind or side.get("config", {}).get("fingerprint") != config.get(
        "fingerprint"
    ):
        return 0, {}, False
    ck = load_checkpoint(path)
    model.load_state_dict(ck.model, strict=True)
    if optimizer is not None and ck.optimizer is not None:
        optimizer.load_state_dict(ck.optimizer)
    for key, tensor in (extra or {}).items():
        with torch.no_grad():
            tensor.copy_(ck.extra[key])
    return ck.step, dict(ck.state.get("history", {})), ck.done


def train_steps(
    *,
    kind: str,
    path: Path,
    config: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    step_fn: Callable[[int], dict[str, torch.Tensor]],
    seed: int,
    log_every: int,
    checkpoint_every: int,
    extra: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    state_extra: dict[str, Any] | None = None,
) -> StageResult:
    """Run ``step_fn(step)`` for the remaining steps, checkpointing and resuming.

    Before each step torch's global RNG is seeded with ``step_seed(seed, step)`` so that
    model-internal noise (dropout, reparameterisation) is also a function of the step.
    ``stop_after`` raises :class:`TrainingInterrupted` once that many steps are done (the
    tests' way to interrupt a run between two checkpoints).
    """

    dist_ctx = current()  # rank 0 writes checkpoints; one process: always rank 0
    t0 = time.perf_counter()
    start, history, done = try_resume(path, kind, config, model, optimizer, extra)
    log = LossLog.from_dict(log_every, history.get("losses"))
    if done and start >= total_steps:
        return StageResult(path, log.to_dict(), start, start, 0.0)
    elapsed = float(history.get("seconds", 0.0))

    def save(step: int, finished: bool) -> None:
        # Flush at every checkpoint so a resumed run's history equals an uninterrupted one's.
        log.flush(step - 1)
        state = {
            "step": step,
            "done": finished,
            "seed": seed,
            "history": {"losses": log.to_dict(), "seconds": elapsed + time.perf_counter() - t0},
        }
        state.update(state_extra or {})
        if not dist_ctx.is_main:  # other ranks wait until rank 0 has written the file
            dist_ctx.barrier()
            return
        save_checkpoint(
            path,
            kind=kind,
            model=model,
            config=config,
            state=state,
            optimizer=optimizer,
            extra=extra,
        )
        dist_ctx.barrier()

    bar = progress_bar(total_steps, start, kind, progress and dist_ctx.is_main)
    try:
        for step in range(start, total_steps):
            torch.manual_seed(step_seed(seed, step, salt=1))
            losses = step_fn(step)
            if log.add(step, losses):
                bar.set_postfix({k: f"{v:.4f}" for k, v in log.last().items()})
            bar.update(1)
            finished = step + 1 == total_steps
            if finished or (step + 1) % checkpoint_every == 0:
                save(step + 1, finished)
            if stop_after is not None and step + 1 >= stop_after and not finished:
                raise TrainingInterrupted(f"{kind}: stopped after step {step + 1}")
    finally:
        bar.close()
    return StageResult(path, log.to_dict(), total_steps, start, elapsed + time.perf_counter() - t0)


def lr_factor(step: int, total: int, warmup: int = 0, schedule: str = "constant") -> float:
    """The learning-rate multiplier of ``step`` (0-based) of ``total``: warm-up, then schedule.

    Taught in ``notebooks/07_finetuning.ipynb``. Linear warm-up from ``1/warmup`` to 1
    over ``warmup`` steps, then ``"constant"`` (1) or ``"cosine"`` (half a cosine down
    to 0 at ``total``). A function of the step alone, so a resumed run follows the same
    schedule without any scheduler state.
    """

    if schedule not in ("constant", "cosine"):
        raise ConfigError(f"unknown learning-rate schedule {schedule!r}: choose constant or cosine")
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    span = max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


def make_optimizer(groups, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam (``weight_decay == 0``, the paper's) or AdamW; ``groups`` as torch takes them.

    Each group may carry ``lr_mult``; :func:`set_lr` multiplies it in. ``foreach`` kernels
    (one launch for all tensors of a group) wherever torch has them.
    """
    groups = list(groups)
    if not groups or isinstance(groups[0], torch.Tensor):  # plain parameters: one group
        groups = [{"params": groups}]
    groups = [dict(g) for g in groups]
    for g in groups:
        g.setdefault("lr_mult", 1.0)
        g["lr"] = lr * g["lr_mult"]
    if weight_decay > 0:
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, foreach=True)
    return torch.optim.Adam(groups, lr=lr, foreach=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's rate to ``lr`` times its ``lr_mult``."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)
