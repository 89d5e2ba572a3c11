"""Stage 2: distortion-graph pre-training, initialised from the meta-learned weights.

Taught in ``notebooks/06_graph_pretraining.ipynb``.

Each step draws a triplet of mini-batches (:class:`~gmiqa.training.samplers.TypeTripletSampler`):
an anchor batch of distortion type ``t``, a positive batch of type ``t`` (other images)
and a negative batch of another type. Every batch is one graph (one node per image).
The loss is

    L = triplet(g_anchor, g_positive, g_negative; margin) + lambda * L_level

where ``g`` are the batches' graph codes (``GMIQA.pretrain_forward(x).graph_code``) and
``L_level`` is the mean squared error between the level discriminator's reparameterised
prediction and the true level (1..5), averaged over the three batches.

Choices (recorded in the book):

- **Gradients flow through all three batches.** GraphIQA computes the positive and
  negative batches under ``no_grad``, which halves the memory but lets only a third of
  the images train the network and the level head. Here all three are trained
  (``detach_positive_negative=True`` restores GraphIQA's behaviour).
- **The backbone is trained** (the reference code silently froze it).
- **Two-pass step** (``PretrainSettings.two_pass``, :func:`graph_step_two_pass`): the same
  gradient with the activations of one batch kept for backward instead of three. Pass 1
  forwards the three batches without gradient (BatchNorm running statistics restored
  afterwards) and takes the loss's gradient with respect to the graph codes and level
  predictions; pass 2 re-forwards each batch with gradient, replaying the same torch RNG
  draws, and back-propagates ``sum(code * dL/dcode) + sum(level_pred * dL/dlevel_pred)``.
  One extra forward per batch; not available with data-parallel training.
- **Initialisation**: the whole model's weights come from the stage 1 checkpoint (the
  backbone, SPP and projection it meta-learned; the graph heads, which stage 1 does not
  use, keep their seeded initialisation). Without a stage 1 checkpoint the stage starts
  from the seeded random initialisation (the ablation's "graph only" row).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch

from gmiqa.atomic import atomic_write_json
from gmiqa.checkpoint import load_checkpoint, load_weights
from gmiqa.datasets.bank import dataset_fingerprint
from gmiqa.device import (
    autocast,
    compiles,
    prepare_model,
    resolve_device,
    seed_everything,
    training_channels_last,
)
from gmiqa.models import build_model
from gmiqa.models.discriminators import TypeDiscriminator
from gmiqa.profiles import PretrainSettings, Profile
from gmiqa.training import distributed
from gmiqa.training import feeder as feeding  # module attributes: tests patch them
from gmiqa.training.loop import (
    file_identity,
    lr_factor,
    make_optimizer,
    set_lr,
    stage_config,
    step_rng,
    step_seed,
    train_steps,
)
from gmiqa.training.probe import probe_checkpoint_path, run_probe
from gmiqa.training.samplers import TypeGraphSampler, TypeTripletSampler, holdout_references


def pretrain_config(
    profile: Profile,
    seed: int,
    init: str | None,
    init_fingerprint: str | None,
    data: str | None = None,
    backbone_weights: str | Path | None = None,
) -> dict:
    """The configuration stored with (and fingerprinting) a graph pre-training checkpoint."""
    p = profile.to_dict()
    used = {
        # two_pass gives the same gradients: it does not invalidate checkpoints
        "pretrain": {k: v for k, v in p["pretrain"].items() if k != "two_pass"},
        "init": init_fingerprint,  # a new stage 1 checkpoint invalidates this stage
    }
    identity = file_identity(backbone_weights) if init is None else None
    return stage_config("graph", profile, seed, used, data, backbone_weights, identity,
                        init=init, init_fingerprint=init_fingerprint)  # fmt: skip


def graph_losses(
    model,
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    levels: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    margin: float,
    level_weight: float,
    detach_positive_negative: bool = False,
) -> dict[str, torch.Tensor]:
    """Triplet + weighted level loss of one triplet of one-type batches.

    Returns ``{"loss", "triplet", "level", "gap"}``; ``gap`` is d(a, n) - d(a, p) between
    unit-length graph codes (positive when the anchor is nearer its own type). Taught in
    ``notebooks/06_graph_pretraining.ipynb``.
    """
    out_a = model.pretrain_forward(anchor)
    if detach_positive_negative:
        with torch.no_grad():
            out_p, out_n = model.pretrain_forward(positive), model.pretrain_forward(negative)
        outs = [(out_a, levels[0])]
    else:
        out_p, out_n = model.pretrain_forward(positive), model.pretrain_forward(negative)
        outs = [(out_a, levels[0]), (out_p, levels[1]), (out_n, levels[2])]
    codes = [o.graph_code for o in (out_a, out_p, out_n)]
    return _combine(codes, [(o.level_pred, lv) for o, lv in outs], margin, level_weight)


def _combine(codes, preds_levels, margin: float, level_weight: float) -> dict[str, torch.Tensor]:
    """The loss dictionary from the three graph codes and the trained (level_pred, level)."""

    codes = [c.float() for c in codes]
    triplet = TypeDiscriminator.triplet_loss(*codes, margin=margin)
    level = torch.stack([torch.mean((pr.float() - lv) ** 2) for pr, lv in preds_levels]).mean()
    with torch.no_grad():
        a, p, n = (torch.nn.functional.normalize(c, dim=-1) for c in codes)
        gap = (a - n).norm() - (a - p).norm()
    return {
        "loss": triplet + level_weight * level,
        "triplet": triplet,
        "level": level,
        "gap": gap,
    }


def multi_graph_losses(
    model,
    x: torch.Tensor,
    graph_types: torch.Tensor,
    levels: torch.Tensor,
    graph_size: int,
    margin: float,
    level_weight: float,
    node_weight: float = 0.0,
    proxies: torch.Tensor | None = None,
    proxy_weight: float = 0.0,
    proxy_scale: float = 16.0,
    rank_weight: float = 0.0,
) -> dict[str, torch.Tensor]:
    """The stage-2 loss of a step of many one-type graphs (``types_per_step > 0``).

    Taught in ``notebooks/06_graph_pretraining.ipynb``. ``x`` holds ``G`` graphs of
    ``graph_size`` images each, one after another; ``graph_types`` (G,) their types,
    ``levels`` (G * graph_size,) the images' levels. One backbone call for all images,
    then one graph per group. Every graph is an anchor; every other graph of its type a
    positive; every graph of another type a negative; the triplet loss (unit-length
    codes, Euclidean distance, ``margin``) is averaged over all such triplets. The level
    loss is the MSE of every image's reparameterised level prediction. ``node_weight`` > 0
    adds the same triplet loss over the GCN-V node outputs (each image an anchor);
    ``proxy_weight`` > 0 adds the cross-entropy of each image's type from its features X
    against ``proxies`` (one learned row per type id, compared by cosine, logits scaled by
    ``proxy_scale``). ``rank_weight`` > 0 adds :func:`level_rank_loss` on the level
    predictions: their order within each type, whatever the offset between types.
    """
    feats = model.features(x)
    outs = [model.graph(g) for g in feats.split(int(graph_size))]
    triplet, gap = batch_all_triplet(torch.stack([o.graph_code for o in outs]), graph_types, margin)
    level_pred = torch.cat([o.level_pred for o in outs]).float()
    level = torch.mean((level_pred - levels) ** 2)
    losses = {"triplet": triplet, "level": level, "gap": gap}
    total = triplet + level_weight * level
    node_types = graph_types.repeat_interleave(int(graph_size))
    if node_weight > 0:
        nodes, _ = batch_all_triplet(torch.cat([o.nodes for o in outs]), node_types, margin)
        total = total + node_weight * nodes
        losses["node_triplet"] = nodes
    if rank_weight > 0:
        rank = level_rank_loss(level_pred, levels, node_types)
        total = total + rank_weight * rank
        losses["level_rank"] = rank
    if proxy_weight > 0 and proxies is not None:
        z = torch.nn.functional.normalize(feats.float(), dim=-1)
        logits = float(proxy_scale) * z @ torch.nn.functional.normalize(proxies, dim=-1).t()
        ce = torch.nn.functional.cross_entropy(logits, node_types.long())
        total = total + proxy_weight * ce
        losses["type_ce"] = ce
    losses["loss"] = total
    return losses


def level_rank_loss(
    pred: torch.Tensor, levels: torch.Tensor, types: torch.Tensor, margin: float = 0.5
) -> torch.Tensor:
    """Mean hinge ``max(0, margin - (pred_j - pred_i))`` over pairs of one type with level_i < level_j.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. The level MSE asks for the right
    number; this asks only for the right order inside a distortion type (across contents),
    which is what the held-out level SROCC measures and what a type-agnostic quality head
    needs. Levels of different types are never compared. Shapes: (N,) each.
    """
    same = types[:, None] == types[None, :]
    ordered = same & (levels[:, None] < levels[None, :])  # (i, j): i milder than j
    hinge = torch.relu(float(margin) - (pred[None, :] - pred[:, None]))
    # no host sync: a step without such pairs gives 0
    return (hinge * ordered).sum() / ordered.sum().clamp(min=1)


def batch_all_triplet(
    codes: torch.Tensor, types: torch.Tensor, margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean triplet hinge over every (anchor, positive, negative) of ``codes`` (M, D).

    Taught in ``notebooks/06_graph_pretraining.ipynb``. Positives: other rows of the same
    type; negatives: rows of another type. Codes are compared at unit length (Euclidean
    distance), as :meth:`~gmiqa.models.discriminators.TypeDiscriminator.triplet_loss`
    does. Returns the loss and the mean gap d(a, n) - d(a, p) (detached).
    """
    z = torch.nn.functional.normalize(codes.float(), dim=-1)
    # pairwise distances, smooth at 0 (the diagonal never enters a triplet)
    dist = ((z[:, None] - z[None]).pow(2).sum(-1) + 1e-12).sqrt()
    same = types[:, None] == types[None, :]
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    valid = (same & ~eye)[:, :, None] & (~same)[:, None, :]  # (anchor, positive, negative)
    hinge = torch.relu(dist[:, :, None] - dist[:, None, :] + float(margin))
    with torch.no_grad():
        gap = (dist[:, None, :] - dist[:, :, None])[valid].mean()
    return hinge[valid].mean(), gap


