"""The ``gmiqa score`` command's output: scores on the terminal as they come, the warning
for a pre-training checkpoint, and the CSV or JSON file of ``--out``.

Taught in ``notebooks/07_finetuning.ipynb``. The scoring itself is
:mod:`gmiqa.inference`'s; this module only says and writes what it returns.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

from gmiqa.atomic import atomic_write_json, atomic_write_text
from gmiqa.checkpoint import Checkpoint
from gmiqa.inference import QualityModel, pretraining_warning
from gmiqa.names import escape_name


def print_pretraining_warning(ck: Checkpoint) -> None:
    """Print :func:`pretraining_warning`'s line on stderr when there is one."""
    message = pretraining_warning(ck)
    if message is not None:
        print(message, file=sys.stderr)


def score_with_progress(
    model: QualityModel, entries, echo: bool = True, progress: bool = True
) -> list[dict]:
    """``gmiqa score``'s loop: every entry of :func:`expand_image_inputs` scored in order,
    one ``{"path", "score"}`` or ``{"path", "error"}`` row each, with a progress bar on an
    interactive stderr only (never in logs). ``echo`` prints ``path<TAB>score`` lines on
    stdout as they come; errors always go to stderr as ``gmiqa: error: ...``. Paths and
    messages are written through :func:`gmiqa.names.escape_name`, so a name with a tab,
    a newline or bytes that are not UTF-8 stays one record.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    bar = tqdm(total=len(entries), unit="img", file=sys.stderr,
               disable=True if not progress else None, desc="scoring")  # fmt: skip

    def say(line: str, file) -> None:  # through the bar, so that lines never cut it
        if bar.disable:
            print(line, file=file, flush=file is sys.stderr)
        else:
            bar.write(line, file=file)

    rows = []
    with bar, contextlib.closing(model.stream_entries(entries)) as scored:
        for path, score, error in scored:
            rows.append({"path": path, **({"error": error} if error else {"score": score})})
            if error is not None:
                say(f"gmiqa: error: {escape_name(error)}", sys.stderr)
            elif echo:
                say(f"{escape_name(path)}\t{score:.6f}", sys.stdout)
            bar.update(1)
    return rows


def write_scores(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write ``[{"path", "score" or "error"}, ...]`` to a .json or .csv file, atomically.

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score --out``). CSV columns:
    ``path, score, error`` (scores with 6 decimals; path and error escaped by
    :func:`gmiqa.names.escape_name`, so every computed score is written whatever its
    file's name; :func:`gmiqa.names.read_scores` reads either format back).
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        atomic_write_json(path, rows)
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "score", "error"])
    for r in rows:
        score = r.get("score")
        writer.writerow([escape_name(r["path"]), "" if score is None else f"{score:.6f}",
                         escape_name(r.get("error", ""))])  # fmt: skip
    atomic_write_text(path, buf.getvalue())
