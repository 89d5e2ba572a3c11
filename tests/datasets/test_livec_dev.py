"""The LIVEC development set rebuilt from a LIVEC download and data/livec-dev.txt."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from PIL import Image

from gmiqa.cli import main
from gmiqa.datasets.livec import load_livec
from gmiqa.datasets.livec_dev import build_livec_dev, default_list, read_list
from gmiqa.errors import DatasetError


def _mat(path, variable):
    return scipy.io.loadmat(path)[variable]


def test_the_list_names_300_bmp_photos_of_the_release():
    names = read_list(default_list())
    assert len(names) == 300 == len(set(names))
    assert all(n.endswith(".bmp") and n[:-4].isdigit() for n in names)


def test_rebuilt_set_equals_the_development_set(livec_layout, shared, tmp_path):
    """Names, MOS and standard deviations as in the development set; pixels as in the release."""
    dest = build_livec_dev(livec_layout.folder.parent, tmp_path / "dev")
    dev = shared / "data" / "livec_dev" / "ChallengeDB_release" / "Data"
    for f, v in (("AllImages_release.mat", "AllImages_release"),
                 ("AllMOS_release.mat", "AllMOS_release"),
                 ("AllStdDev_release.mat", "AllStdDev_release")):  # fmt: skip
        built, ref = _mat(dest / "Data" / f, v), _mat(dev / f, v)
        assert built.shape == ref.shape, f
        if v == "AllImages_release":
            assert [str(e[0][0]) for e in built] == [str(e[0][0]) for e in ref]
        else:
            np.testing.assert_array_equal(built, ref)
    ds = load_livec(tmp_path / "dev")
    assert len(ds) == 300 and ds.records[0].name == "104.png"
    first = np.asarray(Image.open(dest / "Images" / "104.png"))
    np.testing.assert_array_equal(
        first, np.asarray(Image.open(livec_layout.image_paths["104.bmp"]))
    )


def test_command_line_builds_it_and_names_a_missing_photo(livec_layout, tmp_path, capsys):
    names = tmp_path / "three.txt"
    names.write_text("# a comment\n100.bmp\n101.bmp\n")
    assert main(["livec-dev", "--release", str(livec_layout.folder), "--out",
                 str(tmp_path / "out"), "--names", str(names)]) == 0  # fmt: skip
    assert [r.name for r in load_livec(tmp_path / "out").records] == ["100.png", "101.png"]
    names.write_text("100.bmp\n9999.bmp\n")
    assert main(["livec-dev", "--release", str(livec_layout.folder), "--out",
                 str(tmp_path / "out2"), "--names", str(names)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "9999.bmp" in err[0] and "AllImages_release.mat" in err[0]


def test_a_bad_list_is_named(tmp_path):
    with pytest.raises(DatasetError, match="twice"):
        (tmp_path / "l.txt").write_text("1.bmp\n1.bmp\n")
        read_list(tmp_path / "l.txt")
    with pytest.raises(DatasetError, match="no such list"):
        read_list(tmp_path / "missing.txt")
    (tmp_path / "e.txt").write_text("# only a comment\n")
    with pytest.raises(DatasetError, match="lists no file names"):
        read_list(tmp_path / "e.txt")
