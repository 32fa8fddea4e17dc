"""Lazy tensor references and the reads behind them, shared by every file format.

Whatever the format, a tensor's data is a run of little-endian bytes at a known offset of a known file, so one
:class:`TensorRef` describes it and one set of functions reads it: whole (:func:`read_tensor`) or in bounded
chunks (:func:`iter_chunks`). Listing tensors never touches their bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import numpy as np

from inspector.core.dtypes import DType
from inspector.core.errors import InspectorError, MalformedFileError, TensorNotFoundError
from inspector.core.progress import CancelToken, ProgressCallback, check, report

#: Default chunk size of streamed reads: the temporaries of a chunk's statistics stay in L2 cache (measured
#: fastest at 128-256 K elements), yet numpy's per-call overhead stays small.
CHUNK_BYTES = 512 << 10

#: Most dimensions a tensor may have (numpy's own limit).
MAX_NDIM = 64
#: Largest element count a shape may describe, zero-length dimensions counted as 1 (a 4 TB fp32 tensor): beyond
#: any real model, and within what numpy can index.
MAX_NUMEL = 1 << 40


#: Most tensors one model may list: beyond any real model, and a scan of each stays bounded in time.
MAX_TENSORS = 1_000_000


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes of a name) written as ``\\udcXX``: always encodable."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def file_identity(f: Any) -> tuple[int, int, int, int]:
    """What identifies the open file ``f``: device, inode, size and modification time."""
    st = os.fstat(f.fileno())
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def open_regular(
    path: Path, *, what: str = "file", expect: Optional[tuple[int, int, int, int]] = None
) -> io.BufferedReader:
    """Open ``path`` for reading without blocking and refuse anything but a regular file, by its descriptor.

    Checking the path first and opening it later lets a FIFO swapped in between block the read forever;
    ``O_NONBLOCK`` makes the open itself return at once, and ``fstat`` checks what was really opened.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InspectorError(
                f"{what} is not a regular file (a device, pipe or socket)",
                path=path,
                hint="Save the model to a file and open that",
            )
        if expect is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != tuple(expect):
                raise InspectorError(
                    f"{what} changed or was replaced since it was opened", path=path, hint="Open it again"
                )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def shape_problem(shape: tuple[int, ...] | list[int]) -> Optional[str]:
    """Why ``shape`` (a sequence of non-negative ints) cannot be a real tensor's shape, or ``None`` if it can.

    Zero-length dimensions do not excuse the others: numpy refuses ``(0, 2**62)`` as it refuses ``(2**62,)``.
    """
    if len(shape) > MAX_NDIM:
        return f"shape has {len(shape):,} dimensions (at most {MAX_NDIM})"
    extent = math.prod(max(int(d), 1) for d in shape)
    if extent > MAX_NUMEL:
        return f"shape {tuple(shape)} describes {extent:,} elements, beyond any real model"
    return None


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives: element type, shape and byte range in a file.

    ``offset`` is the absolute file offset of the first element. ``strides`` (in elements) is ``None`` for the
    usual contiguous row-major layout; PyTorch checkpoints may hold strided views, whose bytes span
    ``nbytes`` from ``offset`` (the covering range of the view).
    """

    name: str
    dtype: DType
    shape: tuple[int, ...]
    path: Path
    offset: int
    nbytes: int
    strides: Optional[tuple[int, ...]] = None
    #: what the tensor is in its checkpoint (see roles.py): "weight", or training state ("optimizer", "ema"...)
    role: str = "weight"
    #: the file as it was opened (device, inode, size, mtime): a read of a file swapped or changed since is refused
    file_id: Optional[tuple[int, int, int, int]] = None
    #: how the bytes encode the values when they are not plain elements: a GGUF block quantization ("Q8_0",
    #: "Q4_0", "Q4_1"). ``dtype`` is then F32, the type the values are decoded to (``read_tensor``, ``read_range``
    #: and ``iter_chunks`` dequantise, block by block), and ``offset``/``nbytes`` span the blocks
    encoding: Optional[str] = None
    #: the elements themselves (storage type, row-major), decoded when the file was opened, for a tensor whose
    #: bytes are no plain elements and that is small enough to hold (an ONNX tensor stored as varints,
    #: ``int64_data``); ``offset``/``nbytes`` then span its encoded bytes in the file
    inline: Optional[bytes] = field(default=None, repr=False, compare=False)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def contiguous(self) -> bool:
        """Whether the values are the plain elements of ``offset``..``offset + nbytes`` in row-major order."""
        return self.strides is None and self.encoding is None and self.inline is None


@dataclass(frozen=True)
class Threat:
    """A pickle's attempt to run code on load, recorded instead of made.

    ``module``/``name``: the global; ``call``: how it is used (``call`` for REDUCE, ``new-object``,
    ``instantiate``, ``build`` for setting attributes on it, ``reference`` when only imported); ``offset``: the
    opcode's byte offset within the pickle named by ``where``; ``listing``: the opcodes up to it, decoded safely.
    """

    module: str
    name: str
    call: str
    offset: int
    where: str
    listing: tuple[str, ...] = ()

    @property
    def global_name(self) -> str:
        return clean_text(f"{self.module}.{self.name}")

    def to_json(self) -> dict[str, object]:
        return {
            "global": self.global_name[:500],
            "call": self.call,
            "offset": self.offset,
            "where": clean_text(self.where),
            "listing": [clean_text(line)[:200] for line in self.listing],
        }


#: How the regions and calls of a training-state file beside the model (``optimizer.pt``, ``rng_state.pth``) are
#: named: ``"training-state file 'NAME' beside the model: ..."``.
TRAINING_STATE = "training-state file "
BESIDE = " beside the model"


def training_label(name: str) -> str:
    """How a training-state file beside the model is named in regions and calls (see :data:`TRAINING_STATE`)."""
    return f"{TRAINING_STATE}{clean_text(name)[:200]!r}{BESIDE}"


def training_file_of(where: str) -> str:
    """The :func:`training_label` a region's or a call's ``where`` starts with (the name may hold any character, a
    colon among them)."""
    head, sep, _ = where.partition(BESIDE)
    return (head + sep)[:300]


#: The role of a training-state file the reader refused: judged whole as bytes, and what its pickle would run on
#: load is unknown (the code-on-load family cannot rule it out).
TRAINING_UNREAD = "training-unread"


@dataclass(frozen=True)
class Hidden:
    """Bytes in a model's files that no tensor shows, yet a loader keeps or a reader could decode.

    ``torch.save`` writes whole storages, so the bytes of a storage outside every tensor view ride along; an
    archive may hold members nothing references; a pickle may hold byte strings and long lists; a safetensors
    header may hold whitespace a writer would not emit; a model folder may hold files beside the model. None of
    them is scrubbed by low-bit scrubbing or seen by a float test, so each is listed and read.

    ``offset``/``nbytes`` place the bytes in ``path`` when they lie there contiguously (``offset >= 0``);
    otherwise ``data`` holds them (already in memory from decoding, at most :data:`HIDDEN_SAMPLE` bytes of
    ``nbytes``), or neither does and only their count is known (the gaps of a strided view).
    """

    kind: str  # "storage", "member", "pickle", "header", "file"
    where: str
    nbytes: int
    path: Path
    offset: int = -1
    data: Optional[bytes] = None
    file_id: Optional[tuple[int, int, int, int]] = None
    #: ``(offset, length)`` pieces when the bytes are scattered over ``path`` (padding between tensors)
    spans: tuple[tuple[int, int], ...] = ()
    #: for a file beside the model: ``"weights"`` (another copy of the model, judged on its own), ``"companion"``
    #: (configuration, tokenizer), ``"card"`` (a model card), ``"training"`` (the tensors of a training-state
    #: checkpoint, counted, not read: its other contents are regions of their own), ``"training-unread"`` (a
    #: training-state file the reader refused, judged whole) or ``""`` (anything else)
    role: str = ""

    @property
    def readable(self) -> bool:
        return self.offset >= 0 or self.data is not None or bool(self.spans)


#: In-memory hidden bytes kept for statistics (a pickled byte string is decoded anyway; this bounds the copy).
HIDDEN_SAMPLE = 4 << 20


def index_extras(index: Any, path: Path) -> tuple[Hidden, ...]:
    """What a sharded model's ``*.index.json`` holds besides its weight map: keys no loader reads, and metadata
    values longer than the 1,000 characters the metadata keeps, as hidden bytes (their JSON text)."""
    if not isinstance(index, dict):
        return ()
    import json

    out: list[Hidden] = []
    items = [
        (f"index key {clean_text(str(k))[:200]!r}", v) for k, v in index.items() if k not in ("weight_map", "metadata")
    ]
    meta = index.get("metadata")
    if isinstance(meta, dict):
        items += [(f"index metadata value {clean_text(str(k))[:200]!r}", v) for k, v in meta.items()]
    for where, value in items[:1000]:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > 1000 or where.startswith("index key"):
            data = text.encode("utf-8", "surrogatepass")
            out.append(Hidden("field", where, len(data), path, -1, data[:HIDDEN_SAMPLE]))
    return tuple(out)


@dataclass(frozen=True)
class ModelFile:
    """An opened model: its format, metadata and tensors in storage order. Holds no data and no open files."""

    path: Path
    #: "safetensors", "safetensors-sharded" (or another format's "-sharded"), "pytorch-zip", "pytorch-legacy",
    #: "torchscript", "torch-package", "pickle", "npz", "gguf", "onnx"
    format: str
    tensors: tuple[TensorRef, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    #: Code the file would run on load (recorded, never run); the tensors are only those read without it.
    threats: tuple[Threat, ...] = ()
    #: Bytes no tensor shows (see :class:`Hidden`), in file order where they have one.
    hidden: tuple[Hidden, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.tensors})

    def __getitem__(self, name: str) -> TensorRef:
        try:
            return self._by_name[name]  # type: ignore[attr-defined, no-any-return]
        except (KeyError, TypeError):  # a name that is not a string (an index) names no tensor either
            raise TensorNotFoundError(
                f"no tensor named {clean_text(str(name))[:200]!r}",
                path=self.path,
                hint="List the tensors with `model-inspector scan`",
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.tensors)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tensors]

    @property
    def parameters(self) -> int:
        """Elements of the model's weights: optimizer moments, EMA copies and counters are not parameters."""
        weights = [t for t in self.tensors if t.role == "weight"]
        return sum(t.numel for t in (weights or self.tensors))

    @property
    def nbytes(self) -> int:
        """Bytes of tensor data (not counting headers)."""
        return sum(t.numel * t.dtype.itemsize for t in self.tensors)

    @property
    def file_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


