"""The exact two-pass pre-training step (gmiqa.training.pretrain.graph_step_two_pass).

Checked against the one-pass step (``graph_losses(...)["loss"].backward()``) on the smoke
model in float32 (the graph layers compute in float32 whatever the input dtype). The
losses and BatchNorm buffers are bit-identical; the gradients differ only by the
summation order of the accumulated gradients (measured: at most 2e-7 of each tensor's
largest entry), far below the tolerance rtol 1e-5, atol 1e-6 (gradients are O(0.1)).
"""

from __future__ import annotations

import pytest
import torch

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_setup import tiny_dataset, tiny_profile

    return tiny_profile(), tiny_dataset(tmp_path_factory.mktemp("cache"))


def _batches(ds):
    x = [torch.stack([ds[i]["image"] for i in idx]) for idx in ([0, 1, 2], [3, 4, 5], [9, 10, 11])]
    levels = (torch.tensor([1.0, 3.0, 5.0]), torch.tensor([5.0, 1.0, 3.0]), torch.tensor([3.0] * 3))
    return x, levels


def _step(model, x, levels, two_pass: bool, detach: bool):
    from gmiqa.training.pretrain import graph_losses, graph_step_two_pass

    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)  # the level head's noise, as train_steps seeds every step
    if two_pass:
        losses = graph_step_two_pass(model, *x, levels, 0.5, 0.25, detach)
    else:
        losses = graph_losses(model, *x, levels, 0.5, 0.25, detach)
        losses["loss"].backward()
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    return {k: v.detach() for k, v in losses.items()}, grads, buffers, torch.get_rng_state()


@pytest.mark.parametrize("detach", [False, True])
def test_two_pass_gradients_losses_and_buffers_equal_one_pass(tiny, detach):
    from gmiqa.models import build_model

    profile, ds = tiny
    x, levels = _batches(ds)
    torch.manual_seed(0)
    model = build_model(profile.model).train()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    one = _step(model, x, levels, two_pass=False, detach=detach)
    model.load_state_dict(start)
    two = _step(model, x, levels, two_pass=True, detach=detach)

    for k in one[0]:
        assert torch.equal(two[0][k], one[0][k]), k
    assert one[0]["triplet"] > 0  # the triplet term is active, so the codes' gradients matter
    assert one[1].keys() == two[1].keys()
    trained = 0
    for name, g1 in one[1].items():
        g2 = two[1][name]
        assert (g1 is None) == (g2 is None), name
        if g1 is not None:
            torch.testing.assert_close(g2, g1, rtol=RTOL, atol=ATOL, msg=name)
            trained += int(g1.abs().sum() > 0)
    assert trained > 10
    for name, b1 in one[2].items():  # BatchNorm running statistics and counters
        assert torch.equal(two[2][name], b1), name
    assert torch.equal(two[3], one[3])  # torch's RNG left where the one-pass step leaves it
    changed = [n for n, b in one[2].items() if not torch.equal(b, start.get(n, b))]
    assert any(n.endswith("running_mean") for n in changed)


def test_two_pass_differs_from_anchor_only(tiny):
    """Each batch matters: the anchor's gradient alone is far from the full one."""
    from gmiqa.models import build_model

    profile, ds = tiny
    x, levels = _batches(ds)
    torch.manual_seed(0)
    model = build_model(profile.model).train()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    full = _step(model, x, levels, two_pass=True, detach=False)[1]
    model.load_state_dict(start)
    anchor = _step(model, x, levels, two_pass=True, detach=True)[1]
    g_full, g_anchor = full["backbone.conv1.weight"], anchor["backbone.conv1.weight"]
    assert not torch.allclose(g_full, g_anchor, rtol=1e-3, atol=1e-6)


def test_train_graph_two_pass_gives_the_same_weights(tiny, tmp_path):
    from gmiqa.checkpoint import load_checkpoint
    from gmiqa.training.pretrain import train_graph

    profile, ds = tiny
    profile = profile.replace(pretrain={"steps": 3, "checkpoint_every": 3})
    a = train_graph(profile, ds, tmp_path / "one.safetensors", None, "cpu", progress=False)
    two = profile.replace(pretrain={"two_pass": True})
    b = train_graph(two, ds, tmp_path / "two.safetensors", None, "cpu", progress=False)
    ca, cb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    assert ca.config["fingerprint"] == cb.config["fingerprint"]  # same computation
    assert ca.model.keys() == cb.model.keys()
    # Adam (lr 1e-3) turns the rounding noise of a near-zero gradient into a step of up to
    # lr whatever its size, so single entries may differ by ~lr where the summation order
    # flips a sign (it depends on the CPU's kernels). What separates a right gradient from
    # a wrong one is how many entries move: measured after 3 steps (torch 2.14.1, 1 thread),
    # 0 of 582,069 entries differ by more than 1e-4 at ATEN_CPU_CAPABILITY default and avx2,
    # while the same run with level_weight x1.1 moves 449,035 (77%) of them.
    moved = total = 0
    for key in ca.model:
        if ca.model[key].is_floating_point():
            moved += int(((cb.model[key].double() - ca.model[key].double()).abs() > 1e-4).sum())
            total += ca.model[key].numel()
    assert moved <= total // 1000, f"{moved} of {total} weights differ by more than 1e-4"
    for key in ("loss", "triplet", "level"):
        torch.testing.assert_close(
            torch.tensor(b.history[key]), torch.tensor(a.history[key]), rtol=1e-5, atol=1e-7
        )


def test_two_pass_under_data_parallel_training_warns_and_uses_one_pass(tiny, tmp_path, monkeypatch):
    from gmiqa.training import distributed, pretrain

    class Reached(Exception):
        pass

    def wrap(model):  # the step would start here: stop the run, the choice is made
        raise Reached

    def two_pass_step(*a, **k):
        raise AssertionError("two-pass step used under data-parallel training")

    profile, ds = tiny
    fake = distributed.DistContext(rank=0, world_size=2, device=torch.device("cpu"))
    monkeypatch.setattr(fake, "wrap", wrap)
    monkeypatch.setattr(distributed, "setup", lambda *a, **k: fake)
    monkeypatch.setattr(pretrain, "graph_step_two_pass", two_pass_step)
    with pytest.warns(UserWarning, match=r"two_pass=True .*data-parallel.*world size 2"):
        with pytest.raises(Reached):
            pretrain.train_graph(profile.replace(pretrain={"two_pass": True}), ds,
                                 tmp_path / "g.st", None, "cpu", progress=False)  # fmt: skip
