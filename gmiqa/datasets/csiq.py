"""CSIQ (Larson & Chandler, J. Electronic Imaging 2010): 30 references, 6 types, 866 images.

Taught in ``notebooks/07_finetuning.ipynb``.

Two layouts are read:

- **official**: ``csiq.DMOS.xlsx`` next to ``dst_imgs/<type>/<ref>.<TYPE>.<level>.png``
  with folders awgn, jpeg, jpeg2000, fnoise, blur, contrast (file tokens AWGN, JPEG,
  jpeg2000, fnoise, BLUR, contrast; matched case-insensitively). The workbook's sheet
  ``all_by_image`` holds one row per distorted image under a header row (row 4 of the
  official file, columns D..I) ``image, dst_idx, dst_type, dst_lev, dmos_std, dmos``,
  where ``dst_type`` is one of noise, jpeg, "jpeg 2000", fnoise, blur, contrast. (Layout
  checked against public IQA code that parses the official workbook, e.g. scripts that
  assert ``all_by_image`` row 4 == [image, dst_idx, dst_type, dst_lev, dmos_std, dmos]
  and count 866 rows; the header row is located by its names, not by its number.)
- **flat**: image files ``<ref>.<TYPE>.<level>.png`` next to ``dmos.csv`` with columns
  ``image,dmos`` (the layout of the ten-image sample used in the tests).

DMOS is on 0..1 with lower = better; normalised by ``1 - DMOS``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gmiqa.datasets.base import (
    ImageListDataset,
    IQARecord,
    case_insensitive_index,
    csv_rows,
    normalise_scores,
    resolve_root,
)
from gmiqa.datasets.table import score_scale
from gmiqa.errors import DatasetError

DEFAULT_DIR = "csiq"
SCORE_FILE = "csiq.DMOS.xlsx"
FLAT_SCORE_FILE = "dmos.csv"
SHEET = "all_by_image"
SCORE_RANGE, HIGHER_IS_BETTER = score_scale("csiq")  # gmiqa.datasets.table
# type id -> (folder, file-name token, dst_type in the workbook)
TYPES = {
    1: ("awgn", "AWGN", "noise"),
    2: ("jpeg", "JPEG", "jpeg"),
    3: ("jpeg2000", "jpeg2000", "jpeg 2000"),
    4: ("fnoise", "fnoise", "fnoise"),
    5: ("blur", "BLUR", "blur"),
    6: ("contrast", "contrast", "contrast"),
}
TYPE_NAMES = {k: v[0] for k, v in TYPES.items()}
_BY_TOKEN = {v[1].lower(): k for k, v in TYPES.items()}
_BY_SHEET_TYPE = {v[2]: k for k, v in TYPES.items()}


def find_root(root: str | os.PathLike) -> Path:
    """The CSIQ folder under or at ``root`` (either layout); DatasetError if absent.

    See ``notebooks/07_finetuning.ipynb``.
    """
    return resolve_root(root, DEFAULT_DIR, [SCORE_FILE, FLAT_SCORE_FILE])


def _ref_name(value) -> str:
    # The workbook stores the numeric reference name 1600 as a number.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _read_workbook(path: Path) -> list[tuple[str, int, int, float, str]]:
    try:
        import openpyxl  # optional (the notebooks extra): imported only where used
    except ImportError:
        raise DatasetError(
            f"reading {path} needs openpyxl: pip install openpyxl (or gmiqa[notebooks])"
        ) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise DatasetError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    try:
        if SHEET not in book.sheetnames:
            raise DatasetError(f"{path}: has no sheet {SHEET!r} (sheets: {book.sheetnames})")
        rows = list(book[SHEET].iter_rows(values_only=True))
    finally:
        book.close()
    header_at = next(
        (i for i, r in enumerate(rows[:20]) if "image" in r and "dmos" in r and "dst_lev" in r),
        None,
    )
    if header_at is None:
        raise DatasetError(f"{path}: sheet {SHEET!r} has no header row with image, dst_lev, dmos")
    header = rows[header_at]
    col = {name: header.index(name) for name in ("image", "dst_type", "dst_lev", "dmos")}
    entries = []
    for row_no, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if row is None or all(row[c] is None for c in col.values()):
            continue  # padding rows
        image, dst_type, level, dmos = (
            row[col[k]] for k in ("image", "dst_type", "dst_lev", "dmos")
        )
        type_id = _BY_SHEET_TYPE.get(str(dst_type).strip().lower())
        if image is None or type_id is None or not isinstance(level, int | float):
            raise DatasetError(f"{path}, sheet {SHEET}, row {row_no}: cannot read {row!r}")
        if not isinstance(dmos, int | float):
            raise DatasetError(
                f"{path}, sheet {SHEET}, row {row_no}: dmos {dmos!r} is not a number"
            )
        entries.append(
            (_ref_name(image), type_id, int(level), float(dmos), f"sheet {SHEET}, row {row_no}")
        )
    return entries


def _read_flat(path: Path) -> list[tuple[str, int, int, float, str]]:
    entries = []
    for line, row in csv_rows(path, ("image", "dmos")):
        parts = (row["image"] or "").strip().split(".")
        type_id = _BY_TOKEN.get(parts[1].lower()) if len(parts) == 4 else None
        level = parts[2] if len(parts) == 4 else ""
        if type_id is None or not (level.isascii() and level.isdigit()) or len(level) > 9:
            raise DatasetError(f"{path}, line {line}: {row['image']!r} is not like 1600.AWGN.1.png")
        try:
            dmos = float(row["dmos"])
        except (TypeError, ValueError):
            raise DatasetError(
                f"{path}, line {line}: dmos {row['dmos']!r} is not a number"
            ) from None
        entries.append((parts[0], type_id, int(parts[2]), dmos, f"line {line}"))
    return entries


def _distorted_root(folder: Path, score_file: Path) -> Path:
    # dst_imgs.zip unpacked into the folder gives dst_imgs/<type>/; unpacked into a
    # folder of its own name, dst_imgs/dst_imgs/<type>/; an archive without the top
    # folder, <type>/ directly. Accept all three.
    for base in (folder / "dst_imgs", folder / "dst_imgs" / "dst_imgs", folder):
        if base.is_dir() and any(p.name.lower() == "awgn" for p in base.iterdir() if p.is_dir()):
            return base
    raise DatasetError(
        f"{score_file} found, but no folder {folder / 'dst_imgs'} with the type folders "
        "awgn, jpeg, jpeg2000, fnoise, blur, contrast (unpack dst_imgs.zip there)"
    )


def load_csiq(root: str | os.PathLike, transform=None) -> ImageListDataset:
    """CSIQ from the official layout or the flat layout. See ``07_finetuning``."""
    folder = find_root(root)
    official = (folder / SCORE_FILE).exists()
    score_file = folder / (SCORE_FILE if official else FLAT_SCORE_FILE)
    entries = _read_workbook(score_file) if official else _read_flat(score_file)
    indexes: dict[Path, dict[str, Path]] = {}
    if official:
        base = _distorted_root(folder, score_file)
        subdirs = {p.name.lower(): p for p in base.iterdir() if p.is_dir()}
    ref_ids = {name: i for i, name in enumerate(sorted({e[0] for e in entries}))}
    scores = normalise_scores([e[3] for e in entries], *SCORE_RANGE, HIGHER_IS_BETTER,
                              source=score_file, where=[e[4] for e in entries])  # fmt: skip
    records = []
    for (ref, type_id, level, dmos, _), score in zip(entries, scores):
        sub, token, _ = TYPES[type_id]
        name = f"{ref}.{token}.{level}.png"
        image_dir = subdirs.get(sub, base / sub) if official else folder
        if image_dir not in indexes:
            indexes[image_dir] = case_insensitive_index(image_dir)
        path = indexes[image_dir].get(name.lower())
        if path is None:
            raise DatasetError(
                f"{score_file} names image {name}, but {image_dir / name} does not exist"
            )
        records.append(IQARecord(name, float(score), dmos, ref_ids[ref], type_id, level, str(path)))
    return ImageListDataset(records, "csiq", folder, transform)
