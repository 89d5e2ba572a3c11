"""Load-or-train: each stage's checkpoint in a run folder, training what is missing.

Taught in ``notebooks/05_meta_learning.ipynb``, ``06_graph_pretraining`` and
``07_finetuning``. A run folder (a notebook's ``ctx.run_dir``, i.e. ``RUN_DIR/<profile>``,
or the command line's ``--out/<profile>``) holds::

    checkpoints/meta.safetensors (+ .json)      stage 1
    checkpoints/graph.safetensors (+ .json)     stage 2, initialised from stage 1
    checkpoints/finetune.safetensors (+ .json)  stage 3 on the synthetic set (split 0)
    results/finetune-synthetic-*.json           fine-tuning results over splits
    cache/                                      the synthetic set's scores and images

:func:`ensure_stage` returns a stage's checkpoint, reusing it when it was trained with
the same settings and seed (and the same upstream checkpoint), resuming it when it is
unfinished, and training it (and any missing upstream stage) otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from gmiqa.checkpoint import read_sidecar
from gmiqa.datasets import canonical_name, load_dataset
from gmiqa.datasets.bank import BankDataset, build_dataset_bank, dataset_fingerprint
from gmiqa.datasets.pristine import load_pristine
from gmiqa.datasets.synthetic import SyntheticIQADataset
from gmiqa.errors import CheckpointError, ConfigError, DatasetError
from gmiqa.images import image_size
from gmiqa.profiles import Profile, get_profile
from gmiqa.stages import CHECKPOINT_STAGES, PRETRAINING_STAGES
from gmiqa.training.finetune import finetune_config, init_fingerprint, run_finetune
from gmiqa.training.meta import meta_config, train_meta
from gmiqa.training.pretrain import pretrain_config, train_graph
from gmiqa.training.probe import ensure_probe


def checkpoint_path(run_dir: str | os.PathLike, stage: str) -> Path:
    """Where ``stage``'s checkpoint lives in ``run_dir``."""
    if stage not in CHECKPOINT_STAGES:
        raise ConfigError(f"unknown stage {stage!r}: choose one of {', '.join(CHECKPOINT_STAGES)}")
    return Path(run_dir) / "checkpoints" / f"{stage}.safetensors"


def synthetic_dataset(
    profile: Profile | str, run_dir: str | os.PathLike, pristine=None, seed: int = 0
):
    """The profile's synthetic set, cached under ``run_dir/cache`` (scores and images).

    ``pristine``: a folder tree of photos (any depth), or None for the photos shipped in
    the installed packages. A photo smaller than the training crops (or than the
    backbone's smallest input) raises DatasetError naming the file.
    """

    profile = get_profile(profile)
    refs = load_pristine(pristine, max_images=profile.data.max_pristine)
    need = max(128, profile.pretrain.crop or 0, profile.meta.crop or 0)
    for ref in refs:
        h, w = ref.image.shape[:2]
        if min(h, w) < need:
            raise DatasetError(
                f"{ref.source}: {w}x{h} pixels is smaller than the {need}x{need} pixels that "
                f"profile {profile.name} trains on (crops and the backbone's smallest input)"
            )
    return SyntheticIQADataset.from_profile(
        profile, pristine=refs, seed=seed, cache_dir=Path(run_dir) / "cache"
    )