def stage_steps(settings: PretrainSettings, training_images: int) -> int:
    """Steps stage 2 trains: ``steps``, or fewer when ``max_epochs`` passes come first.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. One pass is ``training_images``
    images (the held-out references excluded); a step trains ``types_per_step * 2 *
    graph_size`` images (the multi-graph step) or ``3 * batch_size`` (the paper's).
    """
    steps = int(settings.steps)
    if settings.max_epochs is None:
        return steps
    per_step = (
        settings.types_per_step * 2 * settings.graph_size
        if settings.types_per_step > 0
        else 3 * settings.batch_size
    )
    return max(1, min(steps, math.ceil(settings.max_epochs * training_images / per_step)))


def _rng_state(dev: torch.device) -> tuple:
    cuda = torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(dev: torch.device, state: tuple) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], dev)


def graph_step_two_pass(
    model,
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    levels: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    margin: float,
    level_weight: float,
    detach_positive_negative: bool = False,
    autocast_ctx=contextlib.nullcontext,
) -> dict[str, torch.Tensor]:
    """:func:`graph_losses` and its backward, keeping one batch's activations at a time.

    Accumulates into ``.grad`` the gradient that ``graph_losses(...)["loss"].backward()``
    would (the same up to the summation order of floating point) and leaves BatchNorm
    running statistics and torch's global RNG as that one-pass step would. Returns the
    losses, detached. ``autocast_ctx()`` is entered around every forward (not around
    the backward passes). ``model`` is the model itself (one process; under DDP use
    the one-pass step).

    Pass 1 runs the three forwards under ``no_grad`` (the RNG state before each one is
    recorded; BatchNorm buffers are restored afterwards), then takes the loss's gradient
    with respect to detached copies of the graph codes and level predictions. Pass 2
    re-runs each trained batch's forward with gradient from its recorded RNG state (same
    noise, same batch statistics, same BatchNorm updates in the same order) and
    back-propagates ``sum(code * dL/dcode) + sum(level_pred * dL/dlevel_pred)``.
    """
    batches = (anchor, positive, negative)
    trained = 1 if detach_positive_negative else 3
    dev = anchor.device
    buffers = [b.detach().clone() for b in model.buffers()]
    states, codes, preds = [], [], []
    with torch.no_grad(), autocast_ctx():
        for x in batches:
            states.append(_rng_state(dev))
            out = model.pretrain_forward(x)
            codes.append(out.graph_code)
            preds.append(out.level_pred)
    end_state = _rng_state(dev)
    with torch.no_grad():
        for b, saved in zip(model.buffers(), buffers, strict=True):
            b.copy_(saved)
    codes = [c.detach().requires_grad_(i < trained) for i, c in enumerate(codes)]
    preds = [p.detach().requires_grad_(True) for p in preds[:trained]]
    losses = _combine(codes, list(zip(preds, levels, strict=False)), margin, level_weight)
    grads = torch.autograd.grad(losses["loss"], codes[:trained] + preds)
    g_codes, g_preds = grads[:trained], grads[trained:]
    for i in range(3):
        _set_rng_state(dev, states[i])
        if i < trained:
            with autocast_ctx():
                out = model.pretrain_forward(batches[i])
            surrogate = (out.graph_code.float() * g_codes[i]).sum() + (
                out.level_pred.float() * g_preds[i]
            ).sum()
            surrogate.backward()
            del out, surrogate
        else:  # untrained batch: its one-pass forward still updated BatchNorm statistics
            with torch.no_grad(), autocast_ctx():
                model.pretrain_forward(batches[i])
    _set_rng_state(dev, end_state)
    return {k: v.detach() for k, v in losses.items()}


