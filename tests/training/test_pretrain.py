"""Stage 2: losses, initialisation from stage 1, interrupt-and-resume (gmiqa.training.pretrain)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gmiqa.errors import CheckpointError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_setup import tiny_dataset, tiny_profile

    return tiny_profile(), tiny_dataset(tmp_path_factory.mktemp("cache"))


def test_graph_losses_values_and_gradients(tiny):
    from gmiqa.models import build_model
    from gmiqa.training.pretrain import graph_losses

    profile, ds = tiny
    torch.manual_seed(0)
    model = build_model(profile.model).train()
    x = [torch.stack([ds[i]["image"] for i in idx]) for idx in ([0, 1, 2], [3, 4, 5], [9, 10, 11])]
    levels = tuple(torch.tensor([1.0, 3.0, 5.0]) for _ in range(3))
    out = graph_losses(model, *x, levels, margin=0.1, level_weight=0.25)
    torch.testing.assert_close(out["loss"], out["triplet"] + 0.25 * out["level"])
    assert 0.0 <= float(out["triplet"].detach()) <= 0.1 + 2.0  # unit codes: distances <= 2
    out["loss"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    # The backbone and both discriminators train; the meta head and quality head do not.
    assert (
        grads["backbone.conv1.weight"] is not None
        and grads["backbone.conv1.weight"].abs().sum() > 0
    )
    assert any(g is not None for n, g in grads.items() if n.startswith("level_discriminator"))
    assert any(g is not None for n, g in grads.items() if n.startswith("type_discriminator"))
    assert all(g is None for n, g in grads.items() if n.startswith(("meta_head", "quality_head")))


def test_detached_positive_negative_matches_graphiqa(tiny):
    from gmiqa.models import build_model
    from gmiqa.training.pretrain import graph_losses

    profile, ds = tiny
    torch.manual_seed(0)
    model = build_model(profile.model).train()
    x = [torch.stack([ds[i]["image"] for i in idx]) for idx in ([0, 1], [3, 4], [9, 10])]
    levels = tuple(torch.tensor([1.0, 3.0]) for _ in range(3))
    out = graph_losses(model, *x, levels, 0.1, 0.25, detach_positive_negative=True)
    assert out["loss"].requires_grad and torch.isfinite(out["loss"])


def test_train_graph_from_meta_interrupted_and_resumed(tiny, tmp_path):
    from tiny_setup import same_checkpoints

    from gmiqa.checkpoint import load_checkpoint
    from gmiqa.training.loop import TrainingInterrupted
    from gmiqa.training.meta import train_meta
    from gmiqa.training.pretrain import train_graph

    profile, ds = tiny
    profile = profile.replace(meta={"steps": 1})
    meta = train_meta(profile, ds, tmp_path / "meta.safetensors", "cpu", progress=False).checkpoint
    whole = train_graph(profile, ds, tmp_path / "g1.safetensors", meta, "cpu", progress=False)
    hist = whole.history
    assert hist["steps"] == [1, 2, 3, 4]
    assert all(np.isfinite(hist["triplet"])) and all(np.isfinite(hist["level"]))
    with pytest.raises(TrainingInterrupted):
        train_graph(
            profile, ds, tmp_path / "g2.safetensors", meta, "cpu", progress=False, stop_after=3
        )
    resumed = train_graph(profile, ds, tmp_path / "g2.safetensors", meta, "cpu", progress=False)
    assert resumed.resumed_from == 2
    same_checkpoints(whole.checkpoint, resumed.checkpoint)
    # Initialised from stage 1: the untouched quality head equals the meta checkpoint's.
    g, m = load_checkpoint(whole.checkpoint).model, load_checkpoint(meta).model
    assert torch.equal(g["quality_head.mu.weight"], m["quality_head.mu.weight"])
    assert not torch.equal(g["backbone.conv1.weight"], m["backbone.conv1.weight"])
    assert (
        load_checkpoint(whole.checkpoint).config["init_fingerprint"]
        == load_checkpoint(meta).config["fingerprint"]
    )


def test_train_graph_rejects_a_checkpoint_of_another_profile(tiny, tmp_path):
    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile
    from gmiqa.training.pretrain import train_graph

    profile, ds = tiny
    other = build_model(get_profile("smoke").replace(model={"base_width": 8}).model)
    bad = save_checkpoint(tmp_path / "other.safetensors", kind="meta", model=other, config={})
    with pytest.raises(CheckpointError, match="other.safetensors.*do not fit"):
        train_graph(profile, ds, tmp_path / "g.safetensors", bad, "cpu", progress=False)