def pretraining_dataset(
    profile: Profile | str,
    run_dir: str | os.PathLike,
    pristine=None,
    seed: int = 0,
    dataset: str | None = None,
    root: str | os.PathLike | None = None,
    progress: bool = True,
):
    """The data stages 1 and 2 train on, as an image bank (made once, in parallel).

    Taught in ``notebooks/06_graph_pretraining.ipynb``. Default: the synthetic set of
    ``pristine`` photos (see :func:`synthetic_dataset`). ``dataset="kadid10k"`` with its
    ``root``: KADID-10k itself, as the paper pre-trains (DMOS as the quality target, its
    types, levels and references), its images fitted to the profile's image size.
    """

    if pristine is not None and not Path(pristine).is_dir():
        raise DatasetError(f"{pristine}: pristine image folder does not exist")
    profile = get_profile(profile)
    cache = Path(run_dir) / "cache"
    workers = profile.data.bank_workers
    if dataset is None or dataset.lower() == "synthetic":
        ds = synthetic_dataset(profile, run_dir, pristine, seed)
        ds.build_bank(workers=workers, progress=progress)
        return ds

    key = canonical_name(dataset)
    if key != "kadid10k":
        raise DatasetError(
            f"pre-training reads the synthetic set or kadid10k (types, levels and references); "
            f"{key} has no distortion labels"
        )
    if root is None or not Path(root).is_dir():
        raise DatasetError(f"{root}: KADID-10k folder does not exist (--root)")
    labelled = load_dataset(key, root)

    need = max(128, profile.pretrain.crop or 0, profile.meta.crop or 0)
    for record in labelled.records:  # headers only: a clear error before any work
        h, w = image_size(record.path)
        if min(h, w) < need:
            raise DatasetError(
                f"{record.path}: {w}x{h} pixels is smaller than the {need}x{need} pixels that "
                f"profile {profile.name} trains on (crops and the backbone's smallest input)"
            )
    bank = build_dataset_bank(labelled, cache, profile.data.image_size, workers, progress)
    return BankDataset(bank, key)


def is_current(path: Path, expected_fingerprint: str) -> bool:
    """True when ``path`` is a finished checkpoint with the expected configuration."""
    try:
        side = read_sidecar(path)
    except CheckpointError:
        return False
    return bool(side.get("state", {}).get("done")) and (
        side.get("config", {}).get("fingerprint") == expected_fingerprint
    )


def _ensure_meta(path: Path, profile: Profile, dataset, data_fp, device, seed: int, progress,
                 weights) -> Path:  # fmt: skip
    """Stage 1's checkpoint at ``path``, trained unless current."""
    if not is_current(path, meta_config(profile, seed, data_fp, weights)["fingerprint"]):
        print(f"training stage 1 (meta-learning) into {path}")
        train_meta(profile, dataset, path, device, seed, progress, backbone_weights=weights)
    return path


def _ensure_graph(path: Path, init: Path | None, profile: Profile, dataset, data_fp, device,
                  seed: int, progress, weights) -> Path:  # fmt: skip
    """Stage 2's checkpoint at ``path`` from ``init`` (None: a random start, from
    ``weights``), trained unless current; a current one gets its missing probe report."""
    expected = pretrain_config(
        profile, seed, str(init) if init else None, init_fingerprint(init), data_fp,
        None if init else weights,
    )  # fmt: skip
    if not is_current(path, expected["fingerprint"]):
        print(f"training stage 2 (graph pre-training) into {path}")
        train_graph(profile, dataset, path, init, device, seed, progress,
                    backbone_weights=None if init else weights)  # fmt: skip
    else:  # finished before; its probe may have been interrupted: make it again
        ensure_probe(path, profile, dataset, device, seed)
    return path


def _ensure_finetune(path: Path, init: Path, profile: Profile, run_dir: Path, dataset, device,
                     seed: int, progress) -> Path:  # fmt: skip
    """Stage 3's checkpoint at ``path``: fine-tuned on split 0 of the synthetic set from
    the stage-2 checkpoint ``init``, with the results of every split, unless current."""
    results = run_dir / "results" / "finetune-synthetic-graph.json"
    expected = finetune_config(profile, "synthetic", init, None, seed)["fingerprint"]
    if results.exists() and is_current(path, expected):
        return path
    print(f"training stage 3 (fine-tuning on the synthetic set) into {path}")
    run_finetune(
        profile, dataset, "synthetic", init, results, None, device, seed, progress,
        keep_model=path, work_dir=run_dir / "results" / "work",
    )  # fmt: skip
    return path


