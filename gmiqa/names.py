"""File names in text outputs: escaped so that any name can be written, and read back.

Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score --out``). A POSIX file name is
any bytes but ``/`` and NUL: it may hold a tab or a newline (which would split a
``path<TAB>score`` record or a CSV row read line by line) or bytes that are not UTF-8
(Python carries them as lone surrogates, which no UTF-8 text can hold). A score that
was computed must never be lost because its name cannot be written, so the text
outputs of ``gmiqa score`` (the ``path<TAB>score`` lines and the ``path`` column of a
CSV) write every path through :func:`escape_name`:

- ``\\`` for a backslash (always, so that the escapes below are never ambiguous);
- ``\\t``, ``\\n``, ``\\r`` for a tab, a newline, a carriage return;
- ``\\xHH`` for any other control character and for each byte that is not UTF-8;

every other character is written as it is. :func:`unescape_name` inverts it exactly,
and :func:`read_scores` reads a CSV or JSON file of scores back with the paths as they
were. JSON needs no escaping: its strings hold any character (a byte that is not UTF-8
is written as the ``\\udcHH`` escape of Python's ``surrogateescape``, which
:func:`json.loads` reads back to the same name).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

from gmiqa.errors import GMIQAError

_SIMPLE = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSIMPLE = {"\\": b"\\", "t": b"\t", "n": b"\n", "r": b"\r"}
_NEEDS = re.compile(r"[\\\x00-\x1f\x7f\udc80-\udcff]")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)


def _escape_char(match: re.Match) -> str:
    char = match.group(0)
    if char in _SIMPLE:
        return _SIMPLE[char]
    code = ord(char)
    return f"\\x{code - 0xDC00 if code >= 0xDC80 else code:02x}"  # a surrogate: its byte


def escape_name(name: str | os.PathLike) -> str:
    """``name`` as one line of UTF-8 text (the escapes of this module's docstring).

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score --out``)."""
    return _NEEDS.sub(_escape_char, os.fspath(name))


def unescape_name(text: str) -> str:
    """The name :func:`escape_name` wrote as ``text`` (bytes that are not UTF-8 come back
    as the lone surrogates Python's file functions use for them). An unknown escape
    raises :class:`gmiqa.errors.GMIQAError`. Taught in ``notebooks/07_finetuning.ipynb``."""
    if "\\" not in text:
        return text
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos : match.start()].encode("utf-8", "surrogateescape")
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            out.append(int(code[1:], 16))
        elif code in _UNSIMPLE:
            out += _UNSIMPLE[code]
        else:
            raise GMIQAError(f"{text!r}: unknown escape \\{code} in an escaped file name")
        pos = match.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def read_scores(path: str | os.PathLike) -> list[dict]:
    """The rows ``[{"path", "score" or "error"}, ...]`` of a file ``gmiqa score --out``
    wrote (``.csv`` or ``.json``), paths and errors unescaped (:func:`unescape_name`). A file that is
    not such a result raises :class:`gmiqa.errors.GMIQAError` naming it. Taught in
    ``notebooks/07_finetuning.ipynb`` (``gmiqa score --out``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GMIQAError(f"{path}: cannot read the scores ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GMIQAError(f"{path}: not a JSON file of scores ({exc})") from None
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and isinstance(r.get("path"), str) for r in rows
        ):
            raise GMIQAError(f"{path}: not a list of {{path, score}} rows")
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames != ["path", "score", "error"]:
        raise GMIQAError(f"{path}: header {reader.fieldnames} is not path,score,error")
    rows = []
    for line, row in enumerate(reader, start=2):
        name = unescape_name(row["path"] or "")
        if row["score"]:
            try:
                rows.append({"path": name, "score": float(row["score"])})
            except ValueError:
                raise GMIQAError(f"{path}, line {line}: score {row['score']!r}") from None
        else:
            rows.append({"path": name, "error": unescape_name(row["error"] or "")})
    return rows
