"""Spatial pyramid pooling (He et al., 2015): any input size -> one fixed-length vector.

Taught in ``notebooks/03_spatial_pyramid_pooling.ipynb``.

GMIQA feeds whole images at their native resolution (no crop, no resize). The backbone's
last map then has a size that depends on the image; pooling it onto fixed grids of
``l x l`` cells (levels 1, 2, 4 by default) and concatenating gives
``C * sum(l * l)`` values whatever the size. With C = 2048 that is 43,008 values, so
:class:`SPPProjection` first reduces the channels with a 1x1 convolution and then
projects the pyramid to ``feature_dim``: the heads stay small.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmiqa.errors import ConfigError


class SpatialPyramidPooling(nn.Module):
    """Pool a feature map onto ``l x l`` grids for each level and concatenate.

    Taught in ``notebooks/03_spatial_pyramid_pooling.ipynb``.

    Args:
        levels: grid sizes, e.g. ``(1, 2, 4)``.
        pool: ``"max"`` or ``"avg"`` (adaptive pooling: bins cover the map exactly, and a
            map smaller than a grid gets overlapping bins rather than an error).

    Shape:
        input ``(N, C, h, w)`` with any ``h, w >= 1``; output ``(N, C * sum(l * l))``,
        ordered level by level, each level channel-major (``C`` blocks of ``l * l`` cells).
    """

    def __init__(self, levels: Sequence[int] = (1, 2, 4), pool: str = "max") -> None:
        super().__init__()
        levels = tuple(int(level) for level in levels)
        if not levels or any(level < 1 for level in levels):
            raise ConfigError(f"SPP levels must be positive grid sizes, got {levels!r}")
        if pool not in ("max", "avg"):
            raise ConfigError(f"SPP pool must be 'max' or 'avg', got {pool!r}")
        self.levels = levels
        self.pool = pool
        self.cells = sum(level * level for level in levels)

    def output_dim(self, channels: int) -> int:
        """Length of the pooled vector for a ``channels``-channel map."""
        return channels * self.cells

    def forward(self, x: Tensor) -> Tensor:
        fn = F.adaptive_max_pool2d if self.pool == "max" else F.adaptive_avg_pool2d
        return torch.cat([torch.flatten(fn(x, level), 1) for level in self.levels], dim=1)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, pool={self.pool!r}"


class SPPProjection(nn.Module):
    """Channel reduction (1x1 conv, BN, ReLU) -> SPP -> linear projection to ``feature_dim``.

    Taught in ``notebooks/03_spatial_pyramid_pooling.ipynb``.

    The projection has no activation: the features may take either sign, so the cosine
    similarity between two images (the graph's edge weights) spans [-1, 1].

    Args:
        in_channels: channels of the backbone's last map (2048 for SCNet-50).
        feature_dim: length of the output vector.
        levels, pool: see :class:`SpatialPyramidPooling`.
        reduce_channels: channels after the 1x1 reduction (default ``feature_dim // 2``):
            2048 -> 256 keeps SCNet-50's SPP at 256 * 21 = 5,376 values instead of 43,008.

    Shape:
        input ``(N, in_channels, h, w)``; output ``(N, feature_dim)``.
    """

    def __init__(
        self,
        in_channels: int,
        feature_dim: int,
        levels: Sequence[int] = (1, 2, 4),
        pool: str = "max",
        reduce_channels: int | None = None,
    ) -> None:
        super().__init__()
        if int(feature_dim) < 2:
            raise ConfigError(f"feature_dim must be >= 2, got {feature_dim!r}")
        reduce_channels = int(reduce_channels or max(feature_dim // 2, 1))
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, reduce_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(reduce_channels),
            nn.ReLU(inplace=True),
        )
        self.spp = SpatialPyramidPooling(levels, pool)
        self.project = nn.Linear(self.spp.output_dim(reduce_channels), int(feature_dim))
        self.feature_dim = int(feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.spp(self.reduce(x)))
