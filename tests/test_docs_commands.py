"""The docs are tests: every ``gmiqa ...`` command of the README and book/reproduce.md runs.

The commands are read from the fenced shell blocks of the documents at test time, so a
command added to or changed in the docs is tested as it is written there. They run in
document order (README first), in one temporary folder, with these substitutions so that
they take seconds on a CPU and need nothing but this repository:

- ``--profile X`` -> ``--profile smoke`` (added where absent); a run-folder ``--out O``
  (``runs`` where absent) -> ``TMP/out/O`` (``TMP/out/O-X`` for profiles other than gpu
  and cpu, whose run folders ``O/X`` are apart from ``O/gpu``), and documented run paths ``O/PROFILE/...``
  (such as ``runs/gpu/results/...``) -> ``TMP/out/O/smoke/...``; ``score --out F.csv``
  -> a file in TMP;
- ``--root`` of a real set -> a fixture in that set's official layout (the writers of
  ``tests/datasets/conftest.py``, images enlarged to 160x128 so the smoke profile can train on them);
  of ``--dataset folder`` -> the LIVEC fixture written by ``gmiqa.datasets.write_folder``;
  ``--pristine`` (and ``--root`` of the synthetic set) -> a folder of a few photos;
- ``--backbone-weights F`` -> the smoke backbone's weights saved as F's file type;
- ``livec-dev --release D`` -> a LIVEC release in the official layout holding the 300
  photos of ``data/livec-dev.txt`` (tiny images), ``--out O`` -> ``TMP/out/O``;
- a checkpoint placeholder (``CKPT``) -> the newest fine-tuned checkpoint (sidecar kind
  ``finetune``) the earlier commands wrote; a documented checkpoint path is mapped as a run
  path and must exist;
- image arguments of ``score`` (``photo1.jpg``, ``IMAGE``, a folder, a glob) -> small
  images made here; ``--splits N`` -> at most 2.

A command that fails is reported with its document, line, the command as run and the
end of its stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmiqa.cli import build_parser, main

REPO = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "book/reproduce.md")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
FIXTURE_SIZE = (128, 160)  # (height, width): the smoke profile trains on 128-pixel crops
MAX_SPLITS = 2
PATH_OPTIONS = ("--checkpoint", "--init", "--model-path", "--range-path")
INIT_NAMES = {"none", "scratch", "meta", "graph", "graph_nometa", ""}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")


@dataclass
class DocCommand:
    doc: str
    line: int
    tokens: list[str]

    @property
    def text(self) -> str:
        return shlex.join(self.tokens)


def doc_text(doc: str) -> str:
    """A document as a reader sees it: the reproduce chapter with its generated "Re-make
    every number" section (``{{ remake }}``, :func:`gmiqa.evidence.remake_markdown`) in
    place, so its commands are tested exactly as the built book prints them."""
    text = (REPO / doc).read_text(encoding="utf-8")
    if "{{ remake }}" in text:
        from gmiqa.evidence import remake_markdown

        text = text.replace("{{ remake }}", remake_markdown(REPO / "data" / "results"))
    return text


def documented_commands() -> list[DocCommand]:
    """Every ``gmiqa ...`` line of the shell blocks of DOCS, in order (continuations joined)."""
    found = []
    fence = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)
    for doc in DOCS:
        text = doc_text(doc)
        for block in fence.finditer(text):
            if block.group(1).lower() not in SHELL_LANGUAGES:
                continue
            first_line = text.count("\n", 0, block.start(2)) + 1
            logical, start = "", None
            for offset, raw in enumerate(block.group(2).splitlines()):
                line = raw.rstrip()
                if start is None:
                    start = first_line + offset
                    line = re.sub(r"^\s*\$\s+", "", line)  # a "$ " prompt
                if line.endswith("\\"):
                    logical += line[:-1] + " "
                    continue
                logical += line
                tokens = shlex.split(logical, comments=True)
                if tokens and tokens[0] == "gmiqa":
                    found.append(DocCommand(doc, start, tokens))
                logical, start = "", None
    return found


def _options(subcommand: str) -> dict[str, bool]:
    """option string -> whether it takes a value, from the real parser."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if subcommand not in sub.choices:
        return {}
    return {s: a.nargs != 0 for a in sub.choices[subcommand]._actions for s in a.option_strings}


