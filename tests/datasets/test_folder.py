"""gmiqa.datasets.folder: a folder of rated photos with scores.csv, read, refused, written back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmiqa.cli import main
from gmiqa.datasets import load_dataset, load_livec, make_splits, split_by_for
from gmiqa.datasets.bank import dataset_fingerprint
from gmiqa.datasets.folder import SCORE_FILE, load_folder, write_folder
from gmiqa.errors import DatasetError


def photo(path: Path, value: int = 0, size=(12, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def make_folder(root: Path, text: str, names=None, sidecar: dict | None = None) -> Path:
    """``root`` with ``scores.csv`` = ``text`` and a small PNG for each of ``names``."""
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names or []):
        photo(root / name, i)
    (root / SCORE_FILE).write_text(text, encoding="utf-8")
    if sidecar is not None:
        (root / "dataset.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return root


FOUR = ["a.png", "b.png", "c.png", "d.png"]
FOUR_CSV = "image,mos\na.png,1\nb.png,2.5\nc.png,4\nd.png,3\n"


@pytest.mark.parametrize(
    "header", ["image,mos", "image_name,MOS", "filename,score", " Name , Score ", "IMAGE,Mos"]
)
def test_column_spellings(tmp_path, header, capsys):
    root = make_folder(tmp_path / "f", header + "\n" + FOUR_CSV.split("\n", 1)[1], FOUR)
    ds = load_folder(root)
    assert [r.name for r in ds.records] == FOUR
    assert [r.raw_score for r in ds.records] == [1.0, 2.5, 4.0, 3.0]
    # no declared scale: the data's own [1, 4], said in one line
    assert [r.score for r in ds.records] == [0.0, 0.5, 1.0, 2 / 3]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no score range declared" in err[0] and "[1, 4]" in err[0]
    assert ds.source["score_range_from"] == "data"


def test_dmos_is_lower_is_better(tmp_path):
    root = make_folder(tmp_path / "f", "image,dmos\na.png,0\nb.png,10\nc.png,40\n", FOUR[:3])
    ds = load_folder(root, score_range=(0, 100))
    assert [r.score for r in ds.records] == [1.0, 0.9, 0.6]
    assert ds.source["higher_is_better"] is False


def test_declared_scale_argument_then_sidecar(tmp_path, capsys):
    root = make_folder(tmp_path / "f", FOUR_CSV, FOUR, sidecar={"range": [0, 5], "name": "lab"})
    assert [r.score for r in load_folder(root).records] == [0.2, 0.5, 0.8, 0.6]
    assert [r.score for r in load_folder(root, score_range=(0, 10)).records] == [
        0.1, 0.25, 0.4, 0.3,
    ]  # fmt: skip
    assert capsys.readouterr().err == ""  # a declared scale: nothing to say
    # the sidecar can turn the direction; a name and citation reach the provenance
    sidecar = {"range": [0, 5], "higher_is_better": False, "citation": "Lab 2026"}
    (root / "dataset.json").write_text(json.dumps(sidecar))
    ds = load_folder(root)
    assert ds.records[0].score == 0.8 and ds.source["citation"] == "Lab 2026"
    assert ds.source["name"] == "f" and ds.source["images"] == 4


def test_byte_order_mark_std_and_quoted_names(tmp_path):
    names = ["a, b.png", "c.png"]
    text = '\ufeffimage,mos,std\n"a, b.png",3,0.5\nc.png,4,0.25\n'
    ds = load_folder(make_folder(tmp_path / "f", text, names), score_range=(1, 5))
    assert [r.name for r in ds.records] == names
    assert ds.std.tolist() == [0.5, 0.25]


def test_names_with_spaces_parentheses_unicode_and_sub_folders(tmp_path):
    names = ["my photo (1).png", "ünïcødé 写真.png", "sub/dir/x (y).png", "[z] & w.PNG"]
    text = "image,mos\n" + "".join(f'"{n}",{i + 1}\n' for i, n in enumerate(names))
    ds = load_folder(make_folder(tmp_path / "f", text, names), score_range=(0, 5))
    assert [r.name for r in ds.records] == names
    assert all(Path(r.path).is_file() for r in ds.records)
    assert ds[2]["image"].shape == (3, 12, 16)


def test_case_insensitive_match_is_said_once(tmp_path, capsys):
    text = "image,mos\nA.PNG,1\nb.png,2\nSub/C.Png,3\n"
    root = make_folder(tmp_path / "f", text, ["a.png", "b.png", "sub/c.png"])
    ds = load_folder(root, score_range=(0, 5))
    assert [Path(r.path).relative_to(root).as_posix() for r in ds.records] == [
        "a.png", "b.png", "sub/c.png",
    ]  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 image name(s) matched a file only case-insensitively" in err[0]
    assert "line 2, 'A.PNG' -> 'a.png'" in err[0]


def test_group_column_keeps_each_group_on_one_side(tmp_path):
    names = [f"p{i}.png" for i in range(12)]
    groups = ["scene-a", "scene-b", "scene-c", "scene-d"]
    text = "image,mos,content\n" + "".join(
        f"{n},{i % 5 + 1},{groups[i % 4]}\n" for i, n in enumerate(names)
    )
    ds = load_folder(make_folder(tmp_path / "f", text, names), score_range=(1, 5))
    assert [r.ref_id for r in ds.records] == [0, 1, 2, 3] * 3 and ds.source["groups"] == 4
    for train, test in make_splits(ds, 10, 0.75, seed=3, by=split_by_for("folder")):
        train_groups = {ds.records[i].ref_id for i in train}
        test_groups = {ds.records[i].ref_id for i in test}
        assert not train_groups & test_groups and len(train) + len(test) == 12


def test_without_groups_the_splits_are_by_image(tmp_path):
    names = [f"p{i}.png" for i in range(9)]
    text = "image,mos\n" + "".join(f"{n},{i}\n" for i, n in enumerate(names))
    ds = load_folder(make_folder(tmp_path / "f", text, names), score_range=(0, 10))
    by_folder = make_splits(ds, 5, 0.8, seed=1, by=split_by_for("folder"))
    by_image = make_splits(ds, 5, 0.8, seed=1, by="image")
    for (a, b), (c, d) in zip(by_folder, by_image):
        assert a.tolist() == c.tolist() and b.tolist() == d.tolist()


def _outside_link(root: Path) -> None:
    target = photo(root.parent / "outside" / "secret.png")
    (root / "c.png").unlink()
    os.symlink(target, root / "c.png")


# (what, scores.csv text or None to keep FOUR_CSV, a change to the folder, words of the error)
REFUSALS = [
    ("dotdot", "image,mos\na.png,1\n../outside/secret.png,2\n", None, "line 3: image name"),
    ("absolute", "image,mos\na.png,1\n/etc/hostname,2\n", None, "line 3: image name"),
    ("symlink out", "image,mos\na.png,1\nc.png,2\n", _outside_link, "line 3: image 'c.png' is a link"),
    ("missing", "image,mos\na.png,1\nzzz.png,2\n", None, "line 3: image 'zzz.png' is not in"),
    ("not an image", None, lambda r: (r / "b.png").write_text("hello"), "line 3: "),
    ("empty image", None, lambda r: (r / "c.png").write_bytes(b""), "line 4: image 'c.png' is an empty"),
    ("folder", "image,mos\nsub,1\n", lambda r: (r / "sub").mkdir(), "line 2: image 'sub' is a folder"),
    ("non-numeric", "image,mos\na.png,1\nb.png,good\n", None, "line 3: mos 'good' is not a number"),
    ("NaN", "image,mos\na.png,1\nb.png,nan\n", None, "line 3: mos 'nan' is NaN or infinite"),
    ("infinite", "image,mos\na.png,-inf\n", None, "line 2: mos '-inf' is NaN or infinite"),
    ("duplicate", "image,mos\na.png,1\nb.png,2\na.png,3\n", None, "line 4: image 'a.png' is listed twice (first on line 2)"),
    ("duplicate by case", "image,mos\na.png,1\nA.PNG,3\n", None, "line 3: image 'A.PNG' is listed twice"),
    ("duplicate by link", "image,mos\na.png,1\nc.png,3\n", lambda r: ((r / "c.png").unlink(), os.symlink("a.png", r / "c.png")), "line 3: image 'c.png' is listed twice (first on line 2 as 'a.png')"),
    ("header only", "image,mos\n", None, "lists no images"),
    ("empty file", "", None, "empty; it needs a header row"),
    ("no score column", "image,quality\na.png,1\n", None, "line 1: header ['image', 'quality'] names no score"),
    ("two score columns", "image,mos,dmos\na.png,1,2\n", None, "line 1: columns ['mos', 'dmos'] all name the score"),
    ("ragged row", "image,mos\na.png,1,7\n", None, "line 2: 3 field(s), the header has 2"),
    ("not CSV", "image,mos\na.png,\"1\n", None, "not CSV"),
    ("binary", "\x89PNG\r\n\x1a\n\x00\x00", None, "line 3: a NUL byte; not a CSV text file"),
    ("empty name", "image,mos\n ,1\n", None, "line 2: empty image name"),
    ("sidecar key", None, lambda r: (r / "dataset.json").write_text('{"scale": [0, 5]}'), "dataset.json: unknown key(s) scale"),
    ("sidecar json", None, lambda r: (r / "dataset.json").write_text("{range: 1}"), "dataset.json: not valid JSON"),
    ("sidecar range", None, lambda r: (r / "dataset.json").write_text('{"range": [5, 1]}'), "dataset.json: score range [5.0, 1.0]"),
    ("one score", "image,mos\na.png,3\nb.png,3\n", None, "every score is 3.0: no scale to infer"),
]  # fmt: skip


def _refused_folder(tmp_path: Path, text, change) -> Path:
    root = make_folder(tmp_path / "f", FOUR_CSV if text is None else text, FOUR)
    if change is not None:
        change(root)
    return root


@pytest.mark.parametrize("what, text, change, words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_every_refusal_is_one_line_naming_the_file(tmp_path, what, text, change, words):
    root = _refused_folder(tmp_path, text, change)
    with pytest.raises(DatasetError) as info:
        load_folder(root)
    message = str(info.value)
    assert "\n" not in message and words in message, message
    named = root / ("dataset.json" if what.startswith("sidecar") else SCORE_FILE)
    assert str(named) in message, message


@pytest.mark.parametrize("what, text, change, words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_every_refusal_exits_2_from_the_command_line_writing_nothing(tmp_path, capsys, what,
                                                                      text, change, words):  # fmt: skip
    root = _refused_folder(tmp_path, text, change)
    runs = tmp_path / "runs"
    code = main(["finetune", "--dataset", "folder", "--root", str(root), "--profile", "smoke",
                 "--init", "none", "--device", "cpu", "--quiet", "--out", str(runs)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("gmiqa: error: "), err
    assert words in err[0]
    assert not runs.exists()  # nothing written, not even the run folder


def test_missing_score_file_and_folder(tmp_path):
    with pytest.raises(DatasetError, match="dataset folder does not exist"):
        load_folder(tmp_path / "nowhere")
    (tmp_path / "f").mkdir()
    with pytest.raises(DatasetError, match=r"scores\.csv: no such score file"):
        load_dataset("folder", tmp_path / "f")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--dataset", "livec", "--score-range", "0", "100"], "--score-range is for --dataset folder"),
        (["--dataset", "folder", "--score-range", "5", "1"], "--score-range: score range [5.0, 1.0]"),
    ],
)  # fmt: skip
def test_score_range_option(tmp_path, capsys, argv, words):
    root = make_folder(tmp_path / "f", FOUR_CSV, FOUR)
    runs = tmp_path / "runs"
    code = main(["evaluate", "--method", "brisque", "--root", str(root), "--profile", "smoke",
                 "--out", str(runs), *argv])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0] and not runs.exists()


def test_two_files_differing_in_case_are_two_photos(tmp_path):
    root = make_folder(tmp_path / "f", "image,mos\na.png,1\nA.png,2\n", ["a.png", "A.png"])
    assert [Path(r.path).name for r in load_folder(root, score_range=(0, 5)).records] == [
        "a.png", "A.png",
    ]  # fmt: skip


def test_two_folders_never_share_a_fingerprint(tmp_path):
    a = load_folder(make_folder(tmp_path / "a", FOUR_CSV, FOUR), score_range=(0, 5))
    b = load_folder(make_folder(tmp_path / "b", FOUR_CSV, FOUR), score_range=(0, 5))
    # the same photos and scores (same size, written at other times) in another folder
    assert a.source["score_file_sha256"] == b.source["score_file_sha256"]
    assert dataset_fingerprint(a) != dataset_fingerprint(b)
    # the source is what tells them apart beyond the files: without it, records only
    fingerprint = dataset_fingerprint(a)
    a.source = None
    assert dataset_fingerprint(a) != fingerprint


@pytest.fixture(scope="module")
def livec_small(shared, tmp_path_factory):
    """The first 20 photos of the LIVEC development set in LIVEC's official layout."""
    from gmiqa.datasets.livec_dev import build_livec_dev

    full = load_livec(shared / "data" / "livec_dev")
    tmp = tmp_path_factory.mktemp("livec-small")
    names = tmp / "names.txt"
    names.write_text("".join(r.name + "\n" for r in full.records[:20]))
    return build_livec_dev(shared / "data" / "livec_dev", tmp / "layout", names)


