import pytest
import torch

from gmiqa.errors import ConfigError
from gmiqa.models import SpatialPyramidPooling, SPPProjection


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_spp_length_is_independent_of_the_map_size(pool):
    spp = SpatialPyramidPooling((1, 2, 4), pool)
    lengths = {
        spp(torch.randn(2, 6, h, w)).shape for h, w in [(1, 1), (3, 5), (4, 4), (12, 16), (13, 7)]
    }
    assert lengths == {torch.Size([2, 6 * 21])}
    assert spp.output_dim(6) == 126


def test_spp_levels_pool_the_right_cells():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = SpatialPyramidPooling((1, 2), "max")(x)
    assert out.tolist() == [[15.0, 5.0, 7.0, 13.0, 15.0]]
    out = SpatialPyramidPooling((1,), "avg")(x)
    assert out.item() == pytest.approx(7.5)


def test_spp_bad_settings_raise_config_error():
    with pytest.raises(ConfigError, match="0"):
        SpatialPyramidPooling((1, 0))
    with pytest.raises(ConfigError, match="'median'"):
        SpatialPyramidPooling((1, 2), "median")


def test_projection_keeps_the_head_small():
    proj = SPPProjection(2048, 512)
    n = sum(p.numel() for p in proj.parameters())
    assert proj.project.in_features == 256 * 21
    assert n < 3.5e6  # 43,008 x 512 without the reduction would be 22 M
    torch.manual_seed(0)
    small = SPPProjection(32, 16, (1, 2), "avg")
    assert small(torch.randn(3, 32, 5, 9)).shape == (3, 16)
