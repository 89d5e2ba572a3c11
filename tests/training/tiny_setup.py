"""A tiny profile and synthetic set shared by the training tests (not a test module)."""

from __future__ import annotations

from gmiqa.profiles import get_profile


def tiny_profile():
    """The smoke model on 128x128 images of 4 contents x 3 types x 3 levels, few steps."""
    return get_profile("smoke").replace(
        data={
            "image_size": (128, 128),
            "max_pristine": 4,
            "types": (1, 16, 21),
            "levels": (1, 3, 5),
        },
        meta={"steps": 4, "tasks_per_step": 2, "support_size": 2, "query_size": 2},
        # the paper's step (one triplet of three batches); tests of the multi-graph step
        # set types_per_step themselves
        pretrain={
            "steps": 4,
            "batch_size": 3,
            "log_every": 1,
            "checkpoint_every": 2,
            "types_per_step": 0,
            "holdout_references": 0,
            "type_proxy_weight": 0.0,
        },
        finetune={"epochs": 2, "batch_size": 4, "splits": 2},
    )


def tiny_dataset(cache_dir):
    from gmiqa.datasets.synthetic import SyntheticIQADataset

    ds = SyntheticIQADataset.from_profile(tiny_profile(), cache_dir=cache_dir)
    ds.progress = False
    return ds


def same_checkpoints(a, b) -> None:
    """Assert two checkpoints hold bit-identical weights, optimizer state and history."""
    import torch

    from gmiqa.checkpoint import load_checkpoint

    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca.step == cb.step and ca.done and cb.done
    assert ca.model.keys() == cb.model.keys()
    for key in ca.model:
        assert torch.equal(ca.model[key], cb.model[key]), key
    for key in ca.extra:
        assert torch.equal(ca.extra[key], cb.extra[key]), key
    sa, sb = ca.optimizer["state"], cb.optimizer["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for key in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][key]), torch.as_tensor(sb[i][key]))
    assert ca.state["history"]["losses"] == cb.state["history"]["losses"]