def _graph_model(profile: Profile, init, dev, seed: int, backbone_weights):
    """The stage-2 model on ``dev`` in training mode (from ``init``'s weights when given),
    and ``init``'s fingerprint."""
    seed_everything(seed)
    model = build_model(profile.model, backbone_weights)
    init_fp = None
    if init is not None:
        ck = load_checkpoint(init)
        load_weights(model, ck, strict=True)
        init_fp = ck.config.get("fingerprint", ck.path.name)
    cl = training_channels_last(dev, profile.channels_last)
    model = prepare_model(model, dev, cl, compiles(dev, profile.compile))
    return model.train(), init_fp


def _type_proxies(profile: Profile, seed: int, dev) -> dict[str, torch.Tensor]:
    """One learned proxy per type id (0..25) when the multi-graph step uses them, trained
    with the model and saved as the checkpoint's ``extra``; else {}."""
    s = profile.pretrain
    if not (s.type_proxy_weight > 0 and s.types_per_step > 0):
        return {}
    gen = torch.Generator().manual_seed(seed)
    proxy = torch.randn(26, profile.model.feature_dim, generator=gen).to(dev)
    return {"type_proxies": proxy.requires_grad_(True)}


def _uses_two_pass(s: PretrainSettings, dist_ctx) -> bool:
    """Whether the two-pass triplet step runs: asked for, one-graph step, one process."""
    two_pass = s.two_pass and s.types_per_step == 0
    if two_pass and dist_ctx.is_distributed:
        # Each rank holds only its slice of a batch, so it cannot re-run whole batches:
        # fall back to the one-pass step (same gradient, more activation memory).
        warnings.warn(
            "pretrain.two_pass=True is not available with data-parallel training (torchrun, "
            f"world size {dist_ctx.world_size}): using the one-pass step",
            stacklevel=3,
        )
        return False
    return two_pass


