"""The paper's ablation baseline "BL": the plain torchvision ResNet-50 as a feature extractor.

Taught in ``notebooks/02_self_calibrated_conv.ipynb`` (compared with SCNet-50 there).
ImageNet initialisation is an explicit option that reads a local file; nothing is
downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from gmiqa.errors import ConfigError
from gmiqa.models.scnet import load_local_weights

# The file name torchvision's ResNet50_Weights.IMAGENET1K_V1 is cached under.
TORCHVISION_RESNET50_FILE = "resnet50-0676ba61.pth"


class ResNetBackbone(nn.Module):
    """torchvision ResNet-50 without its pooling and classifier: returns the last feature map.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

    Shape:
        input ``(N, 3, H, W)`` with ``H, W >= 32``; output
        ``(N, 2048, ceil(H / 32), ceil(W / 32))``.
    """

    min_input_size = 32

    def __init__(self, resnet: torchvision.models.ResNet | None = None) -> None:
        super().__init__()
        resnet = resnet if resnet is not None else torchvision.models.resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = (
            resnet.conv1,
            resnet.bn1,
            resnet.relu,
            resnet.maxpool,
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            resnet.layer1,
            resnet.layer2,
            resnet.layer3,
            resnet.layer4,
        )
        self.out_channels = resnet.fc.in_features

    def check_input(self, x: Tensor) -> None:
        """Raise ConfigError naming the size when ``x`` is not (N, 3, H>=32, W>=32)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ConfigError(f"expected images of shape (N, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h < self.min_input_size or w < self.min_input_size:
            raise ConfigError(
                f"image size {w}x{h} (WxH) is smaller than the ResNet-50 minimum "
                f"{self.min_input_size}x{self.min_input_size}"
            )

    def forward_features(self, x: Tensor) -> Tensor:
        self.check_input(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


def resnet50_backbone(
    weights: str | os.PathLike | None = None, imagenet_from_cache: bool = False
) -> ResNetBackbone:
    """The BL backbone: torchvision ResNet-50 trunk, randomly initialised by default.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

    Args:
        weights: path of a local ResNet-50 state dict in torchvision's key layout, e.g.
            ``resnet50-0676ba61.pth`` (ImageNet ``IMAGENET1K_V1``, the registry entry
            ``resnet50_imagenet_v1``; ``gmiqa.datasets.download.download_weights`` fetches
            it when asked). The ``fc`` entries are ignored; any other tensor the trunk
            lacks (another depth) is a CheckpointError naming the file.
        imagenet_from_cache: load torchvision's ImageNet weights only if the file
            ``resnet50-0676ba61.pth`` is already in the torch hub cache
            (``torch.hub.get_dir()/checkpoints``); otherwise raise ConfigError naming
            where to put it. Never downloads.
    """
    if weights is not None and imagenet_from_cache:
        raise ConfigError("give either weights=<file> or imagenet_from_cache=True, not both")
    resnet = torchvision.models.resnet50(weights=None)
    if imagenet_from_cache:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_RESNET50_FILE
        if not cached.is_file():
            raise ConfigError(
                f"ImageNet ResNet-50 weights requested but {cached} does not exist; "
                "nothing is downloaded: copy the file there or pass weights=<file>"
            )
        weights = cached
    backbone = ResNetBackbone(resnet)
    if weights is not None:
        # torchvision's file holds the classifier too: only fc.* may be left over
        load_local_weights(backbone, weights, ignore_extra=("fc.",))
    return backbone
