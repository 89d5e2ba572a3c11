import dataclasses

import pytest
import torch
from torch.func import functional_call

from gmiqa.errors import ConfigError
from gmiqa.models import GMIQA, PretrainOutput, TypeDiscriminator, build_model
from gmiqa.profiles import get_profile

SMOKE = get_profile("smoke").model


@pytest.fixture(scope="module")
def model() -> GMIQA:
    torch.manual_seed(0)
    return build_model(SMOKE)


def _images(n, h=128, w=160, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("n", "h", "w"), [(1, 128, 160), (3, 97, 200), (5, 160, 128)])
def test_shapes_of_every_entry_point(model, n, h, w):
    x = _images(n, h, w)
    model.train()
    assert model.features(x).shape == (n, SMOKE.feature_dim)
    assert model.meta_forward(x).shape == (n,)
    out = model.pretrain_forward(x)
    assert isinstance(out, PretrainOutput)
    assert out.graph_code.shape == (SMOKE.node_dim,)
    assert out.nodes.shape == out.node_embeddings.shape == (n, SMOKE.node_dim)
    assert out.edges.shape == (n, n, SMOKE.edge_dim)
    assert out.adjacency.shape == (n, n)
    for t in (out.level_mu, out.level_sigma, out.level_pred):
        assert t.shape == (n,)
    assert (out.level_sigma > 0).all()
    mu, sigma = model.finetune_forward(x)
    assert mu.shape == sigma.shape == (n,) and (sigma > 0).all()
    model.eval()
    torch.testing.assert_close(model(x), model.finetune_forward(x))
    model.train()
    assert model.score(x).shape == (n,)
    assert model.training  # score() restores the mode