def _split(tokens: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """([(option, value or None)], positionals) of ``gmiqa SUB ...`` tokens."""
    takes_value = _options(tokens[1])
    options, positionals = [], []
    rest = tokens[2:]
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.startswith("--") and "=" in tok:
            name, value = tok.split("=", 1)
            options.append((name, value))
        elif tok.startswith("-") and takes_value.get(tok, True) and i + 1 < len(rest):
            options.append((tok, rest[i + 1]))
            i += 1
        elif tok.startswith("-"):
            options.append((tok, None))
        else:
            positionals.append(tok)
        i += 1
    return options, positionals


def _is_placeholder(value: str) -> bool:
    return re.fullmatch(r"[A-Z][A-Z0-9_]*", value) is not None


# -- fixtures made on demand --------------------------------------------------------------
def _layouts_module():
    spec = importlib.util.spec_from_file_location(
        "gmiqa_test_dataset_layouts", REPO / "tests" / "datasets" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _image(path: Path, seed: int, size=FIXTURE_SIZE) -> Path:
    """A smooth photo-like image with noise whose strength depends on ``seed``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w) + 64], 2)
    noisy = base + rng.normal(0, 4 + 6 * (seed % 7), base.shape)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(path.suffix.lower(), "PNG")
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, format=fmt)
    return path


def _enlarge_images(folder: Path) -> None:
    for i, path in enumerate(sorted(folder.rglob("*"))):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            _image(path, i)


def _livec(root: Path, n: int = 24) -> Path:
    import scipy.io

    folder = root / "ChallengeDB_release"
    names = [f"t{i}.bmp" for i in range(1, 8)] + [f"{100 + i}.png" for i in range(n)]
    cell = np.empty((len(names), 1), dtype=object)
    cell[:, 0] = names
    mos = np.linspace(10.0, 90.0, len(names))[None, :]
    (folder / "Data").mkdir(parents=True)
    scipy.io.savemat(folder / "Data" / "AllImages_release.mat", {"AllImages_release": cell})
    scipy.io.savemat(folder / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos})
    for i, name in enumerate(names):
        sub = "Images/trainingImages" if i < 7 else "Images"
        _image(folder / sub / name, i)
    return folder


def _livec_release(root: Path) -> Path:
    """A LIVEC download that holds the development set's photos (8x8 BMP each)."""
    import scipy.io

    from gmiqa.datasets.livec_dev import default_list, read_list

    folder = root / "ChallengeDB_release"
    names = [f"t{i}.bmp" for i in range(1, 8)] + read_list(default_list())
    cell = np.empty((len(names), 1), dtype=object)
    cell[:, 0] = names
    (folder / "Data").mkdir(parents=True)
    for variable, value in (("AllImages_release", cell),
                            ("AllMOS_release", np.linspace(10.0, 90.0, len(names))[None, :]),
                            ("AllStdDev_release", np.full((1, len(names)), 15.0))):  # fmt: skip
        scipy.io.savemat(folder / "Data" / f"{variable}.mat", {variable: value})
    for name in names[7:]:
        _image(folder / "Images" / name, len(name), size=(8, 8))
    return folder


class Fixtures:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.runs = tmp / "out"  # one folder per documented --out under here
        self.run_prefixes: dict[str, Path] = {}  # "runs/gpu/" -> TMP/runs/smoke
        self.prefix_docs: dict[str, set[str]] = {}  # "runs/gpu/" -> the docs whose commands use it
        self._made: dict[str, Path] = {}

    def pristine(self) -> Path:
        if "pristine" not in self._made:
            from gmiqa.datasets import packaged_image_paths

            folder = self.tmp / "fixtures" / "pristine"
            folder.mkdir(parents=True)
            for name, path in packaged_image_paths()[:4]:
                shutil.copy(path, folder / f"{name}{path.suffix}")
            self._made["pristine"] = folder
        return self._made["pristine"]

    def dataset(self, name: str) -> Path:
        from gmiqa.datasets import canonical_name

        key = canonical_name(name)
        if key not in self._made:
            root = self.tmp / "fixtures" / key
            if key == "livec":
                folder = _livec(root)
            elif key == "folder":  # your own photos: the LIVEC fixture written as a folder
                from gmiqa.datasets import load_livec, write_folder

                folder = write_folder(load_livec(self.dataset("livec")), root)
            else:
                layouts = _layouts_module()
                maker = {"kadid10k": layouts.make_kadid, "koniq10k": layouts.make_koniq,
                         "live": layouts.make_live, "csiq": layouts.make_csiq,
                         "tid2013": layouts.make_tid2013}[key]  # fmt: skip
                folder = maker(root).folder
                _enlarge_images(folder)
            self._made[key] = folder
        return self._made[key]

    def release(self) -> Path:
        if "release" not in self._made:
            self._made["release"] = _livec_release(self.tmp / "fixtures" / "release")
        return self._made["release"]

    def backbone_weights(self, documented: str) -> Path:
        import torch

        from gmiqa.models import build_model
        from gmiqa.profiles import get_profile

        suffix = Path(documented).suffix or ".safetensors"
        path = self.tmp / "fixtures" / f"backbone{suffix}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(0)
            state = build_model(get_profile("smoke").model).backbone.state_dict()
            state = {k: v.contiguous().clone() for k, v in state.items()}
            if suffix == ".safetensors":
                from safetensors.torch import save_file

                save_file(state, str(path))
            else:
                torch.save(state, path)
        return path

    def finetuned_checkpoint(self) -> Path | None:
        """The newest checkpoint under the run folder whose sidecar says kind finetune."""
        from gmiqa.checkpoint import read_sidecar
        from gmiqa.errors import GMIQAError

        found = []
        for path in self.runs.rglob("*.safetensors"):
            try:
                if read_sidecar(path).get("kind") == "finetune" and "work" not in path.parts:
                    found.append(path)
            except GMIQAError:
                continue
        return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None

    def out_root(self, documented: str) -> Path:
        """TMP/out/<documented --out>: runs documented apart stay apart."""
        return self.runs / (re.sub(r"[^\w.-]", "_", documented.strip("/")) or "runs")

    def run_path(self, value: str) -> str:
        for prefix, target in self.run_prefixes.items():
            if value.startswith(prefix):
                return str(target / value[len(prefix) :])
        return value

    def score_input(self, value: str, index: int) -> str:
        if _is_placeholder(value):
            return str(_image(self.tmp / f"image{index}.png", index))
        path = Path(value)
        if path.exists():
            return value
        if any(c in value for c in "*?["):  # one file the pattern matches
            name = re.sub(r"\*\*/?", "", value)
            name = re.sub(r"\[(.).*?\]", r"\1", name).replace("*", "g").replace("?", "g")
            _image(self.tmp / name, index)
            return value
        if path.suffix.lower() in IMAGE_SUFFIXES:
            _image(self.tmp / path, index)
            return value
        for k in range(2):  # a folder of images
            _image(self.tmp / path / f"f{k}.png", index + k)
        return value


def adapt(command: DocCommand, fx: Fixtures) -> list[str] | str:
    """The argv to run for a documented command, or the reason it cannot be run."""
    sub = command.tokens[1]
    options, positionals = _split(command.tokens)
    given = dict(options)
    argv: list[str] = [sub]
    doc_profile = given.get("--profile", "cpu")
    doc_out = given.get("--out", "runs")  # gmiqa's default run folder
    # O/<profile> is a folder of its own per documented profile: kept apart here too (a
    # run folder refuses pre-training on other data than its checkpoints hold)
    out_root = fx.out_root(doc_out if doc_profile in ("gpu", "cpu") else f"{doc_out}-{doc_profile}")
    if sub != "score":
        prefix = f"{doc_out.rstrip('/')}/{doc_profile}/"
        fx.run_prefixes[prefix] = out_root / "smoke"
        fx.prefix_docs.setdefault(prefix, set()).add(command.doc)
    dataset = given.get("--dataset", "synthetic" if sub == "ablation" else None)
    for name, value in options:
        if name == "--profile":
            value = "smoke"
        elif name == "--out":
            if sub == "score":
                value = str(fx.tmp / f"scores{Path(value).suffix or '.csv'}")
            else:
                value = str(out_root)
        elif name == "--pristine":
            value = str(fx.pristine())
        elif name == "--root":
            value = str(fx.pristine() if dataset in (None, "synthetic") else fx.dataset(dataset))
        elif name == "--pretrain-root":
            value = str(fx.dataset(given.get("--pretrain-dataset", "kadid10k")))
        elif name == "--backbone-weights":
            value = str(fx.backbone_weights(value))
        elif name == "--release":
            value = str(fx.release())
        elif name == "--splits":
            value = str(min(int(value), MAX_SPLITS))
        elif name in PATH_OPTIONS and value is not None:
            if name == "--init" and value.strip().lower() in INIT_NAMES:
                pass
            elif _is_placeholder(value):
                ckpt = fx.finetuned_checkpoint()
                if ckpt is None:
                    return (f"{name} {value}: no fine-tuned checkpoint (sidecar kind 'finetune') "
                            f"under {fx.runs} after the commands before it")  # fmt: skip
                value = str(ckpt)
            else:
                value = fx.run_path(value)
        argv.append(name)
        if value is not None:
            argv.append(value)
    if "--profile" not in given and "--profile" in _options(sub):
        argv += ["--profile", "smoke"]
    if sub != "score" and "--out" not in given:
        argv += ["--out", str(out_root)]
    if sub == "score":
        positionals = [fx.score_input(v, i) for i, v in enumerate(positionals)]
    return argv + positionals


def _run(argv: list[str]) -> tuple[int | str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: unknown option, bad value
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception as exc:  # a crash: reported with the other failures
            import traceback

            traceback.print_exc(file=err)
            code = f"crash ({type(exc).__name__}: {exc})"
    return code, out.getvalue(), err.getvalue()


def test_the_docs_hold_the_workflow_commands():
    commands = documented_commands()
    subcommands = {c.tokens[1] for c in commands if len(c.tokens) > 1}
    assert {"pretrain", "finetune", "ablation", "evaluate", "score", "livec-dev"} <= subcommands, (
        subcommands
    )
    # the gpu profile's fine-tuning assumes ImageNet weights, and pre-training without
    # --pristine would use the 13 packaged photos: every gpu command that trains says both
    for c in commands:
        profile = c.tokens[c.tokens.index("--profile") + 1] if "--profile" in c.tokens else ""
        if profile == "gpu" and c.tokens[1] in ("pretrain", "finetune", "ablation"):
            assert "--backbone-weights" in c.tokens, f"{c.doc}:{c.line}: {c.text}"
            if "kadid10k" not in c.tokens:  # pre-trained on KADID-10k: no pristine photos
                assert "--pristine" in c.tokens, f"{c.doc}:{c.line}: {c.text}"
    parser = build_parser()
    known = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert subcommands <= set(known), f"not gmiqa subcommands: {subcommands - set(known)}"


def test_the_reproduce_chapter_prints_the_command_of_every_stored_gmiqa_result():
    """Each stored result made by ``gmiqa`` is re-made by a command the chapter prints."""
    import json

    printed = {shlex.join(c.tokens) for c in documented_commands() if c.doc == "book/reproduce.md"}
    from gmiqa.results_table import public_command

    stored = []
    for path in sorted((REPO / "data" / "results").glob("*.json")):
        command = public_command(json.loads(path.read_text())["provenance"]["command"])
        if command.startswith("gmiqa "):
            stored.append((path.name, shlex.join(shlex.split(command))))
    assert len(stored) >= 5, stored  # the pre-training and four ablations
    missing = [name for name, command in stored if command not in printed]
    assert not missing, f"no printed command re-makes {missing}"


def test_every_documented_gmiqa_command_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    fx = Fixtures(tmp_path)
    commands = documented_commands()
    assert commands, "no gmiqa command found in the docs"
    failures = []
    for command in commands:
        argv = adapt(command, fx)
        where = f"{command.doc}:{command.line}: {command.text}"
        if isinstance(argv, str):
            failures.append(f"{where}\n    cannot run: {argv}")
            continue
        code, out, err = _run(argv)
        if code != 0 or "Traceback" in err:
            tail = "\n      ".join(err.strip().splitlines()[-6:])
            failures.append(f"{where}\n    ran: gmiqa {shlex.join(argv)}\n    exit {code}: {tail}")
    failures += missing_documented_outputs(fx)
    assert not failures, (
        f"{len(failures)} of {len(commands)} documented commands (or the files they are "
        "documented to write) failed:\n" + "\n".join(failures)
    )


def missing_documented_outputs(fx: Fixtures) -> list[str]:
    """Files the docs say the commands write (``runs/gpu/results/x.safetensors``, in prose
    or in ``# ->`` comments) that the commands did not write (mapped into TMP/runs/smoke)."""
    missing = []
    for doc in DOCS:
        # a document's paths are checked against the run folders its own commands use
        prefixes = [p for p in fx.run_prefixes if doc in fx.prefix_docs.get(p, {doc})]
        if not prefixes:
            continue
        alternatives = "|".join(re.escape(prefix) for prefix in prefixes)
        pattern = re.compile(rf"(?<![\w/.-])((?:{alternatives})[\w./-]*\.(?:safetensors|json|csv))")
        text = doc_text(doc)
        for match in pattern.finditer(text):
            mapped = Path(fx.run_path(match.group(1)))
            if not mapped.is_file():
                line = text.count("\n", 0, match.start()) + 1
                missing.append(
                    f"{doc}:{line}: documents {match.group(1)}, but the commands above did not "
                    f"write it (looked for {mapped})"
                )
    return missing


@pytest.mark.parametrize(
    "text, expected",
    [
        ("gmiqa finetune --profile gpu --out runs --dataset livec \\\n    --root X --splits 10  # c",
         ["gmiqa", "finetune", "--profile", "gpu", "--out", "runs", "--dataset", "livec", "--root",
          "X", "--splits", "10"]),
        ("$ gmiqa score --checkpoint CKPT a.jpg", ["gmiqa", "score", "--checkpoint", "CKPT", "a.jpg"]),
        ("make test   # not gmiqa", None),
    ],
)  # fmt: skip
def test_command_extraction(tmp_path, monkeypatch, text, expected):
    (tmp_path / "doc.md").write_text(f"intro\n\n```bash\n{text}\n```\n\n```python\ngmiqa x\n```\n")
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    monkeypatch.setattr(f"{__name__}.DOCS", ("doc.md",))
    found = documented_commands()
    assert [c.tokens for c in found] == ([expected] if expected else [])
    if expected:
        assert found[0].line == 4


def test_documented_output_paths_are_checked(tmp_path, monkeypatch):
    (tmp_path / "doc.md").write_text(
        "```bash\ngmiqa pretrain --profile gpu --out runs\n#   -> runs/gpu/checkpoints/meta.json\n"
        "```\n\nThe model is `runs/gpu/results/model.safetensors`; see `runs/gpu/` and `OUT/x`.\n"
    )
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    monkeypatch.setattr(f"{__name__}.DOCS", ("doc.md",))
    fx = Fixtures(tmp_path)
    adapt(documented_commands()[0], fx)
    (fx.out_root("runs") / "smoke" / "checkpoints").mkdir(parents=True)
    (fx.out_root("runs") / "smoke" / "checkpoints" / "meta.json").write_text("{}")
    missing = missing_documented_outputs(fx)
    assert (
        len(missing) == 1 and "doc.md:6: documents runs/gpu/results/model.safetensors" in missing[0]
    )
