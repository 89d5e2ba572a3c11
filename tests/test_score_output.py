"""gmiqa score's output (gmiqa.score_output): lines as they come, the result file, the warning."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

from gmiqa.score_output import print_pretraining_warning, score_with_progress, write_scores

ROWS = [{"path": "a.png", "score": 0.25}, {"path": "b, c.png", "error": "b, c.png: unreadable"}]


class _Scorer:
    """Stands for a QualityModel: ``stream_entries`` yields what it was given."""

    def __init__(self, rows):
        self.rows = rows

    def stream_entries(self, entries):
        assert [p for p, _ in entries] == [r["path"] for r in self.rows]
        for r in self.rows:
            yield r["path"], r.get("score"), r.get("error")


def test_scores_go_to_stdout_errors_to_stderr_in_order(capsys):
    entries = [(r["path"], None) for r in ROWS]
    rows = score_with_progress(_Scorer(ROWS), entries, echo=True, progress=False)
    assert rows == ROWS
    out, err = capsys.readouterr()
    assert out == "a.png\t0.250000\n"
    assert err == "gmiqa: error: b, c.png: unreadable\n"
    score_with_progress(_Scorer(ROWS), entries, echo=False, progress=False)
    out, err = capsys.readouterr()
    assert out == "" and "unreadable" in err  # --json: errors still said


def test_scores_are_written_as_csv_or_json_by_extension(tmp_path: Path):
    write_scores(tmp_path / "s.json", ROWS)
    assert json.loads((tmp_path / "s.json").read_text()) == ROWS
    write_scores(tmp_path / "s.CSV", ROWS)
    with open(tmp_path / "s.CSV", newline="") as fh:
        table = list(csv.reader(fh))
    assert table == [["path", "score", "error"], ["a.png", "0.250000", ""],
                     ["b, c.png", "", "b, c.png: unreadable"]]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.CSV", "s.json"]  # no temporaries


def test_the_pretraining_warning_is_printed_for_a_pretraining_checkpoint_only(capsys):
    meta = SimpleNamespace(kind="meta", config={}, path=Path("m.safetensors"))
    fine = SimpleNamespace(kind="finetune", config={}, path=Path("f.safetensors"))
    print_pretraining_warning(fine)
    assert capsys.readouterr().err == ""
    print_pretraining_warning(meta)
    err = capsys.readouterr().err
    assert err.startswith("gmiqa: warning: m.safetensors is a stage-1 meta-learning checkpoint")
