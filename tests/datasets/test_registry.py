"""The registry file data/registry.json and its reader."""

from __future__ import annotations

import json
import re

import pytest

from gmiqa.datasets import DATASETS, LOADERS
from gmiqa.datasets.registry import (
    REGISTRY_ENV,
    canonical_name,
    get_dataset_info,
    load_registry,
    registry_path,
)
from gmiqa.errors import ConfigError, DatasetError


def test_every_loader_has_a_complete_entry():
    registry = load_registry()
    assert set(registry) == {n for n, e in DATASETS.items() if e.registry}
    assert set(LOADERS) - set(registry) == {"folder"}  # your own photos: nothing to download
    for key, info in registry.items():
        assert info.page.startswith(("http://", "https://")), key
        assert info.licence and info.citation and info.layout, key
        assert info.layout.split("/")[-1], key
        for f in info.files:
            assert f.url.startswith(("http://", "https://")), (key, f.filename)
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.md5 is None or re.fullmatch(r"[0-9a-f]{32}", f.md5)
            assert f.size_bytes is None or f.size_bytes > 0


def test_layout_marker_matches_the_loader(tmp_path):
    # The file the registry promises is the file the loader looks for.
    from gmiqa.datasets.download import _find_root

    for key, info in load_registry().items():
        with pytest.raises(DatasetError) as err:
            _find_root(key)(tmp_path)
        assert str(tmp_path / info.layout) in str(err.value), key


def test_lookup_by_any_spelling():
    assert get_dataset_info("TID-2013").key == "tid2013"
    assert canonical_name("CLIVE") == "livec"


def test_env_override_and_clear_errors(tmp_path, monkeypatch):
    copy = tmp_path / "reg.json"
    data = json.loads(registry_path().read_text())
    data["datasets"]["csiq"]["title"] = "CSIQ (mirror)"
    copy.write_text(json.dumps(data))
    monkeypatch.setenv(REGISTRY_ENV, str(copy))
    assert get_dataset_info("csiq").title == "CSIQ (mirror)"
    monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(DatasetError, match="missing.json"):
        registry_path()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(DatasetError, match="bad.json"):
        load_registry(bad)


def test_weights_entries_name_where_and_how_to_check():
    from gmiqa.datasets.registry import get_weights_info, load_weights_registry
    from gmiqa.models.resnet import TORCHVISION_RESNET50_FILE

    weights = load_weights_registry()
    assert {"scnet50_imagenet", "resnet50_imagenet_v1"} <= set(weights)
    for key, w in weights.items():
        assert w.url.startswith("https://") and w.page.startswith("https://"), key
        assert w.url.rsplit("/", 1)[1] == w.filename, key
        assert w.licence and w.citation and w.use and w.checksum_source, key
        assert w.backbone in ("scnet50", "resnet50"), key
        assert w.sha256 or w.sha256_prefix, key  # both files publish (a prefix of) a hash
        hub = re.fullmatch(r"[\w.]+-([0-9a-f]+)\.pth", w.filename)  # torch.hub naming
        assert hub and hub.group(1) == w.sha256_prefix, key
    scnet = get_weights_info("scnet50")  # by backbone
    assert scnet.key == "scnet50_imagenet" and scnet.filename == "scnet50-dc6a7e87.pth"
    assert scnet.url == "https://backseason.oss-cn-beijing.aliyuncs.com/scnet/scnet50-dc6a7e87.pth"
    resnet = get_weights_info("RESNET50_IMAGENET_V1")
    assert resnet.filename == TORCHVISION_RESNET50_FILE
    assert resnet.url == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    with pytest.raises(ConfigError, match="scnet50_imagenet"):
        get_weights_info("vgg16")


def test_weights_section_is_validated_and_optional(tmp_path):
    from gmiqa.datasets.registry import load_weights_registry

    data = json.loads(registry_path().read_text())
    without = tmp_path / "without.json"
    without.write_text(json.dumps({"datasets": data["datasets"]}))
    assert load_weights_registry(without) == {}
    assert set(load_registry(without)) == set(load_registry())  # datasets unaffected
    for field, value in (("sha256_prefix", "xyz"), ("filename", "../x.pth"), ("url", "ftp://x")):
        bad = json.loads(json.dumps(data))
        bad["weights"]["scnet50_imagenet"][field] = value
        path = tmp_path / f"bad-{field}.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(DatasetError, match=f"bad-{field}.json.*scnet50_imagenet"):
            load_weights_registry(path)
        assert set(load_registry(path)) == set(load_registry())