_ZIP_LOCAL_HEADER = struct.Struct("<4s22xHH")
_RECOPY_ZIP = "The file is damaged or truncated; copy it again from its source"


#: Extra-field header ids that zip writers fill with their own metadata, and the most bytes each holds: zip64 sizes,
#: NTFS times, extended timestamps, Unix owners (three forms), PKWARE Unix, WinZip AES, a JAR's marker. Kept as they
#: are, once each in a block; so is PyTorch's alignment padding ("FB", 0x4246) while it is one repeated byte ('Z'),
#: Android's zipalign padding (0xD935: an alignment, then zeros), and Info-ZIP's Unicode path and comment (0x7075,
#: 0x6375: version 1, the CRC-32 of the header's name, then that name in UTF-8).
_ZIP_EXTRA_KNOWN = {
    0x0001: 32,
    0x000A: 36,
    0x5455: 13,
    0x7875: 11,
    0x5855: 12,
    0x7855: 4,
    0x000D: 16,
    0x9901: 7,
    0xCAFE: 0,
}
_ZIP_PADDING = 0x4246
#: Bytes of writers' own fields a member may carry on average (central and local: zip64 sizes, times and owners
#: take about 100); beyond it, in all, they are judged with the rest.
ZIP_WRITER_BYTES = 128
_ZIP_ALIGN = 0xD935
_ZIP_UNICODE = (0x7075, 0x6375)


