"""Self-calibrated convolution (SCConv) and the SC bottleneck of SCNet (Liu et al., CVPR 2020).

Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

An SCConv replaces one 3x3 convolution of a bottleneck. Besides the usual 3x3 path it
looks at the feature map downsampled ``pooling_r`` times (``k2``); the upsampled result,
added to the input and squashed by a sigmoid, gates the output of a second 3x3
convolution (``k3``) before the last one (``k4``). The gate sees a neighbourhood
``pooling_r`` times wider than a 3x3 kernel, which is what "self-calibration" buys: a
larger receptive field at almost the cost of a plain 3x3 convolution.

Attribute names (``k2``, ``k3``, ``k4``, ``conv1_a``, ``k1``, ``scconv``, ...) follow the
official SCNet code so that its state dicts load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows). See ``notebooks/02_self_calibrated_conv.ipynb``."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class SCConv(nn.Module):
    """One self-calibrated convolution: ``k4(k3(x) * sigmoid(x + up(k2(x))))``.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

    Args:
        planes: input and output channels (the SC branch keeps its width).
        stride: stride of the last convolution ``k4`` (the block's stride).
        pooling_r: down-sampling rate of the calibration branch ``k2`` (4 in SCNet).

    Shape:
        input ``(N, planes, H, W)`` with ``H, W >= pooling_r``;
        output ``(N, planes, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, planes: int, stride: int = 1, pooling_r: int = 4) -> None:
        super().__init__()
        self.pooling_r = int(pooling_r)
        self.k2 = nn.Sequential(
            nn.AvgPool2d(kernel_size=pooling_r, stride=pooling_r),
            conv3x3(planes, planes),
            nn.BatchNorm2d(planes),
        )
        self.k3 = nn.Sequential(conv3x3(planes, planes), nn.BatchNorm2d(planes))
        self.k4 = nn.Sequential(conv3x3(planes, planes, stride), nn.BatchNorm2d(planes))

    def calibration(self, x: Tensor) -> Tensor:
        """The gate ``sigmoid(x + up(k2(x)))`` in (0, 1), same shape as ``x``."""
        return self._gate(x, self.k2(x))

    def _gate(self, x: Tensor, pooled: Tensor) -> Tensor:
        # Nearest up-sampling, as in the official code: each pooled cell gates a
        # pooling_r x pooling_r patch (a map not divisible by r is covered by nearest).
        n, c, h, w = x.shape
        r = self.pooling_r
        if h % r or w % r:
            return torch.sigmoid(x + F.interpolate(pooled, size=(h, w)))
        # Divisible map: nearest up-sampling is a broadcast over r x r blocks, so the sum
        # is one kernel reading x and the small pooled map (no up-sampled map written and
        # read again); the same values as interpolate + add, bit for bit.
        up = x.view(n, c, h // r, r, w // r, r) + pooled.view(n, c, h // r, 1, w // r, 1)
        return up.sigmoid_().view(n, c, h, w)  # in place: sigmoid's backward needs its output

    def forward(self, x: Tensor) -> Tensor:
        gate = self._gate(x, self.k2(x))
        if torch.is_grad_enabled():  # (requires_grad is not reliable under torch.func)
            return self.k4(self.k3(x) * gate)
        return self.k4(gate.mul_(self.k3(x)))  # no autograd: multiply into the gate's memory


class SCBottleneck(nn.Module):
    """The SCNet bottleneck: a plain 3x3 half and a self-calibrated half, concatenated.

    Taught in ``notebooks/02_self_calibrated_conv.ipynb``.

    Two 1x1 convolutions (each BN, ReLU) split the input into halves of width
    ``planes // 2``; half a goes through a 3x3 convolution (stride ``stride``), half b
    through an :class:`SCConv`; both are ReLU-ed, concatenated (``planes`` channels),
    expanded by a 1x1 convolution to ``4 * planes``, batch-normalised, added to the
    residual (``downsample(x)`` when the shape changes) and ReLU-ed.

    Shape:
        input ``(N, inplanes, H, W)``; output ``(N, 4 * planes, ceil(H / s), ceil(W / s))``.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        pooling_r: int = 4,
    ) -> None:
        super().__init__()
        half = planes // 2
        self.conv1_a = nn.Conv2d(inplanes, half, kernel_size=1, bias=False)
        self.bn1_a = nn.BatchNorm2d(half)
        self.conv1_b = nn.Conv2d(inplanes, half, kernel_size=1, bias=False)
        self.bn1_b = nn.BatchNorm2d(half)
        self.k1 = nn.Sequential(conv3x3(half, half, stride), nn.BatchNorm2d(half))
        self.scconv = SCConv(half, stride=stride, pooling_r=pooling_r)
        self.conv3 = nn.Conv2d(half * 2, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out_a = self.relu(self.bn1_a(self.conv1_a(x)))
        out_b = self.relu(self.bn1_b(self.conv1_b(x)))
        out_a = self.relu(self.k1(out_a))
        out_b = self.relu(self.scconv(out_b))
        out = self.bn3(self.conv3(torch.cat([out_a, out_b], dim=1)))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)
