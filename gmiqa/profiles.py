"""Named settings for every stage: "smoke", "cpu" and "gpu".

This is the one place where concrete numbers live; notebooks, the command line and the
tests only name a profile. Taught in ``notebooks/00_quickstart.ipynb``.

- ``smoke``: seconds per stage on a laptop CPU; proves the code path, not the method.
- ``cpu``: minutes per stage on 2 CPU cores; a small SCNet, all 25 distortion types,
  results that show the method's effects at small scale.
- ``gpu``: the paper's settings (SCNet-50, 40,000 pre-training iterations at batch 64,
  fine-tuning with batch 32 for 20 epochs, 10 splits) on KADID-sized 512x384 images.

Use :func:`get_profile` to look one up, and ``dataclasses.replace`` for variations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from gmiqa.errors import ConfigError

ALL_TYPES: tuple[int, ...] = tuple(range(1, 26))
ALL_LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)


def _is_quality_range(q) -> bool:
    """True for two IJG JPEG qualities LO <= HI within 1..95 (a list or a tuple)."""
    return (
        isinstance(q, (list, tuple))
        and len(q) == 2
        and all(isinstance(v, int) for v in q)
        and 1 <= q[0] <= q[1] <= 95
    )


@dataclass(frozen=True)
class DataSettings:
    """The synthetic KADID-style set built from pristine images."""

    image_size: tuple[int, int] = (384, 512)  # (height, width); KADID-10k is 512x384 (WxH)
    max_pristine: int | None = None  # None = every pristine image found
    types: tuple[int, ...] = ALL_TYPES  # KADID type ids 1..25
    levels: tuple[int, ...] = ALL_LEVELS
    num_workers: int = 0  # DataLoader workers
    # stages 1-2 read the set from an image bank made once in a process pool
    # (gmiqa.datasets.bank); None = every core
    bank_workers: int | None = None
    # None (the paper): distorted images kept losslessly. (LO, HI): every distorted image is
    # then stored as JPEG (4:2:0) at a quality drawn per item from LO..HI, as cameras store
    # photos, so that pre-training sees each distortion through a camera's storage rather
    # than on pixels no in-the-wild photo has (the design chapter's "JPEG-stored photos").
    # The pseudo-quality is measured on the stored image against the lossless reference.
    # (60, 95) in the cpu profile (#28); taught in notebook 01.
    storage_jpeg: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        q = self.storage_jpeg
        if q is not None and not _is_quality_range(q):
            raise ConfigError(
                f"data.storage_jpeg={q!r}: give None or two JPEG qualities LO <= HI within 1..95"
            )


@dataclass(frozen=True)
class ModelSettings:
    """Backbone, SPP and graph sizes (see ``gmiqa.models``)."""

    backbone: str = "scnet50"  # "scnet50", "resnet50" (the paper's BL) or "scnet_small"
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)  # blocks per stage (small configs only)
    base_width: int = 64  # stem / first-stage width (small configs only)
    pretrained: bool = False  # ImageNet weights: an explicit option, never a download
    spp_levels: tuple[int, ...] = (1, 2, 4)
    spp_pool: str = "max"  # "max" or "avg"
    feature_dim: int = 512  # projection after SPP, keeps the heads small
    node_dim: int = 256  # paper: domain embedding 256
    edge_dim: int = 64  # paper: edge size 64
    edge_layers: int = 3  # GCN-E depth


@dataclass(frozen=True)
class MetaSettings:
    """Stage 1: meta-learning over distortion tasks (``gmiqa.training.meta``)."""

    steps: int = 2000  # outer (meta) iterations
    tasks_per_step: int = 5  # meta-batch of tasks
    support_size: int = 8  # images per task's support set
    query_size: int = 8  # images per task's query set
    inner_steps: int = 1
    inner_lr: float = 1e-3
    outer_lr: float = 1e-4
    first_order: bool = False
    learn_inner_lr: bool = False  # Meta-SGD per-parameter inner learning rates
    # run an outer step's tasks together (torch.func.vmap; gmiqa.training.meta.
    # meta_outer_loss_vmapped): the same step, every task's graph in memory at once
    vmap_tasks: bool = False
    crop: int | None = None  # random square crops of the bank's images (None: whole images)
    flip: bool = False  # random horizontal flips


@dataclass(frozen=True)
class PretrainSettings:
    """Stage 2: distortion-graph pre-training (``gmiqa.training.pretrain``)."""

    steps: int = 40000
    # stop after this many passes over the training images if that comes before ``steps``
    # (gmiqa.training.pretrain.stage_steps): a small folder of photos is not trained for
    # as long as a large one. None = always ``steps`` (the paper).
    max_epochs: float | None = None
    batch_size: int = 64  # images per batch; one distortion type per batch
    lr: float = 1e-5
    margin: float = 0.1  # triplet margin
    level_weight: float = 0.25  # lambda
    log_every: int = 100
    checkpoint_every: int = 1000
    # exact two-pass step: keeps one batch's activations for backward instead of three,
    # for one extra forward per batch (gmiqa.training.pretrain.graph_step_two_pass)
    two_pass: bool = False
    # How a step is built. 0 = the paper's: one triplet of three batches of batch_size,
    # one graph each. K > 0 = K distortion types per step, two graphs of graph_size images
    # per type; every graph is an anchor, its same-type twin the positive, the graphs of
    # the other types the negatives (all triplets of the step averaged): K*(K-1)*2
    # triplets per step instead of one, the same loss (gmiqa.training.pretrain).
    types_per_step: int = 0
    graph_size: int = 4
    # weight of the same triplet loss on the GCN-V node outputs (every image of the step an
    # anchor; images of its type positives, of other types negatives): a training signal
    # per image, not only per graph. 0 = the paper (graph codes only).
    node_triplet_weight: float = 0.0
    # weight of a per-image distortion-type classification of the features X (the trunk
    # every head shares) against learned unit-length type proxies (cosine softmax, scale
    # proxy_scale): a signal per image, which the triplet on graph codes lacks, so the
    # trunk learns types in minutes on a CPU. 0 = the paper.
    type_proxy_weight: float = 0.0
    proxy_scale: float = 16.0
    # weight of a within-type ranking hinge on the level predictions (pairs of one type,
    # milder level first; gmiqa.training.pretrain.level_rank_loss). 0 = the paper (MSE only).
    level_rank_weight: float = 0.0
    crop: int | None = None  # random square crops of the bank's images (None: whole images)
    flip: bool = False  # random horizontal flips
    schedule: str = "constant"  # "constant" or "cosine" (after warmup_steps of linear warm-up)
    warmup_steps: int = 0
    weight_decay: float = 0.0  # AdamW's decoupled decay; 0 = Adam as in GraphIQA
    # references kept out of pre-training, on which the finished stage is probed
    # (5-NN type accuracy of the graph codes, level SROCC; gmiqa.training.probe); at most
    # a quarter of the photos (gmiqa.training.pretrain.holdout_references)
    holdout_references: int = 0


@dataclass(frozen=True)
class FinetuneSettings:
    """Stage 3: fine-tuning and evaluation (``gmiqa.training.finetune``)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-5
    splits: int = 10
    train_fraction: float = 0.8
    # The paper's recipe is Adam at a constant rate on whole images (the defaults). A
    # randomly initialised network learns little that way; the "cpu" and "gpu-quick"
    # profiles train on random crops with warm-up + cosine decay and a larger rate for
    # the heads, and score whole images at native size (SPP) either way.
    crop: int | None = None  # random square training crops (None: whole images)
    flip: bool = False
    schedule: str = "constant"  # "constant" or "cosine" (after warmup_fraction of linear warm-up)
    warmup_fraction: float = 0.0
    head_lr_mult: float = 1.0  # learning rate of SPP projection + heads / the backbone's
    weight_decay: float = 0.0  # AdamW's decoupled decay; 0 = Adam
    # How a test image is scored. 0 = the whole image at native size through SPP (the
    # paper). G > 0 = the mean score of a G x G grid of crop x crop windows spread evenly
    # over the image: the network then sees at test time what it was trained on (a max-SPP
    # over a 500-px photo's map pools 16x more cells than over a 128-px crop's).
    # Stored (profile dictionaries, fingerprints, sidecars) under its first name,
    # "eval_crops" (_STORED_NAMES).
    eval_grid_side: int = 0
    # "mse" (the paper) or "mse+rank": MSE plus rank_weight x a pairwise ranking hinge
    # over the batch (gmiqa.training.finetune.quality_loss); SROCC only sees the order.
    loss: str = "mse"
    rank_weight: float = 1.0
    # epochs at the start that train SPP projection + heads only (backbone frozen, its
    # BatchNorm statistics too): the heads settle before they steer the backbone
    freeze_backbone_epochs: int = 0
    # at most this many images per split (a seeded subset of the split's training and
    # test images, in the train_fraction ratio); None = all. Only the smoke profile caps,
    # above its own synthetic set (180 images, which it leaves whole) so that a real set of
    # any size fine-tunes in seconds: one split of 300 photos of 1024x768 took 11.3 s
    # uncapped, 7.8 s at 200 (2 idle cores).
    max_images: int | None = None
    # JPEG storage as a nuisance (benchmarks/jpeg_storage.py, the design chapter's "JPEG
    # storage"): None, or (LO, HI): each training photo is re-stored as JPEG (4:2:0) at a
    # quality drawn from LO..HI with probability 1/2 before it is cropped; the score is
    # kept. People rate what they see; storage compression they do not see is noise the
    # KADID-trained network has learnt to read.
    jpeg_quality: tuple[int, int] | None = None
    # None (the paper): photos at their native size. N: every photo is resampled
    # (antialiased) so that its shorter side is N px, before the training crops and before
    # it is scored (gmiqa.inference.resize_short_side). The synthetic pre-training set is
    # made at image_size (160x224 in the cpu profile): a 128-px window of a 500-px photo
    # sees a quarter of what a window saw in pre-training (the design chapter's
    # "JPEG-stored photos").
    resize_short: int | None = None

    @property
    def eval_crops(self) -> int:
        """:attr:`eval_grid_side` under the name profile dictionaries store it by."""
        return self.eval_grid_side

    def __post_init__(self) -> None:
        r = self.resize_short
        if r is not None and not (isinstance(r, int) and r >= max(8, self.crop or 0)):
            raise ConfigError(
                f"finetune.resize_short={r!r}: give None or a side in pixels of at least "
                f"the training crop ({self.crop})"
            )
        q = self.jpeg_quality
        if q is not None and not _is_quality_range(q):
            raise ConfigError(
                f"finetune.jpeg_quality={q!r}: give None or two JPEG qualities "
                "LO <= HI within 1..95"
            )


