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
from gmiqa.errors import CheckpointError, ConfigError
from gmiqa.profiles import Profile, get_profile

STAGES = ("meta", "graph", "finetune")


def checkpoint_path(run_dir: str | os.PathLike, stage: str) -> Path:
    """Where ``stage``'s checkpoint lives in ``run_dir``."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}: choose one of {', '.join(STAGES)}")
    return Path(run_dir) / "checkpoints" / f"{stage}.safetensors"


def synthetic_dataset(
    profile: Profile | str, run_dir: str | os.PathLike, pristine=None, seed: int = 0
):
    """The profile's synthetic set, cached under ``run_dir/cache`` (scores and images)."""
    from gmiqa.datasets.synthetic import SyntheticIQADataset

    return SyntheticIQADataset.from_profile(
        get_profile(profile), pristine=pristine, seed=seed, cache_dir=Path(run_dir) / "cache"
    )


def is_current(path: Path, expected_fingerprint: str) -> bool:
    """True when ``path`` is a finished checkpoint with the expected configuration."""
    try:
        side = read_sidecar(path)
    except CheckpointError:
        return False
    return bool(side.get("state", {}).get("done")) and (
        side.get("config", {}).get("fingerprint") == expected_fingerprint
    )


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
) -> Path:
    """The checkpoint of ``stage`` ("meta", "graph", "finetune") in ``run_dir``, trained if needed.

    ``use_meta=False`` trains stage 2 from a random initialisation into
    ``graph_nometa.safetensors`` (an ablation row). Taught in
    ``notebooks/05_meta_learning.ipynb``.
    """
    from gmiqa.training.finetune import finetune_config, init_fingerprint, run_finetune
    from gmiqa.training.meta import meta_config, train_meta
    from gmiqa.training.pretrain import pretrain_config, train_graph

    profile = get_profile(profile)
    run_dir = Path(run_dir)
    path = checkpoint_path(run_dir, stage)

    def data():
        nonlocal dataset
        if dataset is None:
            dataset = synthetic_dataset(profile, run_dir, pristine, seed)
        return dataset

    if stage == "meta":
        if not is_current(path, meta_config(profile, seed)["fingerprint"]):
            print(f"training stage 1 (meta-learning) into {path}")
            train_meta(profile, data(), path, device, seed, progress)
        return path
    if stage == "graph":
        init = (
            ensure_stage("meta", profile, run_dir, device, seed, pristine, progress, dataset)
            if use_meta
            else None
        )
        if not use_meta:
            path = path.with_name("graph_nometa.safetensors")
        expected = pretrain_config(
            profile, seed, str(init) if init else None, init_fingerprint(init)
        )
        if not is_current(path, expected["fingerprint"]):
            print(f"training stage 2 (graph pre-training) into {path}")
            train_graph(profile, data(), path, init, device, seed, progress)
        return path
    # stage 3: fine-tune on split 0 of the synthetic set from the stage 2 checkpoint
    init = ensure_stage("graph", profile, run_dir, device, seed, pristine, progress, dataset)
    results = run_dir / "results" / "finetune-synthetic-graph.json"
    expected = finetune_config(profile, "synthetic", init, None, seed)["fingerprint"]
    if results.exists() and is_current(path, expected):
        return path
    print(f"training stage 3 (fine-tuning on the synthetic set) into {path}")
    run_finetune(
        profile, data(), "synthetic", init, results, None, device, seed, progress,
        keep_model=path, work_dir=run_dir / "results" / "work",
    )  # fmt: skip
    return path