def _graph_batches(profile: Profile, dataset, allowed: np.ndarray, seed: int, dev, dist_ctx):
    """``make(step)``: the step's batches from the training references ``allowed``: one
    multi-type graph (images, types, levels) or an anchor/positive/negative triplet of
    (images, levels), this rank's shard of the images."""
    s = profile.pretrain
    cl = training_channels_last(dev, profile.channels_last)
    level_col = _column(dataset, "level")
    feeder = feeding.feeder_for(dataset, dev, s.crop, s.flip, cl)

    def images(indices, step: int, salt: int) -> torch.Tensor:
        return feeder.batch(dist_ctx.shard(indices), step_seed(seed, step, salt))

    def levels_of(indices) -> torch.Tensor:
        # the levels of the whole batch (the loss is computed on the whole batch)
        return torch.as_tensor(level_col[np.asarray(indices)], dtype=torch.float32, device=dev)

    if s.types_per_step > 0:
        sampler = TypeGraphSampler(dataset.records, s.types_per_step, s.graph_size, allowed)

        def make(step: int):
            g = sampler.sample(step_rng(seed, step))
            types = torch.as_tensor(g.types, device=dev)
            return images(g.indices, step, 11), types, levels_of(g.indices)

        return make
    sampler = TypeTripletSampler(_subset_records(dataset, allowed), s.batch_size)

    def make(step: int):
        tri = sampler.sample(step_rng(seed, step))
        batches = [allowed[b] for b in (tri.anchor, tri.positive, tri.negative)]
        return tuple((images(b, step, 11 + k), levels_of(b)) for k, b in enumerate(batches))

    return make


