import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch_geometric.nn import DenseGCNConv, GCNConv

from gmiqa.errors import ConfigError
from gmiqa.models import (
    EdgeBuilder,
    GCNLayer,
    NodeBuilder,
    NodeGCN,
    clean_adjacency,
    cosine_adjacency,
    dense_to_edge_list,
    edge_init,
    normalized_adjacency,
)


def _weighted_graph(m=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(m, m, generator=g)
    w = (w + w.t()) / 2  # symmetric, with negative weights
    w[2, :] = w[:, 2] = -1.0  # a node whose every weight is negative: degree 0 after cleaning
    w[0, 1] = w[1, 0] = float("nan")
    return w


def test_clean_adjacency_is_finite_non_negative_with_zero_diagonal():
    a = clean_adjacency(_weighted_graph())
    assert torch.isfinite(a).all() and (a >= 0).all()
    assert torch.count_nonzero(a.diagonal()) == 0
    assert a[2].sum() == 0


def test_normalized_adjacency_never_nan_and_matches_dense_gcn_conv():
    w = _weighted_graph()
    norm = normalized_adjacency(w)
    assert torch.isfinite(norm).all()
    assert norm[2, 2] == pytest.approx(1.0)  # isolated node keeps only its self-loop
    torch.manual_seed(0)
    conv = DenseGCNConv(5, 3)
    x = torch.randn(7, 5)
    expected = norm @ conv.lin(x) + conv.bias
    got = conv(x, clean_adjacency(w), add_loop=True).squeeze(0)
    torch.testing.assert_close(got, expected)
    zero = normalized_adjacency(torch.full((4, 4), -2.0))
    torch.testing.assert_close(zero, torch.eye(4))


def test_dense_and_sparse_pyg_gcn_agree_on_the_same_weighted_graph():
    w = _weighted_graph(9, seed=3)
    torch.manual_seed(1)
    dense = DenseGCNConv(6, 4)
    sparse = GCNConv(6, 4, add_self_loops=True, normalize=True)
    with torch.no_grad():
        sparse.lin.weight.copy_(dense.lin.weight)
        sparse.bias.copy_(dense.bias)
    x = torch.randn(9, 6)
    edge_index, edge_weight = dense_to_edge_list(w)
    assert (edge_weight > 0).all() and (edge_index[0] != edge_index[1]).all()
    out_dense = dense(x, clean_adjacency(w), add_loop=True).squeeze(0)
    out_sparse = sparse(x, edge_index, edge_weight)
    torch.testing.assert_close(out_dense, out_sparse, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="one"):
        dense_to_edge_list(torch.rand(2, 3, 3))


def test_edge_init_channel_sum_is_the_cosine_similarity():
    torch.manual_seed(0)
    x = torch.randn(5, 8)
    e = edge_init(x)
    assert e.shape == (5, 5, 8)
    torch.testing.assert_close(e.sum(-1), cosine_adjacency(x))
    torch.testing.assert_close(e.sum(-1).diagonal(), torch.ones(5))
    zero = edge_init(torch.zeros(3, 8))
    assert torch.isfinite(zero).all() and torch.isfinite(cosine_adjacency(zero.reshape(9, 8))).all()


def test_edge_builder_shapes_batched_equals_separate_and_zero_input_is_safe():
    torch.manual_seed(0)
    gcn_e = EdgeBuilder(8, 4, layers=3)
    e = torch.randn(2, 9, 8)
    batched = gcn_e(e)
    assert batched.shape == (2, 9, 4)
    torch.testing.assert_close(batched[1], gcn_e(e[1]))
    z = torch.zeros(16, 8, requires_grad=True)
    out = gcn_e(z)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(z.grad).all()


def test_node_gcn_is_permutation_equivariant():
    torch.manual_seed(0)
    gcn_v = NodeGCN(6, 6, layers=2)
    v, adj = torch.randn(5, 6), torch.randn(5, 5)
    perm = torch.tensor([3, 0, 4, 1, 2])
    out = gcn_v(v, adj)
    torch.testing.assert_close(gcn_v(v[perm], adj[perm][:, perm]), out[perm])
    assert NodeBuilder(6, 10)(v).shape == (5, 10)
    with pytest.raises(ConfigError, match="layers=0"):
        NodeGCN(6, 6, layers=0)


# ---- the adjacency normalised once per forward (issue 13) ---------------------------------
def _reference_forward(stack, h, adj):
    """The previous code path: PyG's DenseGCNConv, called as PyG documents it, in each layer
    (each one normalising the adjacency itself), computing with the stack's own parameters
    (so gradients reach them)."""
    squeeze = h.dim() == 2
    adj = clean_adjacency(adj)
    for i, layer in enumerate(stack.convs):
        if i:
            h = F.relu(h)
        with torch.random.fork_rng(devices=[]):  # building a layer draws random numbers
            conv = DenseGCNConv(layer.in_channels, layer.out_channels).to(h.device)
        h = functional_call(conv, dict(layer.named_parameters()), (h, adj), {"add_loop": True})
    return h.squeeze(0) if squeeze else h


def _stack_outputs_and_grads(stack, h, adj, reference: bool):
    h = h.clone().requires_grad_(True)
    adj = adj.clone().requires_grad_(True)
    stack.zero_grad(set_to_none=True)
    out = _reference_forward(stack, h, adj) if reference else stack(h, adj)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    grads = [h.grad, adj.grad] + [p.grad for p in stack.parameters()]
    return out.detach(), grads


@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 1)])
def test_gcn_stack_equals_dense_gcn_conv_in_each_layer(shape):
    """Output and every gradient equal the previous path (each DenseGCNConv normalising) to 1e-5."""
    from gmiqa.models.graph import _GCNStack

    torch.manual_seed(0)
    stack = _GCNStack(5, 4, layers=3)
    m = shape[-1]
    h = torch.randn(*shape, 5)
    adj = torch.randn(*shape, m)
    if m > 2:
        adj[..., 0, 1] = float("nan")
        adj[..., 2, :] = -1.0  # an isolated node after cleaning
    new, new_grads = _stack_outputs_and_grads(stack, h, adj, reference=False)
    old, old_grads = _stack_outputs_and_grads(stack, h, adj, reference=True)
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-5)
    for g_new, g_old in zip(new_grads, old_grads):
        if g_new is None or g_old is None:  # one-node graphs: the adjacency is not used
            assert not any(g is not None and g.any() for g in (g_new, g_old))
        else:
            torch.testing.assert_close(g_new, g_old, rtol=1e-5, atol=1e-5)