def _writer_field(hid: int, data: bytes, name: bytes) -> bool:
    """Whether one extra field is a zip writer's own (see :data:`_ZIP_EXTRA_KNOWN`)."""
    if hid == _ZIP_PADDING:
        return len(set(data)) <= 1
    if hid == _ZIP_ALIGN:
        return not any(data[2:])
    if hid in _ZIP_UNICODE:
        if len(data) < 5 or data[0] != 1 or int.from_bytes(data[1:5], "little") != zlib.crc32(name):
            return False
        try:
            data[5:].decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return hid in _ZIP_EXTRA_KNOWN and len(data) <= _ZIP_EXTRA_KNOWN[hid]


def _odd_extra(extra: bytes, name: bytes = b"") -> bytes:
    """The bytes of a zip extra field that no writer's metadata explains: fields of other ids, a known id past its
    size or repeated in the block, padding of more than one byte value, a Unicode name that is not the header's
    (``name``: its raw name), and a tail that is no field."""
    out = bytearray()
    seen: set[int] = set()
    i = 0
    while i + 4 <= len(extra):
        hid, n = struct.unpack_from("<HH", extra, i)
        data = extra[i + 4 : i + 4 + n]
        if len(data) < n:
            break
        if hid in seen or not _writer_field(hid, data, name):
            out += data
        seen.add(hid)
        i += 4 + n
    out += extra[i:]
    return bytes(out)


