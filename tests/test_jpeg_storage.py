"""benchmarks/jpeg_storage.py (a JPEG-stored copy of a LIVEC-layout set) and the design
chapter's JPEG-storage table (gmiqa.evidence.jpeg_storage_markdown)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from gmiqa.datasets import load_dataset
from gmiqa.errors import ConfigError
from gmiqa.evidence import (
    EARLIER,
    JPEG_STORAGE,
    jpeg_storage_markdown,
    recipe_fingerprint,
    stored_ablations,
)
from gmiqa.provenance import provenance
from gmiqa.results import make_result, write_result

REPO = Path(__file__).resolve().parents[1]
# the proxy was measured with the cpu recipe before JPEG storage entered pre-training (#28)
RESULTS = REPO / "data" / "results" / EARLIER


def _script():
    spec = importlib.util.spec_from_file_location(
        "jpeg_storage", REPO / "benchmarks" / "jpeg_storage.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _livec(root: Path, n: int = 6) -> Path:
    """A LIVEC layout: 7 listed training names (not shipped, as in the release), n PNGs."""
    folder = root / "ChallengeDB_release"
    (folder / "Images").mkdir(parents=True)
    (folder / "Data").mkdir()
    rng = np.random.default_rng(0)
    names = [f"t{i}.bmp" for i in range(7)]
    for i in range(n):
        Image.fromarray((rng.random((40, 56, 3)) * 255).astype(np.uint8)).save(
            folder / "Images" / f"{i + 10}.png"
        )
        names.append(f"{i + 10}.png")
    cell = np.empty((len(names), 1), dtype=object)
    for i, name in enumerate(names):
        cell[i, 0] = np.array([name])
    scipy.io.savemat(folder / "Data" / "AllImages_release.mat", {"AllImages_release": cell})
    mos = np.linspace(10, 90, len(names))[None, :]
    scipy.io.savemat(folder / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos})
    scipy.io.savemat(folder / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": mos / 10})
    return root


def test_the_copy_is_jpeg_at_seeded_qualities_with_the_same_scores(tmp_path):
    js = _script()
    src = _livec(tmp_path / "src")
    chosen = js.write_jpeg_copy(src, tmp_path / "a", (50, 60), seed=1)
    again = js.write_jpeg_copy(src, tmp_path / "b", (50, 60), seed=1)
    assert chosen == again and len(chosen) == 6
    assert all(50 <= q <= 60 for q in chosen.values())
    for name in chosen:
        with Image.open(tmp_path / "a" / "ChallengeDB_release" / "Images" / name) as im:
            assert im.format == "JPEG" and im.size == (56, 40)
    before, after = load_dataset("livec", src), load_dataset("livec", tmp_path / "a")
    assert [r["score"] for r in before.records] == [r["score"] for r in after.records]
    stored = json.loads((tmp_path / "a" / "ChallengeDB_release" / "qualities.json").read_text())
    assert stored == chosen
    with pytest.raises(ConfigError, match="LO <= HI"):
        js.write_jpeg_copy(src, tmp_path / "c", (90, 50), seed=1)


def _doc(rows: list[dict]) -> dict:
    return make_result({"rows": rows, "splits": 3, "stored_quality": {"min": 50, "max": 95,
                        "median": 72.0}}, profile="cpu", dataset="livec", command="test",
                       provenance_block=provenance(device="cpu"))  # fmt: skip


def _row(data, method, seed, sr):
    return {"data": data, "method": method, "seed": seed, "per_split_srocc": sr,
            "srocc_median": float(np.median(sr)), "srocc_q25": float(np.percentile(sr, 25)),
            "srocc_q75": float(np.percentile(sr, 75)), "commit": "abcdef0123456789"}  # fmt: skip


def test_the_table_shows_every_cell_and_the_paired_counts(tmp_path):
    for f in ("ablation-livec-cpu.json", "ablation-livec-cpu-seed1.json"):
        shutil.copy(RESULTS / f, tmp_path / f)
    rows = [_row("livec_dev_jpegmix", "base", 0, [0.5, 0.6, 0.7]),
            _row("livec_dev_jpegmix", "base_jpeg30_95", 0, [0.6, 0.5, 0.8]),
            _row("livec_dev_jpegmix", "brisque", 0, [0.40, 0.44, 0.52])]  # fmt: skip
    write_result(tmp_path / JPEG_STORAGE, _doc(rows))
    text = jpeg_storage_markdown(tmp_path)
    assert "| re-stored as JPEG, quality 50-95 | 0 | 0.600 (0.55-0.65) | 0.600 (0.55-0.70) " \
           "| 0.440 (0.42-0.48) |" in text  # fmt: skip
    graph = stored_ablations(tmp_path)[0]["metrics"]["rows"]["graph"]["srocc_median"]
    assert f"| as LIVEC stores them (lossless) | 0 | {graph:.3f}" in text
    assert "not run" in text  # no re-storage run on the lossless photos here
    assert "beat the plain recipe on 2 of 3 splits re-stored as JPEG" in text
    assert "`abcdef0123`" in text
    # the earlier recipe's ablations beside it: the table says so
    assert f"the current one is `{recipe_fingerprint('cpu')}`" in text
    (tmp_path / JPEG_STORAGE).unlink()
    with pytest.raises(FileNotFoundError, match=JPEG_STORAGE):
        jpeg_storage_markdown(tmp_path)


def test_the_stored_measurement_agrees_with_the_stored_ablations():
    """BRISQUE on the lossless photos, measured again by the JPEG benchmark, is the stored
    ablation's BRISQUE row split for split: the same photos, splits and fit."""
    doc = json.loads((RESULTS / JPEG_STORAGE).read_text())
    rows = {(r["data"], r["method"], r["seed"]): r for r in doc["metrics"]["rows"]}
    for seed, ablation in enumerate(stored_ablations(RESULTS)):
        stored = ablation["metrics"]["rows"]["brisque"]["per_split_srocc"]
        assert np.allclose(rows[("livec_dev", "brisque", seed)]["per_split_srocc"], stored)
        for method in ("base", "base_jpeg30_95", "brisque"):
            assert len(rows[("livec_dev_jpegmix", method, seed)]["per_split_srocc"]) == 10
    assert all("+dirty" not in (r.get("commit") or "") for r in doc["metrics"]["rows"])
    assert "+dirty" not in doc["provenance"]["commit"]
    # made by the recipe before #28, as were the ablations beside it; labelled as such
    for ablation in stored_ablations(RESULTS):
        assert ablation["metrics"]["recipe_fingerprint"] == doc["metrics"]["recipe_fingerprint"]
    assert doc["metrics"]["recipe_fingerprint"] != recipe_fingerprint("cpu")