# Settings added after results were stored: absent from a profile's dictionary (so from
# every fingerprint) while None, so the fingerprints of profiles made before them stay valid.
_ABSENT_WHEN_NONE = (
    ("data", "storage_jpeg"),
    ("finetune", "max_images"),
    ("finetune", "jpeg_quality"),
    ("finetune", "resize_short"),
)


# Fields renamed after results were stored: a profile's dictionary (so every fingerprint,
# sidecar and stored result) keeps the first name; Profile.replace accepts both.
_STORED_NAMES = {("finetune", "eval_grid_side"): "eval_crops"}
_FIELD_NAMES = {(section, stored): name for (section, name), stored in _STORED_NAMES.items()}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    meta: MetaSettings = field(default_factory=MetaSettings)
    pretrain: PretrainSettings = field(default_factory=PretrainSettings)
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)
    amp: bool = True  # bf16 autocast (CUDA only; CPU always float32)
    # training stages keep model and batches channels-last (CUDA and CPU; see
    # gmiqa.device.training_channels_last); inference: CUDA only
    channels_last: bool = True
    # torch.compile the backbone of stages 2 and 3 (CUDA only; ignored on the CPU).
    # Stage 1 runs through torch.func and stays eager. ``--compile`` on the command line.
    compile: bool = False
    # References whose distorted images the embedding explorer (notebook 08) embeds and
    # projects; None = all. Two models x every image is the explorer's whole cost.
    explore_references: int | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for section, key in _ABSENT_WHEN_NONE:
            if d[section].get(key) is None:
                d[section].pop(key, None)
        for (section, name), stored in _STORED_NAMES.items():  # same key order as before
            d[section] = {stored if k == name else k: v for k, v in d[section].items()}
        return d

    def replace(self, **sections) -> Profile:
        """Copy with some fields of sections changed: ``p.replace(meta={"steps": 3})``."""
        changes = {}
        for key, value in sections.items():
            current = getattr(self, key)
            if dataclasses.is_dataclass(current) and isinstance(value, dict):
                value = {_FIELD_NAMES.get((key, k), k): v for k, v in value.items()}
                changes[key] = dataclasses.replace(current, **value)
            else:
                changes[key] = value
        return dataclasses.replace(self, **changes)