def zip_sidecars(zf: zipfile.ZipFile, f: Any, path: Path) -> list[Hidden]:
    """The bytes a zip archive carries beside its members, which every zip tool keeps and no model loader reads: the
    archive's comment (from 256 bytes), and its members' comments and extra fields (central and local: each local
    header once) that no writer's metadata explains, joined."""
    out = []
    comment = zf.comment
    if len(comment) >= 256:
        out.append(Hidden("member", "the archive's comment", len(comment), path, -1, comment[:HIDDEN_SAMPLE]))
    try:
        file_size = os.fstat(f.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        file_size = 0
    odd = bytearray()
    size = known = members = 0
    headers: set[int] = set()
    for info in zf.infolist():
        raw_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace")
        parts = [info.comment, _odd_extra(info.extra, raw_name)]
        extras = [info.extra]
        at = info.header_offset
        if at not in headers and 0 <= at <= file_size - _ZIP_LOCAL_HEADER.size:
            headers.add(at)
            f.seek(at)
            raw = f.read(_ZIP_LOCAL_HEADER.size)
            if len(raw) == _ZIP_LOCAL_HEADER.size and raw[:4] == b"PK\x03\x04":
                _, name_len, extra_len = _ZIP_LOCAL_HEADER.unpack(raw)
                f.seek(at + _ZIP_LOCAL_HEADER.size + name_len)
                local = f.read(extra_len)
                if local != info.extra:
                    parts.append(_odd_extra(local, raw_name))
                    extras.append(local)
        # writers' own fields take some bytes a member; past that allowance, in all, they are judged too
        known += sum(len(e) for e in extras) - sum(len(x) for x in parts[1:])
        members += 1
        if known > ZIP_WRITER_BYTES * members:
            parts += extras
            known = ZIP_WRITER_BYTES * members
        for part in parts:
            size += len(part)
            if len(odd) < HIDDEN_SAMPLE:
                odd += part[: HIDDEN_SAMPLE - len(odd)]
    if size:
        what = "the archive members' comments and extra fields (beyond a zip writer's own metadata)"
        out.append(Hidden("member", what, size, path, -1, bytes(odd)))
    return out


def zip_member_offset(f: Any, info: zipfile.ZipInfo, path: Path, size: int) -> int:
    """Absolute offset of a zip member's (stored or compressed) bytes, from its local header (the central one may
    differ); :class:`MalformedFileError` where there is none or the member reaches past the file's ``size``."""
    f.seek(info.header_offset)
    raw = f.read(_ZIP_LOCAL_HEADER.size)
    if len(raw) != _ZIP_LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
        raise MalformedFileError(
            f"zip member {clean_text(info.filename)[:200]!r} has no local header", path=path, hint=_RECOPY_ZIP
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise MalformedFileError(
            f"zip member {clean_text(info.filename)[:200]!r} is stored, yet its sizes differ "
            f"({info.compress_size:,} and {info.file_size:,} bytes)",
            path=path,
            hint=_RECOPY_ZIP,
        )
    _, name_len, extra_len = _ZIP_LOCAL_HEADER.unpack(raw)
    offset = info.header_offset + _ZIP_LOCAL_HEADER.size + name_len + extra_len
    if offset + info.compress_size > size:
        raise MalformedFileError(
            f"zip member {clean_text(info.filename)[:200]!r} reaches past the end of the file (truncated?)",
            path=path,
            hint=_RECOPY_ZIP,
        )
    return offset


def _readinto(f, buf: np.ndarray, offset: int, ref: TensorRef) -> None:
    if offset < 0:
        raise MalformedFileError(
            f"tensor {clean_text(ref.name)[:200]!r} starts before the file (offset {offset})", path=ref.path
        )
    f.seek(offset)
    view = memoryview(buf).cast("B")  # type: ignore[arg-type]  # ndarray implements the buffer protocol
    got = f.readinto(view)
    if got != view.nbytes:
        raise MalformedFileError(
            f"tensor {clean_text(ref.name)[:200]!r} is cut short ({got} of {view.nbytes} bytes at offset {offset})",
            path=ref.path,
            hint="The file is truncated; copy it again from its source",
        )


def read_tensor(ref: TensorRef) -> np.ndarray:
    """The whole tensor in its storage type (bf16/fp8 as unsigned integers), shaped; a fresh writable array."""
    if ref.encoding is not None:  # block-quantized: the dequantised values, as float32
        return _decoded(ref, 0, ref.numel).reshape(ref.shape)
    st = ref.dtype.storage
    if ref.inline is not None:
        return np.frombuffer(ref.inline, dtype=st, count=ref.numel).reshape(ref.shape).copy()
    if ref.contiguous:
        out = np.empty(ref.numel, dtype=st)
        if out.nbytes:
            with open_regular(ref.path, expect=ref.file_id) as f:
                _readinto(f, out, ref.offset, ref)
        return out.reshape(ref.shape)
    strides_el = ref.strides or ()
    if (
        len(strides_el) != len(ref.shape)
        or any(type(s) is not int or s < 0 for s in strides_el)
        or ref.offset < 0
        or (ref.numel and 1 + sum((d - 1) * s for d, s in zip(ref.shape, strides_el)) > ref.nbytes // st.itemsize)
    ):  # validated again where it is used: as_strided would read outside the buffer
        raise MalformedFileError(
            f"tensor {clean_text(ref.name)[:200]!r}: strides {strides_el[:8]} reach outside its {ref.nbytes:,} bytes",
            path=ref.path,
            hint="The file is damaged; copy it again from its source",
        )
    span = np.empty(ref.nbytes // st.itemsize, dtype=st)
    with open_regular(ref.path, expect=ref.file_id) as f:
        _readinto(f, span, ref.offset, ref)
    strides = tuple(s * st.itemsize for s in ref.strides or ())
    view = np.lib.stride_tricks.as_strided(span, shape=ref.shape, strides=strides)
    return np.ascontiguousarray(view)


def _decoded(ref: TensorRef, start: int, stop: int) -> np.ndarray:
    from inspector.core.formats.gguf import decode_blocks

    parts = list(decode_blocks(ref, start, stop, max(1, stop - start)))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float32)


def read_range(ref: TensorRef, start: int, stop: int) -> np.ndarray:
    """Flat elements ``start:stop`` (storage order) of a tensor, reading only their bytes when it is contiguous."""
    n = ref.numel
    start, stop = max(0, min(start, n)), max(0, min(stop, n))
    st = ref.dtype.storage
    if stop <= start:
        return np.empty(0, dtype=st)
    if ref.encoding is not None:  # decode only the blocks that hold the range
        return _decoded(ref, start, stop)
    if ref.inline is not None:
        return np.frombuffer(ref.inline, dtype=st, count=stop - start, offset=start * st.itemsize).copy()
    if not ref.contiguous:
        return read_tensor(ref).reshape(-1)[start:stop]
    out = np.empty(stop - start, dtype=st)
    with open_regular(ref.path, expect=ref.file_id) as f:
        _readinto(f, out, ref.offset + start * st.itemsize, ref)
    return out


def iter_chunks(
    ref: TensorRef,
    chunk_bytes: int = CHUNK_BYTES,
    *,
    reuse: bool = False,
    cancel: Optional[CancelToken] = None,
) -> Iterator[np.ndarray]:
    """Flat chunks of a tensor in storage order, each at most ``chunk_bytes``, in its storage type.

    With ``reuse=True`` one buffer is refilled for every chunk: a chunk is valid only until the next one is
    asked for (the scan's hot path). Checks ``cancel`` before each read.
    """
    st = ref.dtype.storage
    n = ref.numel
    if n == 0:
        return
    if ref.encoding is not None:  # block-quantized: dequantised to float32, a bounded run of blocks at a time
        from inspector.core.formats.gguf import decode_blocks

        yield from decode_blocks(ref, 0, n, max(1, chunk_bytes // st.itemsize), cancel=cancel)
        return
    if not ref.contiguous:
        check(cancel)
        flat = read_tensor(ref).reshape(-1)
        step = max(1, chunk_bytes // st.itemsize)
        for start in range(0, n, step):
            check(cancel)
            yield flat[start : start + step]
        return
    step = max(1, chunk_bytes // st.itemsize)
    buf = np.empty(min(step, n), dtype=st) if reuse else None
    with open_regular(ref.path, expect=ref.file_id) as f:
        for start in range(0, n, step):
            check(cancel)
            count = min(step, n - start)
            out = buf[:count] if buf is not None else np.empty(count, dtype=st)
            _readinto(f, out, ref.offset + start * st.itemsize, ref)
            yield out


def sha256_files(
    paths: tuple[Path, ...] | list[Path],
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> str:
    """SHA-256 over the concatenated bytes of ``paths`` (one file: that file's usual digest)."""
    h = hashlib.sha256()
    total = sum(p.stat().st_size for p in paths)
    done = 0
    buf = bytearray(8 << 20)
    view = memoryview(buf)
    for p in paths:
        with open_regular(p) as f:
            while True:
                check(cancel)
                n = f.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
                done += n
                report(progress, done, total, f"hashing {p.name}")
    return h.hexdigest()
