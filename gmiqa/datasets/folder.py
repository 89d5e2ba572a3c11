"""Your own rated photos: a folder of images with a ``scores.csv`` (and an optional ``dataset.json``).

Taught in ``notebooks/07_finetuning.ipynb`` (the round trip: write a folder, fine-tune,
evaluate, score a new photo). ``gmiqa finetune|evaluate|ablation --dataset folder --root DIR``
and ``gmiqa.datasets.load_dataset("folder", DIR)`` read it::

    DIR/scores.csv      image,mos[,std][,group]   one row per photo (UTF-8, a BOM is dropped)
    DIR/dataset.json    optional: {"name", "citation", "range": [LO, HI], "higher_is_better"}
    DIR/<image names>   paths relative to DIR: spaces, parentheses, unicode, sub-folders

Columns (header, any case): the image as ``image``, ``image_name``, ``filename`` or
``name``; the score as ``mos`` or ``score`` (higher = better) or ``dmos`` (lower = better);
optional ``std`` (or ``sd``), kept as ``dataset.std``; optional ``group`` (or ``content``):
photos of one content, kept on one side of every split. Without a group each photo is its
own content, which is the by-image split of LIVEC and KonIQ.

The score scale is, in this order, the ``score_range`` argument (``--score-range LO HI``),
``range`` in ``dataset.json``, or the scores' own minimum and maximum (said in one line on
stderr). A name missing as written is matched case-insensitively (said once). Refused with
one line naming the file and its line, before anything is trained: a name that leaves the
folder (``..``, absolute, a symlink out), a missing image, one whose header no decoder
reads, a non-numeric, NaN or infinite score, a name listed twice, an empty list, a file
that is not CSV. Each image's header is read here; pixels are decoded when used.

:func:`write_folder` writes any loaded set in this layout: the photos as they are stored,
``scores.csv`` with the published scores, ``dataset.json`` with the scale.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gmiqa.atomic import atomic_write, atomic_write_json, atomic_write_text
from gmiqa.datasets.base import ImageListDataset, IQARecord, decode_score_bytes, normalise_scores
from gmiqa.datasets.paths import check_name, image_in_root, inside, outside_link
from gmiqa.datasets.table import DATASETS
from gmiqa.errors import DatasetError

SCORE_FILE = "scores.csv"
SIDECAR = "dataset.json"
IMAGE_COLUMNS = ("image", "image_name", "filename", "name")
SCORE_COLUMNS = {"mos": True, "score": True, "dmos": False}  # column -> higher is better
STD_COLUMNS = ("std", "sd")
GROUP_COLUMNS = ("group", "content")
SIDECAR_KEYS = ("name", "citation", "range", "higher_is_better")


def note(text: str) -> None:
    """One ``gmiqa: note:`` line on stderr (what the loader decided for the user)."""
    print(f"gmiqa: note: {text}", file=sys.stderr)


def check_range(score_range, where: str) -> tuple[float, float]:
    """``(lo, hi)`` of a declared score scale: two finite numbers, ``lo < hi``."""
    try:
        lo, hi = (float(v) for v in score_range)
    except (TypeError, ValueError):
        raise DatasetError(
            f"{where}: score range {score_range!r} is not two numbers LO HI"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise DatasetError(f"{where}: score range [{lo}, {hi}] must be finite with LO < HI")
    return lo, hi


def read_sidecar(path: Path) -> dict:
    """``dataset.json``: an object of :data:`SIDECAR_KEYS` only ({} when there is none)."""
    if not path.is_file():
        return {}
    try:
        raw = json.loads(decode_score_bytes(path.read_bytes(), path))
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: must hold a JSON object with {', '.join(SIDECAR_KEYS)}")
    unknown = sorted(set(raw) - set(SIDECAR_KEYS))
    if unknown:
        raise DatasetError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(SIDECAR_KEYS)}"
        )
    if "range" in raw:
        raw["range"] = check_range(raw["range"], str(path))
    if "higher_is_better" in raw and not isinstance(raw["higher_is_better"], bool):
        raise DatasetError(f"{path}: higher_is_better must be true or false")
    for key in ("name", "citation"):
        if key in raw and not isinstance(raw[key], str):
            raise DatasetError(f"{path}: {key} must be a string")
    return raw


def _column(header: list[str], choices, what: str, score_file: Path, required: bool):
    """The header cell among ``choices`` (any case); one at most; DatasetError otherwise."""
    found = [h for h in header if h.strip().lower() in choices]
    if len(found) > 1:
        raise DatasetError(f"{score_file}, line 1: columns {found} all name the {what}; keep one")
    if not found and required:
        raise DatasetError(
            f"{score_file}, line 1: header {header} names no {what} column "
            f"(one of {', '.join(choices)}); is it a CSV file with a header row?"
        )
    return found[0] if found else None


def _rows(text: str, score_file: Path):
    """``(header, [(line, cells), ...])`` of a CSV text; DatasetError naming the line."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DatasetError(f"{score_file}, line {line}: a NUL byte; not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, start = [], 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):  # blank lines are not rows
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(f"{score_file}, line {start}: not CSV ({exc})") from None
    if not rows:
        raise DatasetError(f"{score_file}: empty; it needs a header row and one row per image")
    (_, header), body = rows[0], rows[1:]
    return [h.strip() for h in header], body


