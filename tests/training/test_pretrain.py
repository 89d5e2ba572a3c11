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
    for head in ("level_discriminator", "type_discriminator"):  # non-zero gradients reach both
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items()
                   if n.startswith(head)), head  # fmt: skip
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


# --- the multi-graph step (types_per_step > 0) -------------------------------------------


def test_batch_all_triplet_equals_the_triplets_written_out():
    import itertools

    import torch

    from gmiqa.training.pretrain import batch_all_triplet

    torch.manual_seed(0)
    codes = torch.randn(6, 5)
    types = torch.tensor([1, 1, 2, 2, 3, 3])
    loss, gap = batch_all_triplet(codes, types, margin=0.3)
    z = torch.nn.functional.normalize(codes, dim=-1)
    terms, gaps = [], []
    for a, p, n in itertools.product(range(6), repeat=3):
        if a != p and types[a] == types[p] and types[n] != types[a]:
            dap, dan = (z[a] - z[p]).norm(), (z[a] - z[n]).norm()
            terms.append(torch.relu(dap - dan + 0.3))
            gaps.append(dan - dap)
    assert len(terms) == 6 * 1 * 4
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-5)
    assert torch.allclose(gap, torch.stack(gaps).mean(), atol=1e-5)


def test_multi_graph_losses_train_every_part():
    import torch

    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile
    from gmiqa.training.pretrain import multi_graph_losses

    torch.manual_seed(0)
    settings = get_profile("smoke").model
    model = build_model(settings).train()
    proxies = torch.randn(26, settings.feature_dim, requires_grad=True)
    x = torch.rand(8, 3, 128, 128)
    types = torch.tensor([1, 1, 16, 16])  # 4 graphs of 2 images
    levels = torch.tensor([1.0, 2, 3, 4, 5, 1, 2, 3])
    losses = multi_graph_losses(model, x, types, levels, 2, 0.5, 0.25, 1.0, proxies, 1.0, 16.0)
    assert set(losses) == {"loss", "triplet", "level", "gap", "node_triplet", "type_ce"}
    losses["loss"].backward()
    assert proxies.grad is not None and proxies.grad[[1, 16]].abs().sum() > 0
    for name in ("backbone", "type_discriminator", "level_discriminator", "edge_builder"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name)]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name


def test_holdout_references_are_fixed_by_the_seed():
    from gmiqa.training.pretrain import holdout_references

    refs = np.repeat(np.arange(12), 5)
    a = holdout_references(refs, 3, seed=0)
    assert a == holdout_references(refs, 3, seed=0) and len(a) == 3 and a == sorted(a)
    assert holdout_references(refs, 3, seed=1) != a
    # at most a quarter of the content (rounded up), and two references always train
    assert len(holdout_references(refs, 50, seed=0)) == 3
    assert len(holdout_references(np.arange(13), 10, seed=0)) == 4  # the packaged photos
    assert len(holdout_references(np.arange(110), 10, seed=0)) == 10
    assert len(holdout_references(np.arange(3), 10, seed=0)) == 1
    assert holdout_references(refs, 0, seed=0) == []


def test_multi_graph_stage_resumes_bit_identically_and_probes(tmp_path):
    import json

    from tiny_setup import same_checkpoints, tiny_dataset, tiny_profile

    from gmiqa.training.loop import TrainingInterrupted
    from gmiqa.training.pretrain import train_graph
    from gmiqa.training.probe import probe_checkpoint_path

    profile = tiny_profile().replace(
        pretrain={"types_per_step": 2, "graph_size": 2, "type_proxy_weight": 1.0,
                  "holdout_references": 1, "crop": 128, "flip": True, "schedule": "cosine",
                  "warmup_steps": 1, "weight_decay": 1e-4, "margin": 0.5},
    )  # fmt: skip
    ds = tiny_dataset(tmp_path / "cache")
    ds.build_bank(workers=1, progress=False)
    whole = train_graph(profile, ds, tmp_path / "g1.safetensors", None, "cpu", progress=False)
    assert whole.steps == 4 and "type_ce" in whole.history
    with pytest.raises(TrainingInterrupted):
        train_graph(profile, ds, tmp_path / "g2.safetensors", None, "cpu", progress=False,
                    stop_after=2)  # fmt: skip
    train_graph(profile, ds, tmp_path / "g2.safetensors", None, "cpu", progress=False)
    same_checkpoints(tmp_path / "g1.safetensors", tmp_path / "g2.safetensors")
    report = json.loads(probe_checkpoint_path(tmp_path / "g1.safetensors").read_text())
    assert report["references"] == 1 and report["types"] == 3 and report["images"] == 9
    assert 0.0 <= report["knn_type_accuracy"] <= 1.0 and report["chance"] == pytest.approx(1 / 3)


def test_level_rank_loss_orders_levels_within_a_type_only():
    from gmiqa.training.pretrain import level_rank_loss

    levels = torch.tensor([1.0, 3.0, 5.0, 1.0, 5.0])
    types = torch.tensor([1, 1, 1, 2, 2])
    right = torch.tensor([0.0, 1.0, 2.0, 9.0, 10.0])  # in order, gaps >= 0.5 within types
    assert float(level_rank_loss(right, levels, types)) == 0.0
    # type 2 placed far below type 1: offsets between types cost nothing
    assert float(level_rank_loss(right - torch.tensor([0, 0, 0, 20, 20]), levels, types)) == 0.0
    wrong = torch.tensor([2.0, 1.0, 0.0, 0.0, 1.0], requires_grad=True)  # type 1 reversed
    loss = level_rank_loss(wrong, levels, types)
    # pairs (1,3), (1,5), (3,5) of type 1 and (1,5) of type 2: hinges 1.5, 2.5, 1.5, 0
    assert float(loss.detach()) == pytest.approx((1.5 + 2.5 + 1.5 + 0.0) / 4)
    loss.backward()
    assert wrong.grad[0] > 0 and wrong.grad[2] < 0  # push level 1 down, level 5 up
    # no pair of one type: zero, not NaN
    assert float(level_rank_loss(right[:2], levels[[0, 3]], types[[0, 3]])) == 0.0


def test_stage_steps_stop_after_max_epochs_passes():
    from gmiqa.profiles import get_profile
    from gmiqa.training.pretrain import stage_steps

    cpu = get_profile("cpu").pretrain  # 2,400 steps of 8 x 2 x 4 = 64 images, 24 passes
    assert stage_steps(cpu, 100 * 125) == 2400  # 110 photos, 10 held out: steps come first
    assert stage_steps(cpu, 9 * 125) == 422  # the book's 13 photos, 4 held out: 24 passes
    assert stage_steps(cpu, 1) == 1
    paper = get_profile("gpu").pretrain
    assert paper.max_epochs is None and stage_steps(paper, 10) == paper.steps
    triplets = paper.__class__(steps=100, batch_size=4, max_epochs=2.0)  # 12 images a step
    assert stage_steps(triplets, 30) == 5
