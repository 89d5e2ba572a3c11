"""What every IQA dataset shares: the record of one image and a lazily-decoding Dataset.

Taught in ``notebooks/07_finetuning.ipynb``.

A *record* carries an item's labels without its pixels, so splits and samplers never
decode an image. An item is the record as a dict plus ``"image"``: a float tensor
(3, H, W) in [0, 1] at the file's native resolution (never resized).

Scores are normalised to [0, 1] with higher = better for every set (:func:`normalise_scores`);
the score as published stays in ``raw_score``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gmiqa.errors import DatasetError
from gmiqa.images import load_image

RECORD_KEYS = ("name", "score", "raw_score", "ref_id", "type", "level")
# How far (a fraction of the scale's span) a published score may spill outside its
# documented scale before it is refused (normalise_scores): LIVE's DMOS spills a few
# points past 0..100; a score a quarter of the span out is a wrong column or scale.
RANGE_TOLERANCE = 0.25


@dataclass(frozen=True)
class IQARecord:
    """Labels of one image: see ``notebooks/07_finetuning.ipynb``.

    ``ref_id`` identifies the content (the pristine reference for synthetic sets, the
    image itself for authentic sets); ``type``/``level`` are 0 where a set has none.
    ``record["score"]`` and ``record.score`` both work.
    """

    name: str
    score: float  # [0, 1], higher = better
    raw_score: float  # as published (MOS or DMOS, the set's own scale and direction)
    ref_id: int
    type: int = 0
    level: int = 0
    path: str | None = None  # the image file; None for generated images

    def __getitem__(self, key: str):
        return getattr(self, key)

    def to_dict(self) -> dict:
        return asdict(self)


def record_field(records, key: str) -> np.ndarray:
    """One label of every record as an array (records: IQARecords, dicts, or a dataset).

    Objects that offer ``column(key)`` (the synthetic set's lazy records) answer
    without computing what ``key`` does not need. See ``notebooks/07_finetuning.ipynb``.
    """
    if hasattr(records, "records"):  # a dataset
        records = records.records
    if hasattr(records, "column"):
        return np.asarray(records.column(key))
    values = [r[key] if isinstance(r, dict) else getattr(r, key) for r in records]
    return np.asarray(values)


def normalise_scores(
    raw: Sequence[float] | np.ndarray,
    low: float,
    high: float,
    higher_is_better: bool,
    *,
    source: str | os.PathLike | None = None,
    where: Sequence[str] | None = None,
) -> np.ndarray:
    """Map raw MOS/DMOS on the documented scale [low, high] to [0, 1], higher = better.

    Some published scores fall slightly outside their documented scale (LIVE's DMOS
    does); the scale is then widened to cover them rather than clipping, which would
    create ties and change rank correlations. A score further than
    :data:`RANGE_TOLERANCE` of the scale's span outside it (e.g. below -25 or above 125
    on 0..100) is not a spill but a wrong column, scale or typo that would squeeze every
    other score: it raises DatasetError. So do a NaN or infinite score and an empty list. Both name
    ``source`` (the score file) and ``where[i]`` (e.g. ``"line 7"``) of the first one.
    See ``notebooks/07_finetuning.ipynb``.
    """
    values = np.asarray(raw, dtype=np.float64)
    if not values.size:
        raise DatasetError(f"{source or 'score list'}: lists no scores (no images)")
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values.ravel()))[0])
        place = where[bad] if where is not None and bad < len(where) else f"entry {bad + 1}"
        raise DatasetError(
            f"{source or 'score list'}, {place}: score {values.ravel()[bad]} is NaN or "
            f"infinite ({int((~np.isfinite(values)).sum())} such score(s) in all)"
        )
    span = float(high) - float(low)
    far = (values < low - RANGE_TOLERANCE * span) | (values > high + RANGE_TOLERANCE * span)
    if far.any():
        bad = int(np.flatnonzero(far.ravel())[0])
        place = where[bad] if where is not None and bad < len(where) else f"entry {bad + 1}"
        raise DatasetError(
            f"{source or 'score list'}, {place}: score {values.ravel()[bad]:g} lies far "
            f"outside the set's scale {low:g}..{high:g} (more than {RANGE_TOLERANCE:.0%} of "
            f"its span; {int(far.sum())} such score(s) in all)"
        )
    lo = min(float(low), float(values.min()))
    hi = max(float(high), float(values.max()))
    scaled = (values - lo) / (hi - lo)
    return scaled if higher_is_better else 1.0 - scaled


def read_score_text(path: str | os.PathLike) -> str:
    """The text of a score file (UTF-8, an optional byte-order mark dropped).

    A byte that is not UTF-8 raises DatasetError naming the file, the line and the byte.
    See ``notebooks/07_finetuning.ipynb``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read score file ({exc.strerror or exc})") from None
    return decode_score_bytes(data, path)