def test_official_sets_name_no_source(livec_small):
    assert load_livec(livec_small).source is None


def test_written_folder_reads_as_the_official_layout(livec_small, tmp_path):
    livec = load_livec(livec_small)
    folder = load_folder(write_folder(livec, tmp_path / "f", name="livec small"))
    for a, b in zip(livec.records, folder.records, strict=True):
        assert (a.name, a.score, a.raw_score, a.ref_id) == (b.name, b.score, b.raw_score, b.ref_id)
    assert np.array_equal(livec[3]["image"].numpy(), folder[3]["image"].numpy())
    assert folder.source["name"] == "livec small" and folder.source["score_range"] == [0, 100]
    assert folder.source["score_range_from"] == "dataset.json"
    with pytest.raises(DatasetError, match="not an empty folder"):
        write_folder(livec, tmp_path / "f")
    # a folder set written again keeps its own scale and direction (DMOS here)
    text = "image,dmos\na.png,0\nb.png,10\nc.png,40\n"
    dmos = load_folder(make_folder(tmp_path / "d", text, FOUR[:3]), score_range=(0, 50))
    again = load_folder(write_folder(dmos, tmp_path / "d2"))
    assert [r.score for r in again.records] == [r.score for r in dmos.records]
    assert [r.score for r in dmos.records] == pytest.approx([1.0, 0.8, 0.2], abs=1e-15)


