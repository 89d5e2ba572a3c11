"""Downloads against a local HTTP server (127.0.0.1 only) with Range support written here."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import make_kadid

from gmiqa.datasets import load_dataset
from gmiqa.datasets.download import download, download_file, ensure_dataset, safe_extract
from gmiqa.errors import ConfigError, DatasetError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, several read chunks


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        data = srv.files.get(self.path)
        srv.requests.append((self.path, self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        mode = srv.modes.get(self.path, "range")
        start = 0
        header = self.headers.get("Range")
        if header and mode != "norange":
            start = int(header.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate" and srv.truncations > 0:
            srv.truncations -= 1
            self.wfile.write(body[: len(body) // 3])  # then the connection closes early
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.modes, srv.requests, srv.truncations = {}, {}, [], 0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_normal_download_verifies(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    dest = download_file(
        server.url + "/a.bin", tmp_path / "a.bin", sha256=_sha(PAYLOAD), progress=False, timeout=10
    )
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "a.bin.part").exists()
    # Present and verified: no second request.
    download_file(server.url + "/a.bin", dest, sha256=_sha(PAYLOAD), progress=False, timeout=10)
    assert len(server.requests) == 1


def test_resume_after_truncated_transfer(server, tmp_path):
    server.files["/big.bin"] = PAYLOAD
    server.modes["/big.bin"] = "truncate"
    server.truncations = 1
    dest = tmp_path / "big.bin"
    with pytest.raises(DatasetError, match="resume"):
        download_file(
            server.url + "/big.bin", dest, sha256=_sha(PAYLOAD), progress=False, timeout=10
        )
    part = tmp_path / "big.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(PAYLOAD) and not dest.exists()
    download_file(server.url + "/big.bin", dest, sha256=_sha(PAYLOAD), progress=False, timeout=10)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/big.bin", f"bytes={kept}-")  # resumed, not restarted


def test_restart_when_server_ignores_range(server, tmp_path):
    server.files["/c.bin"] = PAYLOAD
    server.modes["/c.bin"] = "norange"
    (tmp_path / "c.bin.part").write_bytes(b"stale bytes from some other file")
    dest = download_file(
        server.url + "/c.bin", tmp_path / "c.bin", sha256=_sha(PAYLOAD), progress=False, timeout=10
    )
    assert dest.read_bytes() == PAYLOAD  # the stale prefix was thrown away


def test_part_already_complete_or_too_long(server, tmp_path):
    server.files["/e.bin"] = PAYLOAD
    (tmp_path / "e.bin.part").write_bytes(PAYLOAD)  # interrupted just before the rename
    dest = download_file(server.url + "/e.bin", tmp_path / "e.bin", progress=False, timeout=10)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/e.bin", f"bytes={len(PAYLOAD)}-")  # answered 416
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD + b"junk")  # not this file: restart
    server.files["/f.bin"] = PAYLOAD
    dest = download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False, timeout=10)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_and_names_digests(server, tmp_path):
    server.files["/d.bin"] = PAYLOAD
    wrong = "0" * 64
    with pytest.raises(DatasetError) as info:
        download_file(
            server.url + "/d.bin", tmp_path / "d.bin", sha256=wrong, progress=False, timeout=10
        )
    message = str(info.value)
    assert "d.bin" in message and wrong in message and _sha(PAYLOAD) in message
    assert not (tmp_path / "d.bin").exists() and not (tmp_path / "d.bin.part").exists()


def test_unreachable_server_says_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="by hand"):
        download_file("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", progress=False, timeout=5)


# -- archives ----------------------------------------------------------------------------
def _zip(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return path


def _info(name, kind=tarfile.REGTYPE, link="", size=1):
    m = tarfile.TarInfo(name)
    m.type, m.linkname, m.size = kind, link, size if kind == tarfile.REGTYPE else 0
    return m


def _assert_nothing_written(tmp_path: Path, target: Path):
    assert not any(target.iterdir())
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.parametrize(
    "members, symlinks",
    [
        ({"ok.txt": b"1", "../evil.txt": b"2"}, None),
        ({"ok.txt": b"1", "/evil.txt": b"2"}, None),
        ({"ok.txt": b"1", "sub/../../evil.txt": b"2"}, None),
        ({"ok.txt": b"1"}, {"link": "../../etc"}),
    ],
)
def test_malicious_zip_is_refused(tmp_path, members, symlinks):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(_zip(members, symlinks))
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="bad.zip"):
        safe_extract(archive, target)
    _assert_nothing_written(tmp_path, target)


@pytest.mark.parametrize(
    "member",
    [
        _info("../evil.txt"),
        _info("/tmp/evil.txt"),
        _info("link", tarfile.SYMTYPE, "../../outside"),
        _info("abs", tarfile.SYMTYPE, "/etc/passwd"),
        _info("hard", tarfile.LNKTYPE, "../evil.txt"),
        _info("dev", tarfile.CHRTYPE),
    ],
)
def test_malicious_tar_is_refused(tmp_path, member):
    archive = _tar(tmp_path / "bad.tar", [_info("ok.txt"), member])
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="bad.tar"):
        safe_extract(archive, target)
    _assert_nothing_written(tmp_path, target)


def test_benign_tar_with_inner_link_extracts(tmp_path):
    archive = _tar(tmp_path / "ok.tar", [_info("d/a.txt"), _info("d/b", tarfile.SYMTYPE, "a.txt")])
    out = safe_extract(archive, tmp_path / "out")
    assert (out / "d" / "a.txt").read_bytes() == b"x"


# -- whole datasets ----------------------------------------------------------------------
def _kadid_zip(tmp_path: Path) -> bytes:
    src = tmp_path / "src"
    make_kadid(src)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted((src / "kadid10k").rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())
    return buf.getvalue()


def test_download_kadid_end_to_end(server, tmp_path):
    server.files["/kadid10k.zip"] = _kadid_zip(tmp_path)
    root = tmp_path / "data"
    folder = download("kadid10k", root, url=server.url + "/kadid10k.zip", progress=False)
    assert folder == root / "kadid10k"
    assert (root / ".gmiqa-kadid10k.complete").is_file()
    assert len(load_dataset("kadid10k", root)) == 8
    n = len(server.requests)
    assert download("kadid10k", root, url=server.url + "/kadid10k.zip", progress=False) == folder
    assert len(server.requests) == n  # complete: nothing fetched again


def test_download_refuses_malicious_archive(server, tmp_path):
    server.files["/kadid10k.zip"] = _zip({"kadid10k/dmos.csv": b"x", "../evil.txt": b"2"})
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="outside"):
        download("kadid10k", root, url=server.url + "/kadid10k.zip", progress=False)
    assert not (tmp_path / "evil.txt").exists()
    assert not (root / ".gmiqa-kadid10k.complete").exists()


def test_registry_md5_is_checked(server, tmp_path):
    # TID2013's registry entry carries a published MD5; a different file must be refused.
    server.files["/tid2013.rar"] = b"not the real archive"
    with pytest.raises(DatasetError, match="md5"):
        download("tid2013", tmp_path, url=server.url + "/tid2013.rar", progress=False)
    assert not (tmp_path / "tid2013.rar").exists()


def test_url_must_name_files_for_multi_file_sets(tmp_path):
    with pytest.raises(ConfigError, match="dict"):
        download("csiq", tmp_path, url="http://127.0.0.1:9/x.zip", progress=False)


def test_manual_set_explains_steps(tmp_path):
    with pytest.raises(DatasetError) as info:
        download("live", tmp_path, progress=False)
    message = str(info.value)
    assert "password" in message and "databaserelease2.zip" in message
    assert str(tmp_path / "databaserelease2" / "dmos.mat") in message


def test_ensure_dataset_tells_where_to_put_files(tmp_path):
    with pytest.raises(DatasetError) as info:
        ensure_dataset("KADID-10k", tmp_path)
    message = str(info.value)
    assert "https://datasets.vqa.mmsp-kn.de/archives/kadid10k.zip" in message
    assert str(tmp_path / "kadid10k.zip") in message
    assert str(tmp_path / "kadid10k" / "dmos.csv") in message
    assert "not verified" in message
    make_kadid(tmp_path)
    assert ensure_dataset("kadid10k", tmp_path) == tmp_path / "kadid10k"


# -- links chained out of the target, truncated tars, unverified files, offline message ---
def _leftovers(tmp_path: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in keep)


def test_symlink_chain_out_of_the_target_is_refused_and_leaves_nothing(tmp_path):
    # Each link alone stays inside; followed in turn they lead one folder above the target.
    archive = _tar(
        tmp_path / "chain.tar",
        [
            _info("ok.txt"),
            _info("sub", tarfile.DIRTYPE),
            _info("sub/l", tarfile.SYMTYPE, ".."),
            _info("sub/l/m", tarfile.SYMTYPE, ".."),
            _info("sub/l/m/evil"),
        ],
    )
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="chain.tar") as info:
        safe_extract(archive, target)
    assert "outside" in str(info.value)
    assert not any(target.iterdir())  # not even ok.txt: extraction is all or nothing
    assert _leftovers(tmp_path, {"chain.tar", "out"}) == []  # no evil, no temporary folder
    assert not (tmp_path.parent / "evil").exists()


def _three_file_tar(path: Path) -> bytes:
    _tar(path, [_info(f"d/f{i}.bin", size=3000) for i in range(3)])
    return path.read_bytes()


@pytest.mark.parametrize("cut", ["inside data", "between members", "before end marker"])
def test_truncated_tar_is_an_error_and_extracts_nothing(tmp_path, cut):
    whole = _three_file_tar(tmp_path / "whole.tar")
    # member 0: header at 0, data 512..3512 (padded to 3584); member 1 header at 3584.
    size = {"inside data": 3584 + 512 + 1000, "between members": 3584,
            "before end marker": 3 * 3584}[cut]  # fmt: skip
    archive = tmp_path / "cut.tar"
    archive.write_bytes(whole[:size])
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="truncated") as info:
        safe_extract(archive, target)
    assert "cut.tar" in str(info.value)
    assert not any(target.iterdir())
    assert _leftovers(tmp_path, {"whole.tar", "cut.tar", "out"}) == []
    out = safe_extract(tmp_path / "whole.tar", tmp_path / "ok")  # the whole one extracts
    assert sorted(p.name for p in (out / "d").iterdir()) == ["f0.bin", "f1.bin", "f2.bin"]


def test_extraction_merges_into_an_existing_folder(tmp_path):
    target = tmp_path / "data"
    (target / "d").mkdir(parents=True)
    (target / "d" / "mine.txt").write_text("kept")
    safe_extract(_tar(tmp_path / "a.tar", [_info("d/a.txt"), _info("top.txt")]), target)
    assert (target / "d" / "mine.txt").read_text() == "kept"
    assert (target / "d" / "a.txt").read_bytes() == b"x" and (target / "top.txt").is_file()
    assert _leftovers(tmp_path, {"a.tar", "data"}) == []


def test_download_without_checksum_warns_at_download_time(server, tmp_path):
    import warnings

    from gmiqa.datasets.download import UnverifiedDownloadWarning

    server.files["/u.bin"] = PAYLOAD
    with pytest.warns(UnverifiedDownloadWarning) as record:
        dest = download_file(server.url + "/u.bin", tmp_path / "u.bin", progress=False, timeout=10)
    message = str(record[0].message)
    assert str(dest) in message and "NOT verified" in message and _sha(PAYLOAD) in message
    server.files["/v.bin"] = PAYLOAD
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedDownloadWarning)  # verified: no warning
        download_file(server.url + "/v.bin", tmp_path / "v.bin", sha256=_sha(PAYLOAD),
                      progress=False, timeout=10)  # fmt: skip


def test_unreachable_server_does_not_mention_a_part_file_that_does_not_exist(tmp_path):
    with pytest.raises(DatasetError) as info:
        download_file("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", progress=False, timeout=5)
    message = str(info.value)
    assert ".part" not in message and "nothing was saved" in message
    assert str(tmp_path / "x.zip") in message
    assert not (tmp_path / "x.zip.part").exists()


def _weights_registry(tmp_path: Path, monkeypatch, **entry) -> None:
    """A copy of the registry whose scnet50_imagenet entry is changed by ``entry``."""
    import json

    from gmiqa.datasets.registry import REGISTRY_ENV, registry_path

    data = json.loads(registry_path().read_text())
    data["weights"]["scnet50_imagenet"].update(entry)
    copy = tmp_path / "registry.json"
    copy.write_text(json.dumps(data))
    monkeypatch.setenv(REGISTRY_ENV, str(copy))


def test_download_weights_checks_the_published_prefix(server, tmp_path, monkeypatch):
    import warnings

    from gmiqa.datasets.download import download_weights

    server.files["/w.pth"] = PAYLOAD
    _weights_registry(tmp_path, monkeypatch, sha256_prefix=_sha(PAYLOAD)[:8])
    folder = tmp_path / "weights"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a matching prefix is a check: no warning
        path = download_weights("scnet50", folder, url=server.url + "/w.pth", progress=False)
    assert path == folder / "scnet50-dc6a7e87.pth" and path.read_bytes() == PAYLOAD
    n = len(server.requests)
    assert download_weights("scnet50_imagenet", folder, url=server.url + "/w.pth") == path
    assert len(server.requests) == n  # in place and checked: nothing fetched again


def test_download_weights_refuses_a_file_with_another_hash(server, tmp_path):
    # The real registry entry: a file whose sha256 does not start with dc6a7e87 is deleted.
    from gmiqa.datasets.download import download_weights

    server.files["/w.pth"] = PAYLOAD
    with pytest.raises(DatasetError) as info:
        download_weights("scnet50_imagenet", tmp_path, url=server.url + "/w.pth", progress=False)
    message = str(info.value)
    assert _sha(PAYLOAD) in message and "prefix dc6a7e87" in message
    assert "--backbone-weights" in message and "drive.google.com" in message  # what to do
    assert list(tmp_path.iterdir()) == []


def test_download_weights_full_hash_or_none(server, tmp_path, monkeypatch):
    from gmiqa.datasets.download import UnverifiedDownloadWarning, download_weights

    server.files["/w.pth"] = PAYLOAD
    _weights_registry(tmp_path, monkeypatch, sha256=_sha(PAYLOAD), sha256_prefix=None)
    download_weights("scnet50", tmp_path / "a", url=server.url + "/w.pth", progress=False)
    _weights_registry(tmp_path, monkeypatch, sha256="0" * 64, sha256_prefix=None)
    with pytest.raises(DatasetError, match="does not match"):
        download_weights("scnet50", tmp_path / "b", url=server.url + "/w.pth", progress=False)
    _weights_registry(tmp_path, monkeypatch, sha256=None, sha256_prefix=None)
    with pytest.warns(UnverifiedDownloadWarning, match="NOT verified"):
        download_weights("scnet50", tmp_path / "c", url=server.url + "/w.pth", progress=False)
    assert (tmp_path / "c" / "scnet50-dc6a7e87.pth").read_bytes() == PAYLOAD


def test_a_link_re_pointed_after_another_was_checked_is_refused(tmp_path):
    """Issue 21: each link is inside when it is made; re-pointing ``c`` afterwards makes
    ``a`` (and ``passwd.png`` through it) lead to /etc/passwd. Refused, nothing left."""
    deep = "/".join(["d"] * 30)
    archive = _tar(
        tmp_path / "repoint.tar",
        [
            _info("ok.png"),
            _info("c", tarfile.SYMTYPE, deep),
            _info("a", tarfile.SYMTYPE, "c/" + "../" * 30),
            _info("passwd.png", tarfile.SYMTYPE, "a/etc/passwd"),
            _info("c", tarfile.SYMTYPE, "."),
        ],
    )
    target = tmp_path / "ds"
    with pytest.raises(DatasetError, match="repoint.tar.*outside"):
        safe_extract(archive, target)
    assert not any(target.iterdir())
    assert _leftovers(tmp_path, {"repoint.tar", "ds"}) == []
