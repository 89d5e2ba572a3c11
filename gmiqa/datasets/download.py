"""Downloading the real IQA sets: resumable, verified, safely extracted. Never implicit.

Taught in ``notebooks/07_finetuning.ipynb``.

- :func:`download` fetches a registry entry's files into a data root, only when called.
  Each file streams to ``<file>.part``; an interrupted transfer resumes with an HTTP
  ``Range`` request when the server honours it, and restarts from zero when it answers
  with the whole file instead. A completed file is checked against its published
  sha256/md5 when the registry has one (a mismatch deletes the partial file and names
  both digests); without one, an :class:`UnverifiedDownloadWarning` (printed on stderr)
  says so at download time and gives the file's sha256.
- Archives (zip, tar) are unpacked into a temporary folder beside the target and moved
  into place only when complete. Member names are checked first (absolute paths, ``..``
  components, zip symlinks are refused); tars are extracted with Python's own
  ``filter="data"`` (PEP 706), which refuses links that lead outside the folder (also
  through a chain of links) and device files. A malicious, truncated or corrupt archive
  raises DatasetError and leaves nothing behind.
- A ``.gmiqa-<name>.complete`` marker records what was fetched once the set is in place.
- :func:`ensure_dataset` never touches the network: it finds a set or raises a
  DatasetError that tells a user without internet exactly which file to put where.
- :func:`download_weights` fetches a published backbone state dict of the registry's
  ``weights`` section (ImageNet SCNet-50, torchvision ResNet-50) the same way, checked
  against its published sha256 or sha256 prefix, for ``--backbone-weights``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from gmiqa.atomic import atomic_write_text
from gmiqa.datasets.registry import (
    DatasetInfo,
    RegistryFile,
    WeightsInfo,
    get_dataset_info,
    get_weights_info,
)
from gmiqa.datasets.table import dataset_entry
from gmiqa.errors import ConfigError, DatasetError

_CHUNK = 1 << 20


def _find_root(key: str):
    return dataset_entry(key).find_root_function()


# -- checksums ---------------------------------------------------------------------------
def file_digests(path: str | os.PathLike) -> dict[str, str]:
    """sha256 and md5 of a file, read in chunks. See ``notebooks/07_finetuning.ipynb``."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def _checksum_problem(
    path: Path, sha256: str | None, md5: str | None, sha256_prefix: str | None = None
) -> str | None:
    if not sha256 and not md5 and not sha256_prefix:
        return None
    actual = file_digests(path)
    for algo, expected in (("sha256", sha256), ("md5", md5)):
        if expected and actual[algo].lower() != expected.lower():
            return f"{algo} {actual[algo]} does not match the expected {expected}"
    if sha256_prefix and not actual["sha256"].startswith(sha256_prefix.lower()):
        return (
            f"sha256 {actual['sha256']} does not start with the published prefix "
            f"{sha256_prefix.lower()}"
        )
    return None


