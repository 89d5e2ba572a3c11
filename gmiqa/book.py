"""Execute the notebooks with papermill, then build the Jupyter Book from the executed copies.

``python -m gmiqa.book execute --profile cpu`` runs every notebook listed in ``_toc.yml``
(in order) into ``_build/executed/<profile>/``; ``python -m gmiqa.book build`` stages the
book sources with those executed copies and runs ``jupyter-book build`` with execution off
and warnings as errors. A notebook that raises stops everything with an error that names
the notebook, the cell and the exception.

Executed copies are cleaned for reading (:func:`clean_executed`): progress-bar widget
outputs and saved widget state are dropped (so no page loads a widget manager from a
CDN), papermill's injected parameters cell is hidden, and absolute paths of the run
folder, the repository, temporary folders and the home folder are shortened. The build
serves MathJax from the book itself (:func:`copy_mathjax`, from the installed
``django-static-mathjax`` package) and writes the profile the notebooks were executed
with into the intro (:func:`book_substitutions`). :func:`check_html` checks the built
pages (``python -m gmiqa.book check``); :func:`table_widths` measures in headless Chromium
whether a page's tables fit the page (``python -m gmiqa.book widths PAGE``), and the
build fails on any table that would scroll sideways at 1280 px (:func:`scrolling_tables`).

papermill and jupyter-book are book extras, imported only here.
"""

from __future__ import annotations

import argparse
import html.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from gmiqa.errors import GMIQAError, NotebookExecutionError
from gmiqa.evidence import (
    EARLIER,
    evidence_figure,
    evidence_markdown,
    jpeg_storage_markdown,
    recipe_search_markdown,
    remake_markdown,
    standing_markdown,
)
from gmiqa.profiles import get_profile
from gmiqa.provenance import git_commit
from gmiqa.results_table import short_commit

EVIDENCE_FIGURE = "livec-dev-ablation.png"  # drawn into the staged book/figures at build time

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "_build"
DEFAULT_KERNEL = "python3"


def toc_entries(root: Path = REPO) -> list[str]:
    """Every ``file:`` entry of ``_toc.yml`` (root first), in reading order, without suffix."""
    import yaml  # optional (the book extra): imported only where used

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


WIDGET_MIME = "application/vnd.jupyter.widget-"
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")


def _path_replacements(run_dir: str | Path | None = None) -> list[tuple[re.Pattern, str]]:
    """(pattern, replacement) pairs that shorten absolute paths in outputs, longest first."""
    pairs: list[tuple[str, str]] = []
    if run_dir is not None:
        pairs.append((str(Path(run_dir).expanduser().resolve()), "RUN_DIR"))
    pairs.append((str(Path(sys.prefix).resolve()), "VENV"))
    pairs.append((str(REPO), "REPO"))
    home = str(Path.home())
    pairs.sort(key=lambda p: -len(p[0]))
    out = [(re.compile(re.escape(src) + r"(?=[/\\\s'\")<,:]|$)"), dst) for src, dst in pairs]
    # "REPO/x" -> "x": paths inside the repository read as relative paths.
    out.append((re.compile(r"\bREPO/"), ""))
    # Temporary folders (pytest's included) keep only their last component.
    temp_roots = {tempfile.gettempdir(), "/tmp", "/var/tmp", "/private/var/folders"}
    temp = "|".join(re.escape(t) for t in sorted(temp_roots, key=len, reverse=True))
    out.append((re.compile(rf"(?:{temp})(?:/[^\s'\"<>(),:;]*)?/([^/\s'\"<>(),:;]+)"), r"TMPDIR/\1"))
    if home not in ("/", ""):
        out.append((re.compile(re.escape(home) + r"(?=/|\b)"), "~"))
    return out


def shorten_paths(text: str, run_dir: str | Path | None = None) -> str:
    """``text`` with the run folder, repository, venv, temporary and home paths shortened."""
    for pattern, replacement in _path_replacements(run_dir):
        text = pattern.sub(replacement, text)
    return text


