"""The notebook runner names the failing notebook and cell; the book builds without warnings."""

from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest

from gmiqa.book import (
    BUILD,
    REPO,
    build,
    check_html,
    clean_executed,
    execute_notebook,
    executed_dir,
    shorten_paths,
    toc_notebooks,
)
from gmiqa.errors import NotebookExecutionError


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell('PROFILE = "cpu"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)
    return path


@pytest.mark.timeout(120)
def test_a_raising_cell_names_the_notebook_and_the_cell(tmp_path):
    nb = _notebook(
        tmp_path / "99_broken.ipynb", ["x = 1", "raise ValueError('deliberately broken')"]
    )
    with pytest.raises(NotebookExecutionError) as info:
        execute_notebook(nb, tmp_path / "out" / "99_broken.ipynb", profile="smoke")
    message = str(info.value)
    assert "99_broken.ipynb" in message
    assert "ValueError: deliberately broken" in message
    # papermill injects a parameters cell after ours: the failing cell is index 3.
    assert re.search(r"cell 3\b", message), message
    assert "raise ValueError" in message


@pytest.mark.timeout(120)
def test_parameters_reach_the_notebook(tmp_path):
    nb = _notebook(tmp_path / "98_params.ipynb", ["assert PROFILE == 'smoke', PROFILE"])
    execute_notebook(nb, tmp_path / "out" / "98_params.ipynb", profile="smoke")


@pytest.mark.book
@pytest.mark.timeout(1200)
def test_book_builds_without_warnings_from_executed_notebooks(shared_run_dir):
    executed = executed_dir("smoke")
    for nb in toc_notebooks():  # normally already executed by tests/test_notebooks.py
        if not (executed / nb).exists():
            execute_notebook(REPO / nb, executed / nb, profile="smoke", run_dir=shared_run_dir)
    index = build(profile="smoke", executed=executed, out=BUILD / "book-test")
    assert index.name == "index.html" and index.exists()
    html_dir = index.parent
    quick = (html_dir / "notebooks" / "00_quickstart.html").read_text(encoding="utf-8")
    assert "Quickstart" in quick
    # The pristine-image figure is rendered as an embedded PNG.
    assert re.search(r'<img[^>]+src="[^"]*\.png"', quick), "quickstart figure missing"
    assert list((html_dir / "_images").glob("*.png")), "no figure images in the build"
    for nb in toc_notebooks():
        assert (html_dir / nb.with_suffix(".html")).exists(), f"{nb} not in the built book"


@pytest.mark.book
@pytest.mark.timeout(120)
def test_the_built_book_reads_well_offline():
    """On the book the previous test built: what a reader meets, page by page.

    No script or stylesheet from another site (MathJax is served from the book), no
    temporary- or home-folder path, no LaTeX left as text, alt text on every image, and
    every link inside the book leads to a page and an anchor that exist.
    """
    html_dir = BUILD / "book-test" / "_build" / "html"
    if not (html_dir / "index.html").exists():
        pytest.skip("the book was not built (run the build test first)")
    problems = check_html(html_dir)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:60])
    assert (html_dir / "_static" / "mathjax" / "tex-chtml.js").exists()
    intro = (html_dir / "book" / "intro.html").read_text(encoding="utf-8")
    assert "smoke" in intro and "{{" not in intro, "the intro does not say which profile built it"
    page = (html_dir / "notebooks" / "06_graph_pretraining.html").read_text(encoding="utf-8")
    assert "# Parameters" not in page, "papermill's injected parameters cell is shown"
    assert "PosixPath(" not in page


PROFILE_WORD = re.compile(r"\b(?:smoke|cpu|gpu-quick|gpu)\b")


