import pytest
import torch

from gmiqa.models.scconv import SCBottleneck, SCConv


@pytest.mark.parametrize(
    ("size", "stride", "out"), [((16, 16), 1, (16, 16)), ((17, 23), 2, (9, 12))]
)
def test_scconv_shape(size, stride, out):
    torch.manual_seed(0)
    conv = SCConv(8, stride=stride)
    y = conv(torch.randn(2, 8, *size))
    assert y.shape == (2, 8, *out)


def test_calibration_gate_is_in_unit_interval_and_uses_the_pooled_branch():
    torch.manual_seed(0)
    conv = SCConv(4).eval()
    x = torch.randn(1, 4, 12, 12)
    gate = conv.calibration(x)
    assert gate.shape == x.shape
    assert bool(((gate > 0) & (gate < 1)).all())
    # the gate changes with k2's weights: the calibration branch is really used
    with torch.no_grad():
        conv.k2[1].weight.mul_(3.0)
    assert not torch.allclose(gate, conv.calibration(x))


def test_scconv_output_pixel_sees_a_wider_neighbourhood_than_3x3():
    # A plain 3x3 conv stack of depth 2 sees 5x5; k2's pooled path reaches further.
    torch.manual_seed(0)
    conv = SCConv(2).eval()
    x = torch.randn(1, 2, 16, 16, requires_grad=True)
    conv(x)[0, :, 8, 8].sum().backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).nonzero().flatten()
    assert rows.max() - rows.min() + 1 > 5


def test_bottleneck_shapes_and_residual():
    torch.manual_seed(0)
    down = torch.nn.Sequential(
        torch.nn.Conv2d(16, 32, 1, stride=2, bias=False), torch.nn.BatchNorm2d(32)
    )
    block = SCBottleneck(16, 8, stride=2, downsample=down)
    assert block(torch.randn(2, 16, 20, 20)).shape == (2, 32, 10, 10)
    same = SCBottleneck(32, 8)
    y = same(torch.randn(3, 32, 8, 8))
    assert y.shape == (3, 32, 8, 8)
    assert bool((y >= 0).all())  # final ReLU
    # two separate 1x1 convolutions of half width, one plain and one SC half
    assert same.conv1_a.out_channels == same.conv1_b.out_channels == 4
