"""load_dataset by name, and bad input for every loader: each error names the file."""

from __future__ import annotations

import pytest
from conftest import make_layout

from gmiqa.datasets import LOADERS, SPLIT_BY, canonical_name, load_dataset
from gmiqa.errors import ConfigError, DatasetError, ImageReadError

SETS = ["kadid10k", "koniq10k", "livec", "live", "csiq", "tid2013"]


@pytest.fixture
def shared_or_none(request):
    try:
        return request.getfixturevalue("shared")
    except pytest.skip.Exception:
        return None


@pytest.mark.parametrize(
    "spelling, key",
    [
        ("KADID-10k", "kadid10k"),
        ("kadid10k", "kadid10k"),
        ("KonIQ-10k", "koniq10k"),
        ("LIVEC", "livec"),
        ("live", "live"),
        ("CSIQ", "csiq"),
        ("TID2013", "tid2013"),
    ],
)
def test_names_are_case_insensitive(spelling, key):
    assert canonical_name(spelling) == key


def test_unknown_name_lists_known_ones():
    with pytest.raises(ConfigError, match="kadid10k"):
        load_dataset("imagenet", ".")
    assert set(LOADERS) == set(SPLIT_BY) == set(SETS)


@pytest.mark.parametrize("name", SETS)
def test_missing_score_file(name, tmp_path, shared_or_none):
    layout = make_layout(name, tmp_path, shared_or_none)
    layout.score_file.unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset(name, tmp_path)
    assert layout.score_file.name in str(info.value)


@pytest.mark.parametrize("name", SETS)
def test_score_file_naming_a_missing_image(name, tmp_path, shared_or_none):
    layout = make_layout(name, tmp_path, shared_or_none)
    victim = sorted(layout.image_paths)[1]
    layout.image_paths[victim].unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset(name, tmp_path)
    message = str(info.value)
    assert layout.score_file.name in message
    assert layout.image_paths[victim].name.lower() in message.lower()


@pytest.mark.parametrize("name", SETS)
def test_corrupt_image(name, tmp_path, shared_or_none):
    layout = make_layout(name, tmp_path, shared_or_none)
    ds = load_dataset(name, tmp_path)
    victim = ds.records[0]
    with open(victim.path, "r+b") as fh:  # keep the header, destroy the pixel data
        fh.seek(12)
        fh.truncate()
    with pytest.raises(ImageReadError) as info:
        ds[0]
    assert victim.path in str(info.value)
    assert layout.count == len(ds)
    ds[1]  # the others still load


def test_missing_root_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("kadid10k", tmp_path / "nowhere")