@pytest.mark.book
@pytest.mark.timeout(900)
def test_the_built_book_fits_names_its_profiles_and_no_build_path():
    """On the book the build test made: every table fits the text column at 1280 px (the
    build itself fails otherwise), no file a reader can fetch (pages, downloadable
    notebooks in _sources/) holds a path of the build machine, and every figure caption
    names the profile that made it (a diagram says it is one)."""
    from gmiqa.book import LEAKED_PATH, scrolling_tables

    html_dir = BUILD / "book-test" / "_build" / "html"
    if not (html_dir / "index.html").exists():
        pytest.skip("the book was not built (run the build test first)")
    leaks = []
    for path in sorted(html_dir.rglob("*")):
        if not path.is_file() or path.suffix not in (".html", ".ipynb", ".md", ".txt", ".js"):
            continue
        if "mathjax" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for needle in (str(REPO), str(BUILD)):
            if needle in text:
                leaks.append(f"{path.relative_to(html_dir)}: {needle}")
        found = LEAKED_PATH.search(text)
        if found:
            leaks.append(f"{path.relative_to(html_dir)}: {found.group(0)!r}")
    sources = list((html_dir / "_sources").rglob("*.ipynb"))
    assert sources, "no downloadable notebook in _sources"
    assert not leaks, "build paths a reader can fetch:\n" + "\n".join(leaks[:30])
    captions = []
    for page in html_dir.rglob("*.html"):
        if {"_static", "_sources"} & set(page.relative_to(html_dir).parts):
            continue
        text = page.read_text(encoding="utf-8", errors="replace")
        for cap in re.findall(r"<figcaption>(.*?)</figcaption>", text, re.S):
            plain = re.sub(r"^Fig\. \d+\s*", "", " ".join(re.sub(r"<[^>]+>", " ", cap).split()))
            captions.append(plain)
            assert PROFILE_WORD.search(plain) or plain.startswith("Diagram"), (
                f"{page.relative_to(html_dir)}: a figure caption names no profile: {plain[:120]!r}"
            )
    assert captions, "no figure caption found"
    if shutil.which("chromium") is None:
        pytest.skip("needs headless Chromium for the table widths")
    hidden = scrolling_tables(html_dir)
    assert not hidden, "tables wider than the text column at 1280 px:\n" + "\n".join(hidden)


def _page(tmp_path, body):
    (tmp_path / "index.html").write_text(f"<html><head></head><body>{body}</body></html>")
    return tmp_path


def test_html_check_finds_what_a_reader_would_meet(tmp_path):
    """Each kind of problem is found (the check can fail), and a clean page passes."""
    clean = _page(
        tmp_path,
        '<script src="_static/mathjax/tex-chtml.js"></script><span class="math">\\(x\\)</span>'
        '<img src="_images/a.png" alt="A plot of loss against step">'
        '<a href="#top" id="top">top</a><a href="https://example.org">out</a>',
    )
    assert check_html(clean) == []
    for body, what in [
        ('<script src="https://cdn.example.org/mathjax.js"></script>', "another site"),
        ('<link rel="stylesheet" href="//cdn.example.org/x.css">', "another site"),
        ("<p>run folder: /tmp/pytest-of-root/pytest-3/notebook-runs/smoke</p>", "local path"),
        ("<p>/home/alice/gmiqa/runs</p>", "local path"),
        ("<p>the loss \\(L\\) and $$x$$</p>", "raw LaTeX"),
        ("<p>the margin $\\alpha$</p>", "raw LaTeX"),
        ('<img src="_images/3f2a.png" alt="3f2a9c8e7d6b5a4f3e2d1c0b">', "alt"),
        ('<img src="_images/3f2a.png">', "alt"),
        ('<a href="missing.html">x</a>', "leads nowhere"),
        ('<a href="#nowhere">x</a>', "no anchor"),
        ("<p>photos in <code>../shared/data/pristine</code></p>", "internal word"),
        ("<p>--pristine /work/shared/data/pristine</p>", "internal word"),
        ("<h2>Issue 13: vmapped steps</h2>", "internal word"),
        ("<p>the specification (method.md)</p>", "internal word"),
        ("<td>3e08060+dirty</td>", "internal word"),
    ]:
        problems = check_html(_page(tmp_path, body))
        assert any(what in line for line in problems), (body, problems)


