"""Backbone weights in their publishers' key layouts: official SCNet-50, torchvision ResNet-50.

The files are written here (random tensors of the right shapes): nothing is downloaded.
The SCNet layout is spelled out from the official code's module names (MCG-NKU/SCNet,
scnet.py: ``conv1_a``, ``k1``, ``scconv.k2`` ...), not taken from gmiqa's own modules, so
a renamed gmiqa attribute breaks these tests instead of silently breaking the official file.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

from gmiqa.errors import CheckpointError, ConfigError
from gmiqa.models import build_model, count_parameters, scnet50, scnet_small
from gmiqa.profiles import ModelSettings

FC = {"fc.weight", "fc.bias"}


def _bn(prefix: str, n: int) -> dict[str, tuple[int, ...]]:
    shapes = {
        f"{prefix}.{name}": (n,) for name in ("weight", "bias", "running_mean", "running_var")
    }
    shapes[f"{prefix}.num_batches_tracked"] = ()
    return shapes


def official_scnet_layout(
    layers=(3, 4, 6, 3), width: int = 64, stem: str = "7x7", classes: int = 1000
) -> dict[str, tuple[int, ...]]:
    """Key -> shape of an official SCNet state dict (scnet50: the defaults).

    Official SCBottleneck(inplanes, planes): group width ``planes * 32 / 64`` for both
    halves; ``conv1_a``/``bn1_a`` and ``k1`` (3x3 conv, BN) on half a; ``conv1_b``/``bn1_b``
    and ``scconv`` with ``k2`` (avg pool, 3x3 conv, BN), ``k3`` and ``k4`` (3x3 conv, BN) on
    half b; ``conv3``/``bn3`` to ``4 * planes``; ``downsample`` (1x1 conv, BN) on the first
    block of each stage; stages of ``width * (1, 2, 4, 8)`` planes; ``fc`` classifier.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    if stem == "7x7":
        shapes["conv1.weight"] = (width, 3, 7, 7)
        inplanes = width
    else:  # v1d deep stem (scnet50_v1d): three 3x3 convs, the last one doubling the width
        shapes["conv1.0.weight"] = (32, 3, 3, 3)
        shapes.update(_bn("conv1.1", 32))
        shapes["conv1.3.weight"] = (32, 32, 3, 3)
        shapes.update(_bn("conv1.4", 32))
        shapes["conv1.6.weight"] = (64, 32, 3, 3)
        inplanes = 64
    shapes.update(_bn("bn1", inplanes))
    for stage, blocks in enumerate(layers, start=1):
        planes = width * 2 ** (stage - 1)
        half = planes * 32 // 64
        for b in range(blocks):
            p = f"layer{stage}.{b}."
            cin = inplanes if b == 0 else planes * 4
            shapes[p + "conv1_a.weight"] = (half, cin, 1, 1)
            shapes.update(_bn(p + "bn1_a", half))
            shapes[p + "conv1_b.weight"] = (half, cin, 1, 1)
            shapes.update(_bn(p + "bn1_b", half))
            shapes[p + "k1.0.weight"] = (half, half, 3, 3)
            shapes.update(_bn(p + "k1.1", half))
            shapes[p + "scconv.k2.1.weight"] = (half, half, 3, 3)
            shapes.update(_bn(p + "scconv.k2.2", half))
            for k in ("k3", "k4"):
                shapes[p + f"scconv.{k}.0.weight"] = (half, half, 3, 3)
                shapes.update(_bn(p + f"scconv.{k}.1", half))
            shapes[p + "conv3.weight"] = (planes * 4, half * 2, 1, 1)
            shapes.update(_bn(p + "bn3", planes * 4))
            if b == 0:
                shapes[p + "downsample.0.weight"] = (planes * 4, cin, 1, 1)
                shapes.update(_bn(p + "downsample.1", planes * 4))
        inplanes = planes * 4
    shapes["fc.weight"] = (classes, inplanes)
    shapes["fc.bias"] = (classes,)
    return shapes


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.randint(1, 10**6, shape, generator=g, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g)
    return state


