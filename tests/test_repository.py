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
