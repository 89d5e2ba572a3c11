"""The locked environment (requirements/lock.txt, requirements/make_lock.py, make setup)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "lock.txt"


def _make_lock():
    spec = importlib.util.spec_from_file_location("make_lock", REPO / "requirements" / "make_lock.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_lock = _make_lock()


def locked() -> dict[str, str]:
    """name -> version of every line of the lock."""
    return make_lock.read_lock(LOCK)


def test_read_lock_names_a_line_that_is_not_a_pin(tmp_path):
    bad = tmp_path / "lock.txt"
    bad.write_text("# header\nnumpy==2.0\n    # via x\nscipy>=1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lock.txt:4: .*'scipy>=1'"):
        make_lock.read_lock(bad)
    bad.write_text("numpy==2.0\nnumpy==2.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lock.txt:2"):
        make_lock.read_lock(bad)


def test_lock_lines_are_exact_sorted_normalized_pins_with_their_sources():
    pins = locked()
    assert list(pins) == sorted(pins)
    assert all(make_lock.normalize(n) == n for n in pins)
    lines = [ln for ln in LOCK.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    for pin, via in zip(lines[::2], lines[1::2]):
        assert via.startswith("    # via ") and len(via) > len("    # via "), pin
    assert "Resolved for CPython" in LOCK.read_text(encoding="utf-8").splitlines()[3]


def test_every_requirement_of_pyproject_is_locked_inside_its_range():
    from packaging.requirements import Requirement

    pins = locked()
    roots = make_lock.project_requirements(REPO / "pyproject.toml")
    roots += [(pin, "pins") for pin in make_lock.PINS]
    roots += [(tool, "make setup") for tool in make_lock.BUILD_TOOLS]
    for raw, source in roots:
        req = Requirement(raw)
        name = make_lock.normalize(req.name)
        assert name in pins, f"{raw} ({source}) is not in the lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} is outside {raw} ({source}): run `make lock`"
        )
    assert "gmiqa" not in pins  # the project itself is installed editable, not pinned


def _report_item(name, version, requires=()):
    return {"metadata": {"name": name, "version": version, "requires_dist": list(requires)}}


def test_sources_follow_markers_and_the_extras_asked_for():
    items = [
        _report_item("Top_Pkg", "1.0", ["mid[fast]>=2", "winonly; sys_platform == 'win32'"]),
        _report_item("mid", "2.1", ["accel; extra == 'fast'", "docs-only; extra == 'docs'"]),
        _report_item("accel", "0.3"),
        _report_item("docs-only", "9.9"),
    ]
    lines = make_lock.lock_lines(items, [("top-pkg>=1", "gmiqa")])
    pairs = dict(zip(lines[::2], lines[1::2]))
    assert list(pairs) == ["accel==0.3", "docs-only==9.9", "mid==2.1", "top-pkg==1.0"]
    assert pairs["top-pkg==1.0"] == "    # via gmiqa"
    assert pairs["mid==2.1"] == "    # via top-pkg"
    assert pairs["accel==0.3"] == "    # via mid"  # mid's [fast] extra was asked for
    assert pairs["docs-only==9.9"] == "    # via "  # nothing asked for mid[docs]


def test_make_lock_names_an_unreadable_pyproject_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "pyproject.toml"
    bad.write_text("[project\n", encoding="utf-8")
    out = tmp_path / "lock.txt"
    assert make_lock.main(["--pyproject", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
    assert list(tmp_path.iterdir()) == [bad]


def _stamp() -> Path:
    return Path(sys.prefix) / ".gmiqa-installed"


def test_the_environment_make_setup_built_holds_the_locks_versions():
    """Under `make test` the venv is the lock's: every locked distribution at its version,
    and what each needs is locked too (nothing pip would have to fetch)."""
    stamp = _stamp()
    recorded = stamp.read_text(encoding="utf-8").split() if stamp.is_file() else []
    if not recorded:
        pytest.skip(f"{sys.prefix} was not made by `make setup` from the lock")
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert recorded[0] == digest, f"{sys.prefix} was made from another lock: run `make setup`"
    from packaging.requirements import Requirement

    pins = locked()
    wrong = {}
    for name, version in pins.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong}"
    for name in pins:
        for raw in importlib.metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert make_lock.normalize(req.name) in pins, f"{name} needs {raw}"


def test_pyproject_license_is_an_spdx_string_setuptools_accepts_without_warning():
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "MIT"
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in meta["build-system"]["requires"])  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), REPO / "pyproject.toml")
    assert not [w for w in caught if "license" in str(w.message).lower()], [str(w.message) for w in caught]  # fmt: skip
    assert dist.metadata.license_expression == "MIT"


def test_make_setup_and_ci_install_from_the_lock():
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = make.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "$(LOCK)" in recipe.splitlines()[0]  # a new lock rebuilds the environment
    assert "--no-deps --requirement $(LOCK)" in recipe and "pip check" in recipe
    assert "installing the locked environment" in recipe  # what CI's log shows
    assert "lock:" in make and "requirements/make_lock.py" in make
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == "make test"  # make test depends on $(STAMP)
