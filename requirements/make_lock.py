"""Write requirements/lock.txt: the exact versions of everything `make setup` installs.

Run as ``make lock`` (or ``python requirements/make_lock.py``). It reads the requirements
of ``pyproject.toml`` (the core, every extra, the build backend) and :data:`PINS`, lets
pip resolve them to the newest versions that satisfy them, as a fresh machine would, in
a throw-away virtual environment (nothing installed here is consulted), and writes one
``name==version`` line per distribution with the requirements that pulled it in
(pip-compile's ``# via`` notes). ``make setup`` installs exactly these, ``--no-deps``,
then checks them with ``pip check``.

The lock holds for the platform and Python it was made on (its header says which); on
another one run ``make lock`` there. No hashes: the torch wheels come from a local index
on the machine the project is tested on, whose files are not PyPI's.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOCK = HERE / "lock.txt"
# Pinned here, not in pyproject (which keeps torch>=2.4 for people with their own CUDA
# build): the versions the project is tested with, served by the test machines' index.
PINS = ("torch==2.14.1", "torchvision==0.29.1")
# pip-compile leaves these out unless asked (--allow-unsafe); make setup installs them too.
BUILD_TOOLS = ("pip",)


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """name -> version of every pin of a lock file; ValueError naming a line that is not one."""
    pins: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([a-z0-9][a-z0-9-]*)==([^\s;]+)", line)
        if not match or match.group(1) in pins:
            raise ValueError(f"{path}:{n}: not a name==version line of a new name: {line!r}")
        pins[match.group(1)] = match.group(2)
    return pins


def project_requirements(pyproject: Path) -> list[tuple[str, str]]:
    """(requirement, where it comes from) for the core, every extra and the build backend."""
    meta = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    reqs = [(r, "gmiqa") for r in meta["project"]["dependencies"]]
    for extra, items in meta["project"].get("optional-dependencies", {}).items():
        reqs += [(r, f"gmiqa[{extra}]") for r in items]
    reqs += [(r, "build-system") for r in meta["build-system"]["requires"]]
    return reqs


def resolve(requirements: list[str], python: str) -> list[dict]:
    """pip's resolution of ``requirements`` with ``python`` (its --report 'install' list)."""
    with tempfile.TemporaryDirectory(prefix="gmiqa-lock-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        subprocess.run([*cmd, "--report", str(report), *requirements], check=True)
        return json.loads(report.read_text(encoding="utf-8"))["install"]


def _requirement(raw: str):
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a bare interpreter: pip carries packaging
        from pip._vendor.packaging.requirements import Requirement
    return Requirement(raw)


def dependency_edges(items: list[dict], roots: list[tuple[str, str]]) -> dict[str, set[str]]:
    """For each resolved name, the names (or root sources) whose requirements pull it in.

    Markers are evaluated here; a requirement under ``extra == "x"`` counts only where some
    requirement asked for ``name[x]`` (repeated until no new extra is asked for).
    """
    by_name = {normalize(i["metadata"]["name"]): i for i in items}
    extras: dict[str, set[str]] = {name: {""} for name in by_name}
    via: dict[str, set[str]] = {name: set() for name in by_name}
    for raw, source in roots:
        req = _requirement(raw)
        name = normalize(req.name)
        via.setdefault(name, set()).add(source)
        extras.setdefault(name, {""}).update(req.extras)
    changed = True
    while changed:
        changed = False
        for parent, item in by_name.items():
            for raw in item["metadata"].get("requires_dist") or []:
                req = _requirement(raw)
                child = normalize(req.name)
                if child not in by_name or child == parent:
                    continue
                if req.marker is not None and not any(
                    req.marker.evaluate({"extra": e}) for e in extras[parent]
                ):
                    continue
                if parent not in via[child] or not req.extras <= extras[child]:
                    changed = True
                via[child].add(parent)
                extras[child].update(req.extras)
    return via


def lock_lines(items: list[dict], roots: list[tuple[str, str]]) -> list[str]:
    """``name==version`` lines, sorted, each with the requirements that pulled it in."""
    versions = {normalize(i["metadata"]["name"]): i["metadata"]["version"] for i in items}
    via = dependency_edges(items, roots)
    lines = []
    for name in sorted(versions):
        lines.append(f"{name}=={versions[name]}")
        lines.append(f"    # via {', '.join(sorted(via[name]))}")
    return lines


def header(python_version: str, pip_version: str) -> list[str]:
    return [
        "# The locked environment of `make setup`: every distribution, at one version.",
        "# Made by `make lock` (python requirements/make_lock.py) from pyproject.toml and",
        f"# requirements/make_lock.py's pins ({', '.join(PINS)}); do not edit by hand.",
        f"# Resolved for CPython {python_version} on {platform.system()} {platform.machine()} by pip {pip_version}.",  # fmt: skip
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=LOCK)
    parser.add_argument("--pyproject", type=Path, default=REPO / "pyproject.toml")
    args = parser.parse_args(argv)
    try:
        roots = project_requirements(args.pyproject)
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        print(f"{args.pyproject}: cannot read the project's requirements ({exc})", file=sys.stderr)
        return 2
    roots += [(pin, "requirements/make_lock.py") for pin in PINS]
    roots += [(tool, "make setup") for tool in BUILD_TOOLS]
    with tempfile.TemporaryDirectory(prefix="gmiqa-lock-venv-") as tmp:
        # A fresh environment with the newest pip resolves as a new machine's `make setup`.
        venv.create(tmp, with_pip=True)
        python = str(Path(tmp) / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        pip_version = subprocess.run(
            [python, "-c", "import pip; print(pip.__version__)"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        items = resolve([r for r, _ in roots], python)
    text = header(platform.python_version(), pip_version) + lock_lines(items, roots)
    tmp_out = args.out.with_name(f".{args.out.name}.tmp")
    tmp_out.write_text("\n".join(text) + "\n", encoding="utf-8")
    tmp_out.replace(args.out)
    print(f"{args.out}: {len(items)} distributions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
