"""The ``gmiqa`` command line (gmiqa.cli): scoring any image file, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmiqa.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An (untrained) fine-tuning checkpoint of the smoke model: scoring needs only weights."""
    import torch

    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    profile = get_profile("smoke")
    torch.manual_seed(0)
    model = build_model(profile.model)
    path = tmp_path_factory.mktemp("ck") / "finetune.safetensors"
    return save_checkpoint(path, kind="finetune", model=model,
                           config={"profile": profile.to_dict()}, state={"done": True})  # fmt: skip


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)
    files = {}
    files["gray"] = d / "gray.png"
    Image.fromarray(rgb[..., 0]).save(files["gray"])
    files["rgba"] = d / "rgba.png"
    alpha = rng.integers(0, 256, (150, 170, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(files["rgba"])
    files["cmyk"] = d / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(files["cmyk"], "JPEG", quality=90)
    files["16bit"] = d / "deep.png"
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(files["16bit"])
    full = d / "full.png"
    Image.fromarray(rgb).save(full)
    files["truncated"] = d / "truncated.png"
    files["truncated"].write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    files["text"] = d / "notes.png"
    files["text"].write_text("this is not an image\n")
    return files


def test_score_valid_and_invalid_files(checkpoint, image_files, capsys):
    valid = [image_files[k] for k in ("gray", "rgba", "cmyk", "16bit")]
    bad = [image_files["truncated"], image_files["text"]]
    code = main(
        ["score", "--checkpoint", str(checkpoint), "--device", "cpu", *map(str, valid + bad)]
    )
    out, err = capsys.readouterr()
    assert code == 2  # some files failed
    lines = out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in valid]
    assert all(np.isfinite(float(line.split("\t")[1])) for line in lines)
    errors = err.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("gmiqa: error: ") and "truncated.png" in errors[0]
    assert "notes.png" in errors[1] and "not an image" in errors[1]


def test_score_json_and_grey_equals_rgb_of_same_grey(checkpoint, image_files, tmp_path, capsys):
    grey = np.asarray(Image.open(image_files["gray"]))
    rgb_path = tmp_path / "grey_as_rgb.png"
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(rgb_path)
    code = main(["score", "--checkpoint", str(checkpoint), "--device", "cpu", "--json",
                 str(image_files["gray"]), str(rgb_path)])  # fmt: skip
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in rows] == [str(image_files["gray"]), str(rgb_path)]
    assert rows[0]["score"] == pytest.approx(rows[1]["score"], abs=1e-6)


def test_score_is_independent_of_other_images(checkpoint, image_files, capsys):
    main(["score", "--checkpoint", str(checkpoint), "--device", "cpu", str(image_files["rgba"])])
    alone = capsys.readouterr().out
    main(["score", "--checkpoint", str(checkpoint), "--device", "cpu",
          str(image_files["gray"]), str(image_files["rgba"])])  # fmt: skip
    assert capsys.readouterr().out.splitlines()[1] == alone.strip()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["finetune", "--dataset", "csiq", "--root", "/no/such/folder", "--init", "none"],
         "/no/such/folder: dataset folder does not exist"),
        (["finetune", "--dataset", "mnist", "--root", ".", "--init", "none"], "unknown dataset 'mnist'"),
        (["finetune", "--dataset", "synthetic", "--init", "/no/ck.safetensors"], "/no/ck.safetensors: no such checkpoint"),
        (["pretrain", "--profile", "huge"], "unknown profile 'huge'"),
        (["pretrain", "--pristine", "/no/pristine"], "/no/pristine: pristine image folder does not exist"),
        (["evaluate", "--dataset", "csiq", "--root", "."], "needs --checkpoint"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line_and_exit_2(argv, needle, capsys, tmp_path):
    code = main([*argv, "--out", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("gmiqa: error: ") and needle in err[0]


def test_wrong_checkpoint_file(image_files, tmp_path, capsys):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"\x00" * 64)
    code = main(["score", "--checkpoint", str(fake), str(image_files["gray"])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(fake) in err[0]


def test_python_dash_m_entry_point_from_a_source_checkout(checkpoint, image_files):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "gmiqa", "score", "--checkpoint", str(checkpoint), "--device", "cpu",
         str(image_files["cmyk"]), str(image_files["text"])],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout.startswith(str(image_files["cmyk"]) + "\t")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gmiqa: error:")]
    assert len(errors) == 1 and "notes.png" in errors[0]


def test_evaluate_writes_metrics_json(checkpoint, tmp_path, capsys):
    """`gmiqa evaluate` on a CSIQ-layout folder (flat dmos.csv) with a checkpoint."""
    root = tmp_path / "csiq"
    root.mkdir()
    rng = np.random.default_rng(1)
    rows = ["image,dmos"]
    for level in range(1, 6):
        noisy = np.clip(128 + rng.normal(0, 12 * level, (130, 140, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / f"1600.AWGN.{level}.png")
        rows.append(f"1600.AWGN.{level}.png,{0.1 * level:.3f}")
    (root / "dmos.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "runs"
    code = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "csiq", "--root",
                 str(root), "--device", "cpu", "--profile", "smoke", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "smoke" / "results" / "evaluate-csiq-gmiqa.json").read_text())
    assert res["metrics"]["n"] == 5 and np.isfinite(res["metrics"]["srocc"])
    assert res["provenance"]["commit"] and res["config"]["dataset"] == "csiq"
    assert "SROCC" in capsys.readouterr().out


def test_evaluate_baselines_on_the_finetuning_splits(tmp_path, capsys):
    """NIQE and BRISQUE run from the command line on the splits fine-tuning uses."""
    from gmiqa.datasets.splits import make_splits
    from gmiqa.training.pipeline import synthetic_dataset

    for method in ("niqe", "brisque"):
        argv = ["evaluate", "--method", method, "--dataset", "synthetic", "--profile", "smoke",
                "--out", str(tmp_path), "--quiet", "--splits", "2"]  # fmt: skip
        assert main(argv) == 0
        res = json.loads(
            (tmp_path / "smoke" / "results" / f"evaluate-synthetic-{method}.json").read_text()
        )
        assert res["config"]["split_by"] == "reference" and len(res["per_split"]) == 2
        assert res["provenance"]["commit"]
        # Level-graded synthetic distortions: a working baseline ranks them far above chance.
        assert res["summary"]["srocc"]["median"] > 0.3, (method, res["summary"]["srocc"])
    dataset = synthetic_dataset("smoke", tmp_path / "smoke")
    splits = make_splits(dataset.records, 2, 0.8, 0, by="reference")
    assert sum(len(test) for _, test in splits) == sum(m["n"] for m in res["per_split"])


def test_evaluate_baseline_with_a_missing_model_file(tmp_path, capsys):
    argv = ["evaluate", "--method", "brisque", "--dataset", "synthetic", "--profile", "smoke",
            "--out", str(tmp_path), "--model-path", str(tmp_path / "nope.npz")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.npz" in err[0]
