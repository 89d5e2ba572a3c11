"""Run folders that remember what made them: data records, a lock, outputs checked first.

Taught in ``notebooks/07_finetuning.ipynb`` (the command line's run folder). Every
``gmiqa`` command that writes into a run folder ``OUT/<profile>`` goes through
:func:`prepare_command` before any work:

- **Outputs checked first.** ``--out`` must be (or be creatable as) a writable folder;
  ``score --out FILE`` a writable file in an existing or creatable folder. A path whose
  parent is a file, or a folder that cannot be written, is a one-line error (exit 2)
  before any image is read or any step trained.
- **One command per run folder.** ``OUT/<profile>/.gmiqa.lock`` is held (``flock``) for the
  whole command; a second command on the same folder stops with a one-line error naming
  the holder's pid. The kernel releases the lock when its holder dies (even by SIGKILL),
  so a lock is never stale. ``score --out`` into a run folder takes that folder's lock.
- **Data records.** ``checkpoints/<stage>.data.json`` records what a pre-training stage
  (``meta``, ``graph``, ``graph_nometa``) is trained on: ``dataset`` (``synthetic`` or
  ``kadid10k``), its ``root`` or ``pristine`` folder (None: the packaged photos) and a
  fingerprint of the folder's image files (names, sizes, modification times). A command
  that would train a *finished* stage again on other data stops instead, saying how to
  choose (``--pristine``, ``--dataset``/``--pretrain-dataset`` or a new ``--out``);
  ``finetune`` without a pre-training data option uses the pre-training it finds and
  names it ("graph pre-trained on kadid10k at K"). An unfinished stage (a checkpoint
  whose training did not end) may be trained on other data: nothing finished is lost.
- **No stale temporary files.** Temporary files of :mod:`gmiqa.atomic` left in the run
  folder by a killed command are removed while the lock is held.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from gmiqa.atomic import atomic_write_json, remove_stale_temporaries
from gmiqa.checkpoint import read_sidecar
from gmiqa.datasets import canonical_name
from gmiqa.errors import CheckpointError, ConfigError, DatasetError
from gmiqa.images import IMAGE_SUFFIXES
from gmiqa.models import build_model
from gmiqa.profiles import Profile
from gmiqa.stages import SPOKESMAN_ORDER

LOCK_NAME = ".gmiqa.lock"
SCORE_SUFFIXES = (".csv", ".json")


# -- what a command works with ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PretrainingData:
    """The data pre-training stages train on: KADID-10k at ``root``, or the synthetic set
    of ``pristine`` photos (None: the packaged photos) when ``dataset`` is None.

    ``explicit``: named by the command (``pretrain`` always names it); when False, the
    pre-training a run folder holds is used (:func:`choose_pretraining_data`).
    Taught in ``notebooks/07_finetuning.ipynb``.
    """

    dataset: str | None = None
    root: Path | None = None
    pristine: Path | None = None
    explicit: bool = True

    @property
    def synthetic(self) -> bool:
        return self.dataset is None or str(self.dataset).lower() == "synthetic"


@dataclasses.dataclass(frozen=True)
class CommandInputs:
    """What a ``gmiqa`` command works with, as typed values (made by ``gmiqa.cli``).

    ``command``: pretrain, finetune, ablation, evaluate or score (it words messages: the
    options that name pre-training data differ between pretrain and the others).
    ``run_dir``: ``OUT/<profile>`` (None for ``score``, whose lock folder is the run folder
    around ``score_out``, if any); ``out``: the ``--out`` root as given, for messages.
    ``stages``: the pre-training stages the command may read or train (upstream first).
    ``data``: the pre-training data the command names. ``backbone_weights``: a state-dict
    file the first stage starts from. Taught in ``notebooks/07_finetuning.ipynb``.
    """

    command: str
    profile: Profile
    run_dir: Path | None = None
    out: Path | None = None
    device: str = "auto"
    seed: int = 0
    progress: bool = True
    stages: tuple[str, ...] = ()
    data: PretrainingData = PretrainingData(explicit=False)
    backbone_weights: Path | None = None
    score_out: Path | None = None
    description: str = "gmiqa"


# -- outputs ------------------------------------------------------------------------------


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing path at or above ``path``; a file on the way is an error."""
    p = Path(os.path.abspath(path))
    while not os.path.lexists(p):
        p = p.parent
    return p