def clean_executed(path: str | Path, run_dir: str | Path | None = None) -> Path:
    """Make an executed notebook fit for reading; rewrite it in place.

    - outputs that display a Jupyter widget (tqdm's notebook bars, the live explorer) are
      dropped, and so is the notebook's saved widget state: a page with widget state loads
      require.js and a widget manager from a CDN, and the bars would show frozen;
    - papermill's injected ``# Parameters`` cell is tagged ``remove-cell``, and its
      ``input_path`` / ``output_path`` (the build machine's paths) are dropped;
    - absolute paths in text outputs are shortened (:func:`shorten_paths`).
    """
    import nbformat  # optional (the book extra): imported only where used

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    # papermill records where the notebook was read and written: paths of the build
    # machine that a downloaded notebook (_sources/) must not carry
    for key in ("input_path", "output_path"):
        nb.metadata.get("papermill", {}).pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("widgets", None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if any(mime.startswith(WIDGET_MIME) for mime in data):
                continue
            if output.get("output_type") == "stream":
                output["text"] = shorten_paths(output["text"], run_dir)
            for mime in TEXT_MIMES:
                if isinstance(data.get(mime), str):
                    data[mime] = shorten_paths(data[mime], run_dir)
            outputs.append(output)
        cell["outputs"] = outputs
    nbformat.write(nb, path)
    return path


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
    import papermill as pm  # optional (the book extra): imported only where used
    from papermill.exceptions import (
        PapermillExecutionError,  # optional (the book extra): imported only where used
    )

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
        effective_run_dir = os.environ.get("GMIQA_RUN_DIR")
        os.environ.clear()
        os.environ.update(env_backup)
    clean_executed(output, effective_run_dir or notebook.parent.parent / "runs")
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
        clean_executed(stage / nb)  # copies executed elsewhere (older code, a workstation)
    if missing:
        raise GMIQAError(
            f"{executed}: no executed copy of {', '.join(missing)}; run `python -m gmiqa.book execute` first"
        )
    return stage


MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y")


def mathjax_dir() -> Path:
    """MathJax 3's ``es5`` folder as installed by the ``django-static-mathjax`` package."""

    spec = importlib.util.find_spec("mathjax")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            es5 = Path(root) / "static" / "mathjax" / "es5"
            if (es5 / "tex-chtml.js").exists():
                return es5
    raise GMIQAError(
        "MathJax is not installed: the book serves it itself (no CDN); "
        'pip install "django-static-mathjax>=3.2" (part of the book extra)'
    )


def copy_mathjax(static: Path) -> Path:
    """Copy the parts of MathJax the pages use into ``static/mathjax`` (about 3 MB)."""
    es5, dest = mathjax_dir(), Path(static) / "mathjax"
    for part in MATHJAX_PARTS:
        src = es5 / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    licence = es5.parent / "LICENSE"
    if licence.exists():
        shutil.copy2(licence, dest / "LICENSE")
    return dest


def executed_profiles(stage: Path) -> list[str]:
    """The profiles papermill injected into the staged notebooks (normally exactly one)."""
    found = set()
    for nb in toc_notebooks(stage):
        meta = json.loads((stage / nb).read_text(encoding="utf-8")).get("metadata", {})
        found.add(str(meta.get("papermill", {}).get("parameters", {}).get("PROFILE", "unknown")))
    return sorted(found)


def book_substitutions(stage: Path) -> dict[str, str]:
    """What the intro says about this copy: the profile(s) it was executed with, the commit."""
    sha, _, rest = short_commit(git_commit()).partition(" ")
    profiles = executed_profiles(stage)
    descriptions = []
    for name in profiles:
        try:
            descriptions.append(f"**{name}** ({get_profile(name).description})")
        except Exception:  # an unknown name is reported as it is
            descriptions.append(f"**{name}**")
    return {
        "book_profile": " and ".join(descriptions) or "**unknown**",
        "book_commit": f"`{sha}`" + (f" {rest}" if rest else ""),
        "book_date": time.strftime("%Y-%m-%d", time.gmtime()),
    }


def configure_stage(stage: Path) -> None:
    """Serve MathJax from the build and write this copy's profile into the staged config."""
    import yaml  # optional (the book extra): imported only where used

    copy_mathjax(stage / "book" / "_static")
    config_path = stage / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    parse = config.setdefault("parse", {})
    subs = book_substitutions(stage)
    # the intro leads with the stored real-photo result (gmiqa.evidence)
    subs["standing"] = standing_markdown(REPO / "data" / "results")
    subs["livec_evidence"] = evidence_markdown(REPO / "data" / "results")
    subs["remake"] = remake_markdown(REPO / "data" / "results")
    subs["recipe_search"] = recipe_search_markdown(REPO / "data" / "results")
    # the JPEG-storage proxy was measured with the recipe before #28 (data/results/earlier)
    subs["jpeg_storage"] = jpeg_storage_markdown(REPO / "data" / "results" / EARLIER)
    evidence_figure(REPO / "data" / "results", stage / "book" / "figures" / EVIDENCE_FIGURE)
    parse.setdefault("myst_substitutions", {}).update(subs)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def build(profile: str = "cpu", executed: Path | None = None, out: Path | None = None,
          check_widths: bool = True) -> Path:  # fmt: skip
    """Build the HTML book from executed notebooks; return the path of ``index.html``.

    With ``check_widths`` (the default) the build fails on a table that scrolls sideways
    at 1280 px (:func:`scrolling_tables`); that check needs Chromium, and the build
    fails naming it when it is missing.
    """
    executed = Path(executed) if executed else executed_dir(profile)
    out = Path(out) if out else BUILD / "book"
    stage = stage_sources(executed, out.with_name(out.name + "-src"))  # per output: no clash
    configure_stage(stage)
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
    if check_widths:
        hidden = scrolling_tables(index.parent)
        if hidden:
            raise GMIQAError(
                f"{len(hidden)} table(s) wider than the text column at {READER_WIDTH} px "
                "(a reader would scroll to see a column):\n  " + "\n  ".join(hidden)
            )
    return index


# --- checks on the built HTML -------------------------------------------------------------

LEAKED_PATH = re.compile(
    r"(?<![\w.])(?:/tmp/|/var/tmp/|/private/var/folders/|/var/folders/|/home/[^/\s\"'<]+|"
    r"/root/|/Users/[^/\s\"'<]+|[A-Za-z]:\\Users\\)|pytest-of-"
)
RAW_LATEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$<>\n]{0,80}?\\[A-Za-z]+[^$<>\n]{0,80}?\$")
# Words a reader must not meet: folders outside the repository, the project's internal
# issue numbers and files, and git's raw mark for uncommitted changes.
INTERNAL_WORDS = re.compile(r"\.\./shared|/work/|\bIssue \d+|\bmethod\.md\b|\+dirty")


