"""``gmiqa pretrain`` / ``finetune`` / ``ablation``: data options, stale results, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmiqa.cli import main


def _photos(folder: Path, n: int, size=(150, 170), seed=0, nested=True) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = folder / (f"set{i % 2}" if nested else "")
        sub.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((size[1], size[0]), Image.Resampling.BICUBIC)
        img.save(sub / f"p{i}.png")
    return folder


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("gmiqa: error:"), err
    assert not any("Traceback" in line for line in err)
    return err[-1]


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "no image files"),
        (lambda d: _photos(d / "tiny", 3, size=(40, 50)), "p0.png: 50x40 pixels is smaller"),
    ],
)
def test_bad_pristine_folders_get_one_line_naming_them(tmp_path, capsys, make, expected):
    folder = make(tmp_path)
    code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path / "runs"),
                 "--pristine", str(folder), "--quiet"])  # fmt: skip
    assert code == 2
    line = _error_line(capsys)
    assert expected in line and str(folder) in line


def test_kadid_folder_without_dmos_csv(tmp_path, capsys):
    (tmp_path / "kadid10k" / "images").mkdir(parents=True)
    code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path / "runs"),
                 "--dataset", "kadid10k", "--root", str(tmp_path / "kadid10k"), "--quiet"])  # fmt: skip
    assert code == 2
    assert "dmos.csv" in _error_line(capsys)


def test_missing_backbone_weights_file(tmp_path, capsys):
    code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path / "runs"),
                 "--backbone-weights", str(tmp_path / "nope.pth"), "--quiet"])  # fmt: skip
    assert code == 2
    assert "nope.pth" in _error_line(capsys)


@pytest.mark.timeout(600)
def test_another_pristine_folder_never_replaces_a_pretraining(tmp_path, capsys):
    """A folder tree of photos pre-trains; other photos are refused there (the finished
    checkpoints stay), and train in a new --out."""
    from gmiqa.checkpoint import read_sidecar

    out = tmp_path / "runs"
    first = _photos(tmp_path / "a", 6, seed=1)
    second = _photos(tmp_path / "b", 6, seed=2)
    args = ["pretrain", "--profile", "smoke", "--out", str(out), "--stage", "both", "--quiet"]
    assert main([*args, "--pristine", str(first)]) == 0
    printed = capsys.readouterr().out
    assert "5-NN type accuracy" in printed and "level SROCC" in printed
    graph = out / "smoke" / "checkpoints" / "graph.safetensors"
    fp1 = read_sidecar(graph)["config"]["fingerprint"]
    stamp = graph.stat().st_mtime_ns
    assert main([*args, "--pristine", str(first)]) == 0  # same photos: reused
    assert graph.stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main([*args, "--pristine", str(second)]) == 2  # other photos: refused
    assert f"--pristine {first}" in capsys.readouterr().err
    assert graph.stat().st_mtime_ns == stamp and read_sidecar(graph)["state"]["done"]
    args[args.index("--out") + 1] = str(tmp_path / "other")
    assert main([*args, "--pristine", str(second)]) == 0  # a new --out: trained there
    graph = tmp_path / "other" / "smoke" / "checkpoints" / "graph.safetensors"
    side = read_sidecar(graph)
    assert side["config"]["fingerprint"] != fp1 and side["config"]["data_fingerprint"]
    probe = json.loads((graph.parent / "graph.probe.json").read_text())
    assert probe["references"] == 2 and 0.0 <= probe["knn_type_accuracy"] <= 1.0


def _kadid(root: Path, size=(140, 180)) -> Path:
    """KADID-10k's official layout: images/ and dmos.csv (dist_img, ref_img, dmos, var)."""
    import csv

    folder = root / "kadid10k"
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for ref in range(1, 6):
        for t in (1, 9, 16):
            for lv in (1, 3, 5):
                name = f"I{ref:02d}_{t:02d}_{lv:02d}.png"
                arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(arr).save(folder / "images" / name)
                rows.append((name, f"I{ref:02d}.png", f"{4.8 - 0.9 * (lv - 1):.2f}", "0.4"))
    with open(folder / "dmos.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dist_img", "ref_img", "dmos", "var"])
        writer.writerows(rows)
    return folder


