"""Execute the notebooks with papermill, then build the Jupyter Book from the executed copies.

``python -m gmiqa.book execute --profile cpu`` runs every notebook listed in ``_toc.yml``
(in order) into ``_build/executed/<profile>/``; ``python -m gmiqa.book build`` stages the
book sources with those executed copies and runs ``jupyter-book build`` with execution off
and warnings as errors. A notebook that raises stops everything with an error that names
the notebook, the cell and the exception.

papermill and jupyter-book are book extras, imported only here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gmiqa.errors import GMIQAError, NotebookExecutionError

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "_build"
DEFAULT_KERNEL = "python3"


def toc_entries(root: Path = REPO) -> list[str]:
    """Every ``file:`` entry of ``_toc.yml`` (root first), in reading order, without suffix."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                entries.append(node["file"])
            for key in ("chapters", "sections", "parts"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(e).with_suffix("")) for e in entries]


def toc_notebooks(root: Path = REPO) -> list[Path]:
    """The notebooks ``_toc.yml`` lists, as paths relative to ``root``."""
    return [Path(e + ".ipynb") for e in toc_entries(root) if (root / (e + ".ipynb")).exists()]


def executed_dir(profile: str) -> Path:
    return BUILD / "executed" / profile


def execute_notebook(
    notebook: str | Path,
    output: str | Path,
    profile: str = "smoke",
    run_dir: str | Path | None = None,
    timeout: int = 1800,
    parameters: dict | None = None,
    kernel: str = DEFAULT_KERNEL,
) -> Path:
    """Run one notebook with papermill; raise NotebookExecutionError naming notebook and cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebook, output = Path(notebook), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    params = {"PROFILE": profile}
    params.update(parameters or {})
    env_backup = dict(os.environ)
    if run_dir is not None:
        os.environ["GMIQA_RUN_DIR"] = str(Path(run_dir).resolve())
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=params,
            kernel_name=kernel,
            cwd=str(notebook.parent),
            execution_timeout=None if timeout < 0 else timeout,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as exc:
        first_line = (exc.source or "").strip().splitlines()[:1]
        raise NotebookExecutionError(
            f"{notebook}: cell {exc.cell_index} (execution count {exc.exec_count}) raised "
            f"{exc.ename}: {exc.evalue}\n  cell starts: {first_line[0] if first_line else ''}\n"
            f"  executed copy with the traceback: {output}"
        ) from None
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return output


def execute_all(
    profile: str = "cpu",
    out_dir: Path | None = None,
    run_dir: Path | None = None,
    only: list[str] | None = None,
    timeout: int = 3600,
) -> list[Path]:
    """Execute every notebook of the table of contents, in order."""
    out_dir = Path(out_dir) if out_dir else executed_dir(profile)
    done = []
    notebooks = toc_notebooks()
    if only:
        notebooks = [nb for nb in notebooks if any(key in nb.stem for key in only)]
    for i, nb in enumerate(notebooks, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(notebooks)}] executing {nb} (profile {profile}) ...", flush=True)
        done.append(
            execute_notebook(
                REPO / nb, out_dir / nb, profile=profile, run_dir=run_dir, timeout=timeout
            )
        )
        print(f"    done in {time.perf_counter() - start:.0f} s", flush=True)
    return done


def stage_sources(executed: Path, stage: Path) -> Path:
    """Copy the book sources to ``stage`` with the executed notebooks in place of the plain ones."""
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml", "references.bib"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, stage / name)
    shutil.copytree(REPO / "book", stage / "book")
    missing = []
    for nb in toc_notebooks():
        src = executed / nb
        if not src.exists():
            missing.append(str(nb))
            continue
        (stage / nb).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, stage / nb)
    if missing:
        raise GMIQAError(
            f"{executed}: no executed copy of {', '.join(missing)}; run `python -m gmiqa.book execute` first"
        )
    return stage


def build(profile: str = "cpu", executed: Path | None = None, out: Path | None = None) -> Path:
    """Build the HTML book from executed notebooks; return the path of ``index.html``."""
    executed = Path(executed) if executed else executed_dir(profile)
    out = Path(out) if out else BUILD / "book"
    stage = stage_sources(executed, out.with_name(out.name + "-src"))  # per output: no clash
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [
        str(jb) if jb.exists() else "jupyter-book",
        "build",
        str(stage),
        "--path-output",
        str(out),
        "--builder",
        "html",
        "-W",
        "--keep-going",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-8000:] + proc.stderr[-8000:])
        raise GMIQAError(
            f"jupyter-book build failed (exit {proc.returncode}); warnings count as errors"
        )
    index = out / "_build" / "html" / "index.html"
    if not index.exists():
        raise GMIQAError(f"{index}: the build finished but wrote no index.html")
    return index


def junit_totals(paths: list[Path]) -> dict[str, int]:
    """Add up pytest's JUnit XML reports (the test command runs pytest twice)."""
    import xml.etree.ElementTree as ET

    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in paths:
        root = ET.parse(path).getroot()
        for suite in root.iter("testsuite"):
            for key in totals:
                totals[key] += int(suite.get(key, 0))
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gmiqa.book", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute every notebook in _toc.yml with papermill")
    ex.add_argument("--profile", default=os.environ.get("GMIQA_PROFILE", "cpu"))
    ex.add_argument("--out", type=Path, default=None, help="folder for executed notebooks")
    ex.add_argument(
        "--run-dir", type=Path, default=None, help="checkpoints and metrics (GMIQA_RUN_DIR)"
    )
    ex.add_argument("--only", nargs="*", help="substrings of notebook names to run")
    ex.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds one cell may run (default: none for gpu, 3600 otherwise)",
    )
    bd = sub.add_parser("build", help="build the HTML book from executed notebooks")
    bd.add_argument("--profile", default=os.environ.get("GMIQA_PROFILE", "cpu"))
    bd.add_argument("--executed", type=Path, default=None)
    bd.add_argument("--out", type=Path, default=None)
    tt = sub.add_parser("totals", help="one closing line for several pytest JUnit reports")
    tt.add_argument("reports", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "totals":
        t = junit_totals(args.reports)
        failed = t["failures"] + t["errors"]
        print(
            f"total: {t['tests'] - failed - t['skipped']} passed, {failed} failed, {t['skipped']} skipped"
        )
        return 1 if failed else 0
    try:
        if args.command == "execute":
            timeout = (
                args.timeout
                if args.timeout is not None
                else (-1 if args.profile == "gpu" else 3600)
            )
            execute_all(args.profile, args.out, args.run_dir, args.only, timeout=timeout)
        else:
            index = build(args.profile, args.executed, args.out)
            print(f"The book is at {index}")
    except GMIQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
