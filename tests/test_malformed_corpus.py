"""Every generated malformed file (tests/malformed.py) either works or gets one line that
names it: a GMIQAError the command line prints as one line and exits 2 on, never another
exception. Plus the folder, name and tensor rules of the same issue, and the command line
end to end on a sample of the corpus."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from malformed import CASES, IMAGE_FORMATS, counts
from PIL import Image

from gmiqa.errors import GMIQAError

PNG = io.BytesIO()
Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8)).save(PNG, "PNG")
PNG = PNG.getvalue()
PHOTO = io.BytesIO()  # large enough for the smoke backbone (49 px at least)
Image.fromarray(np.random.default_rng(1).integers(0, 256, (72, 80, 3), np.uint8)).save(PHOTO, "PNG")
PHOTO = PHOTO.getvalue()


def _png(path: Path, data: bytes = PNG) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_csv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


# --- the valid layouts, one per reader ---------------------------------------------------
def _kadid(root: Path) -> None:
    rows = [["dist_img", "ref_img", "dmos", "var"]]
    for i, name in enumerate(("I01_01_01.png", "I01_02_03.png", "I02_01_05.png")):
        rows.append([name, name[:3] + ".png", f"{4.5 - i:.2f}", "0.4"])
        _png(root / "kadid10k" / "images" / name)
    _write_csv(root / "kadid10k" / "dmos.csv", rows)


def _koniq(root: Path) -> None:
    rows = [["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]]
    for i, name in enumerate(("1.jpg", "2.jpg", "3.jpg")):
        rows.append([name, 1, 2, 3, 4, 5, 15, f"{2.0 + i}", 0.5, 50])
        _png(root / "koniq10k" / "1024x768" / name)
    _write_csv(root / "koniq10k" / "koniq10k_scores_and_distributions.csv", rows)


def _csiq_flat(root: Path) -> None:
    rows = [["image", "dmos"]]
    for i, name in enumerate(("1600.AWGN.1.png", "1600.BLUR.2.png", "cactus.JPEG.3.png")):
        rows.append([name, f"{0.1 + 0.2 * i:.2f}"])
        _png(root / "csiq" / name)
    _write_csv(root / "csiq" / "dmos.csv", rows)


def _csiq_xlsx(root: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "all_by_image"
    sheet.append(["CSIQ"])
    sheet.append([])
    sheet.append([])
    sheet.append([None, None, None, "image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"])
    for level in (1, 2, 3):
        sheet.append([None, None, None, 1600, 1, "noise", level, 0.05, 0.1 * level])
        _png(root / "csiq" / "dst_imgs" / "awgn" / f"1600.AWGN.{level}.png")
    (root / "csiq").mkdir(parents=True, exist_ok=True)
    book.save(root / "csiq" / "csiq.DMOS.xlsx")


def _tid(root: Path) -> None:
    lines = []
    for i, name in enumerate(("i01_01_1.bmp", "i01_02_5.bmp", "i02_24_3.bmp")):
        lines.append(f"{5.5 - i} {name}")
        _png(root / "tid2013" / "distorted_images" / name)
    (root / "tid2013" / "mos_with_names.txt").write_text("\n".join(lines) + "\n")


def _livec_mats(data: Path, names: list[str], mos) -> None:
    data.mkdir(parents=True, exist_ok=True)
    cell = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cell[i, 0] = np.array([n])
    scipy.io.savemat(data / "AllImages_release.mat", {"AllImages_release": cell})
    scipy.io.savemat(data / "AllMOS_release.mat", {"AllMOS_release": np.asarray(mos)[None, :]})
    scipy.io.savemat(data / "AllStdDev_release.mat",
                     {"AllStdDev_release": np.full((1, len(names)), 10.0)})  # fmt: skip


def _livec(root: Path) -> None:
    folder = root / "ChallengeDB_release"
    names = [f"t{i}.bmp" for i in range(1, 8)] + ["10.bmp", "11.bmp", "12.bmp"]
    _livec_mats(folder / "Data", names, np.linspace(20, 80, len(names)))
    for i, n in enumerate(names):
        _png(folder / "Images" / ("trainingImages" if i < 7 else "") / n)


def _livec_dev(root: Path) -> None:
    _livec(root / "release")
    (root / "livec-dev.txt").write_text("10.bmp\n12.bmp\n")


def _live(root: Path) -> None:
    from gmiqa.datasets.live import FOLDERS

    folder = root / "databaserelease2"
    n = sum(c for _, c in FOLDERS)
    orgs = (np.arange(n) % 5 == 0).astype(float)
    dmos = np.where(orgs == 1, 0.0, np.linspace(-2, 105, n))
    refnames = np.empty((1, n), dtype=object)
    refnames[0, :] = [f"ref{i % 29}.bmp" for i in range(n)]
    folder.mkdir(parents=True)
    scipy.io.savemat(folder / "dmos.mat", {"dmos": dmos[None, :], "orgs": orgs[None, :]})
    scipy.io.savemat(folder / "refnames_all.mat", {"refnames_all": refnames})
    for sub, count in FOLDERS:
        (folder / sub).mkdir()
        for k in range(count):
            (folder / sub / f"img{k + 1}.bmp").write_bytes(PNG)


def _niqe(root: Path) -> None:
    from gmiqa.baselines import NIQE

    rng = np.random.default_rng(0)
    a = rng.normal(size=(36, 36))
    model = NIQE(rng.normal(size=36), a @ a.T + 36 * np.eye(36), 96, "fixture")
    model.save(root / "niqe.mat")
    model.save(root / "niqe.npz")


def _brisque(root: Path) -> None:
    from gmiqa.baselines.brisque import BRISQUE

    rng = np.random.default_rng(0)
    sv = rng.uniform(-1, 1, size=(4, 36))
    lines = ["svm_type epsilon_svr", "kernel_type rbf", "gamma 0.05", "nr_class 2",
             "total_sv 4", "rho -1.5", "SV"]  # fmt: skip
    lines += [f"{c:.3f} " + " ".join(f"{j + 1}:{v:.4f}" for j, v in enumerate(row))
              for c, row in zip((0.5, -0.2, 0.7, -1.0), sv)]  # fmt: skip
    (root / "allmodel").write_text("\n".join(lines) + "\n")
    ranges = ["x", "-1 1"] + [f"{j + 1} {-j - 1.0} {j + 2.0}" for j in range(36)]
    (root / "allrange").write_text("\n".join(ranges) + "\n")
    BRISQUE.load_libsvm(root / "allmodel", root / "allrange").save(root / "brisque.npz")


def _checkpoint(root: Path) -> None:
    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile

    profile = get_profile("smoke").replace(finetune={"crop": 56, "eval_crops": 2})
    torch.manual_seed(0)
    config = {"profile": profile.to_dict()}
    config["profile"]["finetune"]["resize_short"] = 64  # a recipe that resamples
    save_checkpoint(root / "ck.safetensors", kind="finetune", model=build_model(profile.model),
                    config=config, state={"done": True, "step": 3})  # fmt: skip
    _png(root / "photo.png", PHOTO)


def _images(root: Path) -> None:
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (24, 32, 3), np.uint8))
    for fmt in IMAGE_FORMATS:
        img.save(root / f"photo.{fmt}")


# --- the readers -------------------------------------------------------------------------
def _dataset(name: str, sub: str = ""):
    def read(root: Path):
        from gmiqa.datasets import load_dataset

        return load_dataset(name, root / sub if sub else root)

    return read


def _read_livec_dev(root: Path):
    from gmiqa.datasets.livec_dev import build_livec_dev

    return build_livec_dev(root / "release", root / "out", root / "livec-dev.txt")


def _read_niqe(suffix: str):
    def read(root: Path):
        from gmiqa.baselines import NIQE

        return NIQE.load(root / f"niqe.{suffix}")

    return read


def _read_brisque_npz(root: Path):
    from gmiqa.baselines.brisque import BRISQUE

    return BRISQUE.load(root / "brisque.npz")


def _read_libsvm(root: Path):
    from gmiqa.baselines.brisque import BRISQUE

    return BRISQUE.load_libsvm(root / "allmodel", root / "allrange")


def _read_checkpoint(root: Path, score: bool = True):
    from gmiqa.inference import load_model

    model = load_model(root / "ck.safetensors", device="cpu", workers=1)
    # Scoring runs the recipe; a case that leaves the recipe alone needs the load only.
    return model.score(root / "photo.png") if score else model


def _read_checkpoint_sha(root: Path, case):
    # The sidecar updated to the mutated weights' digest: the safetensors parser is reached.
    side = root / "ck.json"
    meta = json.loads(side.read_text())
    meta["weights_sha256"] = hashlib.sha256((root / "ck.safetensors").read_bytes()).hexdigest()
    side.write_text(json.dumps(meta))
    return _read_checkpoint(root, score=False)


def _read_image(root: Path, case):
    from gmiqa.images import image_size, load_image

    image_size(root / case.target)
    return load_image(root / case.target)


# reader -> (layout builder, read(root, case), files the read may change besides target)
READERS = {
    "kadid10k": (_kadid, lambda r, c: _dataset("kadid10k")(r), ()),
    "koniq10k": (_koniq, lambda r, c: _dataset("koniq10k")(r), ()),
    "csiq-flat": (_csiq_flat, lambda r, c: _dataset("csiq")(r), ()),
    "csiq-xlsx": (_csiq_xlsx, lambda r, c: _dataset("csiq")(r), ()),
    "tid2013": (_tid, lambda r, c: _dataset("tid2013")(r), ()),
    "livec": (_livec, lambda r, c: _dataset("livec")(r), ()),
    "live": (_live, lambda r, c: _dataset("live")(r), ()),
    "livec-dev": (_livec_dev, lambda r, c: _read_livec_dev(r), ()),
    "niqe-mat": (_niqe, lambda r, c: _read_niqe("mat")(r), ()),
    "niqe-npz": (_niqe, lambda r, c: _read_niqe("npz")(r), ()),
    "brisque-npz": (_brisque, lambda r, c: _read_brisque_npz(r), ()),
    "brisque-libsvm": (_brisque, lambda r, c: _read_libsvm(r), ()),
    "checkpoint-weights": (_checkpoint, lambda r, c: _read_checkpoint(r), ()),
    "checkpoint-weights-sha": (_checkpoint, _read_checkpoint_sha, ("ck.json",)),
    "checkpoint-sidecar": (_checkpoint, lambda r, c: _read_checkpoint(r, _recipe(c)), ()),
    "image": (_images, _read_image, ()),
}
_LAYOUTS: dict[str, Path] = {}


def _recipe(case) -> bool:
    """Whether a sidecar case may change how a photo is scored (then it is scored)."""
    return case.kind.startswith(("config.profile.finetune", "config.profile=", "config=",
                                 "config.profile.model"))  # fmt: skip


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    def get(reader: str) -> Path:
        if reader not in _LAYOUTS:
            root = tmp_path_factory.mktemp(reader)
            READERS[reader][0](root)
            _LAYOUTS[reader] = root
        return _LAYOUTS[reader]

    yield get
    _LAYOUTS.clear()


def one_line(exc: BaseException) -> str:
    """The error as ``gmiqa.cli.main`` prints it."""
    return " ".join(str(exc).split())


def test_every_reader_has_cases():
    assert set(counts()) == set(READERS)
    assert len(CASES) >= 1500 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_file_works_or_is_one_line_naming_it(case, layouts, recwarn):
    root = layouts(case.reader)
    _, read, touched = READERS[case.reader]
    target = root / case.target
    saved = {p: p.read_bytes() for p in [target, *(root / t for t in touched)]}
    try:
        target.write_bytes(case.make(saved[target]))
        try:
            read(root, case)
        except GMIQAError as exc:
            line = one_line(exc)
            assert target.name in line, f"{case.id}: the message does not name the file: {line}"
            assert "Traceback" not in line
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
        shutil.rmtree(root / "out", ignore_errors=True)


# --- the cases through the command line -----------------------------------------
def _cli(argv, capsys) -> tuple[int, str, str]:
    from gmiqa.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", ["empty", "garbage", "v7.3", "mos-as-text"])
def test_livec_mat_cases_exit_2_with_one_line(tmp_path, capsys, kind):
    _livec(tmp_path)
    mos = tmp_path / "ChallengeDB_release" / "Data" / "AllMOS_release.mat"
    if kind == "empty":
        mos.write_bytes(b"")
    elif kind == "garbage":
        mos.write_bytes(np.random.default_rng(0).bytes(300))
    elif kind == "v7.3":
        from malformed import _mat_v73

        mos.write_bytes(_mat_v73(b"\x00" * 600))
    else:
        scipy.io.savemat(mos, {"AllMOS_release": "fifty"})
    code, _, err = _cli(["evaluate", "--method", "niqe", "--dataset", "livec", "--root",
                         str(tmp_path), "--profile", "smoke", "--out", str(tmp_path / "runs"),
                         "--quiet"], capsys)  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "AllMOS_release.mat" in err, err
    assert "Traceback" not in err


def test_niqe_garbage_model_file_exits_2_naming_it(tmp_path, capsys):
    _livec(tmp_path)
    model = tmp_path / "garbage.mat"
    model.write_bytes(np.random.default_rng(1).bytes(500))
    code, _, err = _cli(["evaluate", "--method", "niqe", "--dataset", "livec", "--root",
                         str(tmp_path), "--model-path", str(model), "--profile", "smoke",
                         "--out", str(tmp_path / "runs"), "--quiet"], capsys)  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "garbage.mat" in err, err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ck")
    _checkpoint(root)
    return root / "ck.safetensors"


def test_sidecar_with_unknown_backbone_names_the_sidecar(tmp_path, checkpoint, capsys):
    for f in ("ck.safetensors", "ck.json"):
        shutil.copy(checkpoint.parent / f, tmp_path / f)
    meta = json.loads((tmp_path / "ck.json").read_text())
    meta["config"]["profile"]["model"]["backbone"] = "vgg16"
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    _png(tmp_path / "p.png")
    code, _, err = _cli(["score", "--checkpoint", str(tmp_path / "ck.safetensors"),
                         "--device", "cpu", "--quiet", str(tmp_path / "p.png")], capsys)  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "ck.json" in err and "vgg16" in err, err


@pytest.mark.parametrize("what", ["pt", "folder", "missing"])
def test_a_pt_file_or_a_folder_as_checkpoint_is_named_accurately(tmp_path, capsys, what):
    given = {"pt": tmp_path / "model.pt", "folder": tmp_path / "run", "missing": tmp_path / "x"}
    path = given[what]
    if what == "pt":
        path.write_bytes(b"\x80\x04pickle")
    elif what == "folder":
        path.mkdir()
    _png(tmp_path / "p.png")
    code, _, err = _cli(["score", "--checkpoint", str(path), "--device", "cpu", "--quiet",
                         str(tmp_path / "p.png")], capsys)  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert f"{path}:" in err and f"{path}.safetensors:" not in err, err
    expected = {"pt": "never loaded", "folder": "is a folder", "missing": "no such checkpoint"}
    assert expected[what] in err


# --- folders, names, outputs ------------------------------------------------------------
def test_links_that_loop_dangle_or_leave_are_reported_and_the_rest_scored(
    tmp_path, checkpoint, capsys
):
    folder = tmp_path / "photos"
    for name in ("a.png", "b.png", "sub/c.png"):
        _png(folder / name, PHOTO)
    _png(tmp_path / "secret.png")
    os.symlink("loop.png", folder / "loop.png")
    os.symlink("nowhere.png", folder / "dangling.png")
    os.symlink(tmp_path / "secret.png", folder / "out.png")
    os.symlink("a.png", folder / "inside.png")
    out = tmp_path / "scores.json"
    code, _, err = _cli(["score", "--checkpoint", str(checkpoint), "--device", "cpu", "--quiet",
                         "--out", str(out), str(folder)], capsys)  # fmt: skip
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert any("loop.png: a link that loops" in ln for ln in lines)
    assert any("dangling.png: a link that dangles" in ln for ln in lines)
    assert any("out.png: a link to" in ln and "outside the folder" in ln for ln in lines)
    rows = json.loads(out.read_text())
    scored = sorted(Path(r["path"]).name for r in rows if "score" in r)
    assert scored == ["a.png", "b.png", "c.png", "inside.png"]


def test_the_link_rule_is_in_score_help(capsys):
    from gmiqa.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "leads out of it is not followed" in text and "dangles or loops" in text


HOSTILE_NAMES = [
    b"tab\there.png", b"new\nline.png", b"cr\rreturn.png", b"back\\slash.png",
    b"latin1-\xe9.png", b"bad-utf8-\xff\xfe.png", b"x" * 251 + b".png",
    b"reserved-:*?\"<>|.png", b"-dash.png", b" spaced .png", "e\u0301-nfd.png".encode(),
    b"bell\x07.png", b"\\x41-literal.png", b"\\\\n-literal.png",
]  # fmt: skip


@pytest.mark.parametrize("raw", HOSTILE_NAMES, ids=[repr(n)[2:20] for n in HOSTILE_NAMES])
def test_every_name_is_written_escaped_and_read_back(tmp_path, raw):
    from gmiqa.names import escape_name, read_scores, unescape_name
    from gmiqa.score_output import write_scores

    name = os.fsdecode(raw)
    path = str(tmp_path / name)
    rows = [{"path": path, "score": 0.5}, {"path": path + ".b", "error": f"{path}: bad"}]
    for suffix in (".csv", ".json"):
        write_scores(tmp_path / f"s{suffix}", rows)
        assert read_scores(tmp_path / f"s{suffix}") == rows
    line = escape_name(path)
    assert "\t" not in line and "\n" not in line and "\r" not in line
    line.encode("utf-8")  # writable as UTF-8 text
    assert unescape_name(line) == path
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 3


def test_score_out_whose_last_photo_has_an_unwritable_name_writes_every_score(
    tmp_path, checkpoint, capsys
):
    folder = tmp_path / "photos"
    names = ["a.png", "b.png", "c.png"]
    for n in names:
        _png(folder / n, PHOTO)
    last = os.fsdecode(b"z-\xff\tlast\n.png")  # not UTF-8, a tab and a newline
    (folder / last).write_bytes(PHOTO)
    out = tmp_path / "s.csv"
    code, stdout, _ = _cli(["score", "--checkpoint", str(checkpoint), "--device", "cpu",
                            "--quiet", "--out", str(out), str(folder)], capsys)  # fmt: skip
    assert code == 0
    from gmiqa.names import read_scores

    rows = read_scores(out)
    assert [Path(r["path"]).name for r in rows] == [*names, last]
    assert all(isinstance(r["score"], float) for r in rows)
    assert len(stdout.splitlines()) == 4  # one path<TAB>score line per photo
    assert all(len(line.split("\t")) == 2 for line in stdout.splitlines())


# --- tensors and scores -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["nan", "inf", "0..255", "negative", "uint8"])
def test_score_refuses_tensors_it_would_misread(checkpoint, kind):
    from gmiqa.errors import ConfigError
    from gmiqa.inference import load_model

    m = load_model(checkpoint, device="cpu", workers=1)
    x = torch.rand(1, 3, 64, 64)
    if kind == "nan":
        x[0, 1, 3, 3] = float("nan")
    elif kind == "inf":
        x[0, 0, 0, 0] = float("inf")
    elif kind == "0..255":
        x = x * 255
    elif kind == "negative":
        x = x - 0.5
    else:
        x = (x * 255).to(torch.uint8)
    with pytest.raises(ConfigError) as err:
        m.score(x)
    assert "\n" not in str(err.value)
    assert np.isfinite(m.score(torch.rand(3, 64, 64)))


def test_a_mos_far_outside_the_declared_range_is_refused_naming_the_line(tmp_path):
    from gmiqa.datasets import load_dataset
    from gmiqa.datasets.base import RANGE_TOLERANCE
    from gmiqa.errors import DatasetError

    _kadid(tmp_path)
    score_file = tmp_path / "kadid10k" / "dmos.csv"
    text = score_file.read_text()
    within = 5.0 + 4 * RANGE_TOLERANCE * 0.9  # a spill: the scale is widened
    score_file.write_text(text.replace("3.50", f"{within:.2f}"))
    assert max(r.raw_score for r in load_dataset("kadid10k", tmp_path).records) == round(within, 2)
    score_file.write_text(text.replace("3.50", "1e9"))
    with pytest.raises(DatasetError, match=r"dmos\.csv, line 3: score 1e\+09 lies far outside"):
        load_dataset("kadid10k", tmp_path)