@pytest.mark.timeout(600)
def test_pretrain_on_kadid10k_itself(tmp_path, capsys):
    from gmiqa.checkpoint import read_sidecar

    root = _kadid(tmp_path)
    out = tmp_path / "runs"
    code = main(["pretrain", "--profile", "smoke", "--out", str(out), "--dataset", "kadid10k",
                 "--root", str(root), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    side = read_sidecar(out / "smoke" / "checkpoints" / "graph.safetensors")
    assert side["state"]["done"] and side["config"]["data_fingerprint"]
    banks = list((out / "smoke" / "cache").glob("bank-*"))
    assert len(banks) == 1 and (banks[0] / "bank.json").is_file()
    assert json.loads((banks[0] / "bank.json").read_text())["items"] == 45
    # fine-tuning in that run folder starts from the KADID pre-training, and says so
    graph = out / "smoke" / "checkpoints" / "graph.safetensors"
    stamp = graph.stat().st_mtime_ns
    capsys.readouterr()
    code = main(["finetune", "--profile", "smoke", "--out", str(out), "--dataset", "kadid10k",
                 "--root", str(root), "--init", "graph", "--splits", "1", "--quiet"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"graph pre-trained on kadid10k at {root.resolve()}" in printed.err
    assert "training stage" not in printed.out and graph.stat().st_mtime_ns == stamp
    # pre-training again on the packaged photos there is refused, naming the KADID one
    code = main(["pretrain", "--profile", "smoke", "--out", str(out), "--quiet"])
    assert code == 2
    assert f"--dataset kadid10k --root {root.resolve()}" in capsys.readouterr().err


def test_kadid_images_too_small_for_the_crops(tmp_path, capsys):
    root = _kadid(tmp_path, size=(60, 80))
    code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path / "runs"),
                 "--dataset", "kadid10k", "--root", str(root), "--quiet"])  # fmt: skip
    assert code == 2
    line = _error_line(capsys)
    assert "I01_01_01.png: 80x60 pixels is smaller" in line


@pytest.mark.timeout(600)
def test_a_lost_probe_report_is_made_again(tmp_path, capsys):
    """Interrupted between the last checkpoint and the probe: the next run probes."""
    out = tmp_path / "runs"
    args = ["pretrain", "--profile", "smoke", "--out", str(out), "--stage", "graph", "--quiet"]
    assert main(args) == 0
    probe = out / "smoke" / "checkpoints" / "graph.probe.json"
    first = json.loads(probe.read_text())
    probe.unlink()
    capsys.readouterr()
    assert main(args) == 0
    assert json.loads(probe.read_text()) == first  # the same model, the same probe
    assert "5-NN type accuracy" in capsys.readouterr().out


@pytest.mark.timeout(600)
def test_compile_flag_on_the_cpu_says_so_and_shares_checkpoints(tmp_path, capsys):
    """``--compile`` is a profile setting: eager on the CPU, and it never invalidates a stage."""
    from gmiqa.checkpoint import read_sidecar

    out = tmp_path / "runs"
    photos = _photos(tmp_path / "p", 6, seed=3)
    args = ["pretrain", "--profile", "smoke", "--out", str(out), "--stage", "graph_nometa",
            "--pristine", str(photos), "--device", "cpu", "--quiet"]  # fmt: skip
    assert main([*args, "--compile"]) == 0
    assert "--compile is used on CUDA only" in capsys.readouterr().err
    graph = out / "smoke" / "checkpoints" / "graph_nometa.safetensors"
    assert read_sidecar(graph)["config"]["profile"]["compile"] is True
    stamp = graph.stat().st_mtime_ns
    assert main(args) == 0  # the same stage without --compile: reused, not trained again
    assert graph.stat().st_mtime_ns == stamp
