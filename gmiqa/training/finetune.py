"""Stage 3: fine-tuning on a target set over seeded splits, and the pre-training ablation.

Taught in ``notebooks/07_finetuning.ipynb``.

For each split (:func:`gmiqa.datasets.splits.make_splits`: by reference content for
synthetic sets, by image for authentic ones) a model is built, initialised from a
checkpoint (``init``: stage 1, stage 2, or none), trained with Adam on the mean squared
error between the quality head's ``mu`` and the normalised score (higher = better),
and evaluated on the held-out part with ``mu``.
Metrics per split: SROCC, KROCC, PLCC raw and after the 4-parameter logistic, RMSE,
and SROCC per distortion type; summarised by median and mean over splits. The result
file holds the configuration, every split's metrics and predictions, the summary and
the provenance (commit, device, versions).

Every random choice of split ``k`` (batch order, noise) is seeded by ``(seed, k)``; each
split checkpoints every epoch and a finished split is recorded in the partial result
file, so an interrupted run resumes where it stopped and ends with the same numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gmiqa.atomic import atomic_write_json
from gmiqa.baselines import evaluate_splits
from gmiqa.checkpoint import load_weights, read_sidecar, save_checkpoint, sidecar_path
from gmiqa.datasets.bank import dataset_fingerprint
from gmiqa.datasets.base import source_provenance
from gmiqa.datasets.splits import finetune_splits
from gmiqa.datasets.table import split_by_for
from gmiqa.device import (
    autocast,
    compiles,
    prepare_model,
    resolve_device,
    seed_everything,
    to_device_images,
    training_channels_last,
)
from gmiqa.distortions.compression import jpeg
from gmiqa.errors import ConfigError
from gmiqa.images import to_float, to_uint8
from gmiqa.inference import resize_short_side
from gmiqa.metrics import summarise
from gmiqa.models import build_model
from gmiqa.profiles import FinetuneSettings, Profile, get_profile
from gmiqa.provenance import provenance
from gmiqa.training import distributed
from gmiqa.training.distributed import current
from gmiqa.training.evaluate import evaluate_predictions, image_sizes, predict, size_batches
from gmiqa.training.loop import (
    config_fingerprint,
    file_identity,
    lr_factor,
    make_optimizer,
    set_lr,
    step_rng,
    step_seed,
    train_steps,
)


def init_fingerprint(init: str | os.PathLike | None) -> str | None:
    if init is None:
        return None

    return read_sidecar(init).get("config", {}).get("fingerprint") or Path(init).name


def build_initialised(
    profile: Profile, init: str | os.PathLike | None, seed: int, backbone_weights=None
):
    """A GMIQA model with the seeded random initialisation, then ``init``'s weights if given.

    ``backbone_weights``: a backbone state-dict file (ImageNet) used when ``init`` is None.
    """

    seed_everything(seed)
    model = build_model(profile.model, None if init is not None else backbone_weights)
    if init is not None:
        load_weights(model, init, strict=True)
    return model


def _training_sizes(profile: Profile, dataset, images, train_idx: np.ndarray, min_size: int):
    """(height, width) per training image as batched: the crop for all (an image smaller
    than the crop is a ConfigError naming it), or each image's own size."""
    s = profile.finetune
    if not s.crop:
        return image_sizes(dataset, train_idx, min_size)
    # random crops of one size: any image mix batches together
    for i in train_idx:
        h, w = images.size(int(i))
        if min(h, w) < s.crop:
            raise ConfigError(
                f"{images.label(int(i))}: {w}x{h} pixels is smaller than the "
                f"{s.crop}x{s.crop} training crops of profile {profile.name}"
            )
    return [(int(s.crop), int(s.crop))] * len(train_idx)


