"""The two discriminators of distortion-graph pre-training, and the Gaussian head they share.

Taught in ``notebooks/04_distortion_graph.ipynb``.

- :class:`TypeDiscriminator`: GCN-V over the image nodes, then the mean over nodes is the
  batch's *graph code*; a triplet loss pulls codes of batches with the same distortion
  type together and pushes other types at least ``margin`` further away.
- :class:`LevelDiscriminator`: for each image, ``concat(V_i, mean_j E_ij)`` -> a
  :class:`GaussianHead` -> ``(mu_i, sigma_i)``; trained with the reparameterisation
  trick ``mu + eps * sigma``; evaluation uses ``mu`` (no noise at test time, unlike the
  reference code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmiqa.models.graph import NodeGCN


class GaussianHead(nn.Module):
    """MLP -> ``(mu, sigma)`` with ``sigma = softplus(s) + min_sigma > 0``.

    Taught in ``notebooks/04_distortion_graph.ipynb``. ``mu`` is unconstrained (levels
    1..5, or quality scores on the dataset's [0, 1] scale; no sigmoid, so a target at
    the ends of the scale is reachable without saturating gradients).

    Shape: ``(N, in_dim)`` -> ``mu (N,)``, ``sigma (N,)``.
    """

    def __init__(self, in_dim: int, hidden: int = 64, min_sigma: float = 1e-4) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True))
        self.mu = nn.Linear(hidden, 1)
        self.sigma = nn.Linear(hidden, 1)
        self.min_sigma = float(min_sigma)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        z = self.mlp(h)
        mu = self.mu(z).squeeze(-1)
        sigma = F.softplus(self.sigma(z).squeeze(-1)) + self.min_sigma
        return mu, sigma

    @staticmethod
    def sample(mu: Tensor, sigma: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Reparameterised sample ``mu + eps * sigma``, ``eps ~ N(0, 1)``: differentiable in both."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * sigma

    def predict(self, mu: Tensor, sigma: Tensor) -> Tensor:
        """A sample while training, ``mu`` in evaluation mode (no test-time noise)."""
        return self.sample(mu, sigma) if self.training else mu


class TypeDiscriminator(nn.Module):
    """GCN-V plus a mean readout: the graph code of one mini-batch, and the triplet loss.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Shape:
        ``v`` ``(N, node_dim)`` and ``adj`` ``(N, N)`` -> nodes ``(N, node_dim)`` and
        graph code ``(node_dim,)``. The readout is a mean, so permuting the images of a
        batch permutes the nodes and leaves the code unchanged.
    """

    def __init__(self, node_dim: int, layers: int = 2) -> None:
        super().__init__()
        self.gcn = NodeGCN(node_dim, node_dim, layers)

    def forward(self, v: Tensor, adj: Tensor) -> tuple[Tensor, Tensor]:
        nodes = self.gcn(v, adj)
        return nodes, nodes.mean(dim=-2)

    @staticmethod
    def triplet_loss(
        anchor_code: Tensor,
        positive_code: Tensor,
        negative_code: Tensor,
        margin: float = 0.1,
        normalize: bool = True,
        detach_positive_negative: bool = False,
    ) -> Tensor:
        """``max(0, |a - p| - |a - n| + margin)`` on graph codes (Euclidean distance).

        Taught in ``notebooks/04_distortion_graph.ipynb``.

        Args:
            anchor_code, positive_code, negative_code: ``(D,)`` or ``(B, D)`` codes of
                batches of type t, of type t again, and of another type.
            margin: 0.1 in the paper.
            normalize: compare unit-length codes (default), so the margin is on a fixed
                scale and cannot be met by merely scaling the codes up.
            detach_positive_negative: stop gradients through the positive and negative
                codes, as GraphIQA does (it computes them under ``no_grad``). Off by
                default: GMIQA lets all three batches train the network; callers short
                of memory can compute them under ``torch.no_grad()`` instead.

        Returns a scalar (mean over B).
        """
        a, p, n = (torch.atleast_2d(c) for c in (anchor_code, positive_code, negative_code))
        if detach_positive_negative:
            p, n = p.detach(), n.detach()
        if normalize:
            a, p, n = (F.normalize(c.float(), dim=-1) for c in (a, p, n))
        return F.triplet_margin_loss(a, p, n, margin=float(margin), p=2.0)


class LevelDiscriminator(nn.Module):
    """Distortion level of each image from its node and its mean edge embedding.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Shape:
        ``v`` ``(N, node_dim)``, ``edges`` ``(N, N, edge_dim)`` -> ``mu (N,)``,
        ``sigma (N,)`` (positive).
    """

    def __init__(self, node_dim: int, edge_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        self.head = GaussianHead(node_dim + edge_dim, hidden or max(node_dim // 2, 8))

    def forward(self, v: Tensor, edges: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(torch.cat([v, edges.mean(dim=1)], dim=-1))

    def predict(self, mu: Tensor, sigma: Tensor) -> Tensor:
        """Reparameterised sample in training mode, ``mu`` in evaluation mode."""
        return self.head.sample(mu, sigma) if self.training else mu