PRETRAIN_STEPS_CPU = 2400
CPU_FINETUNE_EPOCHS = 12

_SMALL_MODEL = dict(backbone="scnet_small", layers=(1, 1, 1, 1), base_width=16)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="seconds per stage; proves every code path runs",
        data=DataSettings(image_size=(128, 160), max_pristine=6, types=(1, 10, 11, 16, 21, 25)),
        model=ModelSettings(
            **_SMALL_MODEL, feature_dim=64, node_dim=32, edge_dim=16, edge_layers=2
        ),
        meta=MetaSettings(
            steps=4,
            tasks_per_step=2,
            support_size=4,
            query_size=4,
            inner_lr=1e-2,
            outer_lr=1e-3,
            crop=128,
            flip=True,
        ),  # fmt: skip
        # the cpu profile's recipe in miniature, so every code path runs in the tests
        pretrain=PretrainSettings(
            steps=6,
            batch_size=6,
            lr=1e-3,
            log_every=1,
            checkpoint_every=3,
            margin=0.5,
            types_per_step=3,
            graph_size=2,
            type_proxy_weight=1.0,
            level_rank_weight=1.0,
            crop=128,
            flip=True,
            schedule="cosine",
            warmup_steps=2,
            weight_decay=1e-4,
            holdout_references=2,
        ),  # fmt: skip
        # crops, the crop-grid scoring and the rank loss: the cpu recipe's code paths
        finetune=FinetuneSettings(
            epochs=2,
            batch_size=8,
            lr=1e-3,
            splits=2,
            crop=128,
            flip=True,
            eval_grid_side=2,
            loss="mse+rank",
            max_images=200,
        ),  # fmt: skip
        amp=False,
        explore_references=None,
    ),
    "cpu": Profile(
        name="cpu",
        description="minutes per stage on 2 CPU cores; small SCNet, all 25 types",
        # every distorted image stored as a camera stores a photo, JPEG at a quality drawn
        # from 60..95: variant storage60_95 of the design chapter, which lifted the meta +
        # graph row above BRISQUE + 0.05 on JPEG-stored LIVEC photos on both split seeds
        data=DataSettings(image_size=(160, 224), max_pristine=None, storage_jpeg=(60, 95)),
        model=ModelSettings(
            backbone="scnet_small",
            layers=(1, 1, 1, 1),
            base_width=24,
            feature_dim=128,
            node_dim=64,
            edge_dim=16,
        ),
        meta=MetaSettings(
            steps=150,
            tasks_per_step=4,
            support_size=8,
            query_size=8,
            inner_lr=1e-3,  # 1e-2: one inner step undid a drifting start; nothing learned
            outer_lr=1e-3,
            first_order=True,
            crop=128,
            flip=True,
        ),  # fmt: skip
        pretrain=PretrainSettings(
            steps=PRETRAIN_STEPS_CPU,
            # 110 photos (100 trained): 2,400 steps are 12.3 passes; the 13 packaged photos
            # of the book (9 trained): 24 passes are 422 steps
            max_epochs=24,
            lr=2e-3,
            margin=0.5,
            log_every=10,
            checkpoint_every=100,
            types_per_step=8,
            graph_size=4,
            type_proxy_weight=1.0,
            level_rank_weight=1.0,
            crop=128,
            flip=True,
            schedule="cosine",
            warmup_steps=50,
            weight_decay=1e-4,
            holdout_references=10,
        ),  # fmt: skip
        finetune=FinetuneSettings(
            epochs=CPU_FINETUNE_EPOCHS,
            batch_size=16,
            lr=1e-3,
            splits=3,
            crop=128,
            flip=True,
            schedule="cosine",
            warmup_fraction=0.1,
            head_lr_mult=3.0,
            weight_decay=1e-4,
            # the recipe search on the LIVEC development set (design chapter, appendix):
            # a 4x4 grid of 128-px windows per test photo, MSE + 3 x the rank hinge
            eval_grid_side=4,
            loss="mse+rank",
            rank_weight=3.0,
        ),  # fmt: skip
        amp=False,
        explore_references=4,
    ),
    "gpu-quick": Profile(
        name="gpu-quick",
        description="pre-training in minutes on one H100/H200: SCNet-50, 512x384 images, "
        "crops, the per-image type signal; quick fine-tuning",
        data=DataSettings(image_size=(384, 512), max_pristine=None),
        meta=MetaSettings(
            steps=200,
            tasks_per_step=8,
            support_size=16,
            query_size=16,
            inner_lr=1e-3,  # 1e-2: one inner step undid a drifting start; nothing learned
            outer_lr=5e-4,
            first_order=True,
            crop=224,
            flip=True,
        ),  # fmt: skip
        pretrain=PretrainSettings(
            steps=1500,
            lr=1e-3,
            margin=0.5,
            log_every=50,
            checkpoint_every=250,
            types_per_step=16,
            graph_size=8,
            type_proxy_weight=1.0,
            level_rank_weight=1.0,
            crop=224,
            flip=True,
            schedule="cosine",
            warmup_steps=100,
            weight_decay=1e-4,
            holdout_references=10,
        ),  # fmt: skip
        finetune=FinetuneSettings(
            epochs=12,
            batch_size=32,
            lr=5e-4,
            splits=10,
            crop=320,
            flip=True,
            schedule="cosine",
            warmup_fraction=0.1,
            head_lr_mult=10.0,
            weight_decay=1e-4,
            # what the cpu recipe search found, at this profile's crop (not measured on a GPU)
            eval_grid_side=2,
            loss="mse+rank",
            rank_weight=3.0,
        ),  # fmt: skip
    ),
    "gpu": Profile(
        name="gpu",
        description="the paper's settings: SCNet-50, 512x384, 40k pre-training iterations at batch 64",
        # the exact two-pass step: one batch's activations at a time (batch 64 in 24 GB)
        pretrain=PretrainSettings(two_pass=True),
    ),
}


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name; an unknown name raises ConfigError listing the known ones."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[str(name).strip().lower()]
    except KeyError:
        raise ConfigError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}"
        ) from None