def internal_words(text: str) -> list[str]:
    """Each internal word in ``text`` with a little context (``check_html`` and the page
    scan of ``tests/test_book.py`` use it)."""
    return [
        repr(text[max(0, m.start() - 30) : m.end() + 30]) for m in INTERNAL_WORDS.finditer(text)
    ]


HASH_ALT = re.compile(r"^[0-9a-f]{12,}$|\.(?:png|jpe?g|svg|gif)$|_images/", re.I)
SKIPPED_TEXT = ("script", "style", "pre", "code", "textarea")


class _PageParser(html.parser.HTMLParser):
    """Collects what :func:`check_html` looks at in one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.remote: list[str] = []
        self.images: list[dict] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skip = 0  # depth inside script/style/code or rendered maths
        self._stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        src = a.get("src", "") if tag == "script" else ""
        if (
            tag == "link"
            and "stylesheet" in a.get("rel", "")
            or tag == "link"
            and a.get("as") in ("script", "style")
        ):
            src = a.get("href", "")
        if re.match(r"(?:https?:)?//", src):
            self.remote.append(f"<{tag}> {src}")
        if tag == "img":
            self.images.append(a)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("img", "link", "meta", "br", "hr", "input", "source", "wbr", "area"):
            return
        classes = a.get("class", "").split()
        skip = tag in SKIPPED_TEXT or "math" in classes or "highlight" in " ".join(classes)
        self._stack.append(skip)
        self._skip += skip

    def handle_endtag(self, tag):
        if tag in ("img", "link", "meta", "br", "hr", "input", "source", "wbr", "area"):
            return
        if self._stack:
            self._skip -= self._stack.pop()

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _page_files(html_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in html_dir.rglob("*.html")
        if not ({"_static", "_sources", "_images"} & set(p.relative_to(html_dir).parts))
    )


def check_html(html_dir: str | Path) -> list[str]:
    """Problems a reader would meet in the built book, one line each (empty: none).

    - a script or stylesheet loaded from another site (``http(s)://`` or ``//``);
    - a temporary-folder (``/tmp``, pytest's ``pytest-of-...``) or home-folder path;
    - a folder outside the repository (``../shared``, ``/work/``), an internal issue number
      ("Issue 13"), the project's own specification file (``method.md``) or a raw
      ``+dirty`` commit (:data:`INTERNAL_WORDS`);
    - LaTeX left as text outside rendered maths (``\\(``, ``\\[``, ``$$``, ``$\\alpha$``);
    - a figure image without alt text, or whose alt text is a hash or a file name;
    - a link inside the book to a page or an anchor that does not exist.
    """
    html_dir = Path(html_dir)
    pages = {p: _PageParser() for p in _page_files(html_dir)}
    for page, parser in pages.items():
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    problems = []
    for page, parser in pages.items():
        name = page.relative_to(html_dir).as_posix()
        raw = page.read_text(encoding="utf-8", errors="replace")
        problems += [f"{name}: loads {r} from another site" for r in parser.remote]
        for m in sorted({m.group(0) for m in LEAKED_PATH.finditer(raw)}):
            at = raw.find(m)
            problems.append(f"{name}: leaks a local path {raw[max(0, at - 40) : at + 60]!r}")
        problems += [f"{name}: internal word {w}" for w in internal_words(raw)]
        text = "".join(parser.text)
        for m in RAW_LATEX.finditer(text):
            at = m.start()
            problems.append(f"{name}: raw LaTeX {text[max(0, at - 30) : at + 40]!r}")
        for img in parser.images:
            alt = img.get("alt", "").strip()
            if not alt or HASH_ALT.search(alt):
                problems.append(f"{name}: image {img.get('src', '')[:60]!r} has alt {alt!r}")
        for href in parser.links:
            if re.match(r"[a-z][a-z0-9+.-]*:|//", href, re.I):  # http:, mailto:, data:, ...
                continue
            target, _, anchor = href.partition("#")
            target = target.split("?")[0]
            dest = (page.parent / target).resolve() if target else page.resolve()
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                problems.append(f"{name}: link {href!r} leads nowhere")
            elif anchor and dest.suffix == ".html":
                ids = pages[dest].ids if dest in pages else _ids_of(dest)
                if anchor not in ids:
                    problems.append(f"{name}: link {href!r}: no anchor #{anchor} there")
    return problems


def _ids_of(page: Path) -> set[str]:
    parser = _PageParser()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return parser.ids


# --- table widths in a browser ---------------------------------------------------------

_MEASURE_JS = r"""
<script>
window.addEventListener('load', function () { setTimeout(function () {
  var out = [];
  document.querySelectorAll('table').forEach(function (t) {
    var box = t;  // the nearest element that scrolls sideways: the table or an ancestor
    while (box && box !== document.body && !/(auto|scroll|hidden)/.test(getComputedStyle(box).overflowX)) {
      box = box.parentElement;
    }
    if (!box || box === document.body) { box = t.parentElement; }
    var cap = t.querySelector('caption');
    out.push({caption: cap ? cap.textContent.trim() : '', client: box.clientWidth,
              scroll: Math.max(box.scrollWidth, Math.ceil(t.getBoundingClientRect().width))});
  });
  var pre = document.createElement('pre'); pre.id = 'gmiqa-table-widths';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
}, 300); });
</script>
"""


def table_widths(page: str | Path, width: int = 1280, height: int = 800,
                 browser: str = "chromium") -> list[dict]:  # fmt: skip
    """Every table of a built page as headless Chromium lays it out at ``width`` x
    ``height``: ``caption``, ``client`` (the width a reader sees) and ``scroll`` (the
    width of the table's content); ``scroll > client`` means sideways scrolling.

    The page is measured in a copy of its folder (a script is added that writes the widths
    into the page, read back from ``--dump-dom``). GMIQAError when the browser is missing.
    """
    import html as html_module

    page = Path(page).resolve()
    if not page.is_file():
        raise GMIQAError(f"{page}: no such page (a built .html file)")
    exe = shutil.which(browser)
    if exe is None:
        raise GMIQAError(f"{browser}: not found; install Chromium to measure table widths")
    html_root = next((q for q in page.parents if q.name == "html"), page.parent)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "html"
        shutil.copytree(html_root, copy)
        target = copy / page.relative_to(html_root)
        text = target.read_text(encoding="utf-8")
        target.write_text(text.replace("</body>", _MEASURE_JS + "</body>"), encoding="utf-8")
        # a throw-away profile and no background traffic: the page is measured offline
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--window-size={width},{height}", "--virtual-time-budget=15000",
               "--dump-dom", target.as_uri()]  # fmt: skip
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    found = re.search(r'<pre id="gmiqa-table-widths"[^>]*>(.*?)</pre>', dom, re.S)
    if not found:
        raise GMIQAError(f"{page}: {browser} returned no measurement")
    return json.loads(html_module.unescape(found.group(1)))


READER_WIDTH = 1280  # px: the window the book is checked at (a laptop's)


def scrolling_tables(html_dir: str | Path, width: int = READER_WIDTH,
                     browser: str = "chromium") -> list[str]:  # fmt: skip
    """One line per table of the built book that is wider than its column at ``width``
    (page, widths, caption); empty when every table fits. GMIQAError without Chromium."""
    html_dir = Path(html_dir)
    found = []
    for page in _page_files(html_dir):
        if "<table" not in page.read_text(encoding="utf-8", errors="replace"):
            continue
        for t in table_widths(page, width, browser=browser):
            if t["scroll"] > t["client"]:
                found.append(f"{page.relative_to(html_dir).as_posix()}: {t['scroll']} px in "
                             f"{t['client']} px  {t['caption'][:60]!r}")  # fmt: skip
    return found


def junit_totals(paths: list[Path]) -> dict[str, int]:
    """Add up pytest's JUnit XML reports (the test command runs pytest twice)."""
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
    bd.add_argument("--no-widths", action="store_true",
                    help="skip the check that every table fits 1280 px (needs Chromium)")  # fmt: skip
    ck = sub.add_parser("check", help="check the built HTML (offline, no leaked paths, links)")
    ck.add_argument("html_dir", type=Path, nargs="?", default=BUILD / "book" / "_build" / "html")
    wd = sub.add_parser("widths", help="table widths of built pages in headless Chromium")
    wd.add_argument("pages", nargs="+", type=Path)
    wd.add_argument("--width", type=int, default=1280)
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
    if args.command == "widths":
        scrolls = 0
        for page in args.pages:
            try:
                tables = table_widths(page, args.width)
            except GMIQAError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            for t in tables:
                hidden = t["scroll"] - t["client"]
                scrolls += hidden > 0
                print(f"{page.name}: {'SCROLLS' if hidden > 0 else 'fits'} "
                      f"{t['scroll']} px in {t['client']} px  {t['caption'][:60]}")  # fmt: skip
        print(f"{scrolls} table(s) scroll sideways at {args.width} px")
        return 1 if scrolls else 0
    if args.command == "check":
        problems = check_html(args.html_dir)
        for line in problems:
            print(line)
        print(f"{len(problems)} problem(s) in {args.html_dir}")
        return 1 if problems else 0
    try:
        if args.command == "execute":
            timeout = (
                args.timeout
                if args.timeout is not None
                else (-1 if args.profile == "gpu" else 3600)
            )
            execute_all(args.profile, args.out, args.run_dir, args.only, timeout=timeout)
        else:
            index = build(args.profile, args.executed, args.out,
                          check_widths=not args.no_widths)  # fmt: skip
            print(f"The book is at {index}")
    except GMIQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
