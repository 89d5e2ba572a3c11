"""Repository conventions: toc completeness, clean notebooks, parameters cells, packaging."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from gmiqa.book import REPO, toc_entries

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_every_notebook_is_in_the_toc():
    listed = {e for e in toc_entries() if e.startswith("notebooks/")}
    on_disk = {f"notebooks/{p.stem}" for p in NOTEBOOKS}
    assert on_disk - listed == set(), f"notebooks missing from _toc.yml: {sorted(on_disk - listed)}"
    assert listed - on_disk == set(), (
        f"_toc.yml lists missing notebooks: {sorted(listed - on_disk)}"
    )


def test_every_toc_entry_exists():
    for entry in toc_entries():
        assert any((REPO / (entry + suffix)).exists() for suffix in (".md", ".ipynb")), entry


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_conventions(path: Path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+", path.stem), f"{path.name}: name must be NN_topic.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code):
        assert not cell.get("outputs"), f"{path.name}: code cell {i} is committed with outputs"
        assert cell.get("execution_count") is None, (
            f"{path.name}: code cell {i} has an execution count"
        )
    first = code[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), (
        f"{path.name}: first code cell must be tagged parameters"
    )
    src = "".join(first["source"])
    for name in ("PROFILE", "SEED", "DEVICE", "DATA_DIR", "RUN_DIR"):
        assert re.search(rf"^{name}\s*=", src, re.M), f"{path.name}: parameters cell lacks {name}"
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for heading in ("Overview", "Prerequisites", "Time to run", "Summary"):
        assert heading in text, f"{path.name}: no '{heading}' section"
    assert "record_metrics" in "".join("".join(c["source"]) for c in code), (
        f"{path.name}: records no metrics"
    )


def _requirement_name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {_requirement_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        names |= {_requirement_name(r) for r in extra}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    env_names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            env_names |= {_requirement_name(r) for r in dep.get("pip", [])}
        else:
            env_names.add(_requirement_name(dep))
    env_names -= {"python", "pip"}
    assert env_names == names, (
        f"only in environment.yml: {sorted(env_names - names)}; only in pyproject.toml: {sorted(names - env_names)}"
    )


def _modules() -> list[str]:
    """Every module of the package, by its file: ``gmiqa.x.y`` (a package as ``gmiqa.x``)."""
    out = []
    for path in sorted((REPO / "gmiqa").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_core_imports_without_notebook_packages():
    """`import gmiqa` and every module but gmiqa.book must not pull notebook-only packages;
    every module named here must exist (a renamed one fails)."""
    import subprocess
    import sys

    core = [m for m in _modules() if m not in ("gmiqa.book", "gmiqa.__main__")]
    for name in ("gmiqa.distortions", "gmiqa.datasets", "gmiqa.models", "gmiqa.training",
                 "gmiqa.metrics", "gmiqa.baselines", "gmiqa.cli", "gmiqa.inference"):  # fmt: skip
        assert name in core, name
    code = (
        "import sys, importlib\n"
        f"for m in {core!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = [m for m in ('matplotlib', 'umap', 'ipywidgets', 'plotly', 'sklearn', 'papermill', 'pandas') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_module_map_lists_every_module_in_a_layer():
    """The map in gmiqa/__init__.py and CONTRIBUTING.md names every module, and each one
    sits in a layer of the import contract (a module outside every layer is unchecked)."""
    import gmiqa

    contributing = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {
        name.strip()
        for contract in config["contracts"] if contract["type"] == "layers"
        for layer in contract["layers"]
        for name in re.split(r"[|:]", layer)
    }  # fmt: skip
    for module in _modules():
        if module == "gmiqa":
            continue
        assert f"``{module}``" in gmiqa.__doc__, f"{module} missing from gmiqa/__init__.py's map"
        assert f"`{module}`" in contributing, f"{module} missing from CONTRIBUTING.md's map"
        top = ".".join(module.split(".")[:2])
        assert top in layered, f"{top} is in no layer of [tool.importlinter] in pyproject.toml"


def test_import_gmiqa_errors_does_not_import_torch():
    """The package face imports the scoring API on first use (PEP 562), so that a front
    end's error handling (``gmiqa.errors``) is light; ``gmiqa.load_model`` still works."""
    import subprocess
    import sys

    code = (
        "import sys, gmiqa.errors, gmiqa\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'load_model' in dir(gmiqa)\n"
        "from gmiqa import load_model, QualityModel\n"
        "assert gmiqa.load_model is load_model and 'torch' in sys.modules\n"
        "try:\n    gmiqa.no_such_name\nexcept AttributeError:\n    pass\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# A list of names written out in a module is a second home of that fact: stage, dataset
# and profile names are listed only where they are defined (dicts from a name to a label
# are not lists of names, and are allowed; names are matched as written: "LIVEC", the
# paper's row, is not the key "livec").
NAME_LISTS = {
    "stage": ({"meta", "graph", "graph_nometa"}, 3, {"gmiqa/stages.py"}),
    "dataset": ({"kadid10k", "koniq10k", "livec", "live", "csiq", "tid2013"}, 3,
                {"gmiqa/datasets/table.py"}),
    "profile": ({"smoke", "cpu", "gpu"}, 2, {"gmiqa/profiles.py"}),
}  # fmt: skip


def _name_lists(tree) -> list[tuple[int, set[str]]]:
    import ast

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elts = node.elts
        elif isinstance(node, ast.Dict) and not all(
            isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.values
        ):
            elts = [k for k in node.keys if k is not None]
        else:
            continue
        words = {e.value for e in elts
                 if isinstance(e, ast.Constant) and isinstance(e.value, str)}  # fmt: skip
        found.append((node.lineno, words))
    return found


def test_stage_dataset_and_profile_names_are_listed_in_one_place_each():
    import ast

    homes: dict[str, set[str]] = {fact: set() for fact in NAME_LISTS}
    for path in sorted((REPO / "gmiqa").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for line, words in _name_lists(ast.parse(path.read_text(encoding="utf-8"))):
            for fact, (names, least, _) in NAME_LISTS.items():
                if len(words & names) >= least:
                    homes[fact].add(rel)
                    assert rel in NAME_LISTS[fact][2], f"{rel}:{line} lists {fact} names again"
    # and each home holds them (the table of sets lists its rows as DatasetEntry calls)
    from gmiqa.datasets.table import DATASETS
    from gmiqa.profiles import PROFILES
    from gmiqa.stages import PRETRAINING_STAGES

    assert set(PRETRAINING_STAGES) == NAME_LISTS["stage"][0]
    assert NAME_LISTS["dataset"][0] <= set(DATASETS)
    assert NAME_LISTS["profile"][0] <= set(PROFILES)
    assert homes["stage"] == {"gmiqa/stages.py"} and homes["profile"] == {"gmiqa/profiles.py"}
