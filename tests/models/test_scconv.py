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


# ---- the calibration branch without an up-sampled map (issue 13) --------------------------
def _previous_scconv(conv: SCConv, x: torch.Tensor) -> torch.Tensor:
    """The previous code path: interpolate, add, sigmoid, multiply (one kernel each)."""
    import torch.nn.functional as F

    gate = torch.sigmoid(x + F.interpolate(conv.k2(x), size=x.shape[-2:]))
    return conv.k4(conv.k3(x) * gate)


@pytest.mark.parametrize("size", [(16, 16), (12, 20), (17, 23)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_scconv_equals_the_previous_code_path(size, channels_last):
    """Training-mode output and gradients to 1e-5; evaluation-mode output exactly."""
    torch.manual_seed(0)
    conv = SCConv(6, stride=2)
    x = torch.randn(3, 6, *size)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    results = []
    state = {k: v.clone() for k, v in conv.state_dict().items()}
    for fn in (conv.forward, lambda v: _previous_scconv(conv, v)):
        conv.load_state_dict(state)  # the same running statistics for both paths
        xi = x.clone().requires_grad_(True)
        conv.zero_grad(set_to_none=True)
        conv.train()
        y = fn(xi)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        conv.eval()
        with torch.no_grad():
            y_eval = fn(x)
        results.append((y.detach(), y_eval, xi.grad, [p.grad for p in conv.parameters()]))
    (y_new, e_new, gx_new, gp_new), (y_old, e_old, gx_old, gp_old) = results
    torch.testing.assert_close(y_new, y_old, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(e_new, e_old, rtol=0, atol=0)
    torch.testing.assert_close(gx_new, gx_old, rtol=1e-5, atol=1e-5)
    for a, b in zip(gp_new, gp_old):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