class _CaseIndex:
    """Relative paths under ``root`` by their lower-case spelling, built on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, list[str]] | None = None

    def find(self, name: str) -> list[str]:
        if self._index is None:
            self._index = {}
            for dirpath, dirs, files in os.walk(self.root, followlinks=False):
                dirs.sort()
                rel = os.path.relpath(dirpath, self.root)
                for f in sorted(files):
                    path = f if rel == "." else f"{rel}/{f}".replace(os.sep, "/")
                    self._index.setdefault(path.lower(), []).append(path)
        return self._index.get(name.replace("\\", "/").lower(), [])


class _Files:
    """Names resolved inside ``root`` as :func:`gmiqa.datasets.paths.image_in_root` does, with
    one ``lstat`` a name and the real path of each folder worked out once (12,000 names)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self._folders: dict[str, bool] = {}  # folder -> its real path lies inside root

    def stat(self, name: str, place: str) -> tuple[str, os.stat_result | None]:
        """``(path, its stat)`` with links followed; ``(path, None)`` when there is no file."""
        check_name(self.root, name, place)
        path = os.path.join(self.root, name)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return path, None
        folder = os.path.dirname(path)
        folder_inside = self._folders.get(folder)
        if folder_inside is None:
            folder_inside = inside(os.path.realpath(folder), self.real_root)
            self._folders[folder] = folder_inside
        if folder_inside and not stat.S_ISLNK(st.st_mode):
            return path, st
        real = os.path.realpath(path)
        if not inside(real, self.real_root):
            raise outside_link(self.root, name, real, place)
        try:
            return path, os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return path, None


