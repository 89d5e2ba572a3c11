"""Meta-gradients of gmiqa.training.meta checked on linear regression, where MAML's
gradient is known in closed form, and against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gmiqa.training.meta import MetaLearner, MethodModule, Task, mse

F64 = torch.float64  # closed forms are compared at double precision


def _problem(seed=0, d=4, n=6):
    g = torch.Generator().manual_seed(seed)
    xs, xq = torch.randn(n, d, generator=g, dtype=F64), torch.randn(n, d, generator=g, dtype=F64)
    ys, yq = torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, d, generator=g, dtype=F64))
    return model, Task((xs, ys), (xq, yq))


def _grad(x, y, w):
    """Gradient of mean((x w - y)^2) with respect to w."""
    return 2.0 / len(y) * x.T @ (x @ w - y)


def _hess(x):
    return 2.0 / x.shape[0] * x.T @ x


def _meta_grad(learner, task):
    learner.module.zero_grad(set_to_none=True)
    loss = learner.meta_loss([task])
    return torch.autograd.grad(loss, learner.outer_parameters())


class Flat(nn.Module):
    """Linear model returning (N,) so predictions and targets line up."""

    def __init__(self, lin):
        super().__init__()
        self.lin = lin

    def forward(self, x):
        return self.lin(x).squeeze(-1)


def test_second_order_matches_closed_form():
    model, task = _problem()
    a = 0.1
    learner = MetaLearner(Flat(model), mse, inner_steps=1, inner_lr=a)
    (got,) = _meta_grad(learner, task)
    w = model.weight.detach().reshape(-1)
    (xs, ys), (xq, yq) = task.support, task.query
    w1 = w - a * _grad(xs, ys, w)
    expected = (torch.eye(len(w), dtype=F64) - a * _hess(xs)) @ _grad(xq, yq, w1)
    torch.testing.assert_close(got.reshape(-1), expected, rtol=1e-10, atol=1e-12)


def test_first_order_is_query_gradient_at_adapted_weights():
    model, task = _problem(seed=1)
    a = 0.1
    learner = MetaLearner(Flat(model), mse, inner_steps=1, inner_lr=a, first_order=True)
    (got,) = _meta_grad(learner, task)
    w = model.weight.detach().reshape(-1)
    (xs, ys), (xq, yq) = task.support, task.query
    expected = _grad(xq, yq, w - a * _grad(xs, ys, w))
    torch.testing.assert_close(got.reshape(-1), expected, rtol=1e-10, atol=1e-12)
    # ... and it really differs from the second-order gradient on this problem.
    second = MetaLearner(Flat(model), mse, inner_steps=1, inner_lr=a)
    (full,) = _meta_grad(second, task)
    assert (full - got).abs().max() > 1e-3


def _query_loss_after(w, task, a, k):
    (xs, ys), (xq, yq) = task.support, task.query
    for _ in range(k):
        w = w - a * _grad(xs, ys, w)
    return torch.mean((xq @ w - yq) ** 2)


@pytest.mark.parametrize("k", [2, 3])
def test_second_order_matches_finite_differences_multi_step(k):
    model, task = _problem(seed=2)
    a = 0.05
    learner = MetaLearner(Flat(model), mse, inner_steps=k, inner_lr=a)
    (got,) = _meta_grad(learner, task)
    w = model.weight.detach().reshape(-1).clone()
    eps = 1e-6
    fd = torch.zeros_like(w)
    for i in range(len(w)):
        e = torch.zeros_like(w)
        e[i] = eps
        fd[i] = (_query_loss_after(w + e, task, a, k) - _query_loss_after(w - e, task, a, k)) / (
            2 * eps
        )
    torch.testing.assert_close(got.reshape(-1), fd, rtol=1e-6, atol=1e-8)


def test_meta_sgd_learning_rate_gradient():
    model, task = _problem(seed=3)
    a = 0.1
    learner = MetaLearner(Flat(model), mse, inner_steps=1, inner_lr=a, learn_inner_lr=True)
    (lrs,) = learner.inner_lrs.values()
    torch.testing.assert_close(lrs, torch.full_like(model.weight, a))
    grad_w, grad_lr = _meta_grad(learner, task)
    w = model.weight.detach().reshape(-1)
    (xs, ys), (xq, yq) = task.support, task.query
    gs = _grad(xs, ys, w)
    gq = _grad(xq, yq, w - a * gs)
    torch.testing.assert_close(grad_lr.reshape(-1), -gs * gq, rtol=1e-10, atol=1e-12)
    alpha = torch.full_like(w, a)
    expected_w = gq - _hess(xs) @ (alpha * gq)
    torch.testing.assert_close(grad_w.reshape(-1), expected_w, rtol=1e-10, atol=1e-12)


def test_meta_batch_averages_tasks_and_accumulate_equals_meta_loss():
    model, t1 = _problem(seed=4)
    _, t2 = _problem(seed=5)
    learner = MetaLearner(Flat(model), mse, inner_steps=1, inner_lr=0.1)
    g1 = _meta_grad(learner, t1)[0]
    g2 = _meta_grad(learner, t2)[0]
    learner.module.zero_grad(set_to_none=True)
    learner.accumulate([t1, t2])
    torch.testing.assert_close(model.weight.grad, (g1 + g2) / 2, rtol=1e-10, atol=1e-12)


class _BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.out = nn.Linear(4, 1)
        self.unused = nn.Linear(2, 2)  # like GMIQA's graph heads in stage 1

    def score(self, x):
        return self.out(torch.relu(self.bn(self.lin(x)))).squeeze(-1)


def test_batchnorm_buffers_updated_by_query_only_and_unused_params_untouched():
    torch.manual_seed(0)
    net = _BNNet().double().train()
    # inner_lr 0: the query forward runs at the initial weights, so the expected
    # running mean below can be computed from the module itself.
    learner = MetaLearner(MethodModule(net, "score"), mse, inner_steps=2, inner_lr=0.0)
    support = (torch.randn(5, 3, dtype=F64) + 10.0, torch.randn(5, dtype=F64))  # far from query
    query = (torch.randn(5, 3, dtype=F64), torch.randn(5, dtype=F64))
    before = net.bn.running_mean.clone()
    learner.adapt(support)
    torch.testing.assert_close(net.bn.running_mean, before)  # inner loop leaves no trace
    learner.module.zero_grad(set_to_none=True)
    learner.accumulate([Task(support, query)])
    expected = 0.9 * before + 0.1 * net.lin(query[0]).detach().mean(0)
    torch.testing.assert_close(net.bn.running_mean, expected)
    assert net.unused.weight.grad is None
    assert net.lin.weight.grad is not None and torch.isfinite(net.lin.weight.grad).all()


def test_meta_training_reduces_query_loss_on_a_task_family():
    """Adam on the meta-gradient finds an initialisation that adapts well (sanity)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = Flat(nn.Linear(3, 1).double())
    learner = MetaLearner(model, mse, inner_steps=1, inner_lr=0.05)
    opt = torch.optim.Adam(learner.outer_parameters(), lr=0.05)
    centre = torch.tensor([2.0, -1.0, 0.5], dtype=F64)

    def task():
        w = centre + 0.1 * torch.from_numpy(rng.standard_normal(3))
        xs, xq = (
            torch.from_numpy(rng.standard_normal((8, 3))),
            torch.from_numpy(rng.standard_normal((8, 3))),
        )
        return Task((xs, xs @ w), (xq, xq @ w))

    probe = [task() for _ in range(8)]
    start = float(learner.meta_loss(probe).detach())
    for _ in range(150):
        opt.zero_grad()
        learner.accumulate([task() for _ in range(4)])
        opt.step()
    assert float(learner.meta_loss(probe).detach()) < 0.1 * start


