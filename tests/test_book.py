"""The notebook runner names the failing notebook and cell; the book builds without warnings."""

from __future__ import annotations

import re

import nbformat
import pytest

from gmiqa.book import BUILD, REPO, build, execute_notebook, executed_dir, toc_notebooks
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


def test_junit_totals_add_up_both_pytest_runs(tmp_path):
    from gmiqa.book import junit_totals

    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(
        '<testsuites><testsuite tests="5" failures="1" errors="0" skipped="1"/></testsuites>'
    )
    b.write_text('<testsuite tests="2" failures="0" errors="1" skipped="0"/>')
    assert junit_totals([a, b]) == {"tests": 7, "failures": 1, "errors": 1, "skipped": 1}
