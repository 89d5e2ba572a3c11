"""Reading image files (gmiqa.images): EXIF orientation, refused and empty files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmiqa.errors import ImageReadError
from gmiqa.images import image_size, load_image

ORIENTATION = 0x0112


def _photo(h: int = 40, w: int = 64) -> np.ndarray:
    """A smooth upright test image (JPEG keeps it) with no symmetry that could hide a turn."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + 2 * y) % 128], 2).astype(np.uint8)


def save_sideways(upright: np.ndarray, path: Path, orientation: int = 6) -> Path:
    """Store ``upright`` the way a phone does: pixels turned, EXIF orientation to undo it.

    Orientation 6 means "turn 90 degrees clockwise to display", so the stored pixels are
    the upright photo turned 90 degrees counter-clockwise.
    """
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    stored.save(path, exif=exif, **({"quality": 95} if path.suffix == ".jpg" else {}))
    return path


def write_bomb_png(path: Path, width: int = 20000, height: int = 10000) -> Path:
    """A 65-byte PNG whose header claims width x height pixels (200 MP by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_6_is_read_upright(tmp_path, suffix):
    upright = _photo()
    path = save_sideways(upright, tmp_path / f"sideways{suffix}")
    with Image.open(path) as img:  # what is stored is sideways
        assert img.size == (upright.shape[0], upright.shape[1])
        assert img.getexif()[ORIENTATION] == 6
    arr = load_image(path)
    assert arr.shape == upright.shape
    assert image_size(path) == upright.shape[:2]
    if suffix == ".png":
        np.testing.assert_array_equal(arr, upright)
    else:  # lossy: close to the upright photo, far from the sideways pixels transposed
        assert np.abs(arr.astype(int) - upright).mean() < 3


def test_without_orientation_tag_the_pixels_are_kept(tmp_path):
    upright = _photo()
    path = tmp_path / "plain.png"
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(path)
    assert load_image(path).shape == (upright.shape[1], upright.shape[0], 3)


def test_header_claiming_200_megapixels_is_an_error_naming_the_file(tmp_path):
    path = write_bomb_png(tmp_path / "bomb.png")
    assert path.stat().st_size < 100
    for read in (load_image, image_size):
        with pytest.raises(ImageReadError) as info:
            read(path)
        assert str(path) in str(info.value) and "pixels" in str(info.value)


def test_zero_byte_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    for read in (load_image, image_size):
        with pytest.raises(ImageReadError, match="empty") as info:
            read(path)
        assert str(path) in str(info.value)


def test_an_animated_gif_in_a_folder_is_listed_and_read_as_its_first_frame(tmp_path):
    from PIL import Image

    from gmiqa.images import list_images, load_image

    frames = [Image.new("RGB", (9, 7), c) for c in ((200, 10, 10), (10, 200, 10))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert list_images(tmp_path) == [tmp_path / "anim.gif"]
    img = load_image(tmp_path / "anim.gif")
    assert img.shape == (7, 9, 3) and img[0, 0, 0] > 150 and img[0, 0, 1] < 60


def test_a_link_out_of_a_scored_folder_is_refused_naming_it(tmp_path):
    import os

    from PIL import Image

    from gmiqa.errors import ImageReadError
    from gmiqa.images import list_images

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (4, 4)).save(folder / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "secret.png")
    os.symlink("a.png", folder / "inside.png")
    assert list_images(folder) == [folder / "a.png", folder / "inside.png"]
    os.symlink(tmp_path / "secret.png", folder / "out.png")
    with pytest.raises(ImageReadError, match=r"out\.png: a link to .*secret\.png, outside"):
        list_images(folder)


def test_scan_images_reports_each_bad_link_and_keeps_the_rest(tmp_path):
    import os

    from PIL import Image

    from gmiqa.errors import ImageReadError
    from gmiqa.images import list_images, scan_images

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (4, 4)).save(folder / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "secret.png")
    os.symlink("loop.png", folder / "loop.png")
    os.symlink("gone.png", folder / "dangling.png")
    os.symlink(tmp_path / "secret.png", folder / "out.png")
    files, problems = scan_images(folder)
    assert files == [folder / "a.png"]
    assert [p.name for p, _ in problems] == ["dangling.png", "loop.png", "out.png"]
    messages = [m for _, m in problems]
    assert "a link that dangles" in messages[0] and "a link that loops" in messages[1]
    assert "outside the folder" in messages[2] and all("\n" not in m for m in messages)
    with pytest.raises(ImageReadError, match=r"dangling\.png: a link that dangles .*refused"):
        list_images(folder)  # a folder to train on is read whole or not at all