# --- stage 1 on the GMIQA model -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_setup import tiny_dataset, tiny_profile

    return tiny_profile(), tiny_dataset(tmp_path_factory.mktemp("cache"))


def test_train_meta_interrupted_and_resumed_equals_one_run(tiny, tmp_path):
    from tiny_setup import same_checkpoints

    from gmiqa.training.loop import TrainingInterrupted
    from gmiqa.training.meta import train_meta

    profile, ds = tiny
    profile = profile.replace(meta={"learn_inner_lr": True})
    whole = train_meta(profile, ds, tmp_path / "whole.safetensors", "cpu", seed=3, progress=False)
    assert whole.steps == 4 and whole.resumed_from == 0
    assert len(whole.history["query"]) == 4 and all(np.isfinite(whole.history["query"]))
    with pytest.raises(TrainingInterrupted):
        train_meta(
            profile, ds, tmp_path / "cut.safetensors", "cpu", seed=3, progress=False, stop_after=3
        )
    resumed = train_meta(profile, ds, tmp_path / "cut.safetensors", "cpu", seed=3, progress=False)
    assert resumed.resumed_from == 2  # the last checkpoint before the interruption
    same_checkpoints(whole.checkpoint, resumed.checkpoint)
    # Meta-SGD rates were learned (moved away from their initial value) and saved.
    from gmiqa.checkpoint import load_checkpoint

    extra = load_checkpoint(whole.checkpoint).extra
    assert extra and any(not torch.all(v == profile.meta.inner_lr) for v in extra.values())
    # A finished checkpoint is not trained again.
    again = train_meta(profile, ds, tmp_path / "whole.safetensors", "cpu", seed=3, progress=False)
    assert again.resumed_from == 4 and again.seconds == 0.0


