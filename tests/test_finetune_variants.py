"""benchmarks/finetune_variants.py gathers finished variant runs into one result file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from gmiqa.provenance import provenance
from gmiqa.results import load_result

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "finetune_variants.py"


def _script():
    spec = importlib.util.spec_from_file_location("finetune_variants", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, variant: str, row: str, seed: int, srocc: list[float], splits: int):
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    res = {"config": {"splits": splits}, "provenance": provenance(device="cpu"),
           "splits": [{"metrics": {"srocc": s, "plcc": s}, "seconds": 1.0} for s in srocc]}  # fmt: skip
    (folder / "runs" / f"{variant}-{row}-{seed}.json").write_text(json.dumps(res))


def test_collect_keeps_finished_known_variants_only(tmp_path, capsys):
    fv = _script()
    folder = tmp_path / "variants"
    _run(folder, "grid4", "graph", 0, [0.6, 0.7, 0.8], 3)
    _run(folder, "grid4_rank", "none", 1, [0.5, 0.4], 3)  # unfinished: 2 of 3 splits
    _run(folder, "mystery", "graph", 0, [0.9, 0.9, 0.9], 3)  # not a named variant
    (folder / "grid4-0.json").write_text(json.dumps({"dataset_root": "/x/livec_dev"}))
    out = tmp_path / "search.json"
    assert fv.main(["--root", "x", "--collect", str(out), "--out", str(folder)]) == 0
    runs = load_result(out)["metrics"]["runs"]
    assert [(r["variant"], r["init"], r["seed"], r["data"]) for r in runs] == [
        ("grid4", "graph", 0, "livec_dev")
    ]
    assert runs[0]["srocc_median"] == 0.7 and runs[0]["changes"] == {"eval_crops": 4}


def test_collect_with_nothing_finished_exits_2(tmp_path, capsys):
    fv = _script()
    assert (
        fv.main(["--root", "x", "--collect", str(tmp_path / "s.json"), "--out", str(tmp_path)]) == 2
    )
    assert "no finished variant runs" in capsys.readouterr().err
