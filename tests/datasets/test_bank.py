"""The image bank: every item made once by a process pool, bit-identical, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from gmiqa.errors import DatasetError


@pytest.fixture
def tiny(tmp_path):
    from gmiqa.datasets.synthetic import SyntheticIQADataset

    ds = SyntheticIQADataset(
        None, image_size=(128, 136), types=(1, 16), levels=(1, 5), max_pristine=3,
        cache_dir=tmp_path / "cache", progress=False,
    )  # fmt: skip
    return ds


def test_bank_items_equal_generated_items_and_labels(tiny):
    from gmiqa.fr_quality import pseudo_quality

    bank = tiny.build_bank(workers=2, progress=False)
    assert len(bank) == len(tiny) == 12 and bank.image_size == (128, 136)
    for i in (0, 5, 11):
        image = tiny.generate(i)
        assert np.array_equal(bank.images[i], image)
        assert bank.labels["score"][i] == pytest.approx(
            pseudo_quality(image, tiny.reference_image(i))
        )
        assert bank.labels["type"][i] == tiny.types[i] and bank.labels["level"][i] == tiny.levels[i]
    # the set now reads from the bank: same pixels, no regeneration
    assert np.array_equal(tiny.distorted(5), bank.images[5])
    assert tiny.score(5) == pytest.approx(bank.labels["score"][5])


def test_finished_bank_is_reused_and_unfinished_one_resumes(tiny, monkeypatch):
    from gmiqa.datasets import bank as bank_mod

    bank = tiny.build_bank(workers=1, progress=False)
    folder = bank.path
    stamp = (folder / "images.u8").stat().st_mtime_ns
    assert tiny.build_bank(workers=1, progress=False).path == folder
    assert (folder / "images.u8").stat().st_mtime_ns == stamp  # reused, not rewritten
    # simulate an interruption: the last items were never marked done, their rows are junk
    expected = np.array(bank.images[8:])
    (folder / "bank.json").unlink()
    done = np.memmap(folder / "done.u1", dtype=np.uint8, mode="r+")
    done[8:] = 0
    done.flush()
    rows = np.memmap(folder / "images.u8", dtype=np.uint8, mode="r+", shape=bank.images.shape)
    rows[8:] = 0
    rows.flush()
    stale = folder / ".scores.f8.k1lled.tmp"  # the killed builder was mid-write
    stale.write_bytes(b"half")
    made = []
    real = bank_mod._SyntheticWork.__call__

    def counting(self, job):
        made.append(job[0])
        return real(self, job)

    monkeypatch.setattr(bank_mod._SyntheticWork, "__call__", counting)
    again = tiny.build_bank(workers=1, progress=False)
    assert sorted(made) == [8, 9, 10, 11]  # only the unfinished items are made again
    assert np.array_equal(again.images[8:], expected)
    assert not stale.exists()  # the builder holding the lock removed it


def test_other_photos_get_another_bank(tmp_path, tiny):
    from gmiqa.datasets.synthetic import SyntheticIQADataset

    other = SyntheticIQADataset(
        None, image_size=(128, 136), types=(1, 16), levels=(1, 5), max_pristine=2,
        cache_dir=tmp_path / "cache", progress=False,
    )  # fmt: skip
    assert other.fingerprint != tiny.fingerprint
    assert (
        other.build_bank(workers=1, progress=False).path
        != tiny.build_bank(workers=1, progress=False).path
    )


def test_damaged_bank_is_an_error_naming_it(tiny):
    from gmiqa.datasets.bank import ImageBank

    bank = tiny.build_bank(workers=1, progress=False)
    (bank.path / "labels.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetError, match="damaged image bank"):
        ImageBank.open(bank.path)
    with pytest.raises(DatasetError, match="not a finished image bank"):
        ImageBank.open(bank.path.parent)


def _labelled_set(root, n=4, size=(130, 140)):
    from PIL import Image

    from gmiqa.datasets.base import ImageListDataset, IQARecord

    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        path = root / f"I{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        records.append(
            IQARecord(path.name, i / n, float(i), i // 2, 1 + i % 2, 1 + i % 3, str(path))
        )
    return ImageListDataset(records, "fixture", root)


def test_dataset_bank_and_fingerprint_follow_the_files(tmp_path):
    import os

    from gmiqa.datasets.bank import BankDataset, build_dataset_bank, dataset_fingerprint
    from gmiqa.images import load_image

    root = tmp_path / "set"
    root.mkdir()
    ds = _labelled_set(root)
    before = dataset_fingerprint(ds)
    bank = build_dataset_bank(ds, tmp_path / "cache", workers=2, progress=False)
    assert np.array_equal(bank.images[2], load_image(root / "I02.png"))
    view = BankDataset(bank, "fixture")
    assert [r.type for r in view.records] == [r.type for r in ds.records]
    assert view[3]["image"].shape == (3, 130, 140)
    # a rewritten image (new size/mtime) changes the identity
    path = root / "I01.png"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert dataset_fingerprint(ds) != before
    # a changed score changes it too (same files)
    from dataclasses import replace

    touched = dataset_fingerprint(ds)
    assert dataset_fingerprint(ds) == touched  # nothing changed: the same identity
    ds.records[0] = replace(ds.records[0], raw_score=9.0)
    assert dataset_fingerprint(ds) != touched


def test_dataset_bank_needs_one_size_and_files(tmp_path):
    from gmiqa.datasets.bank import build_dataset_bank, dataset_fingerprint

    root = tmp_path / "set"
    root.mkdir()
    ds = _labelled_set(root)
    (root / "I03.png").unlink()
    with pytest.raises(DatasetError, match="I03.png"):
        dataset_fingerprint(ds)
    ok = _labelled_set(root)
    bank = build_dataset_bank(ok, tmp_path / "c2", size=(64, 64), workers=1, progress=False)
    assert bank.image_size == (64, 64)  # fitted to the requested size


_KILLED_BUILD = """
import os, sys, time
from pathlib import Path
from gmiqa.datasets import bank as bank_mod
from gmiqa.datasets.synthetic import SyntheticIQADataset