def assert_backbone_is(backbone: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = backbone.state_dict()
    assert set(own) == set(state) - FC
    for key, value in own.items():
        assert torch.equal(value, state[key]), key


@pytest.fixture(scope="module")
def official_scnet50(tmp_path_factory):
    state = random_state(official_scnet_layout())
    path = tmp_path_factory.mktemp("w") / "scnet50-dc6a7e87.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def torchvision_resnet50(tmp_path_factory):
    layout = {k: tuple(v.shape) for k, v in torchvision.models.resnet50().state_dict().items()}
    state = random_state(layout, seed=1)
    path = tmp_path_factory.mktemp("w") / "resnet50-0676ba61.pth"
    torch.save(state, path)
    return path, state


def test_the_official_layout_is_scnet50_as_published(official_scnet50):
    _, state = official_scnet50
    params = sum(
        v.numel()
        for k, v in state.items()
        if not k.rsplit(".", 1)[1].startswith(("running", "num"))
    )
    assert round(params / 1e6, 2) == 25.56  # the official README's parameter count
    assert params == count_parameters(scnet50())


def test_official_scnet50_file_loads_into_the_model(official_scnet50):
    path, state = official_scnet50
    model = build_model(ModelSettings(backbone="scnet50"), path)
    assert_backbone_is(model.backbone, state)  # fc.* ignored, every other tensor loaded


def test_official_file_wrapped_prefixed_legacy_and_without_counters(official_scnet50, tmp_path):
    # {"state_dict": {"module.<key>": ...}} written in the pre-1.6 (non-zip) format, without
    # BatchNorm counters, as a DataParallel training script on an old PyTorch would save it.
    _, state = official_scnet50
    plain = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    wrapped = {"epoch": 100, "state_dict": {"module." + k: v for k, v in plain.items()}}
    path = tmp_path / "checkpoint.pth.tar"
    torch.save(wrapped, path, _use_new_zipfile_serialization=False)
    backbone = scnet50(num_classes=None, weights=path)
    own = backbone.state_dict()
    for key, value in own.items():
        if key.endswith("num_batches_tracked"):
            assert value.item() == 0
        else:
            assert torch.equal(value, state[key]), key
    full = scnet50(num_classes=1000, weights=path)  # with a head, fc.* is loaded too
    assert torch.equal(full.fc.weight, state["fc.weight"])


def test_torchvision_resnet50_file_loads_into_the_bl_model(torchvision_resnet50):
    path, state = torchvision_resnet50
    model = build_model(ModelSettings(backbone="resnet50"), path)
    assert_backbone_is(model.backbone, state)


def _one_line_error(exc_info, path) -> str:
    message = str(exc_info.value)
    assert str(path) in message and "\n" not in message and len(message) < 1000, message
    return message


def test_a_file_for_the_other_backbone_is_one_error_naming_it(
    official_scnet50, torchvision_resnet50
):
    scnet_file, _ = official_scnet50
    resnet_file, _ = torchvision_resnet50
    with pytest.raises(CheckpointError) as err:
        build_model(ModelSettings(backbone="scnet50"), resnet_file)
    assert "torchvision's ResNet key layout" in _one_line_error(err, resnet_file)
    with pytest.raises(CheckpointError) as err:
        build_model(ModelSettings(backbone="resnet50"), scnet_file)
    assert "official SCNet key layout" in _one_line_error(err, scnet_file)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (dict(layers=(1, 1, 2, 1), width=16), "(1, 1, 2, 1) blocks per stage"),  # deeper
        (dict(layers=(1, 1, 1, 1), width=32), "differ in shape"),  # wider
        (dict(layers=(1, 1, 1, 1), width=16, stem="deep"), "deep stem"),  # SCNet v1d
    ],
)
def test_another_scnet_is_one_error_naming_the_file(tmp_path, layout, expected):
    path = tmp_path / "other.pth"
    torch.save(random_state(official_scnet_layout(**layout)), path)
    with pytest.raises(CheckpointError) as err:
        scnet_small((1, 1, 1, 1), 16, weights=path)
    assert expected in _one_line_error(err, path)


def test_small_official_layout_loads_and_foreign_files_are_refused(tmp_path):
    state = random_state(official_scnet_layout((1, 1, 1, 1), 16, classes=5))
    torch.save(state, tmp_path / "small.pth")
    assert_backbone_is(scnet_small((1, 1, 1, 1), 16, weights=tmp_path / "small.pth"), state)
    # a whole GMIQA model is not a backbone file
    settings = ModelSettings(backbone="scnet_small", layers=(1, 1, 1, 1), base_width=16)
    torch.save(build_model(settings).state_dict(), tmp_path / "gmiqa.pth")
    with pytest.raises(CheckpointError) as err:
        build_model(settings, tmp_path / "gmiqa.pth")
    assert "--init" in _one_line_error(err, tmp_path / "gmiqa.pth")
    # a training checkpoint whose entries are not all tensors
    torch.save({"epoch": 3, "weights": state}, tmp_path / "train.pth")
    with pytest.raises(CheckpointError) as err:
        build_model(settings, tmp_path / "train.pth")
    assert "not a plain state dict" in _one_line_error(err, tmp_path / "train.pth")
    with pytest.raises(ConfigError, match="nope.pth"):
        build_model(settings, tmp_path / "nope.pth")


def test_finetune_rejects_a_missing_backbone_weights_file(tmp_path, capsys):
    from gmiqa.cli import main

    code = main(["finetune", "--profile", "smoke", "--out", str(tmp_path / "runs"),
                 "--dataset", "synthetic", "--backbone-weights", str(tmp_path / "nope.pth"),
                 "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("gmiqa: error:") and "nope.pth" in err[-1], err
