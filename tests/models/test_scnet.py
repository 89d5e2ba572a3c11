import pytest
import torch
from safetensors.torch import save_file

from gmiqa.errors import CheckpointError, ConfigError
from gmiqa.models import count_parameters, load_local_weights, pad_to_min_size, scnet50, scnet_small


def test_scnet50_parameter_count_matches_the_official_25_56_million():
    model = scnet50(num_classes=1000)
    n = count_parameters(model)
    assert round(n / 1e6, 2) == 25.56
    assert n == 25_564_584
    assert len(model.layer1) == 3 and len(model.layer2) == 4
    assert len(model.layer3) == 6 and len(model.layer4) == 3


def test_scnet50_feature_extractor_at_its_minimum_size():
    model = scnet50(num_classes=None).eval()
    assert model.out_channels == 2048
    assert model.min_input_size == 97
    with torch.no_grad():
        y = model(torch.rand(1, 3, 97, 100))
    assert y.shape == (1, 2048, 4, 4)
    with pytest.raises(ConfigError, match="96x97"):
        model(torch.rand(1, 3, 97, 96))


@pytest.mark.parametrize(("h", "w"), [(49, 49), (128, 160), (131, 97)])
def test_scnet_small_shapes(h, w):
    torch.manual_seed(0)
    model = scnet_small((1, 1, 1, 1), 8)
    y = model(torch.rand(2, 3, h, w))
    assert y.shape == (2, 8 * 8 * 4, -(-h // 32), -(-w // 32))


def test_scnet_small_too_small_input_raises_config_error_naming_the_size():
    model = scnet_small((1, 1, 1, 1), 8)
    assert model.min_input_size == 49
    with pytest.raises(ConfigError, match="48x60"):
        model(torch.rand(1, 3, 60, 48))
    with pytest.raises(ConfigError, match=r"\(N, 3, H, W\)"):
        model(torch.rand(3, 64, 64))


def test_scnet_with_head_and_bad_configs():
    model = scnet_small((1, 2, 1, 2), 8, num_classes=5)
    assert model(torch.rand(2, 3, 128, 128)).shape == (2, 5)
    assert model.min_input_size == 97  # two blocks in layer4 pool the H/32 map
    with pytest.raises(ConfigError, match="layers"):
        scnet_small((1, 1, 1), 8)
    with pytest.raises(ConfigError, match="base_width"):
        scnet_small((1, 1, 1, 1), 7)


def test_pad_to_min_size_reflects_without_resizing():
    x = torch.rand(1, 3, 40, 70)
    y = pad_to_min_size(x, 49)
    assert y.shape == (1, 3, 49, 70)
    assert torch.equal(y[..., 4:44, :], x)  # original pixels untouched, centred
    assert pad_to_min_size(torch.rand(1, 3, 5, 1), 12).shape[-2:] == (12, 12)


def test_weights_load_only_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    source = scnet_small((1, 1, 1, 1), 8, num_classes=3)
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save(
        {"state_dict": {"module." + k: v for k, v in source.state_dict().items()}},
        tmp_path / "w.pth",
    )
    for name in ("w.safetensors", "w.pth"):
        # a classifier checkpoint into a feature extractor: the head is ignored
        target = scnet_small((1, 1, 1, 1), 8, weights=tmp_path / name)
        assert torch.equal(target.conv1.weight, source.conv1.weight)
    with pytest.raises(ConfigError, match="missing.pth"):
        scnet50(weights=tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="w.safetensors"):
        load_local_weights(scnet_small((1, 1, 1, 1), 16), tmp_path / "w.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        scnet_small(weights=tmp_path / "junk.pth")
