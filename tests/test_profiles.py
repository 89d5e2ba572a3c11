"""The named profiles: the paper's settings kept as they are, the others consistent."""

from __future__ import annotations

import pytest

from gmiqa.errors import ConfigError
from gmiqa.profiles import PROFILES, get_profile


def test_gpu_is_the_paper_as_it_is():
    p = get_profile("gpu")
    assert p.model.backbone == "scnet50" and (p.model.node_dim, p.model.edge_dim) == (256, 64)
    assert (p.pretrain.steps, p.pretrain.batch_size, p.pretrain.lr) == (40000, 64, 1e-5)
    assert (p.pretrain.margin, p.pretrain.level_weight) == (0.1, 0.25)
    # the paper's step: one triplet of three one-type batches, no per-image type signal
    assert p.pretrain.types_per_step == 0 and p.pretrain.type_proxy_weight == 0.0
    assert p.pretrain.crop is None and p.pretrain.holdout_references == 0
    assert p.pretrain.level_rank_weight == 0.0 and p.pretrain.max_epochs is None
    assert not p.compile and not p.meta.vmap_tasks
    assert (p.finetune.epochs, p.finetune.batch_size, p.finetune.lr, p.finetune.splits) == (
        20,
        32,
        1e-5,
        10,
    )
    assert p.finetune.crop is None and p.finetune.schedule == "constant"
    # whole images at native size, MSE, nothing frozen
    assert p.finetune.eval_grid_side == 0 and p.finetune.loss == "mse"
    assert p.finetune.freeze_backbone_epochs == 0
    assert p.data.image_size == (384, 512)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_crops_fit_the_images_and_the_backbone(name):
    p = get_profile(name)
    h, w = p.data.image_size
    for crop in (p.pretrain.crop, p.meta.crop):
        if crop is not None:
            assert 128 <= crop <= min(h, w), (name, crop)  # SCNet's smallest input is 128
    if p.finetune.crop is not None:
        assert p.finetune.crop >= 128
    if p.finetune.eval_grid_side:  # a grid of windows of the training crop's size
        assert p.finetune.crop is not None, name
    assert p.finetune.loss in ("mse", "mse+rank")
    assert p.pretrain.types_per_step <= len(p.data.types)
    assert p.pretrain.schedule in ("constant", "cosine")
    assert p.finetune.schedule in ("constant", "cosine")


def test_gpu_quick_is_scnet50_at_kadid_size_with_held_out_references():
    p = get_profile("gpu-quick")
    assert p.model.backbone == "scnet50" and p.data.image_size == (384, 512)
    assert p.pretrain.types_per_step > 0 and p.pretrain.holdout_references > 0
    assert p.finetune.splits == 10 and p.finetune.crop is not None


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="gpu-quick"):
        get_profile("fast")


# The fingerprints checkpoints of each profile carry (measured before eval_crops was named
# eval_grid_side in the code): a renamed field must not orphan a finished checkpoint.
STAGE_FINGERPRINTS = {
    "smoke": ("9745fead6a577f95", "c9dff82cbd91ea61"),
    "cpu": ("202ab40993933301", "82baebf5a1cb0ba9"),  # storage_jpeg=(60, 95) since #28
    "gpu-quick": ("0824936a603f7bbb", "19eb1be46e733647"),
    "gpu": ("68fed034fdb2851a", "757ec97f695a6116"),
}


@pytest.mark.parametrize("name", sorted(STAGE_FINGERPRINTS))
def test_checkpoint_fingerprints_are_unchanged(name):
    from gmiqa.training.finetune import finetune_config
    from gmiqa.training.meta import meta_config

    p = get_profile(name)
    got = (
        meta_config(p, 0)["fingerprint"],
        finetune_config(p, "livec", None, None, 0)["fingerprint"],
    )
    assert got == STAGE_FINGERPRINTS[name]


def test_the_window_grid_is_stored_under_its_first_name():
    p = get_profile("cpu")
    stored = p.to_dict()["finetune"]
    assert "eval_grid_side" not in stored and stored["eval_crops"] == p.finetune.eval_grid_side
    assert list(stored).index("eval_crops") == list(stored).index("weight_decay") + 1
    for key in ("eval_crops", "eval_grid_side"):  # both names change it
        changed = p.replace(finetune={key: 3})
        assert changed.finetune.eval_grid_side == changed.finetune.eval_crops == 3
        assert changed.to_dict()["finetune"]["eval_crops"] == 3
