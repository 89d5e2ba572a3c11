import pytest
import torch
import torchvision

from gmiqa.errors import ConfigError
from gmiqa.models import count_parameters, resnet50_backbone


def test_bl_is_torchvision_resnet50_without_the_head():
    backbone = resnet50_backbone()
    full = torchvision.models.resnet50(weights=None)
    assert count_parameters(backbone) == count_parameters(full) - count_parameters(full.fc)
    assert backbone.out_channels == 2048
    with torch.no_grad():
        y = backbone.eval()(torch.rand(1, 3, 64, 96))
    assert y.shape == (1, 2048, 2, 3)
    with pytest.raises(ConfigError, match="20x64"):
        backbone(torch.rand(1, 3, 64, 20))


def test_imagenet_weights_never_download(tmp_path, monkeypatch):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    try:
        with pytest.raises(ConfigError, match="nothing is downloaded"):
            resnet50_backbone(imagenet_from_cache=True)
        # a file in the cache is used, with its fc entries ignored
        (tmp_path / "checkpoints").mkdir()
        source = torchvision.models.resnet50(weights=None)
        torch.save(source.state_dict(), tmp_path / "checkpoints" / "resnet50-0676ba61.pth")
        loaded = resnet50_backbone(imagenet_from_cache=True)
        assert torch.equal(loaded.conv1.weight, source.conv1.weight)
    finally:
        torch.hub.set_dir(old)