def _grads(model, loss):
    """Top-level modules whose parameters got a non-zero gradient from ``loss``."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {
        name.split(".")[0]
        for name, p in model.named_parameters()
        if p.grad is not None and p.grad.abs().sum() > 0
    }


def test_gradients_reach_every_parameter_that_should_learn(model):
    model.train()
    x = _images(4)
    out = model.pretrain_forward(x)
    out2 = model.pretrain_forward(_images(4, seed=1))
    loss = TypeDiscriminator.triplet_loss(
        out.graph_code, out2.graph_code, -out2.graph_code, margin=10.0
    )
    loss = loss + 0.25 * ((out.level_pred - 3.0) ** 2).mean()
    reached = _grads(model, loss)
    assert reached == {
        "backbone",
        "spp",
        "node_builder",
        "edge_builder",
        "type_discriminator",
        "level_discriminator",
    }
    # every single parameter of the pre-training modules gets a finite gradient
    for name, p in model.named_parameters():
        if name.split(".")[0] in reached:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name

    mu, sigma = model.finetune_forward(x)
    reached = _grads(model, ((mu + torch.randn(4) * sigma - 0.5) ** 2).mean())
    assert reached == {"backbone", "spp", "node_builder", "edge_builder", "quality_head"}
    for name, p in model.quality_head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name

    reached = _grads(model, model.meta_forward(x).pow(2).mean())
    assert reached == {"backbone", "spp", "meta_head"}
    for name, p in model.meta_parameters().items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_meta_forward_under_functional_call_with_adapted_parameters(model):
    model.train()
    x = _images(3)
    params = model.meta_parameters()
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    weight = model.meta_head[0].weight

    def outer_grad(second_order: bool) -> torch.Tensor:
        loss = model.meta_forward(x).pow(2).mean()
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=second_order)
        adapted = {k: p - 0.5 * g for (k, p), g in zip(params.items(), grads)}
        # what gmiqa.training.meta does: the method as the forward of a thin wrapper module
        state = {f"m.{k}": v for k, v in {**adapted, **buffers}.items()}
        y = functional_call(_MetaView(model), state, (x,))
        assert y.shape == (3,)
        assert not torch.equal(y.detach(), model.meta_forward(x).detach())
        return torch.autograd.grad(y.pow(2).mean(), weight)[0]

    second, first = outer_grad(True), outer_grad(False)
    # second order reaches the original parameters through the inner gradient too: the
    # outer gradient differs from the first-order one (inner gradient held constant)
    assert second.abs().sum() > 0 and first.abs().sum() > 0
    assert not torch.allclose(second, first, rtol=1e-4, atol=1e-8)


class _MetaView(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m.meta_forward(x)


def test_permuting_the_batch_permutes_nodes_and_keeps_the_graph_code(model):
    model.eval()
    x = _images(5)
    perm = torch.tensor([2, 4, 0, 1, 3])
    with torch.no_grad():
        a, b = model.pretrain_forward(x), model.pretrain_forward(x[perm])
    torch.testing.assert_close(b.nodes, a.nodes[perm], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b.edges, a.edges[perm][:, perm], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b.graph_code, a.graph_code, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b.level_mu, a.level_mu[perm], rtol=1e-4, atol=1e-5)


def test_a_score_does_not_depend_on_the_rest_of_the_batch(model):
    model.train()
    x = _images(6)
    alone = torch.cat([model.score(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(model.score(x), alone, rtol=1e-4, atol=1e-5)
    others = torch.cat([x[3:4], _images(4, seed=7), torch.zeros(1, 3, 128, 160)])
    torch.testing.assert_close(model.score(others)[0], alone[3], rtol=1e-4, atol=1e-5)
    assert model.training


def test_mixed_sizes_are_bucketed_never_resized(model):
    model.eval()
    imgs = [
        _images(1, 128, 160)[0],
        _images(1, 97, 130, seed=1)[0],
        _images(1, 128, 160, seed=2)[0],
    ]
    with torch.no_grad():
        together = model.features(imgs)
        separate = torch.cat([model.features(i.unsqueeze(0)) for i in imgs])
    torch.testing.assert_close(together, separate, rtol=1e-4, atol=1e-5)
    assert model.score(imgs).shape == (3,)
    with pytest.raises(ConfigError, match="empty"):
        model.features([])
    with pytest.raises(ConfigError, match="smaller"):
        model.score(torch.rand(1, 3, 40, 160))
    with pytest.raises(ConfigError, match="uint8"):
        model.score(torch.zeros(1, 3, 128, 160, dtype=torch.uint8))


@pytest.mark.parametrize(
    "x",
    [
        _images(1),  # a batch of one
        _images(1).repeat(4, 1, 1, 1),  # identical images
        torch.full((3, 3, 128, 160), 0.5),  # constant images
        torch.zeros(2, 3, 128, 160),
    ],
    ids=["one", "identical", "constant", "black"],
)
def test_no_nan_on_degenerate_batches(model, x):
    model.train()
    out = model.pretrain_forward(x)
    loss = (
        out.graph_code.pow(2).sum()
        + out.level_pred.pow(2).mean()
        + model.finetune_forward(x)[0].sum()
    )
    model.zero_grad(set_to_none=True)
    loss.backward()
    for t in (out.graph_code, out.edges, out.nodes, out.level_mu, out.level_sigma):
        assert torch.isfinite(t).all()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    with torch.no_grad():
        g = model.graph(torch.zeros(3, SMOKE.feature_dim))  # all-zero features
    assert all(torch.isfinite(t).all() for t in (g.graph_code, g.edges, g.level_mu))


def test_build_model_backbones_and_errors():
    assert (
        build_model(dataclasses.replace(SMOKE, backbone="resnet50")).backbone.out_channels == 2048
    )
    assert build_model(dataclasses.replace(SMOKE, backbone="scnet50")).backbone.out_channels == 2048
    with pytest.raises(ConfigError, match="'vgg16'"):
        build_model(dataclasses.replace(SMOKE, backbone="vgg16"))
    with pytest.raises(ConfigError, match="local weights file"):
        build_model(dataclasses.replace(SMOKE, pretrained=True))
    m = build_model(dataclasses.replace(SMOKE, spp_levels=(1, 3), spp_pool="avg"))
    assert m.spp.spp.levels == (1, 3) and m.spp.spp.pool == "avg"
    assert "mean" not in m.state_dict()  # normalisation constants are not checkpointed