def _probe_writable(folder: Path, what: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".gmiqa-probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{what}: cannot write into {folder} ({reason})") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_folder(folder: str | os.PathLike, what: str | None = None) -> Path:
    """Make sure ``folder`` is, or can be made as, a writable folder; create it.

    Taught in ``notebooks/07_finetuning.ipynb``. Raises ConfigError (one line, naming the
    path) when ``folder`` or one of its parents is a file, or it cannot be written.
    """
    folder = Path(folder)
    what = what or str(folder)
    base = _existing_ancestor(folder)
    if not base.is_dir():
        raise ConfigError(f"{what}: {base} is a file, not a folder (choose another --out)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot create the folder ({exc.strerror or exc})") from None
    _probe_writable(folder, what)
    return folder


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` can be written atomically: not a folder, its folder writable (created).

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score --out``).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; --out must name a .csv or .json file")
    check_output_folder(path.parent, str(path))
    return path


# -- the lock -----------------------------------------------------------------------------


class RunFolderLock:
    """An exclusive ``flock`` on ``folder/.gmiqa.lock`` holding the holder's pid and command.

    Taught in ``notebooks/07_finetuning.ipynb``. ``acquire()`` raises ConfigError naming
    the holder when another process holds it; the kernel drops the lock when the holder
    exits or is killed.
    """

    def __init__(self, folder: str | os.PathLike, command: str = "gmiqa") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> RunFolderLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = self.holder()
            raise ConfigError(
                f"{self.path.parent}: in use by {holder}; wait for it to finish or choose "
                "another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": self.command}).encode())
        self._fd = fd
        return self

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return f"another gmiqa command (pid {int(info['pid'])}: {info.get('command', '?')})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another gmiqa command"

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# -- data records -------------------------------------------------------------------------


def record_path(run_dir: str | os.PathLike, stage: str) -> Path:
    """``run_dir/checkpoints/<stage>.data.json`` (``07_finetuning``)."""
    return Path(run_dir) / "checkpoints" / f"{stage}.data.json"


def _checkpoint(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / "checkpoints" / f"{stage}.safetensors"


def stage_finished(run_dir: str | os.PathLike, stage: str) -> bool:
    """True when ``stage``'s checkpoint in ``run_dir`` is there and its training ended.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    path = _checkpoint(Path(run_dir), stage)
    if not path.exists():
        return False
    try:
        return bool(read_sidecar(path).get("state", {}).get("done"))
    except CheckpointError:
        return False


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """Hash of the image (and CSV) files under ``folder``: names, sizes, modification times.

    Taught in ``notebooks/07_finetuning.ipynb`` (what a data record holds).
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    entries = []
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if Path(name).suffix.lower() in IMAGE_SUFFIXES or name.lower().endswith(".csv"):
                p = Path(dirpath) / name
                try:
                    st = p.stat()
                except OSError:
                    continue
                entries.append(f"{p.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}")
    for e in sorted(entries):
        digest.update(e.encode() + b"\n")
    return digest.hexdigest()[:16]


def describe_data(dataset: str | None, root=None, pristine=None) -> dict:
    """The record of pre-training data: ``dataset``, ``root``, ``pristine``, ``images``.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    key = "synthetic" if dataset is None or str(dataset).lower() == "synthetic" else None
    if key is None:
        key = canonical_name(dataset)
    folder = root if key != "synthetic" else pristine
    folder = None if folder is None else str(Path(folder).resolve())
    return {
        "dataset": key,
        "root": folder if key != "synthetic" else None,
        "pristine": folder if key == "synthetic" else None,
        "images": folder_fingerprint(folder) if folder is not None and Path(folder).is_dir()
        else None,
    }  # fmt: skip


def data_label(record: dict) -> str:
    """``kadid10k at /data/K``, ``the synthetic set of /photos`` or ``... packaged photos``.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    if record.get("dataset") not in (None, "synthetic"):
        return f"{record['dataset']} at {record.get('root')}"
    if record.get("pristine"):
        return f"the synthetic set of {record['pristine']}"
    return "the synthetic set of the packaged photos"


def data_options(record: dict, command: str) -> str:
    """The options that name ``record``'s data for ``command`` (``07_finetuning``)."""
    if record.get("dataset") not in (None, "synthetic"):
        if command == "pretrain":
            return f"--dataset {record['dataset']} --root {record.get('root')}"
        return f"--pretrain-dataset {record['dataset']} --pretrain-root {record.get('root')}"
    if record.get("pristine"):
        return f"--pristine {record['pristine']}"
    return "no --pristine/--dataset option (the packaged photos)"


def read_record(run_dir: str | os.PathLike, stage: str) -> dict | None:
    """The data record of ``stage`` in ``run_dir``, or None (``07_finetuning``)."""
    try:
        record = json.loads(record_path(run_dir, stage).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "dataset" in record else None


def write_record(run_dir: str | os.PathLike, stage: str, record: dict) -> Path:
    """Write ``stage``'s data record atomically (``07_finetuning``)."""
    return atomic_write_json(record_path(run_dir, stage), record)


def same_data(a: dict, b: dict) -> bool:
    """True when two data records name the same data (``07_finetuning``)."""
    return all(a.get(k) == b.get(k) for k in ("dataset", "root", "pristine", "images"))


def _stage_data(record: dict) -> PretrainingData:
    dataset = None if record["dataset"] == "synthetic" else record["dataset"]
    root, pristine = record.get("root"), record.get("pristine")
    return PretrainingData(dataset, None if root is None else Path(root),
                           None if pristine is None else Path(pristine), explicit=False)  # fmt: skip


def choose_pretraining_data(
    run_dir: Path, command: str, data: PretrainingData, stages
) -> tuple[PretrainingData, dict]:
    """Check (named data) or pick (``data.explicit`` False) the pre-training data against
    the records of the finished ``stages`` in ``run_dir``.

    Returns ``(the data the command trains on, its record)`` and writes that record for
    every stage not finished yet; raises ConfigError when a finished stage holds other
    data (naming the options of ``command`` that choose it). Taught in
    ``notebooks/07_finetuning.ipynb``.
    """
    finished = {s: read_record(run_dir, s) for s in stages if stage_finished(run_dir, s)}
    known = {s: r for s, r in finished.items() if r is not None}
    if not data.explicit and known:  # the pre-training that is there
        stage = next(s for s in SPOKESMAN_ORDER if s in known)
        data = _stage_data(known[stage])
        if data.root is not None and not data.root.is_dir():
            raise DatasetError(
                f"{data.root}: the folder {stage} was pre-trained on ({data_label(known[stage])}, "
                f"recorded in {record_path(run_dir, stage)}) no longer exists; pass it again "
                "where it is now, or use a new --out"
            )
    wanted = describe_data(data.dataset, data.root, data.pristine)
    for stage, rec in known.items():
        if same_data(rec, wanted):
            continue
        if all(rec.get(k) == wanted[k] for k in ("dataset", "root", "pristine")):
            change = f"the images in {wanted['root'] or wanted['pristine']} changed since then"
        else:
            change = f"this command would train it again on {data_label(wanted)}"
        raise ConfigError(
            f"{_checkpoint(run_dir, stage)}: {stage} is pre-trained on {data_label(rec)} and "
            f"{change}; to use it give {data_options(rec, command)}, to train on other data "
            "use a new --out"
        )
    if command != "pretrain" and known:
        top = next(s for s in SPOKESMAN_ORDER if s in known)
        print(f"gmiqa: {top} pre-trained on {data_label(known[top])} "
              f"({_checkpoint(run_dir, top)})", file=sys.stderr)  # fmt: skip
    for stage in stages:
        if stage not in known and not stage_finished(run_dir, stage):
            write_record(run_dir, stage, wanted)  # before training: a kill keeps it
    return data, wanted


# -- the command wrapper ------------------------------------------------------------------


def check_backbone_weights(profile: Profile, path: str | os.PathLike | None) -> None:
    """A ``backbone_weights`` file exists and builds the first stage's model (ConfigError).

    Taught in ``notebooks/07_finetuning.ipynb`` (``--backbone-weights``).
    """
    if path is None:
        return
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such backbone weights file")
    # the first stage's model, built as training builds it: a mismatching file fails here
    build_model(profile.model, path)


def check_score_file(path: Path) -> Path:
    """``gmiqa score --out``: a ``.csv`` or ``.json`` file name (ConfigError otherwise)."""
    if path.suffix.lower() not in SCORE_SUFFIXES:
        raise ConfigError(f"{path}: --out must name a .csv or .json file")
    return path


def _enclosing_run_folder(path: Path) -> Path | None:
    p = Path(os.path.abspath(path)).parent
    for _ in range(4):
        if (p / LOCK_NAME).is_file():
            return p
        if p.parent == p:
            break
        p = p.parent
    return None


@contextlib.contextmanager
def prepare_command(inputs: CommandInputs) -> Iterator[CommandInputs]:
    """Check outputs and inputs, lock the run folder and choose pre-training data; then run.

    Taught in ``notebooks/07_finetuning.ipynb``. ``gmiqa.cli.main`` runs every command
    inside it; yields ``inputs`` with ``data`` set to the pre-training data chosen;
    raises ConfigError/DatasetError (one line, exit 2) before any work.
    """
    started = time.time()
    if inputs.run_dir is None:  # score: a result file, maybe inside a run folder
        lock_dir = None
        if inputs.score_out is not None:
            check_output_file(check_score_file(inputs.score_out))
            lock_dir = _enclosing_run_folder(inputs.score_out)
        if lock_dir is None:
            yield inputs
            return
        run_dir = lock_dir
    else:
        run_dir = inputs.run_dir
        check_output_folder(run_dir, f"--out {inputs.out or run_dir.parent}")
    with RunFolderLock(run_dir, inputs.description[:200]):
        remove_stale_temporaries(run_dir, older_than=started - 3600)
        check_backbone_weights(inputs.profile, inputs.backbone_weights)
        wanted = None
        if inputs.stages:
            data, wanted = choose_pretraining_data(run_dir, inputs.command, inputs.data,
                                                   inputs.stages)  # fmt: skip
            inputs = dataclasses.replace(inputs, data=data)
        try:
            yield inputs
            for stage in inputs.stages:  # a stage finished before records existed: now known
                if read_record(run_dir, stage) is None and stage_finished(run_dir, stage):
                    write_record(run_dir, stage, wanted)
        finally:  # temporaries left by killed commands before this one
            remove_stale_temporaries(run_dir, older_than=started)
