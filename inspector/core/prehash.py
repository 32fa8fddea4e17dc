"""A model file's SHA-256, started as soon as a front end knows the file, before anything else is loaded.

The command line knows the model's path before it imports numpy, the readers, the judge and the kernels (≈ 0.2 s
of one core; ≈ 0.35 s more where numba's JIT loads them). Hashing needs none of them, and ``hashlib`` releases the GIL:
started here, the digest is computed on the idle core while the rest starts. :func:`start` hashes the files on a
background thread; the measurement :func:`claim`\\ s it when the model it opened consists of exactly those files,
unchanged (same device, inode, size and modification time), and hashes them itself otherwise. Whatever no
measurement claims is stopped by :func:`cancel_unclaimed`.

Only the standard library is imported here, so that starting costs nothing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Optional, Sequence

#: Read size of the hashing loop (as the measurement's own hashing).
BUFFER = 8 << 20

Identity = tuple[int, int, int, int]


class Stopped(Exception):
    """The early hash was cancelled, or a file changed under it: the measurement hashes the files itself."""


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _identities(paths: Sequence[str | Path]) -> Optional[tuple[Identity, ...]]:
    """Each path's identity, or ``None`` if one is missing or is not a regular file."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        out.append(_identity(st))
    return tuple(out)


class EarlyHash:
    """One background SHA-256 over the concatenated bytes of some files."""

    def __init__(self, paths: tuple[str, ...], ids: tuple[Identity, ...]) -> None:
        self.paths = paths
        self.ids = ids
        self.future: Future[str] = Future()
        self._stop = threading.Event()

    def cancel(self) -> None:
        """Stop hashing at the next read; :meth:`result` then raises :class:`Stopped`."""
        self._stop.set()

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> str:
        return self.future.result()

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            self.future.set_result(self._hash())
        except BaseException as e:  # noqa: BLE001  # the claimer sees it and hashes again
            self.future.set_exception(e if isinstance(e, Stopped) else Stopped(str(e)))

    def _hash(self) -> str:
        h = hashlib.sha256()
        buf = bytearray(BUFFER)
        view = memoryview(buf)
        for path, want in zip(self.paths, self.ids):
            # a FIFO swapped in for the file must not block the open: O_NONBLOCK, then check what was opened
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
            with os.fdopen(fd, "rb", buffering=0) as f:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or _identity(st) != want:
                    raise Stopped(f"{path} changed")
                os.set_blocking(fd, True)
                while True:
                    if self._stop.is_set():
                        raise Stopped("cancelled")
                    n = f.readinto(buf)
                    if not n:
                        break
                    h.update(view[:n])
        return h.hexdigest()


_lock = threading.Lock()
_started: list[EarlyHash] = []


def start(paths: Sequence[str | Path]) -> Optional[EarlyHash]:
    """Start hashing ``paths`` (regular files, concatenated in this order) on a daemon thread; ``None`` (nothing
    started) when one is missing or not a regular file."""
    ids = _identities(paths)
    if ids is None or not ids:
        return None
    job = EarlyHash(tuple(str(p) for p in paths), ids)
    with _lock:
        _started.append(job)
    threading.Thread(target=job.run, name="sha256-early", daemon=True).start()
    return job


def claim(paths: Sequence[str | Path]) -> Optional[EarlyHash]:
    """The early hash of exactly ``paths`` (the same files, in the same order, unchanged since it started), taken
    out of the registry; ``None`` when there is none."""
    if not _started:
        return None
    ids = _identities(paths)
    if ids is None:
        return None
    with _lock:
        for job in _started:
            if job.ids == ids:
                _started.remove(job)
                return job
    return None


def cancel_unclaimed() -> None:
    """Stop every early hash no measurement claimed (the command did something else with its file)."""
    with _lock:
        jobs = list(_started)
        _started.clear()
    for job in jobs:
        job.cancel()
