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
    root = _flat_csiq(tmp_path / "csiq", levels=5, size=(130, 140))
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


# ---- gmiqa score: folders, globs, batches, --out (issue 13) -------------------------------
@pytest.fixture(scope="module")
def score_folder(tmp_path_factory):
    """Photos of three sizes in nested folders, one unreadable file among them."""
    d = tmp_path_factory.mktemp("score-folder")
    rng = np.random.default_rng(3)
    sizes = [(120, 100), (96, 130), (120, 100), (120, 100), (96, 130), (110, 110), (120, 100)]
    for i, (h, w) in enumerate(sizes):
        sub = d / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(sub / f"im{i}.png")
    (d / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    (d / "a" / "readme.txt").write_text("not an image, not listed\n")
    return d


def _one_at_a_time(checkpoint, paths) -> dict[str, float]:
    """The previous code path of `gmiqa score`: each image alone through model.score."""
    import torch

    from gmiqa.datasets.base import image_to_tensor
    from gmiqa.images import load_image
    from gmiqa.inference import model_from_checkpoint

    model, _ = model_from_checkpoint(checkpoint, "cpu")
    with torch.no_grad():
        return {
            str(p): float(model.score(image_to_tensor(load_image(p)).unsqueeze(0))[0])
            for p in paths
        }


def test_score_folder_batches_equal_one_at_a_time(checkpoint, score_folder, tmp_path, capsys):
    """A folder, scored in same-size batches on 2 threads, gives each image's own score (1e-5)."""
    out_csv, out_json = tmp_path / "scores.csv", tmp_path / "scores.json"
    argv = ["score", "--checkpoint", str(checkpoint), "--device", "cpu", "--batch-size", "3",
            "--workers", "2", str(score_folder)]  # fmt: skip
    code = main([*argv, "--out", str(out_csv)])
    out, err = capsys.readouterr()
    assert code == 2  # the broken file
    errors = err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("gmiqa: error: ") and "broken.jpg" in errors[0]
    lines = [line.split("\t") for line in out.strip().splitlines()]
    images = sorted(p for p in score_folder.rglob("*.png"))
    assert [p for p, _ in lines] == [str(p) for p in images]  # sorted, recursive, in order
    expected = _one_at_a_time(checkpoint, images)
    for path, score in lines:
        assert float(score) == pytest.approx(expected[path], abs=1e-5)
    rows = out_csv.read_text().splitlines()
    assert rows[0] == "path,score,error" and len(rows) == 1 + len(images) + 1
    assert any("broken.jpg" in r and r.split(",")[1] == "" for r in rows[1:])
    assert main([*argv, "--batch-size", "16", "--json", "--quiet", "--out", str(out_json)]) == 2
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out_json.read_text())
    by_path = {r["path"]: r for r in printed}
    for path, score in expected.items():
        assert by_path[path]["score"] == pytest.approx(score, abs=1e-5)
    assert "broken.jpg" in by_path[str(score_folder / "a" / "broken.jpg")]["error"]


