"""One way to write an output file: a fresh temp file beside the target, then an atomic rename.

The temp file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name, so a symbolic link (or any
file) planted at a predictable temp name is never followed or overwritten; its bytes are flushed to disk before
the rename, so the target is either the old file or the complete new one. The target itself must not be one of
the inputs, nor a folder, device or pipe (a rename would replace those).
"""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Union

from inspector.core.errors import InspectorError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _same_file(a: Path, b: Union[str, Path]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_target(target: Union[str, Path], inputs: Iterable[Union[str, Path]] = (), *, what: str = "output") -> Path:
    """Refuse a target that is a folder, device or pipe, in a missing folder, or one of ``inputs``."""
    target = Path(target)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InspectorError(f"cannot check the {what} ({e.strerror or e})", path=target) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InspectorError(
            f"the {what} is not a regular file (a folder, device or pipe)", path=target, hint="Give a file name"
        )
    if not target.parent.is_dir():
        raise InspectorError(f"the folder of the {what} does not exist", path=target, hint="Create it first")
    for p in inputs:
        if p and (_same_file(target, p) or target.resolve() == Path(p).resolve()):
            raise InspectorError(
                f"refusing to write the {what} over the input {p}", path=target, hint="Choose a different path"
            )
    return target


@contextmanager
def atomic_file(
    target: Union[str, Path],
    *,
    inputs: Iterable[Union[str, Path]] = (),
    what: str = "output",
    mode: int = 0o644,
) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``target`` only when the block ends without an exception.

    For outputs written piece by piece (a rewritten results file): the same temp-file rules as
    :func:`write_atomic`; on any exception the temp file is removed and ``target`` is left as it was."""
    target = check_target(target, inputs, what=what)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, _FLAGS, mode)
    except OSError as e:
        raise InspectorError(f"could not write the {what} ({e.strerror or e})", path=target) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        _discard(tmp)
        raise InspectorError(f"could not write the {what} ({e.strerror or e})", path=target) from None
    except BaseException:
        _discard(tmp)
        raise
    fsync_dir(target.parent)


def write_atomic(
    target: Union[str, Path],
    data: Union[bytes, str],
    *,
    inputs: Iterable[Union[str, Path]] = (),
    what: str = "output",
    mode: int = 0o644,
) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``target`` atomically; raise :class:`InspectorError` on failure."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_file(target, inputs=inputs, what=what, mode=mode) as f:
        f.write(payload)
    return Path(target)


def _discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows it (no-op on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