# -- one file over HTTP ------------------------------------------------------------------
def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": "gmiqa-downloader"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _resume_offset(response, offset: int) -> int:
    """Where the body starts: ``offset`` for a matching 206 answer, else 0 (restart)."""
    if offset and response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        try:
            start = int(content_range.split()[1].split("-")[0])
        except (IndexError, ValueError):
            return 0
        return offset if start == offset else 0
    return 0


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    sha256_prefix: str | None = None,
) -> Path:
    """Fetch ``url`` to ``dest`` through ``dest.part``, resuming and verifying.

    Returns ``dest``. ``sha256_prefix`` checks the file's sha256 against the leading hex
    digits a publisher gives (a torch.hub-style ``<name>-<prefix>.pth`` file name). A transfer cut short keeps ``dest.part`` and raises DatasetError
    (call again to resume); a checksum mismatch deletes it and raises DatasetError.
    See ``notebooks/07_finetuning.ipynb``.
    """

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        problem = _checksum_problem(dest, sha256, md5, sha256_prefix)
        if problem:
            raise DatasetError(f"{dest} exists but its {problem}; delete it to download again")
        return dest
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    try:
        try:
            response = _open(url, offset, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not offset:
                raise
            # Range not satisfiable: the .part file is already whole, or longer than the
            # file (then it is not this file). Keep it only if its length and checksum fit.
            length = exc.headers.get("Content-Range", "").rpartition("/")[2] if exc.headers else ""
            whole = int(length) if length.isdigit() else size
            if (
                whole is not None
                and offset == whole
                and _checksum_problem(part, sha256, md5, sha256_prefix) is None
            ):
                os.replace(part, dest)
                _warn_unverified(dest, url, sha256, md5, sha256_prefix)
                return dest
            part.unlink()
            offset = 0
            response = _open(url, 0, timeout)
        with response:
            offset = _resume_offset(response, offset)
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else size
            received = offset
            with (
                open(part, "ab" if offset else "wb") as fh,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    desc=dest.name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        kept = part.stat().st_size if part.is_file() else 0
        if kept:
            what = f"{kept} bytes kept in {part}, run the download again to resume"
        else:
            part.unlink(missing_ok=True)
            what = "nothing was saved, run the download again"
        raise DatasetError(
            f"download of {url} failed ({exc}); {what}, or fetch the file by hand and save it "
            f"as {dest}"
        ) from None
    if total is not None and received != total:
        raise DatasetError(
            f"download of {url} ended at {received} of {total} bytes; {part} is kept, run the "
            "download again to resume"
        )
    problem = _checksum_problem(part, sha256, md5, sha256_prefix)
    if problem:
        part.unlink()
        raise DatasetError(
            f"{dest.name} from {url}: {problem}; the download was deleted (a changed or "
            "damaged file on the server, or an interrupted transfer)"
        )
    os.replace(part, dest)
    _warn_unverified(dest, url, sha256, md5, sha256_prefix)
    return dest


class UnverifiedDownloadWarning(UserWarning):
    """A downloaded file has no published checksum to verify it (``07_finetuning``)."""


def _warn_unverified(
    dest: Path, url: str, sha256: str | None, md5: str | None, sha256_prefix: str | None = None
) -> None:
    if sha256 or md5 or sha256_prefix:
        return
    digest = file_digests(dest)["sha256"]
    warnings.warn(
        f"{dest} from {url} is NOT verified: no checksum is published for it. Its sha256 is "
        f"{digest}; compare it with a copy you trust.",
        UnverifiedDownloadWarning,
        stacklevel=3,
    )


# -- safe extraction ---------------------------------------------------------------------
def _check_member_name(name: str, archive: Path, target: Path) -> Path:
    clean = name.replace("\\", "/")
    pure = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in pure.parts:
        raise DatasetError(f"{archive}: member {name!r} would be written outside {target}")
    out = (target / clean).resolve()
    if out != target and target not in out.parents:
        raise DatasetError(f"{archive}: member {name!r} would be written outside {target}")
    return out


def _check_tar_complete(tf: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """Every member of ``tf``; DatasetError when the archive stops before its end marker.

    ``tarfile`` treats a file cut at a member boundary (or inside a header) as the end of
    the archive; a whole tar ends with a zero block after the last member's data.
    """
    try:
        members = tf.getmembers()
        tf.fileobj.seek(tf.offset)
        end = tf.fileobj.read(tarfile.BLOCKSIZE)
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise DatasetError(f"{archive}: truncated or corrupt tar archive ({exc})") from None
    if len(end) != tarfile.BLOCKSIZE or end.count(0) != tarfile.BLOCKSIZE:
        raise DatasetError(
            f"{archive}: truncated tar archive (it stops after {len(members)} member(s), "
            "before the end-of-archive marker); download it again"
        )
    return members


def _move_into(source: Path, target: Path) -> None:
    """Move the contents of ``source`` into ``target``, merging folders that exist there."""
    for entry in sorted(source.iterdir()):
        dest = target / entry.name
        if entry.is_dir() and not entry.is_symlink() and dest.is_dir() and not dest.is_symlink():
            _move_into(entry, dest)
        else:
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(entry, dest)


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a zip or tar archive into ``target``, refusing any member that escapes it.

    Member names are checked before anything is written (absolute paths, ``..``, zip
    symlinks are refused); a tar is then extracted one member at a time with Python's own
    ``filter="data"`` (PEP 706: no devices, no paths leading outside the folder), each
    member only where the links made before it lead inside, and once every member is
    out, each symlink's final target is checked (and no hard link reaches a file outside),
    so links re-pointed by later members are refused on every Python (3.11's early
    filters checked each link alone). Everything is
    unpacked into a temporary folder beside ``target`` and moved into place only when the
    whole archive came out, so a malicious, truncated or corrupt archive raises
    DatasetError naming it and leaves nothing behind. See ``notebooks/07_finetuning.ipynb``.
    """
    archive = Path(archive)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    if zipfile.is_zipfile(archive):
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DatasetError(f"{archive}: corrupt zip archive ({exc})") from None
        with zf:
            for info in zf.infolist():
                _check_member_name(info.filename, archive, target)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise DatasetError(
                        f"{archive}: member {info.filename!r} is a symbolic link; refused"
                    )
            return _extract_via_temporary(archive, target, zf.extractall)
    try:
        tf = tarfile.open(archive)
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise DatasetError(f"{archive}: not a zip or tar archive ({exc})") from None
    with tf:
        members = _check_tar_complete(tf, archive)
        for m in members:
            _check_member_name(m.name, archive, target)

        def extract(folder: Path) -> None:
            # one member at a time, each written only where the links made so far lead
            # inside; then every link's final target is checked (old filters miss chains)
            root = os.path.realpath(folder)
            for m in members:
                name = m.name.replace("\\", "/")
                parent = os.path.realpath(os.path.join(folder, os.path.dirname(name)))
                if not _inside(parent, root):
                    raise DatasetError(
                        f"{archive}: refused, member {m.name!r} would be written outside "
                        f"{target} (through a link made by an earlier member)"
                    )
                tf.extract(m, folder, set_attrs=not m.isdir(), filter="data")
            _check_final_links(Path(folder), archive, target)

        return _extract_via_temporary(archive, target, extract)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_final_links(folder: Path, archive: Path, target: Path) -> None:
    """After extraction: every symlink resolves inside ``folder``; no hard link to a file
    outside it (a file with more links than it has names inside ``folder``)."""
    root = os.path.realpath(folder)
    names: dict[tuple[int, int], int] = {}
    linked: dict[tuple[int, int], tuple[str, int]] = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, folder)
            if os.path.islink(p):
                if not _inside(os.path.realpath(p), root):
                    raise DatasetError(
                        f"{archive}: refused, link {rel!r} points outside {target} "
                        f"(to {os.readlink(p)!r} after all links were made)"
                    )
                continue
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                names[key] = names.get(key, 0) + 1
                if st.st_nlink > 1:
                    linked[key] = (rel, st.st_nlink)
    for key, (rel, nlink) in linked.items():
        if nlink > names[key]:
            raise DatasetError(
                f"{archive}: refused, member {rel!r} is a hard link to a file outside {target}"
            )


def _extract_via_temporary(archive: Path, target: Path, extract) -> Path:
    try:  # beside the target; inside it where its parent is not writable
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
    except OSError:
        tmp = Path(tempfile.mkdtemp(prefix=".gmiqa-extract-", dir=target))
    try:
        try:
            extract(tmp)
        except tarfile.FilterError as exc:
            raise DatasetError(
                f"{archive}: refused, member {getattr(exc.tarinfo, 'name', '?')!r} would "
                f"point or be written outside {target} ({exc})"
            ) from None
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError,
                OSError) as exc:  # fmt: skip
            raise DatasetError(f"{archive}: truncated or corrupt archive ({exc})") from None
        _move_into(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# -- whole datasets ----------------------------------------------------------------------
def _marker(root: Path, key: str) -> Path:
    return root / f".gmiqa-{key}.complete"


def manual_instructions(info: DatasetInfo, root: str | os.PathLike) -> str:
    """What to fetch and where to put it, for a machine without internet.

    See ``notebooks/07_finetuning.ipynb``.
    """
    root = Path(root)
    lines = [
        f"On a machine with internet, from {info.page}:",
    ]
    for f in info.files:
        size = f" ({f.size_bytes:,} bytes)" if f.size_bytes else ""
        where = root / f.extract_to
        if f.is_archive:
            step = f"save it as {root / f.filename} and unpack it into {where}"
        else:
            step = f"save it as {where / f.filename}"
        lines.append(f"  - {f.url}{size}, {f.describe_checksum()}: {step}")
    if info.manual:
        lines.append(f"  Note: {info.manual}")
    lines.append(f"so that {root / info.layout} exists. Cite: {info.citation}")
    return "\n".join(lines)


def ensure_dataset(name: str, root: str | os.PathLike) -> Path:
    """The folder of dataset ``name`` under ``root``; never downloads.

    A missing set raises DatasetError with the exact files to fetch and where to put
    them (see :func:`manual_instructions`). See ``notebooks/07_finetuning.ipynb``.
    """
    info = get_dataset_info(name)
    try:
        return _find_root(info.key)(root)
    except DatasetError as exc:
        raise DatasetError(
            f"{info.title} is not under {root} ({exc}).\n{manual_instructions(info, root)}\n"
            f"With internet access, gmiqa.datasets.download({info.key!r}, {str(root)!r}) "
            "does this."
        ) from None


def _file_urls(
    info: DatasetInfo, url: str | dict[str, str] | None
) -> list[tuple[RegistryFile, str]]:
    if url is None:
        return [(f, f.url) for f in info.files]
    if isinstance(url, str):
        if len(info.files) != 1:
            names = ", ".join(f.filename for f in info.files)
            raise ConfigError(
                f"{info.key} has {len(info.files)} files ({names}): pass url as a dict "
                "{filename: url}"
            )
        return [(info.files[0], url)]
    unknown = set(url) - {f.filename for f in info.files}
    if unknown:
        raise ConfigError(f"{info.key}: url given for unknown file(s) {sorted(unknown)}")
    return [(f, url.get(f.filename, f.url)) for f in info.files]


def download(
    name: str,
    root: str | os.PathLike,
    url: str | dict[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Download, verify and unpack dataset ``name`` into ``root``; returns its folder.

    ``url`` replaces the registry URL (a str for one-file sets, else ``{filename: url}``),
    e.g. for a mirror. Sets the registry marks as manual (a password or a browser is
    needed) raise DatasetError with the steps instead. Already complete: returns at once.
    See ``notebooks/07_finetuning.ipynb``.
    """
    info = get_dataset_info(name)
    root = Path(root).expanduser()
    find_root = _find_root(info.key)
    marker = _marker(root, info.key)
    if marker.is_file():
        try:
            return find_root(root)
        except DatasetError:
            marker.unlink()  # the set was moved or deleted since: fetch it again
    if info.manual and url is None:
        raise DatasetError(
            f"{info.title} cannot be downloaded automatically.\n{manual_instructions(info, root)}"
        )
    root.mkdir(parents=True, exist_ok=True)
    fetched = {}
    for f, file_url in _file_urls(info, url):
        target = root / f.extract_to
        dest = root / f.filename if f.is_archive else target / f.filename
        path = download_file(file_url, dest, f.sha256, f.md5, f.size_bytes, progress)
        fetched[f.filename] = {
            "url": file_url,
            "bytes": path.stat().st_size,
            "verified": bool(f.sha256 or f.md5),
            **file_digests(path),
        }
        if f.filename.lower().endswith(".rar"):
            try:  # already unpacked by hand after an earlier call
                find_root(root)
                continue
            except DatasetError:
                pass
            raise DatasetError(
                f"{path} is downloaded"
                f"{' and verified' if f.sha256 or f.md5 else ''}, but RAR archives cannot be "
                f"unpacked with Python's standard library: run `unrar x {path} {target}/` "
                f"(or `7z x {path} -o{target}`) so that {root / info.layout} exists"
            )
        if f.is_archive:
            safe_extract(path, target)
    folder = find_root(root)
    atomic_write_text(
        marker,
        json.dumps(
            {
                "dataset": info.key,
                "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "files": fetched,
            },
            indent=2,
        ),
    )
    return folder


# -- backbone weights --------------------------------------------------------------------
def weights_instructions(info: WeightsInfo, folder: str | os.PathLike) -> str:
    """Where a weights file is published and where to save it, for a machine without internet.

    See ``notebooks/07_finetuning.ipynb``.
    """
    dest = Path(folder) / info.filename
    size = f" ({info.size_bytes:,} bytes)" if info.size_bytes else ""
    lines = [f"On a machine with internet, from {info.page}:"]
    lines.append(f"  - {info.url}{size}, {info.describe_checksum()}: save it as {dest}")
    lines += [f"    or {m}" for m in info.mirrors]
    lines.append(
        f"then pass --backbone-weights {dest} (backbone {info.backbone}). Cite: {info.citation}"
    )
    return "\n".join(lines)


def download_weights(
    name: str,
    folder: str | os.PathLike,
    url: str | None = None,
    progress: bool = True,
) -> Path:
    """Download the registry's backbone weights ``name`` into ``folder``; returns the file.

    ``name`` is a ``weights`` entry (``"scnet50_imagenet"``, ``"resnet50_imagenet_v1"``) or
    its backbone (``"scnet50"``, ``"resnet50"``); ``url`` replaces the registry address
    (a mirror). The file is resumable like :func:`download_file` and checked against the
    published sha256, or the published sha256 prefix where only that is known (a
    mismatch deletes it); without either, an :class:`UnverifiedDownloadWarning` says so.
    A file already in place is checked and returned without a transfer. Pass the result
    to ``--backbone-weights`` (or ``build_model(settings, backbone_weights=...)``).
    See ``notebooks/07_finetuning.ipynb``.
    """
    info = get_weights_info(name)
    folder = Path(folder).expanduser()
    dest = folder / info.filename
    try:
        return download_file(
            url or info.url,
            dest,
            sha256=info.sha256,
            size=info.size_bytes,
            progress=progress,
            sha256_prefix=info.sha256_prefix,
        )
    except DatasetError as exc:
        raise DatasetError(f"{exc}\n{weights_instructions(info, folder)}") from None


def remove_partial(root: str | os.PathLike) -> list[Path]:
    """Delete leftover ``*.part`` files under ``root`` (to restart rather than resume).

    See ``notebooks/07_finetuning.ipynb``.
    """
    removed = []
    for part in sorted(Path(root).rglob("*.part")):
        part.unlink()
        removed.append(part)
    return removed


__all__ = [
    "UnverifiedDownloadWarning",
    "download",
    "download_file",
    "download_weights",
    "ensure_dataset",
    "file_digests",
    "manual_instructions",
    "remove_partial",
    "safe_extract",
    "weights_instructions",
]