def test_train_meta_with_vmapped_tasks_takes_the_same_steps(tiny, tmp_path, monkeypatch):
    """``MetaSettings.vmap_tasks``: stage 1 with its tasks run together.

    The losses of two outer steps agree to 1e-4 (measured 6e-6): the second step draws the
    same tasks and computes the same losses. The outer rate is 1e-7 here because Adam's first update is
    about ``lr * sign(grad)`` for every coordinate, so coordinates whose gradient is at
    float32's rounding noise move by the whole rate with either sign: at the profile's
    1e-4, the order of float reductions (which changes with the thread count) moved the
    tiny model's second loss by 30 % (measured: 0.0348 vs 0.0496 at 2 threads, equal at
    1). The setting does not change the checkpoint's fingerprint.
    """
    from gmiqa.checkpoint import load_checkpoint
    from gmiqa.training import meta

    calls = []
    vmapped = meta.meta_outer_loss_vmapped
    monkeypatch.setattr(meta, "meta_outer_loss_vmapped",
                        lambda *a, **k: calls.append(1) or vmapped(*a, **k))  # fmt: skip
    profile, ds = tiny
    runs = {}
    for vmap_tasks in (False, True):
        p = profile.replace(
            meta={"vmap_tasks": vmap_tasks, "first_order": True, "steps": 2, "outer_lr": 1e-7},
            channels_last=False,
        )
        path = tmp_path / f"vmap{int(vmap_tasks)}.safetensors"
        meta.train_meta(p, ds, path, "cpu", seed=1, progress=False)
        runs[vmap_tasks] = load_checkpoint(path)
        assert len(calls) == (2 if vmap_tasks else 0)  # one vmapped outer step per step
    loop, together = runs[False], runs[True]
    assert loop.config["fingerprint"] == together.config["fingerprint"]
    assert together.config["profile"]["meta"]["vmap_tasks"] is True
    for key in ("query", "support"):
        np.testing.assert_allclose(together.state["history"]["losses"][key],
                                   loop.state["history"]["losses"][key], rtol=1e-4)  # fmt: skip
