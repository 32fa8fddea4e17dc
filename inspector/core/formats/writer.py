"""Atomic, streaming safetensors export.

:class:`SafetensorsWriter` writes the header first (offsets computed from the tensor list), then the tensor
data chunk by chunk, to a temporary file beside the target; :meth:`~SafetensorsWriter.finish` flushes it and
starts its fsync, and :meth:`~SafetensorsWriter.commit` waits for the fsync, then renames the file over the
target with ``os.replace``. The fsync runs on a thread, so a read-back between the two overlaps the disk. Whatever goes
wrong before the commit (an exception, a :class:`~inspector.core.progress.Cancelled`, a full disk), the
temporary file is removed and a file already at the target is left as it was. The target may never be one of
the input files (same path, symlink or hard link).

Writes go to a background thread, so computing the next chunk overlaps with the kernel copying the previous
one. A chunk handed to :meth:`~SafetensorsWriter.write` belongs to the writer from then on: do not modify it.

The header follows the reference implementation: little-endian u64 length, compact JSON with
``__metadata__`` first and the tensors in the order given, padded with spaces to a multiple of 8 bytes.
"""

from __future__ import annotations

import io
import json
import os
import queue
import secrets
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from inspector.core.dtypes import DType
from inspector.core.errors import ExportError
from inspector.core.formats.atomic import fsync_dir
from inspector.core.formats.safetensors import MAX_HEADER_BYTES
from inspector.core.progress import CancelToken, check

