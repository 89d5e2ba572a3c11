"""gmiqa.names: every file name goes out as one line of UTF-8 and comes back the same."""

from __future__ import annotations

import os

import pytest

from gmiqa.errors import GMIQAError
from gmiqa.names import escape_name, read_scores, unescape_name


@pytest.mark.parametrize(
    "raw, written",
    [
        (b"plain/photo 1.jpg", "plain/photo 1.jpg"),
        (b"a\tb\nc\rd.png", "a\\tb\\nc\\rd.png"),
        (b"back\\slash", "back\\\\slash"),
        (b"\xff\xfe-latin1-\xe9", "\\xff\\xfe-latin1-\\xe9"),
        (b"bell\x07del\x7f", "bell\\x07del\\x7f"),
        ("caf\u00e9 \U0001f600".encode(), "caf\u00e9 \U0001f600"),
        (b"\\x41 is literal", "\\\\x41 is literal"),
    ],
)
def test_escape_and_unescape(raw, written):
    name = os.fsdecode(raw)
    assert escape_name(name) == written
    written.encode("utf-8")  # always writable as UTF-8
    assert unescape_name(written) == name
    assert os.fsencode(unescape_name(written)) == raw


def test_an_unknown_escape_is_one_error():
    with pytest.raises(GMIQAError, match=r"unknown escape \\q"):
        unescape_name("a\\qb")


def test_read_scores_refuses_what_score_did_not_write(tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_text("name,value\nx,1\n")
    with pytest.raises(GMIQAError, match=r"s\.csv: header"):
        read_scores(bad)
    bad.write_text("path,score,error\nx,abc,\n")
    with pytest.raises(GMIQAError, match=r"s\.csv, line 2: score 'abc'"):
        read_scores(bad)
    js = tmp_path / "s.json"
    js.write_text('{"path": 1}')
    with pytest.raises(GMIQAError, match=r"s\.json: not a list"):
        read_scores(js)