def _finetune_step(profile: Profile, model, runner, optimizer, images, train_idx, sizes,
                   seed: int, sample: bool, dev, cl, dist_ctx):  # fmt: skip
    """``(step_fn, batches_per_epoch, total steps)`` of stage 3: the epoch's size batches
    (fixed by seed and epoch), each image's random window, the loss, the optimizer step."""
    s = profile.finetune
    # The epoch's batches depend on (seed, epoch) only; their number is fixed per split.
    batches_per_epoch = len(size_batches(train_idx, sizes, s.batch_size, step_rng(seed, 0)))
    total = s.epochs * batches_per_epoch
    warmup = int(round(s.warmup_fraction * total))
    cache: dict[int, list[np.ndarray]] = {}

    def batches_of(epoch: int) -> list[np.ndarray]:
        if epoch not in cache:
            cache.clear()
            cache[epoch] = size_batches(train_idx, sizes, s.batch_size, step_rng(seed, epoch, 3))
        return cache[epoch]

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        set_lr(optimizer, s.lr * lr_factor(step, total, warmup, s.schedule))
        epoch, b = divmod(step, batches_per_epoch)
        batch = batches_of(epoch)[b]
        rng = step_rng(seed, step, 4)
        # every rank draws the whole batch's windows, in order, then keeps its own: under
        # DDP the crops are those of one process
        windows = [images.window(int(i), s.crop, s.flip, rng, s.jpeg_quality) for i in batch]
        mine = dist_ctx.shard(np.arange(len(batch)))  # this rank's positions in the batch
        x = to_device_images(torch.stack([windows[k] for k in mine]), dev, cl)
        y = torch.tensor([images.score(int(batch[k])) for k in mine], dtype=torch.float32,
                         device=dev)  # fmt: skip
        y = dist_ctx.gather_rows(y)  # the whole batch's targets (identity for one process)
        freeze_backbone(model, epoch < s.freeze_backbone_epochs)
        optimizer.zero_grad(set_to_none=True)
        with autocast(dev, profile.amp):
            pred = runner.run(_prediction, x, sample)  # the whole batch's predictions
        loss = quality_loss(pred, y, s.loss, s.rank_weight)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    return step_fn, batches_per_epoch, total


def _split_config(profile: Profile, seed: int, init, sample: bool, train_idx) -> dict:
    """The configuration of one split's checkpoint; its fingerprint covers the training
    images, so a checkpoint resumes only the same split."""
    p = profile.to_dict()
    used = {"stage": "finetune", "seed": seed, "model": p["model"], "finetune": p["finetune"],
            "amp": p["amp"], "init": init_fingerprint(init), "sample": bool(sample),
            "train": train_idx.tolist()}  # fmt: skip
    return {"stage": "finetune", "seed": seed, "profile": p, "init": str(init) if init else None,
            "fingerprint": config_fingerprint(used)}  # fmt: skip


def _split_result(profile: Profile, model, dataset, train_idx, test_idx, dev, cl, result) -> dict:
    """The split's metrics on ``test_idx`` (scored as the recipe scores), history, sizes,
    seconds, test predictions and the model."""
    s = profile.finetune
    freeze_backbone(model, False)
    pred = predict(model, dataset, test_idx, dev, s.batch_size, profile.amp, cl,
                   s.crop, s.eval_grid_side, resize_short=s.resize_short)  # fmt: skip
    out = evaluate_predictions(pred)
    out["history"] = result.history
    out["train_size"] = int(len(train_idx))
    out["test_size"] = int(len(test_idx))
    out["seconds"] = result.seconds
    keys = ("name", "pred", "target", "type", "level")
    out["predictions"] = {k: pred[k].tolist() for k in keys}
    out["model"] = model
    return out


