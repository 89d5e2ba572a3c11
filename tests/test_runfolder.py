"""Run folders: data records, the lock, outputs checked before any work (issue 21)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gmiqa.checkpoint import save_checkpoint
from gmiqa.cli import main
from gmiqa.errors import ConfigError
from gmiqa.profiles import get_profile
from gmiqa.runfolder import (
    LOCK_NAME,
    CommandInputs,
    PretrainingData,
    RunFolderLock,
    choose_pretraining_data,
    describe_data,
    read_record,
    write_record,
)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("gmiqa: error:"), err
    assert not any("Traceback" in line for line in err)
    return err[-1]


def _finished(run_dir: Path, stage: str, record: dict | None) -> Path:
    """A finished checkpoint of ``stage`` (tiny weights) with its data record."""
    path = run_dir / "checkpoints" / f"{stage}.safetensors"
    save_checkpoint(path, kind=stage, model={"w": torch.zeros(1)}, config={},
                    state={"done": True})  # fmt: skip
    if record is not None:
        write_record(run_dir, stage, record)
    return path


def _photos(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "a.png")
    return folder


def test_pretraining_on_other_data_is_refused_and_nothing_changes(tmp_path, capsys):
    photos = _photos(tmp_path / "photos")
    run = tmp_path / "runs" / "smoke"
    graph = _finished(run, "graph", describe_data(None, None, photos))
    meta = _finished(run, "meta", describe_data(None, None, photos))
    stamps = [graph.stat().st_mtime_ns, meta.stat().st_mtime_ns]
    for argv in (["pretrain"], ["finetune", "--dataset", "synthetic", "--pristine", str(tmp_path)]):
        code = main([*argv, "--profile", "smoke", "--out", str(tmp_path / "runs"), "--quiet"])
        assert code == 2
        line = _error_line(capsys)
        assert f"pre-trained on the synthetic set of {photos}" in line
        assert f"--pristine {photos}" in line and "new --out" in line
    assert [graph.stat().st_mtime_ns, meta.stat().st_mtime_ns] == stamps
    # the photos changed on disk: refused too, saying so
    (photos / "b.png").write_bytes((photos / "a.png").read_bytes())
    code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path / "runs"),
                 "--pristine", str(photos), "--quiet"])  # fmt: skip
    assert code == 2 and "changed since then" in _error_line(capsys)


def test_finetune_uses_and_names_the_pretraining_it_finds(tmp_path, capsys):
    kadid = tmp_path / "kadid10k"
    (kadid / "images").mkdir(parents=True)
    run = tmp_path / "runs" / "smoke"
    record = describe_data("kadid10k", kadid)
    _finished(run, "meta", record)
    _finished(run, "graph", record)
    found = PretrainingData(explicit=False)  # no data option: what the run folder holds
    data, chosen = choose_pretraining_data(run, "finetune", found, ["meta", "graph"])
    assert chosen == record
    assert data == PretrainingData("kadid10k", kadid.resolve(), None, explicit=False)
    assert f"graph pre-trained on kadid10k at {kadid.resolve()}" in capsys.readouterr().err
    # naming other data explicitly is refused, with the options that name the found one
    with pytest.raises(ConfigError, match="--pretrain-dataset kadid10k --pretrain-root"):
        choose_pretraining_data(run, "finetune", PretrainingData(pristine=tmp_path),
                                ["meta", "graph"])  # fmt: skip


def test_an_unfinished_stage_takes_the_new_data_record(tmp_path):
    photos = _photos(tmp_path / "photos")
    run = tmp_path / "run"
    path = run / "checkpoints" / "meta.safetensors"
    save_checkpoint(path, kind="meta", model={"w": torch.zeros(1)}, config={},
                    state={"done": False})  # fmt: skip
    write_record(run, "meta", describe_data(None, None, photos))
    choose_pretraining_data(run, "pretrain", PretrainingData(), ["meta"])
    assert read_record(run, "meta")["pristine"] is None  # the packaged photos now


def test_kadid_pretraining_without_root_says_so(tmp_path, capsys):
    code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path), "--dataset",
                 "kadid10k", "--quiet"])  # fmt: skip
    assert code == 2
    assert "pretrain --dataset kadid10k needs --root DIR" in _error_line(capsys)


def test_a_second_command_on_the_same_folder_stops_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "runs" / "smoke"
    run.mkdir(parents=True)
    with RunFolderLock(run, "gmiqa pretrain (test)"):
        code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path / "runs"),
                     "--quiet"])  # fmt: skip
        assert code == 2
        line = _error_line(capsys)
        assert f"{run}: in use by another gmiqa command (pid {os.getpid()}" in line
    # a holder killed by SIGKILL leaves its pid in the file but no lock: taken over
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; from gmiqa.runfolder import RunFolderLock; "
                              f"RunFolderLock({str(run)!r}).acquire(); print('ok', flush=True); "
                              "time.sleep(60)"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout.readline().strip() == "ok"
    with pytest.raises(ConfigError, match=f"pid {child.pid}"):
        RunFolderLock(run).acquire()
    child.kill()
    child.wait()
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == child.pid
    RunFolderLock(run).acquire().release()


@pytest.mark.parametrize("command", ["pretrain", "finetune", "evaluate", "score"])
def test_an_output_under_a_file_fails_before_any_work(tmp_path, capsys, command):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    ckpt = tmp_path / "missing.safetensors"  # never read: the output is checked first
    argv = {
        "pretrain": ["pretrain", "--out", str(blocker / "sub")],
        "finetune": ["finetune", "--dataset", "synthetic", "--out", str(blocker / "sub")],
        "evaluate": ["evaluate", "--dataset", "synthetic", "--checkpoint", str(ckpt),
                     "--out", str(blocker / "sub")],
        "score": ["score", "--checkpoint", str(ckpt), "--out", str(blocker / "s.csv"),
                  str(tmp_path)],
    }[command]  # fmt: skip
    assert main([*argv, "--profile", "smoke", "--quiet"]) == 2
    line = _error_line(capsys)
    assert f"{blocker} is a file, not a folder" in line


def test_a_stage_finished_before_records_gets_one_after_a_command_that_used_it(tmp_path):
    from gmiqa.runfolder import prepare_command

    photos = _photos(tmp_path / "photos")
    run = tmp_path / "runs" / "smoke"
    _finished(run, "meta", None)  # e.g. trained by a notebook: no record
    inputs = CommandInputs("pretrain", get_profile("smoke"), run_dir=run, stages=("meta",),
                           data=PretrainingData(pristine=photos))  # fmt: skip
    with prepare_command(inputs) as ready:
        assert read_record(run, "meta") is None
        assert ready.data == inputs.data
    assert read_record(run, "meta")["pristine"] == str(photos.resolve())
    with pytest.raises(RuntimeError), prepare_command(inputs):  # a failed command: no record
        (run / "checkpoints" / "meta.data.json").unlink()
        raise RuntimeError("failed")
    assert read_record(run, "meta") is None
