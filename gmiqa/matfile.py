"""Reading a MATLAB ``.mat`` file from outside without letting it crash the process.

Taught in ``notebooks/07_finetuning.ipynb`` (LIVE and LIVEC score files) and
``notebooks/10_baselines.ipynb`` (NIQE model files). :func:`scipy.io.loadmat` answers a
malformed file with one of many exception types, and on some corrupt uncompressed
MAT v5 files it dies with a segmentation fault, which no ``except`` can catch (the
malformed-file corpus, ``tests/malformed.py``, found it; with scipy 1.17, 219 of 6,408
single-byte changes of a small cell array of names and 14 of 1,776 of a file of two
numeric rows crashed it, each in an element's type or size field). :func:`read_mat` therefore
parses the file in a forked child process (where ``os.fork`` exists: Linux, macOS; one
child serves the requests until a file kills it) and receives the variables through a
pipe; a child killed by a signal becomes one error naming the file, like every other
failure. Without ``fork`` the file is parsed in
this process.
"""

from __future__ import annotations

import atexit
import faulthandler
import os
import pickle
import signal
import threading
from pathlib import Path

import scipy.io

from gmiqa.errors import GMIQAError


def _parse(path: Path) -> tuple[str, object]:
    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        return "v7.3", None
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", {k: v for k, v in content.items() if not k.startswith("__")}


try:
    _MAX_FD = os.sysconf("SC_OPEN_MAX")
except (AttributeError, ValueError, OSError):
    _MAX_FD = 65536


class _Reader:
    """A forked child that parses .mat files for this process, one request at a time.

    Forking a process that holds torch costs about as much as parsing a small file, so
    one child serves every request until a file kills it; the next request starts a
    new one. A process forked from this one (a data-loader worker) starts its own.
    """

    def __init__(self) -> None:
        self.owner = os.getpid()
        request_r, self._request_w = os.pipe()
        self._reply_r, reply_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: serve, then leave without the parent's cleanup
            code = 0
            try:
                faulthandler.disable()  # a crash is an answer here, not a bug report
                # Keep only the two pipe ends: an inherited lock (a run folder's
                # .gmiqa.lock) must end with the parent, not live on in this child.
                low, high = sorted((request_r, reply_w))
                os.closerange(3, low)
                os.closerange(low + 1, high)
                os.closerange(high + 1, _MAX_FD)
                with os.fdopen(request_r, "rb") as requests, os.fdopen(reply_w, "wb") as out:
                    while True:
                        try:
                            path = pickle.load(requests)
                        except EOFError:  # the parent closed its end: done
                            break
                        pickle.dump(_parse(Path(path)), out, protocol=pickle.HIGHEST_PROTOCOL)
                        out.flush()
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(request_r)
        os.close(reply_w)
        self.requests = os.fdopen(self._request_w, "wb")
        self.replies = os.fdopen(self._reply_r, "rb")

    def parse(self, path: Path) -> tuple[str, object]:
        try:
            pickle.dump(os.fspath(path), self.requests)
            self.requests.flush()
            # Written by this very code in the child: what scipy returned, nothing else.
            return pickle.load(self.replies)
        except (EOFError, BrokenPipeError, pickle.UnpicklingError):
            return self._died()

    def _died(self) -> tuple[str, object]:
        self.close()
        _, status = os.waitpid(self.pid, 0)
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                return "crash", signal.Signals(number).name
            except ValueError:
                return "crash", f"signal {number}"
        return "error", f"the reading process ended with status {os.WEXITSTATUS(status)}"

    def close(self) -> None:
        for fh in (self.requests, self.replies):
            try:
                fh.close()
            except OSError:
                pass


_READER: _Reader | None = None
_LOCK = threading.Lock()


def _parse_in_child(path: Path) -> tuple[str, object]:
    global _READER
    with _LOCK:
        if _READER is None or _READER.owner != os.getpid() or _READER.requests.closed:
            _READER = _Reader()
        reader = _READER
        kind, value = reader.parse(path)
        if kind == "crash" or reader.requests.closed:
            _READER = None  # the next request forks a fresh child
        return kind, value


@atexit.register
def _stop_reader() -> None:
    if _READER is not None and _READER.owner == os.getpid():
        _READER.close()  # the child sees the end of its requests and leaves
        try:
            os.waitpid(_READER.pid, 0)
        except ChildProcessError:
            pass


def read_mat(path: str | os.PathLike, error: type[GMIQAError] = GMIQAError) -> dict:
    """The variables of the MATLAB file ``path`` (names without ``__`` prefixes -> values).

    Any failure (a missing, empty, garbage, truncated or corrupt file, MATLAB v7.3/HDF5,
    a file on which scipy's parser crashes) raises ``error`` (a GMIQAError class) with
    one line naming the file. Taught in ``notebooks/07_finetuning.ipynb`` (the LIVE and
    LIVEC score files).
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such MATLAB file")
    kind, value = _parse_in_child(path) if hasattr(os, "fork") else _parse(path)
    if kind == "ok":
        return value
    if kind == "v7.3":
        raise error(f"{path}: a MATLAB v7.3 (HDF5) file; save it as v7 (save -v7) to read it")
    if kind == "crash":
        raise error(f"{path}: corrupt MATLAB file (scipy's reader died of {value} on it)")
    raise error(f"{path}: not a readable MATLAB file ({value})")
