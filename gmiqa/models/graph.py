"""The distortion graph of a mini-batch: node builder, edge initialisation, GCN-E and GCN-V.

Taught in ``notebooks/04_distortion_graph.ipynb``.

One mini-batch of N images is one graph with N nodes (images) and N^2 directed edges
(pairs, self-pairs included). With features X (N, D) after SPP:

- :class:`NodeBuilder`: an MLP, X -> V (N, node_dim) (the paper's "domain embedding");
- :func:`edge_init`: rows of X normalised, ``e_ij = x_i * x_j`` elementwise (N, N, D);
  the channel sum of ``e_ij`` is the cosine similarity of images i and j;
- :class:`EdgeBuilder` (GCN-E): a GCN whose nodes are the N^2 edges, adjacency = cosine
  similarity of edge features -> E (N^2, edge_dim);
- :class:`NodeGCN` (GCN-V): a GCN over the N image nodes whose adjacency is the channel
  mean of E reshaped (N, N).

Every graph layer is a :class:`GCNLayer` (Kipf & Welling's graph convolution on a
dense weighted graph): its adjacency first goes through :func:`clean_adjacency` (NaN -> 0,
negatives -> 0, diagonal -> 0), self-loops are set to 1 and the layer computes
``D^-1/2 (A + I) D^-1/2 (h W) + b``. With non-negative off-diagonal weights and unit
self-loops every degree is >= 1, so the normalisation never divides by zero or takes the
root of a negative number (the reference code produced NaN there).
:func:`normalized_adjacency` computes the same matrix explicitly (for plots and tests).
The layer's parameters are named and initialised as PyTorch Geometric's
:class:`~torch_geometric.nn.DenseGCNConv` names and initialises them (``lin.weight``,
``bias``; Glorot weights from the same random draws, zero bias): checkpoints load
unchanged, seeded training is unchanged, and PyG's dense and sparse layers given the
same state dict compute the same numbers (``tests/models/test_graph.py``).

A stack of layers (:class:`_GCNStack`) builds ``A + I`` and ``d = deg^-1/2`` once per
forward and applies each layer as ``d * ((A + I) @ (d * h W)) + b``, without
re-normalising the M x M matrix in every layer and without an M x M normalised copy: for
GCN-E, M = N^2 nodes, so these are the largest tensors of graph pre-training. Under
autocast the matrix is cast once, not per layer. One-node graphs (``self_edges``: N
graphs of one node) have ``A + I = [1]`` and skip the adjacency altogether.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmiqa.errors import ConfigError

_EPS = 1e-6


def clean_adjacency(weights: Tensor) -> Tensor:
    """Edge weights made safe for GCN normalisation: float32, finite, >= 0, zero diagonal.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Shape: ``(..., M, M)`` -> same. The diagonal is zeroed because the GCN layer adds
    the self-loops itself (weight 1), as ``A + I`` in the paper.
    """
    # float32 even under bf16 autocast: degrees are sums of up to N^2 weights
    w = torch.nan_to_num(weights.float(), nan=0.0, posinf=0.0, neginf=0.0).clamp(min=0.0)
    m = w.shape[-1]
    off_diagonal = 1.0 - torch.eye(m, device=w.device, dtype=w.dtype)
    return w * off_diagonal


def normalized_adjacency(weights: Tensor, eps: float = _EPS) -> Tensor:
    """``D^-1/2 (A + I) D^-1/2`` with ``A = clean_adjacency(weights)``, degrees clamped >= eps.

    Taught in ``notebooks/04_distortion_graph.ipynb``. Equals what
    :class:`~torch_geometric.nn.DenseGCNConv` computes internally from a cleaned adjacency.

    Shape: ``(..., M, M)`` -> same.
    """
    a = clean_adjacency(weights)
    a = a + torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
    d = a.sum(dim=-1).clamp(min=eps).rsqrt()
    return d.unsqueeze(-1) * a * d.unsqueeze(-2)


def self_loop_adjacency(weights: Tensor) -> tuple[Tensor, Tensor]:
    """``A + I`` and ``d = deg^-1/2`` with ``A = clean_adjacency(weights)``: what GCN layers share.

    Taught in ``notebooks/04_distortion_graph.ipynb``. ``normalized_adjacency(w)`` equals
    ``d.unsqueeze(-1) * a * d.unsqueeze(-2)``; :class:`_GCNStack` never forms that matrix.

    Shape: ``(..., M, M)`` -> ``(..., M, M)`` float32 and ``(..., M)``.
    """
    # float32 even under bf16 autocast: degrees are sums of up to N^2 weights
    w = torch.nan_to_num(weights.float(), nan=0.0, posinf=0.0, neginf=0.0).clamp(min=0.0)
    m = w.shape[-1]
    a = w.masked_fill(torch.eye(m, device=w.device, dtype=torch.bool), 1.0)  # one pass
    # every degree is >= 1 (unit self-loop); clamp as DenseGCNConv does
    return a, a.sum(dim=-1).clamp(min=1.0).rsqrt()


def _autocast_dtype(t: Tensor) -> torch.dtype | None:
    kind = t.device.type
    if kind in ("cuda", "cpu", "xpu", "mps") and torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return None


def dense_to_edge_list(weights: Tensor) -> tuple[Tensor, Tensor]:
    """The positive off-diagonal entries of a cleaned (M, M) adjacency as a PyG edge list.

    Taught in ``notebooks/04_distortion_graph.ipynb``. Returns ``edge_index`` (2, E)
    (row = source, column = target) and ``edge_weight`` (E,), for PyG's sparse
    :class:`~torch_geometric.nn.GCNConv`, which adds the unit self-loops itself.
    """
    a = clean_adjacency(weights)
    if a.dim() != 2:
        raise ConfigError(f"dense_to_edge_list expects one (M, M) matrix, got {tuple(a.shape)}")
    index = (a > 0).nonzero().t()
    return index, a[index[0], index[1]]


def cosine_adjacency(features: Tensor, eps: float = _EPS) -> Tensor:
    """Cosine similarity between all rows: ``(..., M, F)`` -> ``(..., M, M)`` in [-1, 1].

    Taught in ``notebooks/04_distortion_graph.ipynb``. A zero row has similarity 0 to
    everything (``F.normalize`` divides by ``max(norm, eps)``), never NaN.
    """
    f = F.normalize(features.float(), dim=-1, eps=eps)
    return f @ f.transpose(-1, -2)


def edge_init(x: Tensor, eps: float = _EPS) -> Tensor:
    """Initial edge features ``e_ij = x_i * x_j`` of row-normalised features.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Shape: ``(N, D)`` -> ``(N, N, D)``; ``e_ij.sum()`` is the cosine similarity of images
    i and j, so ``e_ii.sum() == 1`` for every non-zero feature vector.
    """
    xn = F.normalize(x, dim=-1, eps=eps)
    return xn.unsqueeze(1) * xn.unsqueeze(0)


class NodeBuilder(nn.Module):
    """Node embedding ("domain embedding"): Linear -> ReLU -> Linear.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Shape: ``(N, in_dim)`` -> ``(N, node_dim)``.
    """

    def __init__(self, in_dim: int, node_dim: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, node_dim), nn.ReLU(inplace=True), nn.Linear(node_dim, node_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


class GCNLayer(nn.Module):
    """One graph convolution on a dense weighted graph: ``D^-1/2 (A + I) D^-1/2 (h W) + b``.

    Taught in ``notebooks/04_distortion_graph.ipynb``. ``lin`` (``h W``, no bias) and
    ``bias`` are named and initialised as in PyG's ``DenseGCNConv`` (see the module
    docstring), so a state dict moves between the two unchanged.

    Shape: ``h`` ``(M, in_channels)`` or ``(B, M, in_channels)`` with edge weights ``adj``
    ``(M, M)`` or ``(B, M, M)`` -> ``(..., M, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.lin = nn.Linear(self.in_channels, self.out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Glorot-uniform weights (bound sqrt(6 / (fan_in + fan_out))), zero bias."""
        bound = math.sqrt(6.0 / (self.out_channels + self.in_channels))
        self.lin.weight.uniform_(-bound, bound)
        self.bias.zero_()

    def affine(self, h: Tensor) -> Tensor:
        """``h W + b``: the layer on a one-node graph, whose normalised adjacency is [[1]]."""
        return self.lin(h) + self.bias

    def propagate(self, h: Tensor, a: Tensor, d: Tensor) -> Tensor:
        """The layer given ``A + I`` and ``d = deg^-1/2`` (``(..., M, 1)``) of
        :func:`self_loop_adjacency`: ``d * ((A + I) @ (d * h W)) + b``, without forming the
        normalised matrix."""
        return d * torch.matmul(a, d * self.lin(h)) + self.bias

    def forward(self, h: Tensor, adj: Tensor) -> Tensor:
        a, d = self_loop_adjacency(adj)
        dtype = _autocast_dtype(a)
        return self.propagate(h, a if dtype is None else a.to(dtype), d.unsqueeze(-1))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


class _GCNStack(nn.Module):
    """``layers`` :class:`GCNLayer` layers with ReLU between them (none after the last),
    sharing one ``A + I`` and ``deg^-1/2`` per forward."""

    def __init__(self, in_dim: int, out_dim: int, layers: int) -> None:
        super().__init__()
        if int(layers) < 1:
            raise ConfigError(f"a GCN needs at least one layer, got layers={layers!r}")
        dims = [in_dim] + [out_dim] * int(layers)
        self.convs = nn.ModuleList(GCNLayer(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, h: Tensor, adj: Tensor | None) -> Tensor:
        """``h`` (M, F) or (B, M, F) and ``adj`` (M, M) or (B, M, M) edge weights.

        ``adj=None`` only for one-node graphs (M == 1), whose normalised adjacency is 1.
        """
        squeeze = h.dim() == 2
        h = h.unsqueeze(0) if squeeze else h
        if h.shape[-2] == 1:  # D^-1/2 (A + I) D^-1/2 == [[1]]: the layers are affine maps
            for i, conv in enumerate(self.convs):
                h = conv.affine(F.relu(h) if i else h)
            return h.squeeze(0) if squeeze else h
        a, d = self_loop_adjacency(adj)
        d = d.unsqueeze(-1)
        dtype = _autocast_dtype(a)
        if dtype is not None:
            a = a.to(dtype)  # once for every layer (autocast casts it in each matmul); d float32
        for i, conv in enumerate(self.convs):
            h = conv.propagate(F.relu(h) if i else h, a, d)
        return h.squeeze(0) if squeeze else h


class EdgeBuilder(nn.Module):
    """GCN-E: a GCN over the edges of the image graph.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    The graph's nodes are the M = N^2 edge features; its adjacency is their cosine
    similarity (negatives clamped to 0, see :func:`clean_adjacency`). ``layers`` GCN
    layers map ``in_dim`` -> ``edge_dim``.

    Shape:
        ``(M, in_dim)`` -> ``(M, edge_dim)``, or batched ``(B, M, in_dim)`` ->
        ``(B, M, edge_dim)`` (B independent graphs, e.g. N one-node self-edge graphs).
        Memory grows as M^2 = N^4: 64 images give a 4096 x 4096 adjacency.
    """

    def __init__(self, in_dim: int, edge_dim: int = 64, layers: int = 3) -> None:
        super().__init__()
        self.gcn = _GCNStack(in_dim, edge_dim, layers)

    def forward(self, edges: Tensor) -> Tensor:
        if edges.shape[-2] == 1:  # one-node graphs (self-edges): no adjacency to compute
            return self.gcn(edges, None)
        return self.gcn(edges, cosine_adjacency(edges))


class NodeGCN(nn.Module):
    """GCN-V: a GCN over the N image nodes with a given (N, N) edge-weight matrix.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Shape:
        ``v`` ``(N, in_dim)`` and ``adj`` ``(N, N)`` -> ``(N, out_dim)``; batched
        ``(B, N, in_dim)`` with ``(B, N, N)`` -> ``(B, N, out_dim)``.
    """

    def __init__(self, in_dim: int, out_dim: int, layers: int = 2) -> None:
        super().__init__()
        self.gcn = _GCNStack(in_dim, out_dim, layers)

    def forward(self, v: Tensor, adj: Tensor) -> Tensor:
        return self.gcn(v, adj)
