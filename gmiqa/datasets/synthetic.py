"""The synthetic KADID-style set: pristine images x distortion types x levels.

Taught in ``notebooks/01_distortions.ipynb``.

Each item is one pristine reference (prepared once with :func:`fit_to_size`) distorted
by ``gmiqa.distortions.distort(reference, type, level, seed)``. Labels: ``ref_id``
(content), ``type`` (1..25), ``level`` (1..5, 1 mildest) and ``score``, a full-reference
pseudo-quality in [0, 1] (higher = better) from ``gmiqa.fr_quality.pseudo_quality``
against the reference (see that module for the measures).

**On the fly, with an optional disk cache.** Images are generated when indexed: the
seed of item (ref, type, level) is derived from ``(seed, ref_id, type, level)``, so an
item is the same image every epoch and in every worker, and nothing has to be stored:
25 types x 5 levels of 100 references at 512x384 would be about 7 GB as raw pixels.
Pseudo-scores are needed for *every* item before training (to split, normalise and
plot), so they are computed once (``score_all``), kept in memory and, with
``cache_dir``, saved to a small ``.npz`` (written atomically). With ``cache_dir`` the
generated images are also saved there as lossless PNG, which trades disk for the time
of the slower distortions on small machines; a cached image is bit-identical to a
generated one. Cache entries are keyed by a fingerprint of the prepared references, the
seed and the source code of the distortions and the pseudo-quality, so a changed input
or changed code never reads stale data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from gmiqa import distortions, fr_quality  # module attributes: tests replace them
from gmiqa.atomic import atomic_write
from gmiqa.datasets.bank import build_synthetic_bank
from gmiqa.datasets.base import IQARecord, image_to_tensor
from gmiqa.datasets.pristine import PristineImage, fit_to_size, load_pristine
from gmiqa.distortions import compression
from gmiqa.errors import ConfigError, ImageReadError
from gmiqa.profiles import ALL_LEVELS, ALL_TYPES, get_profile

_CACHE_VERSION = 1
_STORAGE_SALT = 7  # seeds the storage quality of an item apart from its distortion


def item_seed(seed: int, ref_id: int, type_id: int, level: int) -> int:
    """The distortion seed of one item: independent of item order and of other items.

    See ``notebooks/01_distortions.ipynb``.
    """
    return int(
        np.random.SeedSequence([int(seed), int(ref_id), int(type_id), int(level)]).generate_state(
            1
        )[0]
    )


# The version of the code that makes the synthetic images and their pseudo-quality scores
# (gmiqa.distortions, gmiqa.fr_quality). It names the cache and flows into every
# pre-training stage's fingerprint, so it changes only when that code's *outputs* change:
# tests/distortions/test_golden_outputs.py fails on any such change and says to bump it.
# Moving or reformatting the code keeps it, and with it every run folder made before. Its
# value is the sha256 of those source files when the constant replaced that hash.
DISTORTION_CODE_VERSION = "b21964ed33c27f26f61093cc46f2efb3d7020211a5fdbe9037638630fda512c8"


def _code_fingerprint() -> str:
    """The version of the code that makes images and scores (cached results follow it)."""
    return DISTORTION_CODE_VERSION


def _as_set(values, what: str, allowed: Sequence[int]) -> tuple[int, ...]:
    out = tuple(sorted({int(v) for v in values}))
    bad = [v for v in out if v not in allowed]
    if bad or not out:
        raise ConfigError(f"{what} {list(values)!r}: choose from {allowed[0]}..{allowed[-1]}")
    return out


class _SyntheticRecords(Sequence):
    """The records of a :class:`SyntheticIQADataset`; a score is computed on first access."""

    def __init__(self, dataset: SyntheticIQADataset) -> None:
        self._ds = dataset

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._ds.record(int(index))

    def column(self, key: str) -> np.ndarray:
        """One label for every item; only ``score``/``raw_score`` compute anything."""
        ds = self._ds
        if key in ("score", "raw_score"):
            return ds.score_all()
        if key == "name":
            return np.asarray(ds.names)
        columns = {"ref_id": ds.ref_ids, "type": ds.types, "level": ds.levels}
        if key not in columns:
            raise KeyError(key)
        return columns[key].copy()


class SyntheticIQADataset(Dataset):
    """Pristine images x types x levels with pseudo-quality labels (``01_distortions``).

    ``pristine``: None (the photos packaged with the installed libraries), a folder of
    images, or a list of :class:`PristineImage`. ``image_size`` = (height, width) of the
    prepared references. Items are dicts with ``image`` (3, H, W) in [0, 1], ``score``,
    ``raw_score`` (the same pseudo-quality), ``ref_id``, ``type``, ``level`` and ``name``.
    Item order: reference-major, then type, then level. Call ``score_all()`` before
    handing the set to a DataLoader with workers: scores computed inside a worker stay
    in that worker's memory.
    """

    def __init__(
        self,
        pristine: str | os.PathLike | Sequence[PristineImage] | None = None,
        image_size: tuple[int, int] = (384, 512),
        types: Iterable[int] = ALL_TYPES,
        levels: Iterable[int] = ALL_LEVELS,
        seed: int = 0,
        max_pristine: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = True,
        storage_jpeg: tuple[int, int] | None = None,
    ) -> None:
        if isinstance(pristine, str | os.PathLike) or pristine is None:
            refs = load_pristine(pristine, max_images=max_pristine)
        else:
            refs = list(pristine)[: max_pristine if max_pristine is not None else None]
        if not refs:
            raise ImageReadError(f"no pristine images in {pristine!r}")
        ids = [r.ref_id for r in refs]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"pristine images have repeated ref_id values: {ids}")
        if len(image_size) != 2 or min(int(s) for s in image_size) < 1:
            raise ConfigError(f"image_size {image_size!r} must be (height, width)")
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.types_used = _as_set(types, "distortion types", ALL_TYPES)
        self.levels_used = _as_set(levels, "levels", ALL_LEVELS)
        self.seed = int(seed)
        self.progress = progress
        if storage_jpeg is not None:
            lo, hi = (int(q) for q in storage_jpeg)
            if not 1 <= lo <= hi <= 95:
                raise ConfigError(f"storage_jpeg {storage_jpeg!r}: give LO <= HI within 1..95")
            storage_jpeg = (lo, hi)
        self.storage_jpeg = storage_jpeg
        self.references = [
            PristineImage(r.ref_id, r.name, r.source, fit_to_size(r.image, self.image_size))
            for r in refs
        ]
        self._by_ref = {r.ref_id: pos for pos, r in enumerate(self.references)}
        stems = [r.name for r in self.references]
        unique_names = len(set(stems)) == len(stems)
        keys, names = [], []
        for ref in self.references:
            prefix = ref.name if unique_names else f"{ref.ref_id}-{ref.name}"
            for t in self.types_used:
                for lv in self.levels_used:
                    keys.append((ref.ref_id, t, lv))
                    names.append(f"{prefix}_{t:02d}_{lv:02d}")
        keys_arr = np.asarray(keys, dtype=np.int64).reshape(-1, 3)
        self.ref_ids, self.types, self.levels = keys_arr[:, 0], keys_arr[:, 1], keys_arr[:, 2]
        self.names = names
        self._scores = np.full(len(keys), np.nan)
        self._bank = None  # an ImageBank of this set's items, once built (see build_bank)
        self.fingerprint = self._fingerprint()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self._load_cached_scores()

    @classmethod
    def from_profile(
        cls,
        profile,
        pristine: str | os.PathLike | Sequence[PristineImage] | None = None,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
    ) -> SyntheticIQADataset:
        """The set a profile's ``data`` settings describe. See ``01_distortions``."""

        data = get_profile(profile).data
        return cls(
            pristine,
            image_size=data.image_size,
            types=data.types,
            levels=data.levels,
            seed=seed,
            max_pristine=data.max_pristine,
            cache_dir=cache_dir,
            storage_jpeg=data.storage_jpeg,
        )

    # -- identity of the generated data ------------------------------------------------
    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        meta = {"v": _CACHE_VERSION, "size": self.image_size, "seed": self.seed}
        if self.storage_jpeg is not None:  # absent otherwise: earlier sets keep their keys
            meta["storage_jpeg"] = list(self.storage_jpeg)
        digest.update(json.dumps(meta, sort_keys=True).encode())
        digest.update(_code_fingerprint().encode())
        for ref in self.references:
            digest.update(f"{ref.ref_id}:{ref.name}:".encode())
            digest.update(hashlib.sha256(ref.image.tobytes()).digest())
        return digest.hexdigest()[:16]

    @property
    def _scores_path(self) -> Path:
        return self.cache_dir / f"scores-{self.fingerprint}.npz"

    @property
    def _images_dir(self) -> Path:
        return self.cache_dir / f"images-{self.fingerprint}"

    def _load_cached_scores(self) -> None:
        path = self._scores_path
        if not path.is_file():
            return
        try:
            with np.load(path) as data:
                keys, scores = data["keys"], data["scores"]
        except (OSError, ValueError, KeyError):
            return  # an unreadable cache is recomputed, never trusted
        lookup = {tuple(k): s for k, s in zip(keys.tolist(), scores.tolist())}
        for i, key in enumerate(
            zip(self.ref_ids.tolist(), self.types.tolist(), self.levels.tolist())
        ):
            if key in lookup:
                self._scores[i] = lookup[key]

    def save_scores(self) -> Path | None:
        """Write the computed scores to ``cache_dir`` (merged with what is there)."""
        if self.cache_dir is None:
            return None
        done = np.isfinite(self._scores)
        keys = np.stack([self.ref_ids, self.types, self.levels], axis=1)[done]
        scores = self._scores[done]
        path = self._scores_path
        if path.is_file():
            try:
                with np.load(path) as old:
                    mine = {tuple(k) for k in keys.tolist()}
                    keep = [i for i, k in enumerate(old["keys"].tolist()) if tuple(k) not in mine]
                    keys = np.concatenate([keys, old["keys"][keep]])
                    scores = np.concatenate([scores, old["scores"][keep]])
            except (OSError, ValueError, KeyError):
                pass

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=keys.astype(np.int64), scores=scores.astype(np.float64))

        return atomic_write(path, write)

    # -- items -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def _check(self, index: int) -> int:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        return index

    def reference_image(self, index: int) -> np.ndarray:
        """The prepared pristine reference (uint8) of item ``index``."""
        return self.references[self._by_ref[int(self.ref_ids[self._check(index)])]].image

    # -- the image bank: every item made once, in parallel ------------------------------
    def build_bank(
        self, cache_dir: str | os.PathLike | None = None, workers: int | None = None,
        progress: bool | None = None,
    ):  # fmt: skip
        """Make every item once, in a process pool, into an image bank; items then read from it.

        See :func:`gmiqa.datasets.bank.build_synthetic_bank` (``06_graph_pretraining``).
        ``cache_dir`` defaults to this set's own. Returns the
        :class:`~gmiqa.datasets.bank.ImageBank`.
        """

        folder = cache_dir if cache_dir is not None else self.cache_dir
        if folder is None:
            raise ConfigError("build_bank needs a cache_dir (the set has none)")
        show = self.progress if progress is None else progress
        return build_synthetic_bank(self, folder, workers, show)

    def attach_bank(self, bank) -> None:
        """Read items and scores from ``bank`` (made from this very set: same fingerprint)."""
        if bank.fingerprint != self.fingerprint or len(bank) != len(self):
            raise ConfigError(f"{bank.path}: the image bank was made from other data")
        self._bank = bank
        self._scores = np.asarray(bank.labels["score"], dtype=np.float64).copy()

    @property
    def bank(self):
        """The attached :class:`~gmiqa.datasets.bank.ImageBank`, or None."""
        return self._bank

    def generate(self, index: int) -> np.ndarray:
        """Item ``index`` made from its reference now (no cache): uint8 RGB, ``image_size``."""
        index = self._check(index)
        ref_id, t, lv = int(self.ref_ids[index]), int(self.types[index]), int(self.levels[index])
        seed = item_seed(self.seed, ref_id, t, lv)
        image = distortions.distort(self.reference_image(index), t, lv, seed=seed)
        if self.storage_jpeg is not None:
            # the storage quality has its own stream: the distortion's draws stay the same
            rng = np.random.default_rng([seed, _STORAGE_SALT])
            quality = int(rng.integers(self.storage_jpeg[0], self.storage_jpeg[1] + 1))
            stored = compression.jpeg(np.asarray(image, np.float64) / 255.0, quality, rng)
            image = np.rint(stored * 255.0)  # the decoded file's own 8-bit values
        return np.ascontiguousarray(image, dtype=np.uint8)

    def distorted(self, index: int) -> np.ndarray:
        """The distorted image (uint8 RGB, ``image_size``) of item ``index``."""
        index = self._check(index)
        if self._bank is not None:
            return np.asarray(self._bank.images[index])
        cached = self._images_dir / f"{self.names[index]}.png" if self.cache_dir else None
        if cached is not None and cached.is_file():
            try:
                with Image.open(cached) as img:
                    return np.asarray(img.convert("RGB"))
            except OSError:
                pass  # a damaged cache file is regenerated below
        image = self.generate(index)
        if cached is not None:
            atomic_write(cached, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
        return image

    def score(self, index: int, distorted: np.ndarray | None = None) -> float:
        """The pseudo-quality of item ``index`` (computed once, then cached)."""
        index = self._check(index)
        if not np.isfinite(self._scores[index]):
            image = self.distorted(index) if distorted is None else distorted
            self._scores[index] = fr_quality.pseudo_quality(image, self.reference_image(index))
        return float(self._scores[index])

    def score_all(self, progress: bool | None = None) -> np.ndarray:
        """Every item's pseudo-quality (computing the missing ones); saved with ``cache_dir``."""
        missing = np.flatnonzero(~np.isfinite(self._scores))
        if len(missing):
            show = self.progress if progress is None else progress
            for i in tqdm(missing, desc="pseudo-quality", disable=not show, leave=False):
                self.score(int(i))
            self.save_scores()
        return self._scores.copy()

    def record(self, index: int) -> IQARecord:
        index = self._check(index)
        s = self.score(index)
        return IQARecord(
            self.names[index],
            s,
            s,
            int(self.ref_ids[index]),
            int(self.types[index]),
            int(self.levels[index]),
        )

    @property
    def records(self) -> _SyntheticRecords:
        """Labels of every item; reading a score computes it (see ``score_all``)."""
        return _SyntheticRecords(self)

    def __getitem__(self, index: int) -> dict:
        index = self._check(index)
        image = self.distorted(index)
        score = self.score(index, distorted=image)
        item = {
            "name": self.names[index],
            "score": score,
            "raw_score": score,
            "ref_id": int(self.ref_ids[index]),
            "type": int(self.types[index]),
            "level": int(self.levels[index]),
        }
        item["image"] = image_to_tensor(image)
        return item

    def indices(
        self,
        type: int | Iterable[int] | None = None,
        level: int | Iterable[int] | None = None,
        ref_ids: int | Iterable[int] | None = None,
    ) -> np.ndarray:
        """Item indices with the given type(s), level(s) and reference(s); None = any.

        Samplers use it for batches of one distortion type and for tasks split by
        content. See ``notebooks/01_distortions.ipynb``.
        """
        mask = np.ones(len(self), dtype=bool)
        for values, column in ((type, self.types), (level, self.levels), (ref_ids, self.ref_ids)):
            if values is None:
                continue
            wanted = [values] if np.isscalar(values) else list(values)
            mask &= np.isin(column, np.asarray(wanted, dtype=np.int64))
        return np.flatnonzero(mask)

    def __repr__(self) -> str:
        return (
            f"SyntheticIQADataset({len(self.references)} references x {len(self.types_used)} "
            f"types x {len(self.levels_used)} levels = {len(self)} items, "
            f"size={self.image_size}, seed={self.seed})"
        )