def finetune_split(
    profile: Profile,
    dataset,
    train_idx: Sequence[int],
    test_idx: Sequence[int],
    init: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    settings: FinetuneSettings | None = None,
    sample: bool = False,
    backbone_weights: str | os.PathLike | None = None,
    decoded: DecodedImages | None = None,
) -> dict:
    """Fine-tune on ``train_idx`` and evaluate on ``test_idx``; return the split's result.

    The loss is the MSE between ``mu`` and the normalised score. ``sample=True`` trains
    on ``mu + eps * sigma`` instead (GraphIQA's style); its expected loss is
    MSE(mu) + sigma^2, so it only adds noise of scale sigma to the targets while sigma
    shrinks (measured at initialisation: sigma 0.7-1.1 against scores of spread 0.16).

    The result holds ``metrics``, ``per_type_srocc`` (sets with types), ``history``
    (losses) and ``predictions`` (name, pred, target, type, level of the test items).
    With ``checkpoint`` the run checkpoints every epoch and resumes from it. Taught in
    ``notebooks/07_finetuning.ipynb``.
    """
    if settings is not None:
        profile = profile.replace(finetune=settings)
    s = profile.finetune
    dist_ctx = distributed.setup(resolve_device(device))  # torchrun: this rank's device
    dev = dist_ctx.device
    cl = training_channels_last(dev, profile.channels_last)
    model = build_initialised(profile, init, seed, backbone_weights)
    model = prepare_model(model, dev, cl, compiles(dev, profile.compile)).train()
    optimizer = make_optimizer(parameter_groups(model, s.head_lr_mult), s.lr, s.weight_decay)
    runner = dist_ctx.wrap(model)  # DDP under torchrun; plain calls for one process
    train_idx = np.asarray(train_idx, dtype=np.int64)
    images = decoded if decoded is not None else DecodedImages(dataset, resize_short=s.resize_short)
    if images.resize_short != s.resize_short:
        raise ConfigError(
            f"decoded images resampled to {images.resize_short} px, the recipe asks for "
            f"{s.resize_short}"
        )
    sizes = _training_sizes(profile, dataset, images, train_idx, model.min_input_size)
    step_fn, per_epoch, total = _finetune_step(profile, model, runner, optimizer, images,
                                               train_idx, sizes, seed, sample, dev, cl,
                                               dist_ctx)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(checkpoint) if checkpoint else Path(tmp) / "split.safetensors"
        result = train_steps(
            kind="finetune", path=path, config=_split_config(profile, seed, init, sample, train_idx),
            model=model, optimizer=optimizer, total_steps=total, step_fn=step_fn, seed=seed,
            log_every=max(1, per_epoch),  # one averaged loss per epoch
            checkpoint_every=max(1, per_epoch) if checkpoint else total + 1,
            progress=progress, stop_after=stop_after,
        )  # fmt: skip
    return _split_result(profile, model, dataset, train_idx, test_idx, dev, cl, result)


LOSSES = ("mse", "mse+rank")


def quality_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse",
                 rank_weight: float = 1.0) -> torch.Tensor:  # fmt: skip
    """The fine-tuning loss of a batch: predictions and targets (N,), higher = better.

    ``"mse"``: mean squared error (the paper). ``"mse+rank"``: MSE plus ``rank_weight``
    times a pairwise hinge over every ordered pair of the batch, which costs where a pair
    is ranked closer (or the wrong way round) than its targets are apart:
    ``mean_{t_i > t_j} relu((t_i - t_j) - (p_i - p_j))``. Taught in ``07_finetuning``.
    """
    mse = torch.mean((pred - target) ** 2)
    if kind == "mse":
        return mse
    if kind != "mse+rank":
        raise ConfigError(f"unknown fine-tuning loss {kind!r}: choose one of {', '.join(LOSSES)}")
    dt = target[:, None] - target[None, :]
    dp = pred[:, None] - pred[None, :]
    pairs = dt > 0
    if not bool(pairs.any()):
        return mse
    return mse + rank_weight * torch.relu(dt - dp)[pairs].mean()


def freeze_backbone(model, frozen: bool) -> None:
    """Stop (or restart) the backbone's learning: no gradients, BatchNorm statistics kept.

    Used for the first ``freeze_backbone_epochs`` of fine-tuning. Taught in ``07_finetuning``.
    """
    backbone = getattr(model, "backbone", None)
    if backbone is None:  # e.g. a compiled or wrapped model: reach the module itself
        backbone = model._orig_mod.backbone
    for p in backbone.parameters():
        p.requires_grad_(not frozen)
    backbone.train(not frozen and model.training)


