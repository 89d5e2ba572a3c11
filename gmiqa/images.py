"""Reading images of any mode into one representation: ``uint8`` RGB, shape (H, W, 3).

Taught in ``notebooks/00_quickstart.ipynb``. Conversions, each chosen so that a score
never depends on how a file happened to be stored:

- grayscale (L, I;16, I, F) -> the grey value copied to R, G and B;
- 16-bit -> 8-bit by rounding ``v / 257`` (the exact inverse of 8->16-bit expansion);
- RGBA / LA / palette with transparency -> alpha-composited on a white background
  (what a viewer shows);
- CMYK and YCbCr JPEG -> RGB through Pillow's conversion (Adobe-inverted CMYK handled by
  Pillow's decoder);
- an EXIF orientation tag (phone photos stored sideways) -> the pixels turned upright
  (``PIL.ImageOps.exif_transpose``), so the image is scored as it is shown;
- an animated GIF (or WebP, APNG) -> its first frame, the one a still viewer shows.

A missing, empty, truncated, or non-image file (whatever exception Pillow's decoder
raises on it), and one whose header claims more pixels than Pillow's decompression-bomb
limit, raises :class:`~gmiqa.errors.ImageReadError`
naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from gmiqa.errors import ImageReadError

# Never accept silently truncated files: a truncated JPEG must be an error, not grey pixels.
ImageFile.LOAD_TRUNCATED_IMAGES = False

IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif",
)  # fmt: skip


def _to_rgb_uint8(img: Image.Image, path: Path) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ImageReadError(f"{path}: float image contains NaN or infinite values")
        hi = 1.0 if arr.max(initial=0.0) <= 1.0 else 255.0
        arr = np.clip(np.round(arr / hi * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    elif mode == "RGB;16" or mode.startswith("BGR"):
        img = img.convert("RGB")
    elif mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.dtype != np.uint8:  # e.g. 48-bit RGB decoded as 16-bit per channel
        arr = np.clip(np.round(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


EXIF_ORIENTATION = 0x0112


@contextmanager
def _open(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` whose every failure is an ImageReadError naming ``path``."""
    if not path.exists():
        raise ImageReadError(f"{path}: no such image file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file")
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes), not an image")
        with Image.open(path) as img:
            yield img
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            f"{path}: refused, its header claims more pixels than Pillow's limit ({exc})"
        ) from None
    except ImageReadError:
        raise
    except Exception as exc:
        # Pillow's decoders answer hostile bytes with OSError, SyntaxError, ValueError,
        # EOFError, struct.error, IndexError, ZeroDivisionError...: all mean a bad file.
        raise ImageReadError(
            f"{path}: corrupt or truncated image ({type(exc).__name__}: {exc})"
        ) from None


def _upright(img: Image.Image) -> Image.Image:
    """The image as a viewer shows it: its EXIF orientation (if any) applied to the pixels."""
    if img.getexif().get(EXIF_ORIENTATION, 1) in (None, 1):
        return img
    return ImageOps.exif_transpose(img)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image file as it is shown (EXIF orientation applied), read from
    its header; raise ImageReadError naming the file. Taught in ``00_quickstart``."""
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        if img.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):  # turned by 90 degrees
            w, h = h, w
    return h, w


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read ``path`` as ``uint8`` RGB (H, W, 3), upright; raise ImageReadError naming the file.

    Taught in ``notebooks/00_quickstart.ipynb``.
    """
    path = Path(path)
    with _open(path) as img:
        img.load()
        arr = _to_rgb_uint8(_upright(img), path)
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise ImageReadError(f"{path}: unexpected image shape {arr.shape}")
    return arr


LINK_RULE = (
    "A symlink in a scored folder that leads out of it is not followed: it is reported in "
    "one line and the folder's other photos are scored (exit status 2); give the file "
    "itself to score it. A link that dangles or loops is reported the same way."
)


def scan_images(folder: str | os.PathLike) -> tuple[list[Path], list[tuple[Path, str]]]:
    """``(image files, problems)`` anywhere under ``folder``, each list sorted by path.

    Taught in ``notebooks/00_quickstart.ipynb``. A *problem* is ``(path, one-line
    message naming it)`` for an entry with an image suffix that cannot be read as a file
    of the folder: a symlink that dangles, one that loops, and one that leads out of
    ``folder`` (a file, or a folder on the way), which is never followed: a folder given
    to be scored or trained on is not a door to other files (:data:`LINK_RULE`). The
    message says what is wrong; the caller adds what it did. Links that stay inside are
    followed. ``gmiqa score`` reports each problem and scores the files;
    :func:`list_images` refuses the folder at the first one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: no such folder of images")
    real_root = os.path.realpath(folder).rstrip(os.sep) + os.sep
    files, problems = [], []
    for p in folder.rglob("*"):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            if not stat.S_ISREG(p.stat().st_mode):
                continue  # a folder named like an image, a device, a pipe
        except OSError as exc:
            if p.is_symlink():
                what = "loops" if exc.errno == errno.ELOOP else f"dangles ({exc.strerror})"
                problems.append((p, f"{p}: a link that {what}"))
            else:
                problems.append((p, f"{p}: cannot be read ({exc.strerror or exc})"))
            continue
        real = os.path.realpath(p)
        if not real.startswith(real_root):
            problems.append((p, f"{p}: a link to {real}, outside the folder {folder}"))
            continue
        files.append(p)
    files.sort()
    problems.sort()
    if not files and not problems:
        raise ImageReadError(f"{folder}: contains no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files, problems


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files anywhere under ``folder`` (sorted); raise if there are none.

    Taught in ``notebooks/00_quickstart.ipynb``. Symlinks that stay inside ``folder`` are
    followed; the first one that leads out of it (a file, or a folder on the way), dangles
    or loops raises ImageReadError naming it (:func:`scan_images`): a folder to train on
    is read whole or not at all.
    """
    files, problems = scan_images(folder)
    if problems:
        raise ImageReadError(f"{problems[0][1]}; refused (give the file itself to read it)")
    if not files:
        raise ImageReadError(f"{folder}: contains no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 -> float64 in [0, 1]; float input is returned as float64 unchanged."""
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    return np.asarray(img, dtype=np.float64)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8 with MATLAB's ``im2uint8`` rounding (half away from zero)."""
    if img.dtype == np.uint8:
        return img
    x = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0)
    return np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