def test_score_glob_patterns_and_files(checkpoint, score_folder, image_files, capsys):
    pattern = str(score_folder / "**" / "im[0-2].png")
    code = main(["score", "--checkpoint", str(checkpoint), "--device", "cpu", "--quiet",
                 str(image_files["gray"]), pattern, str(score_folder / "nothing-*.png")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2  # the pattern without matches
    paths = [line.split("\t")[0] for line in out.strip().splitlines()]
    assert paths == [str(image_files["gray"])] + sorted(
        str(p) for p in score_folder.rglob("im[0-2].png")
    )
    assert "nothing-*.png: no file matches" in err


def test_score_out_must_be_csv_or_json(checkpoint, image_files, tmp_path, capsys):
    code = main(["score", "--checkpoint", str(checkpoint), "--device", "cpu",
                 "--out", str(tmp_path / "scores.txt"), str(image_files["gray"])])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "scores.txt" in err[0]
    assert not (tmp_path / "scores.txt").exists()


# -- issue 12: crashes become one error line naming the file; small things ---------------
def test_score_decompression_bomb_does_not_abort_the_batch(checkpoint, image_files, tmp_path,
                                                           capsys):  # fmt: skip
    from test_images import write_bomb_png

    bomb = write_bomb_png(tmp_path / "bomb.png")  # a 65-byte PNG claiming 200 megapixels
    good = [image_files["gray"], image_files["rgba"]]
    code = main(["score", "--checkpoint", str(checkpoint), "--device", "cpu",
                 str(good[0]), str(bomb), str(good[1])])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2
    assert [line.split("\t")[0] for line in out.strip().splitlines()] == [str(p) for p in good]
    errors = err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("gmiqa: error: ") and str(bomb) in errors[0]


def test_score_of_a_photo_stored_sideways_is_that_of_the_upright_photo(checkpoint, tmp_path,
                                                                       capsys):  # fmt: skip
    from test_images import save_sideways

    y, x = np.mgrid[0:120, 0:170]
    upright = np.stack([x * 3 % 256, y * 2, (x * y) // 90 % 256], 2).astype(np.uint8)
    Image.fromarray(upright).save(tmp_path / "upright.png")
    save_sideways(upright, tmp_path / "exif6.png")  # orientation 6, as phones store it
    Image.open(tmp_path / "exif6.png").save(tmp_path / "sideways.png")  # the same pixels, no tag
    names = ["upright.png", "exif6.png", "sideways.png"]
    code = main(["score", "--checkpoint", str(checkpoint), "--device", "cpu", "--json",
                 *(str(tmp_path / n) for n in names)])  # fmt: skip
    assert code == 0
    scores = [row["score"] for row in json.loads(capsys.readouterr().out)]
    assert scores[1] == pytest.approx(scores[0], abs=1e-5)
    assert abs(scores[2] - scores[0]) > 1e-4  # the sideways pixels score differently


def test_too_small_image_error_names_the_file(checkpoint, tmp_path, capsys):
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny)
    code = main(["score", "--checkpoint", str(checkpoint), "--device", "cpu", str(tiny)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(tiny) in err[0] and "smaller" in err[0]


@pytest.mark.parametrize("command", ["finetune", "ablation", "evaluate"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_splits_must_be_a_positive_integer(command, value, tmp_path, capsys):
    argv = [command, "--dataset", "synthetic", "--splits", value, "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--splits" in err and f"{value} is not a positive integer" in err
    assert not (tmp_path / "cpu").exists()  # nothing ran


@pytest.mark.parametrize(
    "kind, words", [("meta", "stage-1 meta-learning"), ("graph", "stage-2 graph pre-training")]
)
def test_scoring_with_a_pretraining_checkpoint_warns(kind, words, image_files, tmp_path, capsys):
    import torch

    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    profile = get_profile("smoke")
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / f"{kind}.safetensors", kind=kind,
                           model=build_model(profile.model),
                           config={"profile": profile.to_dict()})  # fmt: skip
    code = main(["score", "--checkpoint", str(path), "--device", "cpu", str(image_files["gray"])])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith(str(image_files["gray"]))  # scored all the same
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and words in warning[0] and str(path) in warning[0]
    assert "not quality predictions" in warning[0] and "ine-tune" in warning[0]


def test_scoring_with_a_finetuned_checkpoint_does_not_warn(checkpoint, image_files, capsys):
    assert main(["score", "--checkpoint", str(checkpoint), "--device", "cpu",
                 str(image_files["gray"])]) == 0  # fmt: skip
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("key, value", [("config", "not a dict"), ("version", "one")])
def test_checkpoint_sidecar_with_a_string_field(checkpoint, image_files, tmp_path, key, value,
                                                capsys):  # fmt: skip
    import shutil

    from gmiqa.checkpoint import sidecar_path

    ck = tmp_path / "broken.safetensors"
    shutil.copy(checkpoint, ck)
    meta = json.loads(sidecar_path(checkpoint).read_text())
    meta[key] = value
    sidecar_path(ck).write_text(json.dumps(meta))
    code = main(["score", "--checkpoint", str(ck), "--device", "cpu", str(image_files["gray"])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("gmiqa: error: ")
    assert str(sidecar_path(ck)) in err[0] and key in err[0]


def _flat_csiq(root: Path, levels: int = 4, size: tuple[int, int] = (64, 64)) -> Path:
    """CSIQ's flat layout: one noisy image per level and a dmos.csv naming them."""
    root.mkdir()
    rng = np.random.default_rng(1)
    rows = ["image,dmos"]
    for level in range(1, levels + 1):
        noisy = np.clip(128 + rng.normal(0, 12 * level, (*size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / f"1600.AWGN.{level}.png")
        rows.append(f"1600.AWGN.{level}.png,{0.1 * level:.3f}")
    (root / "dmos.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("fault", ["zero-byte image", "non-UTF-8 score file", "NaN score"])
def test_evaluate_with_a_broken_set_is_one_line_naming_the_file(checkpoint, tmp_path, fault,
                                                                capsys):  # fmt: skip
    root = _flat_csiq(tmp_path / "csiq")
    score_file = root / "dmos.csv"
    if fault == "zero-byte image":
        (root / "1600.AWGN.3.png").write_bytes(b"")
        needle = str(root / "1600.AWGN.3.png")
    elif fault == "non-UTF-8 score file":
        score_file.write_bytes(score_file.read_bytes().replace(b"AWGN.2", b"AWGN\xff2"))
        needle = f"{score_file}, line 3"
    else:
        score_file.write_text(score_file.read_text().replace("0.200", "nan"))
        needle = f"{score_file}, line 3"
    code = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "csiq", "--root",
                 str(root), "--device", "cpu", "--profile", "smoke", "--out",
                 str(tmp_path / "runs")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("gmiqa: error: ")
    assert needle in err[0]


@pytest.mark.parametrize("backbone", ["scnet_small", "resnet50"])  # scnet50: scnet_small's modules
def test_folded_batch_norm_scores_equal_the_model(backbone):
    """`gmiqa score` folds BatchNorm into the convolutions: same scores to 1e-5, no BN left."""
    import dataclasses

    import torch

    from gmiqa.inference import fold_batch_norm
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    settings = dataclasses.replace(get_profile("smoke").model, backbone=backbone)
    torch.manual_seed(0)
    model = build_model(settings)
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(2):
            model.features(torch.rand(3, 3, 112, 128))
    x = torch.rand(2, 3, 112, 128)
    folded = fold_batch_norm(model)
    assert model.training  # the original is untouched
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.backbone.modules())
    torch.testing.assert_close(folded.score(x), model.score(x), rtol=1e-5, atol=1e-5)


def test_score_and_evaluate_score_as_the_finetuning_recipe(image_files, tmp_path, capsys):
    """A checkpoint whose recipe scores a grid of crops is scored that way by `gmiqa score`."""
    import torch

    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.datasets.base import image_to_tensor
    from gmiqa.images import load_image
    from gmiqa.inference import recipe_scoring, score_windows
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    profile = get_profile("smoke").replace(finetune={"crop": 96, "eval_crops": 3})
    torch.manual_seed(0)
    model = build_model(profile.model).eval()
    ck = save_checkpoint(tmp_path / "grid.safetensors", kind="finetune", model=model,
                         config={"profile": profile.to_dict()}, state={"done": True})  # fmt: skip
    assert recipe_scoring({"profile": profile.to_dict()}) == (96, 3)
    assert recipe_scoring({"profile": get_profile("gpu").to_dict()}) == (None, 0)
    assert recipe_scoring({}) == (None, 0)
    path = image_files["gray"]
    assert main(["score", "--checkpoint", str(ck), "--device", "cpu", "--json", str(path)]) == 0
    got = json.loads(capsys.readouterr().out)[0]["score"]
    x = image_to_tensor(load_image(path))[None]
    assert got == pytest.approx(float(score_windows(model, x, 96, 3)[0]), abs=1e-4)
    assert got != pytest.approx(float(model.score(x)[0]), abs=1e-4)  # not the whole image


def test_command_inputs_are_typed_values_made_once(tmp_path, monkeypatch):
    """cli.command_inputs turns the namespace into CommandInputs: the profile object, the
    run folder, the expanded stages and the named pre-training data; the library below
    never sees the namespace."""
    from gmiqa.cli import build_parser, command_inputs
    from gmiqa.profiles import Profile
    from gmiqa.runfolder import PretrainingData

    monkeypatch.delenv("GMIQA_PROFILE", raising=False)
    argv = ["pretrain", "--profile", "smoke", "--out", str(tmp_path), "--stage", "all",
            "--pristine", str(tmp_path)]  # fmt: skip
    inputs = command_inputs(build_parser().parse_args(argv), argv)
    assert isinstance(inputs.profile, Profile) and inputs.profile.name == "smoke"
    assert inputs.run_dir == tmp_path / "smoke" and inputs.stages == (
        "meta",
        "graph",
        "graph_nometa",
    )
    assert inputs.data == PretrainingData(pristine=tmp_path, explicit=True)
    assert inputs.description == "gmiqa " + " ".join(argv)
    argv = ["finetune", "--profile", "smoke", "--out", str(tmp_path), "--dataset", "synthetic",
            "--compare-init", f"none,graph_nometa,{tmp_path / 'x.safetensors'}"]  # fmt: skip
    inputs = command_inputs(build_parser().parse_args(argv), argv)
    assert inputs.stages == ("graph_nometa",) and not inputs.data.explicit


@pytest.mark.parametrize(
    "argv, message",
    [(["ablation", "--inits", ","], "ablation --inits names no row"),
     (["finetune", "--dataset", "synthetic", "--pretrain-dataset", "kadid10k", "--pristine", "."],
      "give --pristine (synthetic distortions) or --pretrain-dataset, not both"),
     (["finetune", "--dataset", "synthetic", "--pretrain-dataset", "kadid10k"],
      "finetune --pretrain-dataset kadid10k needs --pretrain-root DIR"),
     (["pretrain", "--dataset", "kadid10k", "--root", ".", "--pristine", "."],
      "give --pristine (synthetic distortions) or --dataset, not both")],
)  # fmt: skip
def test_conflicting_data_options_are_one_line_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "runs"
    assert main([*argv, "--profile", "smoke", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("gmiqa: error:") and message in err[-1], err
    assert not out.exists()  # nothing written, not even the run folder


def test_every_command_lists_every_profile_in_its_help(capsys):
    from gmiqa.profiles import PROFILES

    for command in ("pretrain", "finetune", "ablation", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for name in PROFILES:
            assert name in text, f"gmiqa {command} --help does not name profile {name}"