def parameter_groups(model, head_lr_mult: float = 1.0) -> list[dict]:
    """The backbone's parameters, and the rest (SPP projection, graph, heads) at ``head_lr_mult``.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    backbone, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if name.startswith("backbone.") else rest).append(p)
    return [{"params": backbone, "lr_mult": 1.0}, {"params": rest, "lr_mult": float(head_lr_mult)}]


class DecodedImages:
    """A set's images decoded once and kept as uint8 (up to ``max_bytes``), with their scores.

    Taught in ``notebooks/07_finetuning.ipynb``. Fine-tuning reads every training image
    once per epoch and every split reads the same files: decoding each once saves most of
    a CPU epoch. ``resize_short``: each photo is kept resampled so that its shorter side
    is that many px (:func:`gmiqa.inference.resize_short_side`, as scoring resamples it).
    ``window`` gives a random crop (and flip) as a float tensor (3, h, w),
    from the photo re-stored as JPEG half the time when ``jpeg_quality`` = (LO, HI) is given
    (the design chapter's "JPEG storage").
    """

    def __init__(self, dataset, max_bytes: int = 2 << 30, resize_short: int | None = None) -> None:
        self.dataset = dataset
        self.resize_short = resize_short
        self.max_bytes = int(max_bytes)
        self._images: dict[int, np.ndarray] = {}
        self._bytes = 0
        self._scores = np.asarray([float(r["score"]) for r in dataset.records], dtype=np.float32)

    def image(self, index: int) -> np.ndarray:
        img = self._images.get(index)
        if img is None:
            x = resize_short_side(self.dataset[index]["image"], self.resize_short)
            img = x.mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
            if self._bytes + img.nbytes <= self.max_bytes:
                self._images[index] = img
                self._bytes += img.nbytes
        return img

    def size(self, index: int) -> tuple[int, int]:
        return tuple(self.image(index).shape[:2])

    def label(self, index: int) -> str:
        r = self.dataset.records[index]
        return str(getattr(r, "path", None) or r["name"])

    def score(self, index: int) -> float:
        return float(self._scores[index])

    def window(self, index: int, crop: int | None, flip: bool, rng: np.random.Generator,
               jpeg_quality: tuple[int, int] | None = None):  # fmt: skip
        img = self.image(index)
        if jpeg_quality is not None and rng.random() < 0.5:
            # the whole photo, so that the 8x8 blocks sit where a camera puts them
            quality = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
            img = to_uint8(jpeg(to_float(img), quality, rng))
        if crop:
            h, w = img.shape[:2]
            top = int(rng.integers(0, h - crop + 1))
            left = int(rng.integers(0, w - crop + 1))
            img = img[top : top + crop, left : left + crop]
        if flip and rng.random() < 0.5:
            img = img[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)


def model_path_for(results: str | os.PathLike) -> Path:
    """Where the split-0 model of a result file is kept (its sidecar must not be the results)."""
    results = Path(results)
    return results.with_name(results.stem + "-model.safetensors")


def finetune_config(
    profile: Profile,
    dataset_name: str,
    init,
    splits: int | None = None,
    seed: int = 0,
    data: str | None = None,
    backbone_weights: str | os.PathLike | None = None,
) -> dict:
    """The configuration of a fine-tuning run, with the fingerprint that identifies it.

    ``data``: the dataset's fingerprint (:func:`gmiqa.datasets.bank.dataset_fingerprint`:
    its file list, scores, and each image's size and mtime), so another folder, changed
    scores or a rewritten image never return an earlier run's results.
    """

    profile = get_profile(profile)
    config = {
        "dataset": dataset_name,
        "data_fingerprint": data,
        "backbone_weights": str(backbone_weights) if backbone_weights else None,
        "backbone_weights_identity": file_identity(backbone_weights),
        "split_by": split_by_for(dataset_name),
        "splits": int(splits or profile.finetune.splits),
        "seed": int(seed),
        "init": str(init) if init else None,
        "init_fingerprint": init_fingerprint(init),
        "profile": profile.to_dict(),
        "loss": "mse(mu, score)",
    }
    # The init's own fingerprint identifies it; its path may be written differently.
    config["fingerprint"] = config_fingerprint(
        {k: v for k, v in config.items() if k not in ("init", "backbone_weights")}
    )
    return config


def _prediction(view, x, sample: bool):
    """``mu`` (``sample``: ``mu + eps * sigma``) in float32 for the whole batch.

    The fine-tuning step's forward as a :meth:`gmiqa.training.distributed.Runner.run`
    function: it returns only what the loss uses, so that DDP sees the sigma head as
    unused when ``sample`` is off.
    """
    mu, sigma = view.finetune_forward(x)
    pred = mu.float()
    if sample:
        pred = pred + torch.randn_like(pred) * sigma.float()
    return pred


def _finished_run(out: Path, key: str, keep_model) -> dict | None:
    """The results in ``out`` when the same run (fingerprint ``key``) finished before and
    its split-0 model is where ``keep_model`` asks (copied from its sibling if needed)."""
    if not out.exists():
        return None
    with open(out, encoding="utf-8") as fh:
        finished = json.load(fh)
    if finished.get("fingerprint") != key:
        return None
    sibling = model_path_for(out)  # the split-0 model run_ablation keeps
    if keep_model is not None and not Path(keep_model).exists() and sibling.exists():
        for src, dst in (
            (sibling, Path(keep_model)),
            (sidecar_path(sibling), sidecar_path(keep_model)),
        ):
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    return finished if keep_model is None or Path(keep_model).exists() else None


def _finished_splits(partial_path: Path, key: str) -> list[dict]:
    """The splits an interrupted run of the same configuration recorded (else [])."""
    if not partial_path.exists():
        return []
    with open(partial_path, encoding="utf-8") as fh:
        partial = json.load(fh)
    return partial.get("splits", []) if partial.get("fingerprint") == key else []


def _keep_split_model(path, model, dataset_name: str, seed: int, profile: Profile, key: str,
                      metrics: dict, source: dict | None = None) -> None:  # fmt: skip
    """Save the model fine-tuned on split 0 as a checkpoint ``gmiqa score`` reads."""
    save_checkpoint(
        path, kind="finetune", model=model,
        config={"stage": "finetune", "dataset": dataset_name, "seed": seed,
                "profile": profile.to_dict(), "fingerprint": key, "split": 0,
                **(source or {})},
        state={"step": 0, "done": True, "metrics": metrics},
    )  # fmt: skip


def run_finetune(
    profile: Profile | str,
    dataset,
    dataset_name: str,
    init: str | os.PathLike | None,
    out: str | os.PathLike,
    splits: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    keep_model: str | os.PathLike | None = None,
    work_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
    backbone_weights: str | os.PathLike | None = None,
) -> dict:
    """Fine-tune and evaluate over ``splits`` seeded splits; write the result JSON to ``out``.

    ``keep_model``: where to save the model fine-tuned on split 0 (a checkpoint that
    ``gmiqa score`` reads). ``work_dir``: where per-split checkpoints live while a split
    runs (resume after an interruption); finished splits are recorded in
    ``out``'s ``.partial.json``. Taught in ``notebooks/07_finetuning.ipynb``.
    """

    profile = get_profile(profile)
    dev = resolve_device(device)
    config = finetune_config(
        profile, dataset_name, init, splits, seed, dataset_fingerprint(dataset), backbone_weights
    )
    key = config["fingerprint"]
    n, by = config["splits"], config["split_by"]
    split_list = finetune_splits(dataset.records, n, profile.finetune, seed, by=by)
    out = Path(out)
    partial_path = out.with_suffix(".partial.json")
    finished = _finished_run(out, key, keep_model)
    if finished is not None:  # the same run finished before: its results stand
        return finished
    done = _finished_splits(partial_path, key)
    # every split reads the same files: decode (and resample) them once
    decoded = DecodedImages(dataset, resize_short=profile.finetune.resize_short)
    for k in range(len(done), n):
        train_idx, test_idx = split_list[k]
        ck = Path(work_dir) / f"{out.stem}-split{k}.safetensors" if work_dir else None
        res = finetune_split(
            profile, dataset, train_idx, test_idx, init, dev, step_seed(seed, k, 5),
            checkpoint=ck, progress=progress, stop_after=stop_after,
            backbone_weights=backbone_weights, decoded=decoded,
        )  # fmt: skip
        model = res.pop("model")
        if k == 0 and keep_model is not None and current().is_main:
            _keep_split_model(keep_model, model, dataset_name, seed, profile, key, res["metrics"],
                              source_provenance(dataset))  # fmt: skip
        res["split"] = k
        done.append(res)
        if current().is_main:  # rank 0 writes results; the others wait for it
            atomic_write_json(partial_path, {"fingerprint": key, "splits": done})
        current().barrier()
        if ck is not None and current().is_main:
            for f in (ck, ck.with_suffix(".json")):
                f.unlink(missing_ok=True)
    result = {
        "config": {k: v for k, v in config.items() if k != "fingerprint"},
        "fingerprint": key,
        "splits": done,
        "summary": summarise([r["metrics"] for r in done]),
        "per_type_srocc_median": _per_type_median(done),
        "provenance": provenance(device=str(dev), **source_provenance(dataset)),
    }
    if current().is_main:
        atomic_write_json(out, result)
        partial_path.unlink(missing_ok=True)
    current().barrier()
    return result


def _per_type_median(splits: list[dict]) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for r in splits:
        for t, v in r.get("per_type_srocc", {}).items():
            values.setdefault(t, []).append(v)
    return {t: float(np.nanmedian(v)) for t, v in sorted(values.items(), key=lambda kv: int(kv[0]))}


def _row(per_split_srocc, per_split_plcc, **extra) -> dict:
    sr = np.asarray(per_split_srocc, dtype=np.float64)
    return {
        **extra,
        "srocc_median": float(np.nanmedian(sr)),
        "srocc_mean": float(np.nanmean(sr)),
        "srocc_std": float(np.nanstd(sr)),
        "srocc_q25": float(np.nanpercentile(sr, 25)),
        "srocc_q75": float(np.nanpercentile(sr, 75)),
        "srocc_min": float(np.nanmin(sr)),
        "srocc_max": float(np.nanmax(sr)),
        "plcc_median": float(np.nanmedian(np.asarray(per_split_plcc, dtype=np.float64))),
        "per_split_srocc": [float(v) for v in sr],
        "splits": int(len(sr)),
    }


def run_ablation(
    profile: Profile | str,
    dataset,
    dataset_name: str,
    inits: dict[str, str | os.PathLike | None],
    out_dir: str | os.PathLike,
    splits: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    baselines: Sequence[str] = (),
    backbone_weights: str | os.PathLike | None = None,
) -> dict:
    """Fine-tune from each initialisation in ``inits`` on the SAME splits; compare medians.

    ``inits`` maps a row name (e.g. ``"none"``, ``"meta"``, ``"graph_nometa"``,
    ``"graph"``) to a checkpoint or None. ``baselines`` (``"niqe"``, ``"brisque"``) add
    rows evaluated on the same splits' test images. Writes
    ``out_dir/finetune-<dataset>-<row>.json`` per row and ``out_dir/ablation-<dataset>.json``
    with each row's median, mean, spread and per-split SROCC. Taught in
    ``notebooks/07_finetuning.ipynb``.
    """

    out_dir = Path(out_dir)
    profile = get_profile(profile)
    rows = {}
    for name, init in inits.items():
        out = out_dir / f"finetune-{dataset_name}-{name}.json"
        res = run_finetune(
            profile, dataset, dataset_name, init, out, splits, device, seed, progress,
            keep_model=model_path_for(out), work_dir=out_dir / "work",
            backbone_weights=backbone_weights,
        )  # fmt: skip
        per = [r["metrics"] for r in res["splits"]]
        rows[name] = _row(
            [m["srocc"] for m in per], [m["plcc"] for m in per],
            init=str(init) if init else None, kind="gmiqa",
            seconds=float(sum(r.get("seconds", 0.0) for r in res["splits"])),
        )  # fmt: skip
    if baselines:
        n = int(splits or profile.finetune.splits)
        split_list = finetune_splits(
            dataset.records, n, profile.finetune, seed, by=split_by_for(dataset_name)
        )
        for method in baselines:
            res = evaluate_splits(method, dataset, split_list)
            per = res["per_split"]
            rows[method] = _row(
                [m["srocc"] for m in per], [m["plcc"] for m in per], init=None, kind="baseline"
            )
    summary = {
        "dataset": dataset_name,
        "profile": profile.name,
        "seed": seed,
        "split_by": split_by_for(dataset_name),
        "rows": rows,
        "provenance": provenance(device=str(resolve_device(device)), **source_provenance(dataset)),
    }
    atomic_write_json(out_dir / f"ablation-{dataset_name}.json", summary)
    return summary


def summary_line(name: str, res: dict) -> str:
    """One line for a :func:`run_finetune` result: median and mean SROCC, median PLCC."""
    s = res["summary"]
    return (f"{name}: median SROCC {s['srocc']['median']:.4f} (mean {s['srocc']['mean']:.4f}), "
            f"median PLCC {s['plcc']['median']:.4f}, over {s['srocc']['splits']} splits")  # fmt: skip


def ablation_lines(summary: dict) -> list[str]:
    """One line per row of a :func:`run_ablation` summary: median SROCC (IQR), median PLCC."""
    return [f"{name:12s} median SROCC {row['srocc_median']:.4f} "
            f"(IQR {row['srocc_q25']:.4f}-{row['srocc_q75']:.4f}), median PLCC "
            f"{row['plcc_median']:.4f}, {row['splits']} splits"
            for name, row in summary["rows"].items()]  # fmt: skip