def test_one_node_graphs_are_exact_and_bf16_autocast_is_close():
    from gmiqa.models.graph import _GCNStack

    torch.manual_seed(1)
    stack = _GCNStack(6, 3, layers=2)
    single = torch.randn(4, 1, 6)
    torch.testing.assert_close(
        stack(single, None), _reference_forward(stack, single, torch.randn(4, 1, 1)), rtol=0, atol=0
    )
    gcn_e = EdgeBuilder(6, 3, layers=2)
    h = torch.randn(10, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        new = gcn_e(h)
        old = _reference_forward(gcn_e.gcn, h, cosine_adjacency(h))
    assert new.dtype == old.dtype
    torch.testing.assert_close(new.float(), old.float(), rtol=2e-2, atol=2e-2)


def test_gmiqa_graph_equals_the_previous_code_path(monkeypatch):
    """The whole distortion graph (GCN-E over N^2 edges, GCN-V) and its gradients, to 1e-5."""
    from gmiqa.models import build_model
    from gmiqa.models.graph import _GCNStack
    from gmiqa.profiles import get_profile

    torch.manual_seed(0)
    model = build_model(get_profile("smoke").model).train()
    feats = torch.randn(5, model.spp.feature_dim)

    def run():
        f = feats.clone().requires_grad_(True)
        model.zero_grad(set_to_none=True)
        torch.manual_seed(2)  # the level head samples in training mode
        out = model.graph(f)
        loss = out.graph_code.sum() + out.level_pred.sum() + out.edges.square().mean()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return out, f.grad, grads

    new, new_f, new_g = run()
    monkeypatch.setattr(_GCNStack, "forward", _reference_forward)
    old, old_f, old_g = run()
    for name in ("graph_code", "nodes", "edges", "adjacency", "level_mu", "level_sigma"):
        torch.testing.assert_close(getattr(new, name), getattr(old, name), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(new_f, old_f, rtol=1e-5, atol=1e-5)
    assert new_g.keys() == old_g.keys()
    for name in new_g:
        torch.testing.assert_close(new_g[name], old_g[name], rtol=1e-4, atol=1e-5, msg=name)


# ---- the GCN layer owns its maths; PyG's layer is the reference ---------------------------
@pytest.mark.parametrize("dims", [(5, 4), (2048, 64), (64, 64)])
def test_gcn_layer_starts_as_dense_gcn_conv_and_shares_its_state_dict(dims):
    """Same seed: the same weights and the same random numbers after (seeded training is
    unchanged); the same state-dict keys, so checkpoints written before load unchanged."""
    torch.manual_seed(3)
    pyg = DenseGCNConv(*dims)
    after_pyg = torch.rand(4)
    torch.manual_seed(3)
    own = GCNLayer(*dims)
    after_own = torch.rand(4)
    assert sorted(own.state_dict()) == sorted(pyg.state_dict()) == ["bias", "lin.weight"]
    for key, value in pyg.state_dict().items():
        assert torch.equal(own.state_dict()[key], value), key
    assert torch.equal(after_own, after_pyg)


def test_gcn_layer_computes_what_dense_and_sparse_pyg_layers_compute():
    w = _weighted_graph(9, seed=4)
    torch.manual_seed(5)
    own = GCNLayer(6, 4)
    with torch.no_grad():
        own.bias.normal_()  # a non-zero bias, so that it is tested too
    dense = DenseGCNConv(6, 4)
    dense.load_state_dict(own.state_dict())
    sparse = GCNConv(6, 4, add_self_loops=True, normalize=True)
    with torch.no_grad():
        sparse.lin.weight.copy_(own.lin.weight)
        sparse.bias.copy_(own.bias)
    x = torch.randn(9, 6)
    got = own(x, clean_adjacency(w))
    torch.testing.assert_close(got, dense(x, clean_adjacency(w), add_loop=True).squeeze(0))
    edge_index, edge_weight = dense_to_edge_list(w)
    torch.testing.assert_close(got, sparse(x, edge_index, edge_weight), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got, normalized_adjacency(w) @ own.lin(x) + own.bias)


def test_the_model_state_dict_keys_of_the_graph_layers_are_unchanged():
    """Every graph layer of the assembled model is ``...convs.<i>.lin.weight`` and
    ``...convs.<i>.bias``, the keys checkpoints written with PyG's layer hold."""
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    model = build_model(get_profile("smoke").model)
    keys = [k for k in model.state_dict() if ".convs." in k]
    assert keys and {k.rsplit(".convs.", 1)[1].split(".", 1)[1] for k in keys} == {
        "lin.weight", "bias",
    }  # fmt: skip
    assert {k.split(".convs.")[0] for k in keys} == {
        "edge_builder.gcn",
        "type_discriminator.gcn.gcn",
    }