#: How many chunks may wait for the writer thread (bounds the memory held by queued chunks).
QUEUE_DEPTH = 4


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the file to write: name, element type and shape (its bytes come through ``write``)."""

    name: str
    dtype: DType
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n * self.dtype.itemsize


def build_header(
    entries: Sequence[TensorEntry], metadata: Mapping[str, str], slack: int = 0
) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """The complete header (length prefix, JSON, space padding) and each tensor's absolute byte range.

    ``slack`` extra bytes of space padding leave room to rewrite the metadata later in place
    (:meth:`SafetensorsWriter.rewrite_metadata`); the format allows whitespace after the JSON."""
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ExportError(f"metadata must map strings to strings (key {k!r})")
        header["__metadata__"] = dict(metadata)
    offset = 0
    spans: dict[str, tuple[int, int]] = {}
    for e in entries:
        if e.name == "__metadata__" or e.name in header:
            raise ExportError(f"tensor name {e.name!r} is reserved or appears twice")
        end = offset + e.nbytes
        header[e.name] = {"dtype": e.dtype.name, "shape": list(e.shape), "data_offsets": [offset, end]}
        spans[e.name] = (offset, end)
        offset = end
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    blob += b" " * max(0, slack)
    blob += b" " * ((8 - len(blob) % 8) % 8)
    if len(blob) > MAX_HEADER_BYTES:
        raise ExportError(
            f"header would be {len(blob):,} bytes, over the {MAX_HEADER_BYTES:,}-byte safetensors limit",
            hint="Shorten the metadata",
        )
    start = 8 + len(blob)
    return struct.pack("<Q", len(blob)) + blob, {k: (start + b, start + e) for k, (b, e) in spans.items()}


def input_named(target: Path, inputs: Iterable[str | Path]) -> Optional[Path]:
    """The first of ``inputs`` that ``target`` is, links to (symlink) or shares its file with (hard link)."""
    resolved = target.resolve()
    for p in inputs:
        p = Path(p)
        if resolved == p.resolve():
            return p
        if target.exists() and p.exists():
            try:
                if os.path.samefile(target, p):
                    return p
            except OSError:
                pass
    return None


def check_not_input(target: Path, inputs: Iterable[Path]) -> None:
    """Raise :class:`ExportError` if ``target`` is (or links to) one of ``inputs``."""
    p = input_named(target, inputs)
    if p is not None:
        raise ExportError(
            f"refusing to write over the input file {p}",
            path=target,
            hint="Choose a different --output; the original must stay as it is",
        )


class _Worker(threading.Thread):
    """Writes queued buffers to a file in order; remembers the first error and then drops the rest."""

    def __init__(self, f) -> None:
        super().__init__(name="safetensors-writer", daemon=True)
        self.f = f
        self.q: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.error: Optional[BaseException] = None
        self.dropping = False  # set by abort(): discard what is still queued

    def run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is not None or self.dropping:
                continue
            try:
                _write_all(self.f, item)
            except BaseException as e:  # noqa: BLE001 - handed to the producing thread
                self.error = e

    def put(self, item) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                if not self.is_alive():
                    raise ExportError("the writer thread stopped unexpectedly") from self.error

    def close(self) -> None:
        """Wait for every queued buffer; re-raise the first write error."""
        if self.is_alive():
            self.q.put(None)
            self.join()
        if self.error is not None:
            raise self.error


class SafetensorsWriter:
    """Write one safetensors file atomically, tensor data streamed in the order of ``entries``.

    Use as a context manager::

        with SafetensorsWriter(out, entries, metadata, protect=model.files, reserve={"k": 64}) as w:
            for chunk in chunks:
                w.write(chunk)
            w.set_metadata("k", value_of_64_chars)
            tmp = w.finish()   # complete and flushed (fsync under way); read it back here to verify
            w.commit()         # waits for the fsync, then os.replace onto the target

    Leaving the block without :meth:`commit` (or by an exception) removes the temporary file.
    ``reserve`` maps metadata keys to the exact length of a value only known at the end (a digest); set them
    with :meth:`set_metadata` before :meth:`finish`.
    """

    def __init__(
        self,
        target: str | Path,
        entries: Sequence[TensorEntry],
        metadata: Optional[Mapping[str, str]] = None,
        *,
        protect: Iterable[Path] = (),
        reserve: Optional[Mapping[str, int]] = None,
        header_slack: int = 0,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        self.target = Path(target)
        self.entries = list(entries)
        self.cancel = cancel
        check_not_input(self.target, protect)
        if self.target.is_dir():
            raise ExportError("output is a folder", path=self.target, hint="Give a file name ending in .safetensors")
        if self.target.exists() and not self.target.is_file():  # the final rename would replace the device node
            raise ExportError(
                "output is a device or pipe, not a file",
                path=self.target,
                hint="Give a file name ending in .safetensors",
            )
        parent = self.target.parent
        if not parent.is_dir():
            raise ExportError(f"folder {parent} does not exist", path=self.target, hint="Create it or choose another")
        meta = dict(metadata or {})
        self._placeholders: dict[str, str] = {}
        for key, width in (reserve or {}).items():
            token = secrets.token_hex(width // 2 + 1)[:width]
            self._placeholders[key] = token
            meta[key] = token
        self.header, self.spans = build_header(self.entries, meta, header_slack)
        self._metadata = meta
        self.data_bytes = sum(e.nbytes for e in self.entries)
        self._written = 0
        self._patches: dict[str, str] = {}
        self._tmp: Optional[Path] = None
        self._f: Optional[io.FileIO] = None
        self._worker: Optional[_Worker] = None
        self._sync: Optional[_Fsync] = None
        self._finished = False
        self._committed = False

    # -- context management --------------------------------------------------------------------------------
    def __enter__(self) -> SafetensorsWriter:
        self._open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            self.abort()

    def _open(self) -> None:
        name = f".{self.target.name}.{secrets.token_hex(4)}.tmp"
        tmp = self.target.with_name(name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as e:
            raise ExportError(
                f"cannot create a file in {self.target.parent} ({e.strerror})",
                path=self.target,
                hint="Check the folder's permissions or choose another --output",
            ) from None
        self._tmp = tmp
        self._f = os.fdopen(fd, "wb", buffering=0)
        self._worker = _Worker(self._f)
        self._worker.start()
        self._put(self.header)

    def _put(self, data) -> None:
        assert self._worker is not None, "use SafetensorsWriter as a context manager"
        try:
            self._worker.put(data)
        except OSError as e:
            raise self._os_error(e) from None

    def _os_error(self, e: OSError) -> ExportError:
        return ExportError(
            f"could not write the export ({e.strerror or e})",
            path=self.target,
            hint="Free disk space or choose another --output",
        )

    # -- writing ------------------------------------------------------------------------------------------
    @property
    def temp_path(self) -> Optional[Path]:
        return self._tmp

    def write(self, data: np.ndarray | bytes | memoryview) -> None:
        """Append the next bytes of tensor data (tensors in ``entries`` order, each exactly its size)."""
        check(self.cancel)
        if self._finished:
            raise ExportError("write after finish()")
        if isinstance(data, np.ndarray):
            data = memoryview(np.ascontiguousarray(data)).cast("B")  # type: ignore[arg-type]
        n = len(data) if isinstance(data, bytes) else memoryview(data).nbytes
        if self._written + n > self.data_bytes:
            raise ExportError(
                f"more tensor data than the header declares ({self._written + n:,} > {self.data_bytes:,} bytes)"
            )
        if n:
            self._put(data)
        self._written += n

    def set_metadata(self, key: str, value: str) -> None:
        """Fill a metadata value reserved with ``reserve``; it must be exactly the reserved length."""
        token = self._placeholders.get(key)
        if token is None:
            raise ExportError(f"metadata key {key!r} was not reserved")
        if len(value) != len(token) or json.dumps(value) != f'"{value}"' or not value.isascii():
            raise ExportError(f"metadata value for {key!r} must be {len(token)} plain ASCII characters")
        self._patches[key] = value

    def finish(self) -> Path:
        """Wait for every write, fill reserved metadata, flush, and start the fsync (:meth:`commit` waits for
        it); returns the temporary file's path, whose contents are final."""
        check(self.cancel)
        if self._written != self.data_bytes:
            raise ExportError(f"tensor data is {self._written:,} bytes, the header declares {self.data_bytes:,}")
        missing = set(self._placeholders) - set(self._patches)
        if missing:
            raise ExportError(f"reserved metadata never set: {', '.join(sorted(missing))}")
        assert self._worker is not None and self._f is not None and self._tmp is not None
        try:
            self._worker.close()
            for key, value in self._patches.items():
                token = self._placeholders[key].encode()
                pos = self.header.find(token)
                assert pos > 0 and self.header.count(token) == 1
                self._f.seek(pos)
                _write_all(self._f, value.encode())
            self._f.flush()
        except OSError as e:
            raise self._os_error(e) from None
        self._sync = _Fsync(self._f)
        self._finished = True
        return self._tmp

    def rewrite_metadata(self, metadata: Mapping[str, str]) -> None:
        """After :meth:`finish` and before :meth:`commit`: replace the whole ``__metadata__`` in place. The new
        header must fit the old one's length (reserve room with ``header_slack``); tensor offsets do not move.
        For values only known once the finished file was examined (a verdict on the written tensors)."""
        if not self._finished or self._committed:
            raise ExportError("rewrite_metadata() belongs between finish() and commit()")
        assert self._tmp is not None and self._sync is not None
        meta = dict(metadata)
        header, _ = build_header(self.entries, meta)
        old_len = len(self.header) - 8
        blob = header[8:].rstrip(b" ")
        if len(blob) > old_len:
            raise ExportError(
                f"the new metadata needs {len(blob) - old_len:,} bytes more than the header has room for",
                hint="Reserve more with header_slack",
            )
        blob += b" " * (old_len - len(blob))
        try:
            self._sync.wait()  # the first fsync closed the file: reopen, patch, and sync again
            with open(self._tmp, "r+b", buffering=0) as f:
                f.seek(8)
                _write_all(f, blob)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise self._os_error(e) from None
        self.header = self.header[:8] + blob
        self._metadata = meta

    def commit(self) -> Path:
        """Rename the finished temporary file onto the target (atomically) and return the target."""
        if not self._finished:
            self.finish()
        check(self.cancel)
        assert self._tmp is not None and self._sync is not None
        try:
            self._sync.wait()
        except OSError as e:
            raise self._os_error(e) from None
        self._sync = None
        check(self.cancel)
        try:
            os.replace(self._tmp, self.target)
        except OSError as e:
            raise ExportError(
                f"could not move the export into place ({e.strerror})", path=self.target, hint="Check permissions"
            ) from None
        self._committed = True
        self._tmp = None
        fsync_dir(self.target.parent)
        return self.target

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the target is left untouched. Safe to call twice."""
        if self._worker is not None:
            self._worker.dropping = True
            try:
                self._worker.close()
            except BaseException:  # noqa: BLE001 - the first error is already propagating
                pass
            self._worker = None
        if self._sync is not None:
            try:
                self._sync.wait()
            except OSError:
                pass
            self._sync = None
        if self._f is not None and not self._f.closed:
            try:
                self._f.close()
            except OSError:
                pass
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
            self._tmp = None


def _write_all(f, data) -> None:
    """``f.write`` on an unbuffered file may write less than asked; loop until everything is out."""
    view = memoryview(data).cast("B")
    while view.nbytes:
        n = f.write(view)
        if n is None or n <= 0:
            raise OSError(28, "write made no progress (disk full?)")
        view = view[n:]


class _Fsync:
    """``os.fsync`` then close of a finished file, on a thread; :meth:`wait` joins and re-raises."""

    def __init__(self, f: io.FileIO) -> None:
        self.error: Optional[OSError] = None

        def run() -> None:
            try:
                os.fsync(f.fileno())
                f.close()
            except OSError as e:
                self.error = e

        self._thread = threading.Thread(target=run, name="safetensors-fsync", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error


def write_safetensors(
    target: str | Path,
    arrays: Mapping[str, tuple[DType, np.ndarray]],
    metadata: Optional[Mapping[str, str]] = None,
    *,
    protect: Iterable[Path] = (),
) -> Path:
    """Write in-memory arrays (raw storage, any shape) as one safetensors file, atomically. For small files
    and tests; :class:`SafetensorsWriter` streams."""
    entries = [TensorEntry(n, dt, tuple(a.shape)) for n, (dt, a) in arrays.items()]
    with SafetensorsWriter(target, entries, metadata, protect=protect) as w:
        for _, a in arrays.values():
            w.write(np.ascontiguousarray(a).reshape(-1))
        return w.commit()