def decode_score_bytes(data: bytes, path: str | os.PathLike) -> str:
    """The bytes of score file ``path`` as text, as :func:`read_score_text` reads them.

    See ``notebooks/07_finetuning.ipynb``.
    """
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (spreadsheet exports)
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}, line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text "
            "(save the score file as UTF-8)"
        ) from None


def csv_rows(score_file: str | os.PathLike, columns: Iterable[str]):
    """``(line number, row dict)`` of each data row of a CSV score file (line 2 onward).

    Read with :func:`read_score_text`; a header without one of ``columns``, and text the
    csv module cannot parse, raise DatasetError naming the file (and the line). See
    ``notebooks/07_finetuning.ipynb``.
    """
    with io.StringIO(read_score_text(score_file), newline="") as fh:
        reader = csv.DictReader(fh)
        line = 1
        try:  # csv.Error: an over-long field, a NUL byte, a quote left open
            missing = set(columns) - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(
                    f"{score_file}: header {reader.fieldnames} lacks column(s) {sorted(missing)}"
                )
            for line, row in enumerate(reader, start=2):
                yield line, row
        except csv.Error as exc:
            raise DatasetError(f"{score_file}, line {line + 1}: not CSV text ({exc})") from None


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 tensor (3, H, W) in [0, 1].

    See ``notebooks/07_finetuning.ipynb``.
    """
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:  # Pillow's arrays are read-only; torch wants to own one
        image = image.copy()
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)


class ImageListDataset(Dataset):
    """A list of image files with their records; decodes an image only when indexed.

    Every real-set loader (``load_dataset``) returns one of these. ``transform`` (optional)
    is applied to the image tensor, e.g. a random horizontal flip while fine-tuning.
    Taught in ``notebooks/07_finetuning.ipynb``.
    """

    def __init__(
        self,
        records: Sequence[IQARecord],
        name: str,
        root: str | os.PathLike | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(records) == 0:
            raise DatasetError(f"{name}: no images found under {root}")
        self.records: list[IQARecord] = list(records)
        self.name = name
        self.root = Path(root) if root is not None else None
        self.transform = transform
        # where the records came from, for provenance and the fingerprint (folder sets)
        self.source: dict | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        image = image_to_tensor(load_image(record.path))
        if self.transform is not None:
            image = self.transform(image)
        item = {key: getattr(record, key) for key in RECORD_KEYS}
        item["image"] = image
        return item

    def subset_records(self, indices: Iterable[int]) -> list[IQARecord]:
        return [self.records[int(i)] for i in indices]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} images, root={self.root})"


def source_provenance(dataset) -> dict:
    """``{"data_source": dataset.source}`` for a set that names its source (a folder set,
    :func:`gmiqa.datasets.folder.load_folder`), else ``{}``: provenance blocks add it.

    See ``notebooks/07_finetuning.ipynb``.
    """
    source = getattr(dataset, "source", None)
    return {"data_source": dict(source)} if source else {}


def resolve_root(root: str | os.PathLike, default_dir: str, markers: Sequence[str]) -> Path:
    """The dataset folder: ``root`` itself or ``root/default_dir``, whichever holds a marker.

    Users point at either the extracted folder or the folder they extracted into.
    Raises DatasetError naming every path that was tried.
    See ``notebooks/07_finetuning.ipynb``.
    """
    root = Path(root).expanduser()
    candidates = [root, root / default_dir]
    for folder in candidates:
        for marker in markers:
            if (folder / marker).exists():
                return folder
    if not root.exists():
        raise DatasetError(f"{root}: dataset folder does not exist")
    tried = ", ".join(str(c / m) for c in candidates for m in markers)
    raise DatasetError(f"missing score file: none of {tried} exists")


def case_insensitive_index(folder: Path) -> dict[str, Path]:
    """Lower-cased file name -> path for the files directly in ``folder``.

    See ``notebooks/07_finetuning.ipynb``.
    """
    if not folder.is_dir():
        raise DatasetError(f"{folder}: image folder does not exist")
    return {p.name.lower(): p for p in folder.iterdir() if p.is_file()}


def require_image(path: Path, score_file: Path) -> None:
    """DatasetError naming both files when a score file lists an image that is missing.

    See ``notebooks/07_finetuning.ipynb``.
    """
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise DatasetError(
            f"{score_file} names image {path.name[:80]!r}, which cannot be a file here "
            f"({exc.strerror or exc})"
        ) from None
    if not found:
        raise DatasetError(f"{score_file} names image {path.name}, but {path} does not exist")