def ensure_stage(
    stage: str,
    profile: Profile | str,
    run_dir: str | os.PathLike,
    device: str | torch.device = "auto",
    seed: int = 0,
    pristine: str | os.PathLike | None = None,
    progress: bool = True,
    dataset=None,
    use_meta: bool = True,
    backbone_weights: str | os.PathLike | None = None,
) -> Path:
    """The checkpoint of ``stage`` ("meta", "graph", "finetune") in ``run_dir``, trained if needed.

    ``use_meta=False`` trains stage 2 from a random initialisation into
    ``graph_nometa.safetensors`` (an ablation row). ``dataset``: the pre-training data
    (default: the synthetic set of ``pristine``, see :func:`pretraining_dataset`); a
    checkpoint is reused only when it was trained on data with the same fingerprint.
    ``backbone_weights``: a state-dict file the first stage starts from (ImageNet).
    Taught in ``notebooks/05_meta_learning.ipynb``.
    """

    profile = get_profile(profile)
    run_dir = Path(run_dir)
    path = checkpoint_path(run_dir, stage)
    if dataset is None:
        dataset = pretraining_dataset(profile, run_dir, pristine, seed, progress=progress)
    data_fp = dataset_fingerprint(dataset)
    weights = backbone_weights
    if stage == "meta":
        return _ensure_meta(path, profile, dataset, data_fp, device, seed, progress, weights)
    if stage == "graph":
        init = None
        if use_meta:
            init = ensure_stage("meta", profile, run_dir, device, seed, pristine, progress,
                                dataset, backbone_weights=weights)  # fmt: skip
        else:
            path = path.with_name("graph_nometa.safetensors")
        return _ensure_graph(path, init, profile, dataset, data_fp, device, seed, progress,
                             weights)  # fmt: skip
    init = ensure_stage("graph", profile, run_dir, device, seed, pristine, progress, dataset,
                        backbone_weights=weights)  # fmt: skip
    return _ensure_finetune(path, init, profile, run_dir, dataset, device, seed, progress)


def named_dataset(name: str, root, profile: Profile | str, run_dir: str | os.PathLike,
                  seed: int = 0, **options):  # fmt: skip
    """``(canonical name, dataset)`` for a dataset name as the command line takes it.

    Taught in ``notebooks/07_finetuning.ipynb``. ``synthetic`` takes an optional folder of
    pristine photos as ``root`` (:func:`synthetic_dataset`); every other set needs its
    folder (:func:`gmiqa.datasets.load_dataset`, which gets ``options``, e.g. ``folder``'s
    ``score_range``). A missing folder is a DatasetError.
    """
    if name.lower() == "synthetic":
        if root is not None and not Path(root).is_dir():
            raise DatasetError(f"{root}: pristine image folder does not exist")
        return "synthetic", synthetic_dataset(profile, run_dir, root, seed)
    key = canonical_name(name)
    if root is None:
        raise DatasetError(f"--root is required for dataset {key}")
    if not Path(root).exists():
        raise DatasetError(f"{root}: dataset folder does not exist")
    return key, load_dataset(key, root, **options)


def resolve_init(init: str, profile: Profile | str, run_dir: str | os.PathLike,
                 device: str | torch.device = "auto", seed: int = 0, pristine=None,
                 progress: bool = True, data=None, backbone_weights=None) -> Path | None:  # fmt: skip
    """The checkpoint a fine-tuning ``--init`` value names, trained first when it is a stage.

    Taught in ``notebooks/07_finetuning.ipynb``. ``none`` / ``scratch``: None (a random
    start); ``meta``, ``graph``, ``graph_nometa`` (stage 2 without stage 1): that stage of
    ``run_dir`` (:func:`ensure_stage`), trained on ``data`` (a dataset, or a callable
    returning it, called only when needed) if missing; anything else is a checkpoint file,
    whose sidecar is read here so that a wrong file fails before any training.
    """
    key = init.strip().lower()
    if key in ("none", "scratch", ""):
        return None
    if key in PRETRAINING_STAGES:
        data = data() if callable(data) else data
        stage = "graph" if key == "graph_nometa" else key
        return ensure_stage(stage, profile, run_dir, device, seed, pristine, progress, data,
                            use_meta=key != "graph_nometa", backbone_weights=backbone_weights)  # fmt: skip
    read_sidecar(init)
    return Path(init)