bank_mod._SAVE_EVERY = 2
real = bank_mod._SyntheticWork.__call__
pids = Path(sys.argv[2])

def slow(self, job):
    (pids / str(os.getpid())).touch()
    time.sleep(0.15)
    return real(self, job)

bank_mod._SyntheticWork.__call__ = slow
ds = SyntheticIQADataset(None, image_size=(128, 136), types=(1, 16), levels=(1, 3, 5),
                         max_pristine=3, cache_dir=sys.argv[1], progress=False)
ds.build_bank(workers=2, progress=False)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\tZ" not in next(line for line in fh if line.startswith("State:"))
    except (OSError, StopIteration):
        return False


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="/proc")
def test_a_build_killed_by_sigkill_resumes_to_the_same_bytes_and_leaves_no_workers(tmp_path):
    """SIGKILL mid-build (an OOM kill): no orphan workers; the rerun ends bit-identical."""
    import hashlib
    import signal
    import subprocess
    import sys
    import time

    from gmiqa.datasets.synthetic import SyntheticIQADataset

    def dataset(cache):  # 18 items: the pool's chunks of 8 arrive at two moments
        return SyntheticIQADataset(
            None, image_size=(128, 136), types=(1, 16), levels=(1, 3, 5), max_pristine=3,
            cache_dir=cache, progress=False,
        )  # fmt: skip

    reference = dataset(tmp_path / "reference").build_bank(workers=1, progress=False)
    cache, pids = tmp_path / "killed", tmp_path / "pids"
    pids.mkdir()
    child = subprocess.Popen([sys.executable, "-c", _KILLED_BUILD, str(cache), str(pids)])
    done = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once some items are marked, not all
        found = list(cache.glob("bank-*/done.u1"))
        if found and 2 <= sum(found[0].read_bytes()) < 18:
            done = found[0]
            break
        time.sleep(0.02)
    assert done is not None, "the child never marked an item"
    child.send_signal(signal.SIGKILL)
    child.wait()
    workers = [int(p.name) for p in pids.iterdir() if int(p.name) != child.pid]
    assert workers
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers), "pool workers outlived their parent"
    assert not (done.parent / "bank.json").exists()
    again = dataset(cache).build_bank(workers=1, progress=False)

    def digest(folder, name):
        return hashlib.sha256((folder / name).read_bytes()).hexdigest()

    for name in ("images.u8", "labels.npz", "bank.json"):
        assert digest(again.path, name) == digest(reference.path, name), name
    assert not list(again.path.glob(".*.tmp"))
