"""SCNet: a ResNet-50 layout built from self-calibrated bottlenecks (Liu et al., CVPR 2020).

Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

:func:`scnet50` is the paper's backbone (layers 3, 4, 6, 3; 25.56 M parameters with a
1000-class head, the official count); :func:`scnet_small` is the same architecture with
fewer blocks and narrower stages for CPU notebooks and tests. Weights are loaded only from
a local file the caller names: nothing is ever downloaded.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from gmiqa.errors import CheckpointError, ConfigError
from gmiqa.models.scconv import SCBottleneck


def _stride2(size: int) -> int:
    # every stride-2 op of the network (7x7 conv p3, 3x3 max pool p1, 3x3 conv p1)
    # maps n -> ceil(n / 2)
    return math.ceil(size / 2)


class SCNet(nn.Module):
    """SCNet with a ResNet stem (7x7, 64 channels at ``base_width=64``) and four SC stages.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

    Args:
        layers: blocks per stage, ``(3, 4, 6, 3)`` for SCNet-50.
        base_width: stem width and ``planes`` of the first stage; stage ``i`` has
            ``base_width * 2**i`` planes and outputs ``4 * base_width * 2**i`` channels.
        num_classes: size of the classification head, or ``None`` for a feature
            extractor whose :meth:`forward` returns the last feature map.
        pooling_r: down-sampling rate of every SCConv's calibration branch.

    Shape:
        input ``(N, 3, H, W)`` with ``H, W >= min_input_size``; output ``(N, num_classes)``
        or, without a head, ``(N, out_channels, ceil(H / 32), ceil(W / 32))``.
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        base_width: int = 64,
        num_classes: int | None = 1000,
        pooling_r: int = 4,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ConfigError(f"SCNet layers must be four positive block counts, got {layers!r}")
        if int(base_width) < 2 or int(base_width) % 2:
            raise ConfigError(f"SCNet base_width must be an even number >= 2, got {base_width!r}")
        self.layers_cfg = tuple(int(n) for n in layers)
        self.base_width = int(base_width)
        self.pooling_r = int(pooling_r)
        self.inplanes = self.base_width
        self.conv1 = nn.Conv2d(3, self.base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(self.base_width, self.layers_cfg[0], stride=1)
        self.layer2 = self._make_layer(self.base_width * 2, self.layers_cfg[1], stride=2)
        self.layer3 = self._make_layer(self.base_width * 4, self.layers_cfg[2], stride=2)
        self.layer4 = self._make_layer(self.base_width * 8, self.layers_cfg[3], stride=2)
        self.out_channels = self.base_width * 8 * SCBottleneck.expansion
        self.num_classes = num_classes
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(self.out_channels, int(num_classes))
        self._init_weights()

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * SCBottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(
                    self.inplanes,
                    planes * SCBottleneck.expansion,
                    kernel_size=1,
                    stride=stride,
                    bias=False,
                ),
                nn.BatchNorm2d(planes * SCBottleneck.expansion),
            )
        blocks_ = [SCBottleneck(self.inplanes, planes, stride, downsample, self.pooling_r)]
        self.inplanes = planes * SCBottleneck.expansion
        blocks_ += [
            SCBottleneck(self.inplanes, planes, pooling_r=self.pooling_r) for _ in range(1, blocks)
        ]
        return nn.Sequential(*blocks_)

    def _init_weights(self) -> None:
        # torchvision's ResNet initialisation: Kaiming-normal convolutions, BN scale 1.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def min_input_size(self) -> int:
        """Smallest height/width for which every calibration pool sees >= ``pooling_r`` pixels.

        Computed from the layout: the first block of a stage pools its input map, later
        blocks pool the stage's output map. SCNet-50 needs 97 pixels (its last blocks run
        on an ``ceil(H / 32)`` map); a one-block layer4 (``scnet_small``) needs 49.
        """
        size = 1
        while not self._fits(size):
            size += 1
        return size

    def _fits(self, size: int) -> bool:
        s = _stride2(_stride2(size))  # stem conv + max pool: the input of layer1
        for stage, blocks in enumerate(self.layers_cfg):
            if s < self.pooling_r:  # first block pools its (stage input) map
                return False
            if stage > 0:
                s = _stride2(s)
            if blocks > 1 and s < self.pooling_r:
                return False
        return True

    def check_input(self, x: Tensor) -> None:
        """Raise ConfigError naming the size when ``x`` is smaller than :attr:`min_input_size`."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ConfigError(f"expected images of shape (N, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.min_input_size
        if h < m or w < m:
            raise ConfigError(
                f"image size {w}x{h} (WxH) is smaller than this backbone's minimum {m}x{m}: "
                f"its self-calibration pools (rate {self.pooling_r}) would see an empty map. "
                "Use larger images or gmiqa.models.pad_to_min_size (reflect padding)."
            )

    def forward_features(self, x: Tensor) -> Tensor:
        """The last feature map ``(N, out_channels, ceil(H / 32), ceil(W / 32))``."""
        self.check_input(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_features(x)
        if self.num_classes is None:
            return x
        return self.fc(torch.flatten(self.avgpool(x), 1))


def pad_to_min_size(x: Tensor, min_size: int) -> Tensor:
    """Reflect-pad ``x`` (N, C, H, W) symmetrically so that H, W >= ``min_size``.

    Taught in ``notebooks/03_spatial_pyramid_pooling.ipynb``. The documented alternative
    to the error of :meth:`SCNet.check_input`: padding adds mirrored content but never
    rescales the image (no resize). One reflection adds at most ``side - 1`` pixels, so
    a very small image is reflected repeatedly; a side of one pixel is replicated.
    """
    h, w = x.shape[-2:]
    while h < min_size or w < min_size:
        ph, pw = max(0, min(min_size - h, h - 1)), max(0, min(min_size - w, w - 1))
        if ph == 0 and pw == 0:  # a 1-pixel side cannot be reflected
            x = F.pad(x, (0, max(0, min_size - w), 0, max(0, min_size - h)), mode="replicate")
            break
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="reflect")
        h, w = x.shape[-2:]
    return x


def load_local_weights(
    module: nn.Module,
    weights: str | os.PathLike,
    ignore_extra: bool | Sequence[str] = False,
) -> None:
    """Load a state dict from a local ``.safetensors``, ``.pt`` or ``.pth`` file into ``module``.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``. Never downloads; a missing file
    raises ConfigError, an unreadable or mismatching one CheckpointError, naming the file
    and saying in one sentence what does not fit (how many tensors are missing, extra or of
    another shape, with an example, and which layout the file has).
    A ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper and a ``module.`` prefix
    (DataParallel) are unwrapped; BatchNorm ``num_batches_tracked`` counters absent from
    old files keep the module's values. ``ignore_extra``: ``True`` drops every key
    ``module`` lacks; a sequence of prefixes (``("fc.",)``, a classifier head loaded into a
    feature extractor) drops only those, so any other extra tensor (another depth, another
    network) is an error. Every tensor ``module`` has must be in the file.
    """
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"weights file {str(path)!r} not found: weights are only loaded from a local file "
            "you name (nothing is downloaded)"
        )
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise CheckpointError(f"{path}: cannot read weights ({exc})") from None
    state = _plain_state_dict(state, path)
    own = module.state_dict()
    if ignore_extra is True:
        state = {k: v for k, v in state.items() if k in own}
    elif ignore_extra:
        prefixes = (ignore_extra,) if isinstance(ignore_extra, str) else tuple(ignore_extra)
        state = {k: v for k, v in state.items() if k in own or not k.startswith(prefixes)}
    for key, value in own.items():  # files written before PyTorch 0.4.1 have no counters
        bn = key.removesuffix("num_batches_tracked")
        if bn != key and bn + "running_mean" in state:
            state.setdefault(key, value)
    problem = _mismatch(own, state)
    if problem is None:
        try:
            module.load_state_dict(state, strict=True)
            return
        except RuntimeError as exc:
            problem = " ".join(str(exc).split())
    raise CheckpointError(f"{path}: weights do not fit {type(module).__name__}: {problem}")


def _plain_state_dict(state, path: Path) -> dict[str, Tensor]:
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise CheckpointError(
                f"{path}: not a plain state dict (entry {key!r} is a {type(value).__name__}, "
                "not a tensor)"
            )
    return {k.removeprefix("module."): v for k, v in state.items()}


def _some(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def _mismatch(own: dict[str, Tensor], state: dict[str, Tensor]) -> str | None:
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and state[k].shape != own[k].shape]
    if not (missing or extra or shapes):
        return None
    parts = []
    if missing:
        parts.append(
            f"{len(missing)} of its {len(own)} tensors are not in the file ({_some(missing)})"
        )
    if extra:
        parts.append(f"{len(extra)} tensors of the file have no place in it ({_some(extra)})")
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} tensors differ in shape (e.g. {k}: file {tuple(state[k].shape)}, "
            f"model {tuple(own[k].shape)})"
        )
    return "; ".join(parts) + _layout_hint(state)


def _layout_hint(state: dict[str, Tensor]) -> str:
    """What the file looks like: the layout of its keys and its blocks per stage."""
    keys = list(state)
    if any(k.startswith("backbone.") for k in keys):
        return (
            ". The file is a whole GMIQA model (keys 'backbone.*'), not a backbone state "
            "dict: start from it with --init, not --backbone-weights"
        )
    blocks = []
    for stage in range(1, 5):
        found = {int(m.group(1)) for k in keys if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        blocks.append(max(found) + 1 if found else 0)
    if any(".conv1_a." in k for k in keys):
        stem = "a deep stem (SCNet v1d)" if "conv1.0.weight" in state else "a 7x7 stem"
        return (
            f". The file has the official SCNet key layout with {stem} and "
            f"{tuple(blocks)} blocks per stage (the paper's SCNet-50: (3, 4, 6, 3), 7x7 stem)"
        )
    if any(re.match(r"layer\d+\.\d+\.conv2\.weight", k) for k in keys):
        return (
            f". The file has torchvision's ResNet key layout with {tuple(blocks)} blocks per "
            "stage: it is for the resnet50 backbone (BL) when those are (3, 4, 6, 3)"
        )
    return ""


def scnet50(num_classes: int | None = 1000, weights: str | os.PathLike | None = None) -> SCNet:
    """SCNet-50 (layers 3, 4, 6, 3; width 64): 25.56 M parameters with a 1000-class head.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

    Args:
        num_classes: head size, or ``None`` for the feature extractor (2048 channels).
        weights: ``None`` (random initialisation) or the path of a local state dict, e.g.
            the official ImageNet ``scnet50-dc6a7e87.pth`` in the official key layout
            (registry entry ``scnet50_imagenet``; ``gmiqa.datasets.download``'s
            ``download_weights`` fetches and checks it when asked).
            With ``num_classes=None`` a checkpoint's ``fc`` entries are ignored.
    """
    model = SCNet((3, 4, 6, 3), 64, num_classes)
    if weights is not None:
        _load_backbone(model, weights)
    return model


def scnet_small(
    layers: Sequence[int] = (1, 1, 1, 1),
    base_width: int = 16,
    num_classes: int | None = None,
    weights: str | os.PathLike | None = None,
) -> SCNet:
    """A small SCNet (fewer blocks, narrower stages) for CPU notebooks and tests.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``. Same blocks as :func:`scnet50`;
    ``layers=(1, 1, 1, 1), base_width=16`` has 0.51 M parameters without a head.
    """
    model = SCNet(layers, base_width, num_classes)
    if weights is not None:
        _load_backbone(model, weights)
    return model


def _load_backbone(model: SCNet, weights: str | os.PathLike) -> None:
    # a feature extractor takes an ImageNet file without its classifier: fc.* is dropped
    load_local_weights(model, weights, ignore_extra=("fc.",) if model.num_classes is None else ())
