"""The registry file data/registry.json and its reader."""

from __future__ import annotations

import json
import re

import pytest

from gmiqa.datasets import LOADERS
from gmiqa.datasets.registry import (
    REGISTRY_ENV,
    canonical_name,
    get_dataset_info,
    load_registry,
    registry_path,
)
from gmiqa.errors import DatasetError


def test_every_loader_has_a_complete_entry():
    registry = load_registry()
    assert set(registry) == set(LOADERS)
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
