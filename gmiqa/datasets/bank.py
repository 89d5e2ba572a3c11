"""The image bank: a labelled image set made once, stored as one uint8 array, read by batches.

Taught in ``notebooks/06_graph_pretraining.ipynb``.

Pre-training sees tens of thousands of images per minute on a GPU; generating the
synthetic distortions (about 20 images/s per CPU core at 512x384) or decoding PNGs on
the training thread cannot keep up. So the set is made **once**:

- :func:`build_synthetic_bank` generates every item of a
  :class:`~gmiqa.datasets.synthetic.SyntheticIQADataset` in a process pool (all cores,
  a progress bar) and computes its pseudo-quality label in the same pass;
  :func:`build_dataset_bank` decodes the images of a labelled set (KADID-10k) the same
  way. Items are written into ``images.u8``, a memory-mappable ``(N, H, W, 3)`` uint8
  file; labels go to ``labels.npz``. The folder is named by the data's fingerprint, so
  other pristine photos, another seed or changed distortion code never read stale
  pixels.
- **Resumable, and safe against any kill**: finished items are marked in ``done.u1``
  every few hundred items, and only after their pixels (``images.u8``, synced to disk)
  and their labels (``scores.f8``, written atomically) are durable, so a build killed at
  any moment (SIGKILL, an OOM kill) continues where it stopped and ends with the same
  bytes as an uninterrupted one. ``bank.json`` is written last (atomically): a folder
  without it is unfinished. Pool workers end with the process that started them (Linux:
  ``PR_SET_PDEATHSIG``; elsewhere they exit when they see their parent gone), and one
  build at a time runs per folder (``flock`` on ``.build.lock``); the builder holding the
  lock first removes the temporaries a killed one left half-written.
- :class:`ImageBank` opens a finished bank (memory-mapped, nothing read up front).
  :class:`~gmiqa.training.feeder.BatchFeeder` draws training batches from it with random
  crops and flips, so a few thousand stored images serve tens of thousands of steps.

A uint8 image of 384x512 takes 576 KiB: 25 types x 5 levels x 110 photos is 7.9 GB, on
disk and in the page cache, not in Python objects.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gmiqa import fr_quality  # module attribute: tests replace pseudo_quality
from gmiqa.atomic import atomic_write, atomic_write_json, remove_stale_temporaries
from gmiqa.datasets.base import IQARecord, image_to_tensor
from gmiqa.datasets.pristine import fit_to_size
from gmiqa.errors import DatasetError
from gmiqa.images import image_size, load_image

_BANK_VERSION = 1
_SAVE_EVERY = 256  # items between marks on disk
_LABELS = ("ref_id", "type", "level", "score", "raw_score")


@dataclass
class ImageBank:
    """A finished bank: ``images`` (N, H, W, 3) uint8 (memory-mapped) and label arrays.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. ``labels`` holds ``ref_id``,
    ``type``, ``level``, ``score`` (normalised, higher = better) and ``raw_score``;
    ``names`` the item names; ``fingerprint`` the identity of the data.
    """

    path: Path
    images: np.ndarray
    labels: dict[str, np.ndarray]
    names: list[str]
    fingerprint: str
    source: str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    @classmethod
    def open(cls, path: str | os.PathLike) -> ImageBank:
        """Open a finished bank folder; an unfinished or damaged one raises DatasetError."""
        path = Path(path)
        meta_path = path / "bank.json"
        if not meta_path.is_file():
            raise DatasetError(f"{path}: not a finished image bank (no bank.json)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            n, h, w = (int(v) for v in meta["shape"])
            images = np.memmap(path / "images.u8", dtype=np.uint8, mode="r", shape=(n, h, w, 3))
            with np.load(path / "labels.npz") as data:
                labels = {k: data[k].copy() for k in _LABELS}
                names = [str(s) for s in data["names"].tolist()]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: damaged image bank ({exc}); delete the folder") from None
        return cls(path, images, labels, names, str(meta["fingerprint"]), str(meta["source"]))

    def indices(self, exclude_refs: Sequence[int] = ()) -> np.ndarray:
        """Item indices whose reference is not in ``exclude_refs``."""
        return np.flatnonzero(~np.isin(self.labels["ref_id"], np.asarray(list(exclude_refs))))


def bank_dir(cache_dir: str | os.PathLike, fingerprint: str) -> Path:
    """Where the bank of data with ``fingerprint`` lives under ``cache_dir``."""
    return Path(cache_dir) / f"bank-{fingerprint}"


def _open_arrays(path: Path, n: int, h: int, w: int) -> tuple[np.memmap, np.memmap]:
    path.mkdir(parents=True, exist_ok=True)
    images_path, done_path = path / "images.u8", path / "done.u1"
    size = n * h * w * 3
    if not images_path.exists() or images_path.stat().st_size != size:
        with open(images_path, "wb") as fh:  # sparse file of the final size
            fh.truncate(size)
        done_path.unlink(missing_ok=True)
    if not done_path.exists() or done_path.stat().st_size != n:
        with open(done_path, "wb") as fh:
            fh.write(bytes(n))
    images = np.memmap(images_path, dtype=np.uint8, mode="r+", shape=(n, h, w, 3))
    done = np.memmap(done_path, dtype=np.uint8, mode="r+", shape=(n,))
    return images, done


def _fill(
    path: Path,
    shape: tuple[int, int],
    names: list[str],
    labels: dict[str, np.ndarray],
    work,
    jobs: list,
    fingerprint: str,
    source: str,
    workers: int | None,
    progress: bool,
    desc: str,
) -> ImageBank:
    """Run ``work(job) -> (index, uint8 image, score or None)`` over ``jobs``; write the bank."""
    path.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):  # a second builder waits, then finds the bank finished
        remove_stale_temporaries(path)  # a killed builder's half-written files (lock held)
        if (path / "bank.json").is_file():
            return ImageBank.open(path)
        return _fill_locked(path, shape, names, labels, work, jobs, fingerprint, source,
                            workers, progress, desc)  # fmt: skip


@contextmanager
def _build_lock(path: Path):
    fd = os.open(path / ".build.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fill_locked(path, shape, names, labels, work, jobs, fingerprint, source, workers,
                 progress, desc) -> ImageBank:  # fmt: skip

    n, (h, w) = len(names), shape
    images, done = _open_arrays(path, n, h, w)
    scores_path = path / "scores.f8"
    if scores_path.exists() and scores_path.stat().st_size == n * 8:
        scores = np.fromfile(scores_path, dtype=np.float64)
    else:
        scores = np.full(n, np.nan)
    todo = [job for job in jobs if not done[job[0]]]
    workers = max(1, int(workers or os.cpu_count() or 1))

    pending: list[int] = []  # items written but not yet marked done on disk

    def save_progress() -> None:
        # pixels and scores durable first, marks last: a marked item is always complete,
        # whenever the process dies (done.u1 is a shared mapping: a mark set in memory is
        # in the file at once, so marks wait in ``pending`` until then)
        if not pending:
            return
        images.flush()
        _fsync(path / "images.u8")
        atomic_write(scores_path, lambda tmp: scores.tofile(tmp))
        done[np.asarray(pending)] = 1
        done.flush()
        _fsync(path / "done.u1")
        pending.clear()

    pool = None
    bar = tqdm(total=n, initial=n - len(todo), desc=desc, disable=not progress, unit="img")
    try:
        pool = None
        if workers == 1 or len(todo) < 2:
            results = map(work, todo)
        else:  # the work object (and the images it holds) travels once per process
            pool = ProcessPoolExecutor(workers, initializer=_set_work,
                                       initargs=(work, os.getpid()))  # fmt: skip
            results = pool.map(_run_work, todo, chunksize=8)
        since = 0
        for index, image, score in results:
            if image.shape != (h, w, 3):
                raise DatasetError(
                    f"{names[index]}: image is {image.shape[1]}x{image.shape[0]}, the bank holds "
                    f"{w}x{h} images (all images of a bank must have one size)"
                )
            images[index] = image
            if score is not None:
                scores[index] = score
            pending.append(index)
            since += 1
            bar.update(1)
            if since >= _SAVE_EVERY:
                save_progress()
                since = 0
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        save_progress()
    if np.isnan(labels["score"]).any():
        labels = dict(labels, score=scores.copy(), raw_score=scores.copy())
    if not np.isfinite(labels["score"]).all():
        bad = int(np.flatnonzero(~np.isfinite(labels["score"]))[0])
        raise DatasetError(f"{names[bad]}: its quality label is not finite")

    def write_labels(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, names=np.asarray(names), **{k: np.asarray(labels[k]) for k in _LABELS})

    atomic_write(path / "labels.npz", write_labels)
    atomic_write_json(path / "bank.json", {
        "version": _BANK_VERSION, "fingerprint": fingerprint, "source": source,
        "shape": [n, h, w], "items": n,
    })  # fmt: skip
    return ImageBank.open(path)


_WORK = None


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _die_with_parent(parent: int) -> None:
    """Make this pool worker end when ``parent`` dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the line above took effect
        os._exit(1)

    def watch() -> None:  # elsewhere (and as a second guard): poll the parent
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="gmiqa-parent-watch").start()


