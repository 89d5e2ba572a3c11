"""Score-file names stay inside the dataset folder (issue 21): no ``..``, no absolute
names, no symlinks leading out; one line naming the score file."""

from __future__ import annotations

import csv
import os

import pytest
from conftest import make_koniq, write_image

from gmiqa.datasets import load_dataset
from gmiqa.datasets.paths import image_in_root
from gmiqa.errors import DatasetError


@pytest.mark.parametrize(
    "name", ["../../outside/secret.png", "/etc/passwd", "a/../../b.png", "..\\x.png", "C:\\x.png"]
)
def test_names_leading_out_are_refused_naming_the_score_file(tmp_path, name):
    with pytest.raises(DatasetError, match="scores.csv: image name .* leads outside"):
        image_in_root(tmp_path, name, tmp_path / "scores.csv")


def test_links_inside_are_followed_links_out_are_refused(tmp_path):
    root = tmp_path / "root"
    write_image(root / "a.png")
    write_image(tmp_path / "secret.png")
    os.symlink("a.png", root / "inner.png")
    os.symlink(tmp_path / "secret.png", root / "out.png")
    assert image_in_root(root, "sub/a.png") == root / "sub" / "a.png"  # missing: caller's
    assert image_in_root(root, "inner.png") == root / "inner.png"
    with pytest.raises(DatasetError, match=r"s\.csv: image 'out.png' is a link to .*secret"):
        image_in_root(root, "out.png", "s.csv")


def _rewrite_first_name(layout, name: str) -> None:
    with open(layout.score_file, newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][0] = name
    with open(layout.score_file, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_koniq_score_file_naming_a_file_outside_is_refused(tmp_path):
    layout = make_koniq(tmp_path / "data")
    write_image(tmp_path / "outside" / "secret.png")
    _rewrite_first_name(layout, "../../outside/secret.png")
    with pytest.raises(DatasetError) as info:
        load_dataset("koniq10k", layout.folder)
    message = str(info.value)
    assert str(layout.score_file) in message and "leads outside" in message
    assert "\n" not in message