def _number(text: str | None, what: str, place: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise DatasetError(f"{place}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DatasetError(f"{place}: {what} {text!r} is NaN or infinite")
    return value


def _check_header(path: str, place: str) -> None:
    """DatasetError naming ``place`` when no decoder reads the header of ``path``.

    Only the header: decoding every photo would make loading 12,000 names take minutes (a
    PNG's EXIF lookup, as in ``gmiqa.images.image_size``, decodes it); a file damaged after
    its header fails, naming itself, when it is first decoded.
    """
    try:
        with Image.open(path) as img:
            width, height = img.size
    except UnidentifiedImageError:
        raise DatasetError(f"{place}: {path} is not an image file Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise DatasetError(
            f"{place}: {path} claims more pixels than Pillow's limit ({exc})"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{place}: {path} is not a readable image ({exc})") from None
    if min(width, height) < 1:
        raise DatasetError(f"{place}: {path} has no pixels ({width}x{height})")


def load_folder(
    root: str | os.PathLike,
    score_range: tuple[float, float] | None = None,
    higher_is_better: bool | None = None,
    transform=None,
) -> ImageListDataset:
    """The rated photos of a folder (see the module docstring); ``dataset.source`` names them.

    Taught in ``notebooks/07_finetuning.ipynb``. ``score_range`` and ``higher_is_better``
    override ``dataset.json`` (a ``dmos`` column is lower-is-better unless told otherwise).
    ``dataset.source`` (folder name, score-file SHA-256, count, scale) goes into every
    result's provenance and the data fingerprint; ``dataset.std`` is the ``std`` column
    (None without one).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    score_file = root / SCORE_FILE
    if not score_file.is_file():
        raise DatasetError(
            f"{score_file}: no such score file; a folder dataset needs {SCORE_FILE} with a "
            "header naming an image column (image, filename) and a score column (mos, dmos)"
        )
    data = score_file.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    header, body = _rows(decode_score_bytes(data, score_file), score_file)
    sidecar = read_sidecar(root / SIDECAR)
    image_col = _column(header, IMAGE_COLUMNS, "image", score_file, True)
    score_col = _column(header, tuple(SCORE_COLUMNS), "score", score_file, True)
    std_col = _column(header, STD_COLUMNS, "standard deviation", score_file, False)
    group_col = _column(header, GROUP_COLUMNS, "group", score_file, False)
    if not body:
        raise DatasetError(f"{score_file}: lists no images (a header row only)")
    position = {h: i for i, h in enumerate(header)}

    index = _CaseIndex(root)
    files = _Files(root)
    seen: dict[tuple[int, int], tuple[int, str]] = {}  # (device, inode) -> (line, name)
    groups: dict[str, int] = {}
    names, paths, raw, std, ref_ids = [], [], [], [], []
    case_matched: list[tuple[int, str, str]] = []
    for line, cells in body:
        place = f"{score_file}, line {line}"
        if len(cells) != len(header):
            raise DatasetError(f"{place}: {len(cells)} field(s), the header has {len(header)}")
        name = cells[position[image_col]].strip()
        if not name:
            raise DatasetError(f"{place}: empty image name")
        path, st = files.stat(name, place)
        if st is None:
            matches = index.find(name)
            if len(matches) > 1:
                raise DatasetError(
                    f"{place}: image {name!r} matches {matches} but differing in case; rename one"
                )
            if not matches:
                raise DatasetError(f"{place}: image {name!r} is not in {root}")
            path, st = files.stat(matches[0], place)
            case_matched.append((line, name, matches[0]))
            if st is None:  # a link to nowhere
                raise DatasetError(f"{place}: image {name!r} is not in {root}")
        if stat.S_ISDIR(st.st_mode):
            raise DatasetError(f"{place}: image {name!r} is a folder, not an image file")
        key = (st.st_dev, st.st_ino)  # one file, however it is spelled or linked
        if key in seen:
            first, first_name = seen[key]
            also = "" if first_name == name else f" as {first_name!r}"
            raise DatasetError(
                f"{place}: image {name!r} is listed twice (first on line {first}{also})"
            )
        seen[key] = (line, name)
        if st.st_size == 0:
            raise DatasetError(f"{place}: image {name!r} is an empty file (0 bytes)")
        _check_header(path, place)
        raw.append(_number(cells[position[score_col]], score_col, place))
        if std_col is not None:
            std.append(_number(cells[position[std_col]], std_col, place))
        if group_col is not None:
            group = cells[position[group_col]].strip()
            if not group:
                raise DatasetError(f"{place}: empty {group_col}")
            ref_ids.append(groups.setdefault(group, len(groups)))
        else:
            ref_ids.append(len(names))
        names.append(name)
        paths.append(path)

    if case_matched:
        line, name, rel = case_matched[0]
        note(f"{score_file}: {len(case_matched)} image name(s) matched a file only "
             f"case-insensitively (first: line {line}, {name!r} -> {rel!r})")  # fmt: skip
    direction = SCORE_COLUMNS[score_col.strip().lower()]
    if higher_is_better is None:
        higher_is_better = bool(sidecar.get("higher_is_better", direction))
    values = np.asarray(raw, dtype=np.float64)
    if score_range is not None:
        lo, hi = check_range(score_range, "--score-range")
        range_from = "declared"
    elif "range" in sidecar:
        (lo, hi), range_from = sidecar["range"], SIDECAR
    else:
        lo, hi = float(values.min()), float(values.max())
        if not lo < hi:
            raise DatasetError(
                f"{score_file}: every score is {lo}: no scale to infer; declare it with "
                f'--score-range LO HI or "range" in {SIDECAR}'
            )
        range_from = "data"
        note(f"{score_file}: no score range declared; taken from the data as [{lo:g}, {hi:g}] "
             f"(declare it with --score-range LO HI or \"range\" in {SIDECAR})")  # fmt: skip
    scores = normalise_scores(values, lo, hi, higher_is_better, source=score_file)
    records = [
        IQARecord(name, float(s), float(r), ref, 0, 0, str(p))
        for name, s, r, ref, p in zip(names, scores, values, ref_ids, paths)
    ]
    dataset = ImageListDataset(records, "folder", root, transform)
    dataset.std = np.asarray(std, dtype=np.float64) if std_col is not None else None
    dataset.source = {
        "name": sidecar.get("name") or root.resolve().name,
        "folder": root.resolve().name,
        "score_file": SCORE_FILE,
        "score_file_sha256": sha256,
        "images": len(records),
        "score_range": [lo, hi],
        "score_range_from": range_from,
        "higher_is_better": bool(higher_is_better),
        "groups": len(groups) if group_col is not None else None,
        "citation": sidecar.get("citation"),
    }
    return dataset


def write_folder(
    dataset,
    dest: str | os.PathLike,
    score_range: tuple[float, float] | None = None,
    *,
    name: str | None = None,
    citation: str | None = None,
    higher_is_better: bool | None = None,
) -> Path:
    """Write a loaded set as a folder dataset in ``dest`` (a new or empty folder); return it.

    Taught in ``notebooks/07_finetuning.ipynb``. The photos are copied byte for byte under
    their record names, ``scores.csv`` lists each ``raw_score`` in the dataset's order
    (``mos``, or ``dmos`` when lower is better; ``group`` when contents repeat), and
    ``dataset.json`` records the scale: ``score_range`` and ``higher_is_better`` default
    to the set's row of :mod:`gmiqa.datasets.table` (a folder set's: its own). :func:`load_folder` then gives the same
    scores, order and splits as the set's own loader.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DatasetError(f"{dest}: exists and is not an empty folder; choose a new one")
    entry = DATASETS.get(getattr(dataset, "name", ""))
    source = getattr(dataset, "source", None) or {}  # a folder set: its own scale
    if score_range is None:
        score_range = source.get("score_range") or (entry.score_range if entry else None)
    if higher_is_better is None:
        higher_is_better = source.get("higher_is_better", entry.higher_is_better if entry else True)
    records = list(dataset.records)
    ref_ids = [r.ref_id for r in records]
    grouped = len(set(ref_ids)) < len(ref_ids)
    for r in records:
        if r.path is None:
            raise DatasetError(f"{dataset!r}: {r.name} is generated, not a file; nothing to copy")
    dest.mkdir(parents=True, exist_ok=True)
    for r in records:
        target = image_in_root(dest, r.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp, src=r.path: shutil.copyfile(src, tmp))
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    std = getattr(dataset, "std", None)
    writer.writerow(["image", "mos" if higher_is_better else "dmos"]
                    + (["std"] if std is not None else []) + (["group"] if grouped else []))  # fmt: skip
    for i, r in enumerate(records):
        row = [r.name, repr(float(r.raw_score))]  # repr: the float read back is the same float
        row += [repr(float(std[i]))] if std is not None else []
        row += [str(r.ref_id)] if grouped else []
        writer.writerow(row)
    atomic_write_text(dest / SCORE_FILE, text.getvalue())
    sidecar = {"name": name or dest.name, "higher_is_better": bool(higher_is_better)}
    if score_range is not None:
        sidecar["range"] = list(check_range(score_range, "score_range"))
    if citation:
        sidecar["citation"] = citation
    atomic_write_json(dest / SIDECAR, sidecar)
    return dest