def _set_work(work, parent: int | None = None) -> None:  # pool initializer
    global _WORK
    if parent is not None:
        _die_with_parent(parent)
    _WORK = work


def _run_work(job):
    return _WORK(job)


# -- the synthetic set ---------------------------------------------------------------------


class _SyntheticWork:
    """One item: the distorted image and its pseudo-quality against the reference."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __call__(self, job) -> tuple[int, np.ndarray, float]:
        (index,) = job
        image = self.dataset.generate(index)
        return (
            index,
            image,
            float(fr_quality.pseudo_quality(image, self.dataset.reference_image(index))),
        )


def build_synthetic_bank(
    dataset,
    cache_dir: str | os.PathLike,
    workers: int | None = None,
    progress: bool = True,
) -> ImageBank:
    """Generate every item of a synthetic set (and its pseudo-quality) into a bank.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. Reuses a finished bank with the
    same fingerprint; resumes an unfinished one. ``workers`` processes (default: all
    cores). Items are bit-identical to ``dataset.generate(i)`` (each item's distortion
    seed depends on (seed, reference, type, level) only).
    """
    path = bank_dir(cache_dir, dataset.fingerprint)
    if (path / "bank.json").is_file():
        bank = ImageBank.open(path)
        dataset.attach_bank(bank)
        return bank
    n = len(dataset)
    labels = {
        "ref_id": dataset.ref_ids.copy(),
        "type": dataset.types.copy(),
        "level": dataset.levels.copy(),
        "score": np.full(n, np.nan),
        "raw_score": np.full(n, np.nan),
    }
    jobs = [(i,) for i in range(n)]
    bank = _fill(
        path, dataset.image_size, list(dataset.names), labels, _SyntheticWork(dataset), jobs,
        dataset.fingerprint, f"synthetic:{len(dataset.references)} references", workers,
        progress, "image bank",
    )  # fmt: skip
    dataset.attach_bank(bank)
    return bank


# -- a labelled set of image files (KADID-10k for pre-training) ---------------------------


class _DecodeWork:
    def __init__(self, paths: list[str], size: tuple[int, int] | None) -> None:
        self.paths = paths
        self.size = size

    def __call__(self, job):

        (index,) = job
        image = load_image(self.paths[index])
        if self.size is not None and image.shape[:2] != tuple(self.size):
            image = fit_to_size(image, self.size)
        return index, np.ascontiguousarray(image, dtype=np.uint8), None


def dataset_fingerprint(dataset) -> str:
    """Identity of a labelled set: names, labels, and each file's size and mtime.

    See ``notebooks/07_finetuning.ipynb``. Synthetic sets answer with their own
    fingerprint (pristine pixels, seed, distortion code). Any changed score, added,
    removed or rewritten image gives another fingerprint.
    """

    own = getattr(dataset, "fingerprint", None)
    if isinstance(own, str):
        return own
    digest = hashlib.sha256()
    for r in dataset.records:
        get = r.get if isinstance(r, dict) else lambda k, _r=r: getattr(_r, k, None)
        labels = "|".join(
            repr(get(k)) for k in ("name", "raw_score", "score", "ref_id", "type", "level")
        )
        digest.update(labels.encode())
        path = get("path")
        if path is not None:
            try:
                st = os.stat(path)
            except OSError:
                raise DatasetError(f"{path}: image listed in the score file is missing") from None
            digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    source = getattr(dataset, "source", None)
    if source:  # a folder set: its name and score file too (official sets: None, unchanged)
        digest.update(json.dumps(source, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def build_dataset_bank(
    dataset,
    cache_dir: str | os.PathLike,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> ImageBank:
    """Decode every image of a labelled set (e.g. KADID-10k) into a bank.

    Taught in ``notebooks/06_graph_pretraining.ipynb``. ``size`` = (height, width):
    images of another size are fitted to it (:func:`~gmiqa.datasets.pristine.fit_to_size`);
    None keeps the size of the first image and requires every image to share it.
    """
    records = list(dataset.records)
    paths = [r.path for r in records]
    if any(p is None for p in paths):
        raise DatasetError(f"{dataset!r}: a bank of a labelled set needs image files")
    if size is None:
        size = image_size(paths[0])  # (height, width)
    fp = dataset_fingerprint(dataset) + f"-{size[0]}x{size[1]}"
    path = bank_dir(cache_dir, fp)
    if (path / "bank.json").is_file():
        return ImageBank.open(path)
    labels = {k: np.asarray([getattr(r, k) for r in records]) for k in _LABELS}
    labels["score"] = labels["score"].astype(np.float64)
    labels["raw_score"] = labels["raw_score"].astype(np.float64)
    return _fill(
        path, tuple(size), [r.name for r in records], labels, _DecodeWork(paths, size),
        [(i,) for i in range(len(records))], fp, getattr(dataset, "name", "dataset"),
        workers, progress, "image bank",
    )  # fmt: skip


class BankDataset:
    """A bank as a dataset: items ``{"image", "score", ...}`` and ``records`` (IQARecord).

    Taught in ``notebooks/06_graph_pretraining.ipynb``. Pre-training on a labelled set
    (KADID-10k) reads it through this; ``.bank`` gives the training code the bank.
    """

    def __init__(self, bank: ImageBank, name: str = "bank") -> None:

        self.bank = bank
        self.name = name
        lab = bank.labels
        self.records = [
            IQARecord(bank.names[i], float(lab["score"][i]), float(lab["raw_score"][i]),
                      int(lab["ref_id"][i]), int(lab["type"][i]), int(lab["level"][i]))
            for i in range(len(bank))
        ]  # fmt: skip
        self.fingerprint = bank.fingerprint

    def __len__(self) -> int:
        return len(self.bank)

    def __getitem__(self, index: int) -> dict:

        r = self.records[int(index)]
        item = r.to_dict()
        item.pop("path", None)
        item["image"] = image_to_tensor(np.asarray(self.bank.images[int(index)]))
        return item
