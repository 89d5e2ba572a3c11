"""Fixtures that write each IQA set's official layout with tiny images.

Each ``make_<set>(root)`` writes the layout under ``root`` and returns a ``Layout``: the
folder, the score file, the number of items the loader must find, and a mapping from
item name to the raw score written, so tests can check counts, names and directions.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@dataclass
class Layout:
    name: str  # the load_dataset name
    folder: Path  # the dataset folder
    score_file: Path
    count: int
    raw: dict[str, float] = field(default_factory=dict)  # item name -> raw score written
    image_paths: dict[str, Path] = field(default_factory=dict)  # item name -> image file


def write_image(path: Path, size=(8, 8), value: int = 0) -> None:
    """A small deterministic RGB image in the format the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    rng = np.random.default_rng(value)
    arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".png": "PNG"}[path.suffix.lower()]
    Image.fromarray(arr).save(path, format=fmt)


def make_kadid(root: Path) -> Layout:
    folder = root / "kadid10k"
    rows, raw, paths = [], {}, {}
    for i, (ref, t, lv) in enumerate((r, t, lv) for r in (1, 2) for t in (1, 25) for lv in (1, 5)):
        name = f"I{ref:02d}_{t:02d}_{lv:02d}.png"
        dmos = 4.6 - 0.8 * (lv - 1) - 0.05 * i  # on 1..5, higher = better
        rows.append((name, f"I{ref:02d}.png", f"{dmos:.3f}", "0.5"))
        raw[name] = float(f"{dmos:.3f}")
        paths[name] = folder / "images" / name
        write_image(paths[name], value=i)
    for ref in (1, 2):
        write_image(folder / "images" / f"I{ref:02d}.png", value=100 + ref)
    score_file = folder / "dmos.csv"
    with open(score_file, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dist_img", "ref_img", "dmos", "var"])
        writer.writerows(rows)
    return Layout("kadid10k", folder, score_file, len(rows), raw, paths)


def make_koniq(root: Path) -> Layout:
    folder = root / "koniq10k"
    score_file = folder / "koniq10k_scores_and_distributions.csv"
    raw, paths = {}, {}
    header = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
    rows = []
    for i, (name, mos) in enumerate(
        (("826373.jpg", 3.45), ("10004473376.jpg", 1.21), ("4541917.jpg", 4.31))
    ):
        rows.append([name, 1, 2, 30, 60, 7, 100, mos, 0.6, (mos - 1) / 4 * 100])
        raw[name] = mos
        paths[name] = folder / "1024x768" / name
        write_image(paths[name], size=(6, 8), value=i)
    folder.mkdir(parents=True, exist_ok=True)
    with open(score_file, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return Layout("koniq10k", folder, score_file, len(rows), raw, paths)


def make_livec(root: Path, shared: Path) -> Layout:
    """LIVEC's real .mat files (from ../shared) with a tiny image per listed name."""
    import scipy.io

    folder = root / "ChallengeDB_release"
    data = folder / "Data"
    data.mkdir(parents=True)
    for f in ("AllImages_release.mat", "AllMOS_release.mat", "AllStdDev_release.mat"):
        shutil.copy(shared / "data" / "formats" / "livec" / f, data / f)
    names = [
        str(np.asarray(e).ravel()[0])
        for e in scipy.io.loadmat(data / "AllImages_release.mat")["AllImages_release"].ravel()
    ]
    mos = scipy.io.loadmat(data / "AllMOS_release.mat")["AllMOS_release"].ravel()
    raw, paths = {}, {}
    for i, name in enumerate(names):
        sub = "Images/trainingImages" if i < 7 else "Images"
        path = folder / sub / name
        write_image(path, size=(4, 4), value=i)
        if i >= 7:
            raw[name] = float(mos[i])
            paths[name] = path
    return Layout("livec", folder, data / "AllMOS_release.mat", len(names) - 7, raw, paths)


LIVE_FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def make_live(root: Path) -> Layout:
    """LIVE release 2: 982 entries, 203 of them reference copies (orgs == 1)."""
    import scipy.io

    folder = root / "databaserelease2"
    rng = np.random.default_rng(0)
    n = sum(c for _, c in LIVE_FOLDERS)
    orgs = np.zeros(n)
    orgs[rng.choice(n, size=203, replace=False)] = 1
    dmos = np.where(orgs == 1, 0.0, rng.uniform(-2.0, 108.0, size=n))  # LIVE spills past 0..100
    refs = [f"ref{int(i)}.bmp" for i in rng.integers(0, 29, size=n)]
    refnames = np.empty((1, n), dtype=object)
    refnames[0, :] = refs
    folder.mkdir(parents=True)
    scipy.io.savemat(folder / "dmos.mat", {"dmos": dmos[None, :], "orgs": orgs[None, :]})
    scipy.io.savemat(folder / "refnames_all.mat", {"refnames_all": refnames})
    raw, paths = {}, {}
    offset = 0
    for sub, count in LIVE_FOLDERS:
        for k in range(count):
            name = f"{sub}/img{k + 1}.bmp"
            write_image(folder / name, size=(4, 4), value=offset + k)
            if orgs[offset + k] == 0:
                raw[name] = float(dmos[offset + k])
                paths[name] = folder / name
        offset += count
    for ref in sorted(set(refs)):
        write_image(folder / "refimgs" / ref, size=(4, 4))
    return Layout("live", folder, folder / "dmos.mat", int((orgs == 0).sum()), raw, paths)


CSIQ_SHEET_TYPES = {"noise": ("awgn", "AWGN"), "jpeg 2000": ("jpeg2000", "jpeg2000")}


def make_csiq(root: Path) -> Layout:
    """CSIQ's official layout: csiq.DMOS.xlsx (sheet all_by_image, header in row 4, D..I)."""
    import openpyxl

    folder = root / "csiq"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "all_by_image"
    sheet["A1"] = "CSIQ DMOS"
    sheet.append([])
    sheet.append([])
    sheet.append([None, None, None, "image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"])
    raw, paths = {}, {}
    i = 0
    for ref in (1600, "aerial_city"):
        for dst_idx, dst_type in ((1, "noise"), (3, "jpeg 2000")):
            for level in (1, 2, 3):
                dmos = round(0.1 * level + 0.05 * dst_idx + (0.02 if ref == 1600 else 0.0), 4)
                sheet.append([None, None, None, ref, dst_idx, dst_type, level, 0.05, dmos])
                sub, token = CSIQ_SHEET_TYPES[dst_type]
                name = f"{ref}.{token}.{level}.png"
                paths[name] = folder / "dst_imgs" / sub / name
                write_image(paths[name], value=i)
                raw[name] = dmos
                i += 1
    sheet.append([None] * 9)  # padding rows like the official workbook's
    book.create_sheet("all_by_distortion")
    folder.mkdir(parents=True, exist_ok=True)
    book.save(folder / "csiq.DMOS.xlsx")
    for ref in (1600, "aerial_city"):
        write_image(folder / "src_imgs" / f"{ref}.png")
    return Layout("csiq", folder, folder / "csiq.DMOS.xlsx", len(raw), raw, paths)


def make_tid2013(root: Path) -> Layout:
    """TID2013 with the letter-case mix of the real archive (I25 vs i25, BMP vs bmp)."""
    folder = root / "tid2013"
    lines, raw, paths = [], {}, {}
    i = 0
    for ref in (1, 25):
        for t in (1, 24):
            for lv in (1, 5):
                name = f"i{ref:02d}_{t:02d}_{lv}.bmp"
                on_disk = name.upper() if ref == 25 else name  # I25_24_5.BMP on disk
                mos = round(6.5 - 1.1 * (lv - 1) - 0.1 * i, 5)
                lines.append(f"{mos} {name}")
                raw[name] = mos
                paths[name] = folder / "distorted_images" / on_disk
                write_image(paths[name], value=i)
                i += 1
    for ref in (1, 25):
        write_image(folder / "reference_images" / f"I{ref:02d}.BMP")
    (folder / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
    return Layout("tid2013", folder, folder / "mos_with_names.txt", len(lines), raw, paths)


def make_layout(name: str, root: Path, shared: Path | None = None) -> Layout:
    makers = {
        "kadid10k": make_kadid,
        "koniq10k": make_koniq,
        "live": make_live,
        "csiq": make_csiq,
        "tid2013": make_tid2013,
    }
    if name == "livec":
        if shared is None:
            pytest.skip("LIVEC fixtures use the real .mat files in ../shared")
        return make_livec(root, shared)
    return makers[name](root)


@pytest.fixture(scope="session")
def live_layout(tmp_path_factory) -> Layout:
    return make_live(tmp_path_factory.mktemp("live"))


@pytest.fixture(scope="session")
def livec_layout(tmp_path_factory, shared) -> Layout:
    return make_livec(tmp_path_factory.mktemp("livec"), shared)