def _graph_step(profile: Profile, model, runner, optimizer, prefetch, total: int, extra: dict,
                two_pass: bool, detach_positive_negative: bool, dev):  # fmt: skip
    """``step_fn(step)`` of stage 2: the learning rate, the step's batches, one of the three
    steps (multi-graph, two-pass triplet, one-pass triplet), the optimizer step."""
    s = profile.pretrain

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        set_lr(optimizer, s.lr * lr_factor(step, total, s.warmup_steps, s.schedule))
        batch = prefetch.get(step)
        optimizer.zero_grad(set_to_none=True)
        if s.types_per_step > 0:
            x, types, lv = batch
            with autocast(dev, profile.amp):
                losses = runner.run(
                    multi_graph_losses, x, types, lv, s.graph_size, s.margin, s.level_weight,
                    s.node_triplet_weight, extra.get("type_proxies"), s.type_proxy_weight,
                    s.proxy_scale, s.level_rank_weight,
                )  # fmt: skip
            losses["loss"].backward()
            optimizer.step()
            return {k: v.detach() for k, v in losses.items()}
        (xa, la), (xp, lp), (xn, ln) = batch
        if two_pass:
            losses = graph_step_two_pass(
                model, xa, xp, xn, (la, lp, ln), s.margin, s.level_weight,
                detach_positive_negative, partial(autocast, dev, profile.amp),
            )  # fmt: skip
            optimizer.step()
            return losses
        with autocast(dev, profile.amp):
            losses = runner.run(
                graph_losses, xa, xp, xn, (la, lp, ln), s.margin, s.level_weight,
                detach_positive_negative,
            )  # fmt: skip
        losses["loss"].backward()
        optimizer.step()
        return {k: v.detach() for k, v in losses.items()}

    return step_fn


def train_graph(
    profile: Profile,
    dataset,
    checkpoint: str | Path,
    init: str | Path | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    stop_after: int | None = None,
    settings: PretrainSettings | None = None,
    detach_positive_negative: bool = False,
    backbone_weights: str | Path | None = None,
):
    """Train stage 2 on ``dataset`` from the stage 1 checkpoint ``init`` (or from scratch).

    Writes ``checkpoint`` (resuming an unfinished run of the same configuration) and
    returns a :class:`~gmiqa.training.loop.StageResult`; with held-out references, their
    probe report beside it (:func:`gmiqa.training.probe.run_probe`). Taught in
    ``notebooks/06_graph_pretraining.ipynb``.
    """
    if settings is not None:
        profile = profile.replace(pretrain=settings)
    s = profile.pretrain
    dist_ctx = distributed.setup(resolve_device(device))  # torchrun: this rank's device
    dev = dist_ctx.device
    model, init_fp = _graph_model(profile, init, dev, seed, backbone_weights)
    extra = _type_proxies(profile, seed, dev)
    params = [p for p in model.parameters() if p.requires_grad] + list(extra.values())
    optimizer = make_optimizer(params, s.lr, s.weight_decay)
    two_pass = _uses_two_pass(s, dist_ctx)
    runner = dist_ctx.wrap(model)  # DDP under torchrun; plain calls for one process
    ref_col = _column(dataset, "ref_id")
    held_out = holdout_references(ref_col, s.holdout_references, seed)
    allowed = np.flatnonzero(~np.isin(ref_col, held_out))
    make = _graph_batches(profile, dataset, allowed, seed, dev, dist_ctx)
    total = stage_steps(s, len(allowed))
    prefetch = feeding.Prefetcher(make, total, feeding.prefetch_depth(dev))
    step_fn = _graph_step(profile, model, runner, optimizer, prefetch, total, extra, two_pass,
                          detach_positive_negative, dev)  # fmt: skip
    config = pretrain_config(profile, seed, str(init) if init else None, init_fp,
                             dataset_fingerprint(dataset), backbone_weights)  # fmt: skip
    try:
        result = train_steps(
            kind="graph", path=Path(checkpoint), config=config, model=model,
            optimizer=optimizer, total_steps=total, step_fn=step_fn, seed=seed,
            log_every=max(1, min(s.log_every, total)),
            checkpoint_every=max(1, min(s.checkpoint_every, total)),
            extra=extra, progress=progress, stop_after=stop_after,
        )  # fmt: skip
    finally:
        prefetch.close()
    if held_out and dist_ctx.is_main:
        report = run_probe(model, dataset, held_out, dev)
        report["reference_ids"] = held_out
        atomic_write_json(probe_checkpoint_path(checkpoint), report)
    return result


def _subset_records(dataset, allowed: np.ndarray) -> list[dict]:
    cols = {k: _column(dataset, k) for k in ("ref_id", "type", "level")}
    return [{k: int(v[i]) for k, v in cols.items()} for i in allowed]


def _column(dataset, key: str) -> np.ndarray:
    records = dataset.records
    if hasattr(records, "column"):
        return np.asarray(records.column(key))
    return np.asarray([r[key] for r in records])
