"""load_dataset by name, and bad input for every loader: each error names the file."""

from __future__ import annotations

import pytest
from conftest import make_layout

from gmiqa.datasets import DATASETS, KNOWN, LOADERS, SPLIT_BY, canonical_name, load_dataset
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
    assert set(LOADERS) == set(KNOWN) == {*SETS, "folder"}  # folder: gmiqa.datasets.folder
    assert set(SPLIT_BY) == set(DATASETS) == {"synthetic", "folder", *SETS}


def test_the_dataset_table_is_what_loaders_and_splits_read():
    """One row per set: the loader's scale and direction, and the split, come from it."""
    import importlib

    from gmiqa.training.finetune import split_by_for

    for name in SETS:
        entry = DATASETS[name]
        module = importlib.import_module(entry.load_function().__module__)
        assert (
            module.SCORE_RANGE == entry.score_range and entry.score_range[0] < entry.score_range[1]
        )
        assert module.HIGHER_IS_BETTER is entry.higher_is_better
        assert LOADERS[name] is entry.load_function()
    # DMOS sets (lower = better) and authentic sets (one image per content)
    assert {n for n in SETS if not DATASETS[n].higher_is_better} == {"live", "csiq"}
    assert {n for n, by in SPLIT_BY.items() if by == "image"} == {"koniq10k", "livec"}
    assert split_by_for("synthetic") == "reference"


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


# -- score files with a bad byte or a NaN score: DatasetError naming the file and line ----
TEXT_SETS = ["kadid10k", "koniq10k", "tid2013", "csiq-flat"]


def _text_layout(name: str, root):
    """(load_dataset name, score file) of a set whose score file is text."""
    if name != "csiq-flat":
        layout = make_layout(name, root)
        return name, layout.score_file
    from conftest import write_image

    folder = root / "csiq"
    rows = ["image,dmos"]
    for level in range(1, 5):
        write_image(folder / f"1600.AWGN.{level}.png", value=level)
        rows.append(f"1600.AWGN.{level}.png,{0.1 * level:.3f}")
    (folder / "dmos.csv").write_text("\n".join(rows) + "\n")
    return "csiq", folder / "dmos.csv"


def _edit_line(path, line_no: int, edit) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[line_no - 1] = edit(lines[line_no - 1])
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize("name", TEXT_SETS)
def test_score_file_with_a_non_utf8_byte(name, tmp_path):
    key, score_file = _text_layout(name, tmp_path)
    load_dataset(key, tmp_path)  # loads before the damage
    _edit_line(score_file, 3, lambda line: line[:4] + b"\xe9" + line[4:])  # Latin-1 "e acute"
    with pytest.raises(DatasetError) as info:
        load_dataset(key, tmp_path)
    message = str(info.value)
    assert f"{score_file}, line 3" in message and "UTF-8" in message and "0xe9" in message


@pytest.mark.parametrize("name", TEXT_SETS)
def test_nan_score_names_file_and_line(name, tmp_path):
    key, score_file = _text_layout(name, tmp_path)

    def to_nan(line: bytes) -> bytes:
        if name == "tid2013":  # "MOS name"
            return b"nan " + line.split(b" ", 1)[1]
        fields = line.split(b",")
        column = {"kadid10k": 2, "koniq10k": 7, "csiq-flat": 1}[name]
        fields[column] = b"nan"
        return b",".join(fields)

    _edit_line(score_file, 3, to_nan)
    with pytest.raises(DatasetError) as info:
        load_dataset(key, tmp_path)
    message = str(info.value)
    assert f"{score_file}, line 3" in message and "NaN" in message


def test_nan_score_in_a_matlab_score_file_names_the_entry(tmp_path):
    import numpy as np
    import scipy.io

    layout = make_layout("live", tmp_path)
    content = scipy.io.loadmat(layout.score_file)
    dmos, orgs = content["dmos"].astype(float), content["orgs"]
    index = int(np.flatnonzero(orgs.ravel() == 0)[5])  # a distorted image, not a reference
    dmos[0, index] = np.nan
    scipy.io.savemat(layout.score_file, {"dmos": dmos, "orgs": orgs})
    with pytest.raises(DatasetError) as info:
        load_dataset("live", tmp_path)
    assert f"{layout.score_file}, entry {index + 1} " in str(info.value)
