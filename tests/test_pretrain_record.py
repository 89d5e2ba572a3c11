"""benchmarks/pretrain_record.py: the stored pre-training record, read from a run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from gmiqa.cli import main
from gmiqa.results import load_result
from tests.scripts import load_script


def _photos(folder, n=6, seed=3):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((170, 150), Image.Resampling.BICUBIC).save(folder / f"{i}.png")
    return folder


@pytest.mark.timeout(600)
def test_the_record_holds_every_finished_stage_and_the_random_floor(tmp_path, capsys):
    record = load_script("pretrain_record")
    photos, out = _photos(tmp_path / "photos"), tmp_path / "runs"
    rec = tmp_path / "rec.json"
    args = ["--run", str(out), "--profile", "smoke", "--pristine", str(photos), "--out", str(rec)]
    assert record.main(args) == 2  # nothing pre-trained yet: one line naming the folder
    assert "no stage-2 checkpoint" in capsys.readouterr().err
    assert main(["pretrain", "--profile", "smoke", "--out", str(out), "--stage", "both",
                 "--pristine", str(photos), "--quiet"]) == 0  # fmt: skip
    other = _photos(tmp_path / "other", seed=4)
    banks = sorted((out / "smoke" / "cache").glob("bank-*"))
    wrong = [*args[:5], str(other), *args[6:]]
    assert record.main(wrong) == 2  # other photos than the run's: refused, naming them
    err = capsys.readouterr().err
    assert "pre-trained on other data" in err and str(other) in err and not rec.exists()
    assert sorted((out / "smoke" / "cache").glob("bank-*")) == banks  # no work done for them
    assert record.main(args) == 0
    doc = load_result(rec)
    stages = doc["metrics"]["stages"]
    assert list(stages) == ["meta", "graph"]  # graph_nometa was not run
    ck = out / "smoke" / "checkpoints"
    probe = json.loads((ck / "graph.probe.json").read_text())
    assert stages["graph"]["probe"] == probe and "probe" not in stages["meta"]
    assert stages["graph"]["steps"] == len(stages["graph"]["losses"]["steps"]) == 6
    assert stages["graph"]["seconds"] > 0
    assert 0.0 < doc["metrics"]["within_type_score_variance"] < 0.25  # scores lie in [0, 1]
    floor = doc["metrics"]["random_init_probe"]
    assert floor["reference_ids"] == probe["reference_ids"] and floor["images"] == probe["images"]
    assert doc["provenance"]["command"].startswith("gmiqa pretrain --profile smoke --pristine")
