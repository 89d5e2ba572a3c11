"""The assembled GMIQA network and its three entry points, which share every weight.

Taught in ``notebooks/04_distortion_graph.ipynb`` (the graph entry point) and used by the
training notebooks: ``meta_forward`` (stage 1, meta-learning), ``pretrain_forward``
(stage 2, distortion-graph pre-training) and ``finetune_forward`` / ``score`` (stage 3).

Data flow for a batch x (N, 3, H, W) in [0, 1]::

    x -> ImageNet normalisation -> backbone (SCNet-50 / BL ResNet-50 / small SCNet)
      -> SPPProjection -> X (N, feature_dim)                       = features(x)
    X -> meta_head -> (N,)                                          = meta_forward(x)
    X -> NodeBuilder -> V (N, node_dim)
    X -> edge_init -> (N^2, D) -> EdgeBuilder (GCN-E) -> E (N, N, edge_dim)
    V, mean_c(E) -> TypeDiscriminator (GCN-V) -> nodes, graph code
    V, mean_j(E_ij) -> LevelDiscriminator -> (mu, sigma) of the level = pretrain_forward(x)
    V_i, E_ii (image i's own one-node graph) -> quality head       = finetune_forward(x)

Images of different sizes can be passed as a list of (3, H_i, W_i) tensors: they are
grouped by size and each group runs as one batch (never resized). In training mode the
BatchNorm statistics are then per group; in evaluation mode grouping changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gmiqa.errors import ConfigError
from gmiqa.models.discriminators import GaussianHead, LevelDiscriminator, TypeDiscriminator
from gmiqa.models.graph import EdgeBuilder, NodeBuilder, edge_init
from gmiqa.models.resnet import resnet50_backbone
from gmiqa.models.scnet import scnet50, scnet_small
from gmiqa.models.spp import SPPProjection

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Images = Tensor | Sequence[Tensor]


@dataclass
class PretrainOutput:
    """What :meth:`GMIQA.pretrain_forward` returns: the inputs of both pre-training losses.

    Taught in ``notebooks/04_distortion_graph.ipynb``.
    """

    graph_code: Tensor  # (node_dim,) mean of the GCN-V outputs: the triplet loss's input
    nodes: Tensor  # (N, node_dim) GCN-V outputs
    node_embeddings: Tensor  # (N, node_dim) V, the node builder's outputs
    edges: Tensor  # (N, N, edge_dim) E, the edge builder's outputs
    adjacency: Tensor  # (N, N) channel mean of E: GCN-V's edge weights before cleaning
    level_mu: Tensor  # (N,)
    level_sigma: Tensor  # (N,) > 0
    level_pred: Tensor  # (N,) mu + eps * sigma in training mode, mu in evaluation mode


class GMIQA(nn.Module):
    """Backbone + SPP projection + distortion graph + heads; see the module docstring.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    Args:
        backbone: a module with ``forward_features`` -> (N, C, h, w), ``out_channels``
            and ``min_input_size`` (:class:`~gmiqa.models.scnet.SCNet`,
            :class:`~gmiqa.models.resnet.ResNetBackbone`).
        feature_dim: length of X after SPP and projection.
        node_dim, edge_dim: the paper's domain embedding (256) and edge size (64).
        edge_layers: GCN-E depth (3). node_layers: GCN-V depth (2).
        spp_levels, spp_pool: see :class:`~gmiqa.models.spp.SpatialPyramidPooling`.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int = 512,
        node_dim: int = 256,
        edge_dim: int = 64,
        edge_layers: int = 3,
        node_layers: int = 2,
        spp_levels: Sequence[int] = (1, 2, 4),
        spp_pool: str = "max",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.spp = SPPProjection(backbone.out_channels, feature_dim, spp_levels, spp_pool)
        self.meta_head = nn.Sequential(
            nn.Linear(feature_dim, feature_dim // 2), nn.ReLU(inplace=True),
            nn.Linear(feature_dim // 2, 1),
        )  # fmt: skip
        self.node_builder = NodeBuilder(feature_dim, node_dim)
        self.edge_builder = EdgeBuilder(feature_dim, edge_dim, edge_layers)
        self.type_discriminator = TypeDiscriminator(node_dim, node_layers)
        self.level_discriminator = LevelDiscriminator(node_dim, edge_dim)
        self.quality_head = GaussianHead(node_dim + edge_dim, max(node_dim // 2, 8))
        # not persistent: checkpoints hold weights only, the constants come from the code
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    @property
    def min_input_size(self) -> int:
        """Smallest image height/width the backbone accepts (smaller raises ConfigError)."""
        return int(self.backbone.min_input_size)

    # ---- shared trunk -------------------------------------------------------------
    def _features_batch(self, x: Tensor) -> Tensor:
        if not torch.is_floating_point(x):
            raise ConfigError(
                f"images must be float tensors in [0, 1], got dtype {x.dtype}; divide uint8 by 255"
            )
        x = (x - self.mean) / self.std
        return self.spp(self.backbone(x))  # backbones built here return the feature map

    def features(self, x: Images) -> Tensor:
        """X (N, feature_dim): backbone -> SPP -> projection, for a batch or a list of images.

        Taught in ``notebooks/03_spatial_pyramid_pooling.ipynb``. ``x`` is a tensor
        (N, 3, H, W) or a list of (3, H_i, W_i) tensors of any sizes >= ``min_input_size``;
        a list is grouped by size (one backbone call per size), never resized, and the
        rows come back in the list's order.
        """
        if isinstance(x, Tensor):
            return self._features_batch(x)
        images = list(x)
        if not images:
            raise ConfigError("features() got an empty list of images")
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            if img.dim() != 3:
                raise ConfigError(
                    f"image {i} of the list has shape {tuple(img.shape)}, not (3, H, W)"
                )
            groups.setdefault(tuple(img.shape), []).append(i)
        out: list[Tensor | None] = [None] * len(images)
        for idx in groups.values():
            feats = self._features_batch(torch.stack([images[i] for i in idx]))
            for row, i in enumerate(idx):
                out[i] = feats[row]
        return torch.stack(out)  # type: ignore[arg-type]

    # ---- stage 1: meta-learning ---------------------------------------------------
    def meta_forward(self, x: Images) -> Tensor:
        """Quality regression for meta-learning: backbone -> SPP -> ``meta_head`` -> (N,).

        Taught in ``notebooks/05_meta_learning.ipynb``. Pure in its parameters (no
        in-place parameter updates anywhere), so it runs under
        :func:`torch.func.functional_call` with a dict of adapted parameters, through a
        wrapper module whose ``forward`` calls this method
        (``gmiqa.training.meta.MethodModule(model, "meta_forward")``).

        BatchNorm: in training mode every BN normalises with the statistics of the batch
        it sees (support or query set), as in MAML; its running statistics are buffers,
        not parameters, so they are not adapted in the inner loop. functional_call updates
        the running-stat tensors it is given (the module's own buffers unless the caller
        passes copies in the dict). Only :meth:`meta_parameters` need to be adapted.
        """
        return self.meta_head(self.features(x)).squeeze(-1)

    def meta_parameters(self) -> dict[str, Tensor]:
        """Named parameters that :meth:`meta_forward` uses (backbone, SPP, meta head).

        Taught in ``notebooks/05_meta_learning.ipynb``.
        """
        return {
            name: p
            for name, p in self.named_parameters()
            if name.split(".", 1)[0] in ("backbone", "spp", "meta_head")
        }

    # ---- stage 2: distortion-graph pre-training --------------------------------------
    def graph(self, feats: Tensor) -> PretrainOutput:
        """The distortion graph of a batch from its features X (N, feature_dim).

        Taught in ``notebooks/04_distortion_graph.ipynb``.
        """
        n = feats.shape[0]
        v = self.node_builder(feats)
        e0 = edge_init(feats).reshape(n * n, -1)
        edges = self.edge_builder(e0).reshape(n, n, -1)
        adjacency = edges.mean(dim=-1)
        nodes, code = self.type_discriminator(v, adjacency)
        mu, sigma = self.level_discriminator(v, edges)
        return PretrainOutput(
            graph_code=code,
            nodes=nodes,
            node_embeddings=v,
            edges=edges,
            adjacency=adjacency,
            level_mu=mu,
            level_sigma=sigma,
            level_pred=self.level_discriminator.predict(mu, sigma),
        )

    def own_graph_codes(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """Graph code and level ``mu`` of each image on its own one-node graph.

        Taught in ``notebooks/08_embedding_explorer.ipynb``. ``feats`` (N, feature_dim)
        -> codes (N, node_dim) and level mu (N,). Row i depends on image i alone (the
        graph of one image: V_i, its self-edge E_ii, GCN-V with the self-loop only), so
        these are per-image embeddings that do not depend on the batch.
        """
        v = self.node_builder(feats)
        e = self.self_edges(feats).unsqueeze(1)  # (N, 1, edge_dim)
        adjacency = e.mean(dim=-1, keepdim=True)  # (N, 1, 1); its diagonal is cleaned to 0
        _, codes = self.type_discriminator(v.unsqueeze(1), adjacency)
        mu, _ = self.level_discriminator(v, e)
        return codes, mu

    def pretrain_forward(self, x: Images) -> PretrainOutput:
        """One mini-batch (one distortion type) -> graph code, nodes, edges and level head.

        Taught in ``notebooks/04_distortion_graph.ipynb``. Losses (in the training code):
        :meth:`TypeDiscriminator.triplet_loss` on the graph codes of anchor, positive and
        negative batches, plus ``lambda * MSE(level_pred, level)``.
        """
        return self.graph(self.features(x))

    # ---- stage 3: fine-tuning and scoring ------------------------------------------
    def self_edges(self, feats: Tensor) -> Tensor:
        """E_ii (N, edge_dim): each image's self-edge computed on its own one-node graph.

        Taught in ``notebooks/04_distortion_graph.ipynb``. Runs GCN-E on N independent
        one-node graphs, so row i depends on image i alone.
        """
        return self.edge_builder(
            edge_init(feats).diagonal(dim1=0, dim2=1).t().unsqueeze(1)
        ).squeeze(1)

    def finetune_forward(self, x: Images) -> tuple[Tensor, Tensor]:
        """Quality ``(mu, sigma)``, each (N,), from ``concat(V_i, E_ii)``.

        Taught in ``notebooks/07_finetuning.ipynb``. ``mu`` is on the scale of the
        training targets (MOS normalised to [0, 1], higher = better) but not squashed;
        train on ``GaussianHead.sample(mu, sigma)`` or on ``mu``.
        """
        feats = self.features(x)
        return self.quality_head(torch.cat([self.node_builder(feats), self.self_edges(feats)], -1))

    def forward(self, x: Images) -> tuple[Tensor, Tensor]:
        """``model(x)`` is :meth:`finetune_forward`: quality ``(mu, sigma)``, each (N,).

        Taught in ``notebooks/07_finetuning.ipynb``.
        """
        return self.finetune_forward(x)

    @torch.no_grad()
    def score(self, x: Images) -> Tensor:
        """Predicted quality (N,) in evaluation mode (``mu``; no noise, running BN statistics).

        Taught in ``notebooks/07_finetuning.ipynb``. Each score depends on its own image
        only: the same whether an image is scored alone or inside any batch. The
        module's training flag is restored afterwards.
        """
        was_training = self.training
        self.eval()
        try:
            return self.finetune_forward(x)[0]
        finally:
            self.train(was_training)


def build_model(settings, backbone_weights: str | os.PathLike | None = None) -> GMIQA:
    """Build GMIQA from a :class:`gmiqa.profiles.ModelSettings`.

    Taught in ``notebooks/04_distortion_graph.ipynb``.

    ``settings.backbone``: ``"scnet50"`` (the paper), ``"resnet50"`` (the BL ablation
    baseline) or ``"scnet_small"`` (``settings.layers``, ``settings.base_width``).
    ``backbone_weights``: a local state-dict file for the backbone (never downloaded).
    ``settings.pretrained=True`` without a file is accepted only for ``"resnet50"`` when
    torchvision's ImageNet file is already in the torch hub cache; otherwise ConfigError.
    """
    name = str(settings.backbone).lower()
    if name == "scnet50":
        _need_file(settings, backbone_weights)
        backbone = scnet50(num_classes=None, weights=backbone_weights)
    elif name == "scnet_small":
        _need_file(settings, backbone_weights)
        backbone = scnet_small(settings.layers, settings.base_width, None, backbone_weights)
    elif name == "resnet50":
        backbone = resnet50_backbone(
            backbone_weights,
            imagenet_from_cache=bool(settings.pretrained) and backbone_weights is None,
        )
    else:
        raise ConfigError(
            f"unknown backbone {settings.backbone!r}: choose scnet50, resnet50 or scnet_small"
        )
    return GMIQA(
        backbone,
        feature_dim=settings.feature_dim,
        node_dim=settings.node_dim,
        edge_dim=settings.edge_dim,
        edge_layers=settings.edge_layers,
        spp_levels=settings.spp_levels,
        spp_pool=settings.spp_pool,
    )


def _need_file(settings, weights) -> None:
    if settings.pretrained and weights is None:
        raise ConfigError(
            f"pretrained=True for backbone {settings.backbone!r} needs a local weights file "
            "(build_model(settings, backbone_weights=<file>)): nothing is downloaded"
        )