def _run(capsys, *argv) -> str:
    code = main([*argv, "--profile", "smoke", "--device", "cpu", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_finetune_evaluate_and_score_a_folder(livec_small, tmp_path, capsys):
    import gmiqa

    folder = write_folder(load_livec(livec_small), tmp_path / "photos", name="my photos")
    runs = tmp_path / "runs"
    _run(capsys, "finetune", "--dataset", "folder", "--root", str(folder), "--init", "none",
         "--splits", "1", "--out", str(runs))  # fmt: skip
    results = runs / "smoke" / "results"
    result = json.loads((results / "finetune-folder-none.json").read_text())
    source = result["provenance"]["data_source"]
    assert source["name"] == "my photos" and source["images"] == 20
    model = results / "finetune-folder-none-model.safetensors"
    line = _run(capsys, "evaluate", "--dataset", "folder", "--root", str(folder),
                "--checkpoint", str(model), "--out", str(runs))  # fmt: skip
    assert "folder (gmiqa): SROCC" in line and "on 20 images" in line
    evaluated = json.loads((results / "evaluate-folder-gmiqa.json").read_text())
    assert evaluated["provenance"]["data_source"] == source
    new_photo = photo(tmp_path / "new.png", 7, size=(160, 200))
    score = gmiqa.load_model(model, device="cpu").score(new_photo)
    assert np.isfinite(score)


def test_smoke_ablation_on_the_folder_equals_the_official_layout(livec_small, tmp_path, capsys):
    """The loader changes nothing but the layout: same splits, same numbers, split by split."""
    folder = write_folder(load_livec(livec_small), tmp_path / "photos")
    rows = {}
    for key, root in (("livec", livec_small), ("folder", folder)):
        runs = tmp_path / f"runs-{key}"
        _run(capsys, "ablation", "--dataset", key, "--root", str(root), "--inits", "none",
             "--baselines", "brisque", "--out", str(runs))  # fmt: skip
        results = runs / "smoke" / "results"
        rows[key] = json.loads((results / f"ablation-{key}.json").read_text())["rows"]
        run = json.loads((results / f"finetune-{key}-none.json").read_text())
        rows[key]["predictions"] = [s["predictions"] for s in run["splits"]]
    for name in ("none", "brisque"):
        assert rows["folder"][name]["per_split_srocc"] == rows["livec"][name]["per_split_srocc"]
    assert rows["folder"]["predictions"] == rows["livec"]["predictions"]