def test_executed_notebooks_are_cleaned_for_reading(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    injected = nbformat.v4.new_code_cell("# Parameters\nPROFILE = 'smoke'")
    injected.metadata["tags"] = ["injected-parameters"]
    bar = nbformat.v4.new_code_cell("train()")
    bar.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                "text/plain": "bar",
            },
        ),
        nbformat.v4.new_output(
            "stream", name="stdout", text=f"run folder: {tmp_path}/runs/smoke\n"
        ),
    ]
    nb.cells = [injected, bar]
    nb.metadata["papermill"] = {"input_path": str(REPO / "notebooks" / "x.ipynb"),
                                "output_path": str(tmp_path / "x.ipynb"),
                                "parameters": {"PROFILE": "smoke"}}  # fmt: skip
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    clean_executed(path, run_dir=tmp_path / "runs")
    out = nbformat.read(path, as_version=4)
    assert "widgets" not in out.metadata
    # the downloadable notebook keeps its profile, not the build machine's paths
    assert out.metadata["papermill"] == {"parameters": {"PROFILE": "smoke"}}
    assert "remove-cell" in out.cells[0].metadata["tags"]
    assert [o["output_type"] for o in out.cells[1].outputs] == ["stream"]
    assert out.cells[1].outputs[0]["text"] == "run folder: RUN_DIR/smoke\n"
    assert shorten_paths(str(REPO / "data" / "results")) == "data/results"
    assert "pytest-of" not in shorten_paths("/tmp/pytest-of-root/pytest-1/x/file.json")


def test_junit_totals_add_up_both_pytest_runs(tmp_path):
    from gmiqa.book import junit_totals

    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(
        '<testsuites><testsuite tests="5" failures="1" errors="0" skipped="1"/></testsuites>'
    )
    b.write_text('<testsuite tests="2" failures="0" errors="1" skipped="0"/>')
    assert junit_totals([a, b]) == {"tests": 7, "failures": 1, "errors": 1, "skipped": 1}


PAGES = sorted((REPO / "book").glob("*.md")) + sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_pages_name_nothing_outside_the_repository(path):
    """A reader has no ../shared, no /work and no issue tracker: no page names them."""
    from gmiqa.book import internal_words

    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        text = "\n".join("".join(c["source"]) for c in nb["cells"])
    else:
        text = path.read_text(encoding="utf-8")
    found = internal_words(text)
    assert not found, f"{path.relative_to(REPO)}: " + "; ".join(found)


CHAPTER_OPENING = ("## Overview", "## Prerequisites", "## Time to run")
CHAPTER_CLOSING = ("## Exercises", "## Summary", "## What next")


CHAPTERS = [p for p in PAGES if p.suffix == ".ipynb"]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_opens_and_closes_the_same_way(path):
    """Overview, Prerequisites, Time to run first; Exercises, Summary, What next last."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    heads = re.findall(r"^## .+$", text, re.M)
    assert tuple(heads[:3]) == CHAPTER_OPENING, f"{path.name} opens with {heads[:3]}"
    assert tuple(heads[-3:]) == CHAPTER_CLOSING, f"{path.name} closes with {heads[-3:]}"
    exercises = text.split("## Exercises", 1)[1].split("## Summary", 1)[0]
    assert len(re.findall(r"^\s*\d+\.\s", exercises, re.M)) >= 2, (
        f"{path.name}: fewer than two numbered exercises"
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs headless Chromium")
def test_table_widths_tell_a_table_that_scrolls_from_one_that_fits(tmp_path):
    from gmiqa.book import table_widths

    html_dir = tmp_path / "html"
    html_dir.mkdir()
    cell = "<td style='white-space:nowrap'>" + "a long cell that does not wrap " * 8 + "</td>"
    (html_dir / "page.html").write_text(
        "<html><body><div style='width:600px'>"
        "<div style='overflow-x:auto'><table><caption>wide</caption><tr>"
        + cell
        + "</tr></table></div>"
        "<div style='overflow-x:auto'><table><caption>narrow</caption><tr><td>0.68</td></tr></table></div>"
        "</div></body></html>"
    )
    wide, narrow = table_widths(html_dir / "page.html", width=1280)
    assert wide["caption"] == "wide" and wide["scroll"] > wide["client"] == 600
    assert narrow["caption"] == "narrow" and narrow["scroll"] <= narrow["client"]
