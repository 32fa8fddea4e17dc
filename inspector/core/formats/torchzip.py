"""Safe readers of PyTorch checkpoints written by ``torch.save``: the zip format and the legacy pickle stream.

Neither reader imports torch or runs code from the file. The pickle is read by :class:`_RestrictedUnpickler`,
which knows only the standard tensor-rebuild globals and builds small placeholders for them; any other global
(``posix.system``, a pickled ``nn.Module`` class, ...) is refused by name before anything is called. Tensors
become :class:`~.base.TensorRef` s pointing at the raw bytes of their storage inside the file, so reads go
through the shared :func:`~.base.read_tensor` / :func:`~.base.iter_chunks`.

Zip layout: ``<prefix>/data.pkl`` (the object pickle), ``<prefix>/data/<key>`` (one uncompressed member per
storage, little-endian), ``<prefix>/byteorder``. Legacy layout: five pickles in a row (magic number, protocol
version, system info, the object, the storage keys), then for each key an 8-byte element count and the bytes.
"""

from __future__ import annotations

import io
import math
import re
import reprlib
import struct
import zipfile
from pathlib import Path
from typing import Any

from inspector.core.errors import MalformedFileError, UnsafeFileError, UnsupportedFormatError
from inspector.core.formats.base import ModelFile, TensorRef
from inspector.core.formats.torch_pickle import (
    _RECOPY,
    _RESAVE,
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    MAX_PICKLE_BYTES,
    _CappedReader,
    _Flattener,
    _span,
    _Storage,
    _unpickle,
)


def _build(
    obj: Any,
    path: Path,
    fmt: str,
    storages: dict[str, _Storage],
    offsets: dict[str, int],
    notes: dict[str, str],
    extra_bytes: int = 0,
) -> ModelFile:
    """Flatten the unpickled object and turn its tensors into refs at the storages' file ``offsets``.

    ``extra_bytes`` counts file bytes outside every storage the pickle uses (unreferenced zip members, legacy
    trailing bytes); with the storage bytes no tensor views it is reported, as it can carry data no scan sees.
    """
    flat = _Flattener(path)
    wrapper = flat.wrapper(obj)
    flat.walk(obj, [], strip=wrapper)
    refs: list[TensorRef] = []
    names: dict[str, int] = {}
    covered: dict[str, list[tuple[int, int]]] = {}
    for name, t in flat.tensors:
        base, n = name, 1
        while name in names:  # keep every tensor visible even when two paths flatten to the same name
            n += 1
            name = f"{base}#{n}"
        names[name] = 1
        itemsize = t.dtype.itemsize
        start = t.storage.byte_offset + t.offset
        numel = math.prod(t.shape)
        contiguous = numel == 0 or _row_major(t.shape, t.strides)
        span = numel * itemsize if contiguous else _span(t.shape, t.strides) * itemsize
        refs.append(
            TensorRef(
                name=name,
                dtype=t.dtype,
                shape=t.shape,
                path=path,
                offset=offsets[t.storage.key] + start,
                nbytes=span,
                strides=None if contiguous else t.strides,
            )
        )
        covered.setdefault(t.storage.key, []).append((start, start + span))
    metadata = {**flat.metadata, **notes}
    if flat.omitted:
        metadata["pytorch.metadata_omitted"] = str(flat.omitted)
    if wrapper is not None:
        metadata["pytorch.wrapper"] = wrapper
    hidden = extra_bytes + sum(st.root_nbytes - _union(covered.get(k, [])) for k, st in storages.items())
    if hidden:  # torch.save writes whole storages: bytes no tensor views are still in the file
        metadata["pytorch.unreferenced_storage_bytes"] = str(hidden)
    return ModelFile(path=path, format=fmt, tensors=tuple(refs), metadata=metadata, files=(path,))


def _row_major(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    expected = 1
    for d, s in zip(reversed(shape), reversed(strides), strict=True):
        if d != 1 and s != expected:
            return False
        expected *= d
    return True


def _union(ranges: list[tuple[int, int]]) -> int:
    total, end = 0, 0
    for a, b in sorted(ranges):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


# ---------------------------------------------------------------------------------------------- zip format
#: Members torch.save writes besides data.pkl and the storages.
_BOOKKEEPING = {
    "byteorder",
    "version",
    ".format_version",
    ".storage_alignment",
    ".data/version",
    ".data/serialization_id",
}
_LOCAL_HEADER = struct.Struct("<4s22xHH")


def _data_offset(f: Any, info: zipfile.ZipInfo, path: Path, size: int) -> int:
    """Absolute offset of a stored member's bytes, from its local header (the central one may differ)."""
    f.seek(info.header_offset)
    raw = f.read(_LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
        raise MalformedFileError(f"zip member {info.filename!r} has no local header", path=path, hint=_RECOPY)
    _, name_len, extra_len = _LOCAL_HEADER.unpack(raw)
    offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    if offset + info.file_size > size:
        raise MalformedFileError(
            f"zip member {info.filename!r} reaches past the end of the file (truncated?)", path=path, hint=_RECOPY
        )
    return offset


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    try:
        return zf.read(info)
    except Exception as e:  # CRC errors, bad compression, encryption, truncation
        raise MalformedFileError(f"cannot read {info.filename!r} ({e})", path=path, hint=_RECOPY) from None


def open_torch_zip(path: Path) -> ModelFile:
    """Open a zip checkpoint written by ``torch.save`` (``.pt``/``.pth``/``.bin``) without importing torch.

    Raises :class:`UnsafeFileError` if the pickle names any global beyond the tensor-rebuild ones,
    :class:`UnsupportedFormatError` for zips that are not checkpoints, :class:`MalformedFileError` otherwise.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        zf = zipfile.ZipFile(path)
    except Exception as e:  # BadZipFile, but hostile directories raise all sorts
        raise MalformedFileError(f"not a readable zip archive ({e})", path=path, hint=_RECOPY) from None
    with zf, open(path, "rb") as f:
        infos = zf.infolist()
        members = {i.filename: i for i in infos}
        if len(members) != len(infos):
            raise MalformedFileError("zip archive lists a member name twice", path=path, hint=_RECOPY)
        pkls = [n for n in members if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if not pkls:
            raise UnsupportedFormatError(
                "zip archive without a data.pkl: not a PyTorch checkpoint",
                path=path,
                hint="Open a file written by torch.save, or a .safetensors file",
            )
        if len(pkls) > 1:
            raise MalformedFileError(f"zip archive holds {len(pkls)} data.pkl files", path=path, hint=_RECOPY)
        prefix = pkls[0][: -len("data.pkl")]
        if any(n.startswith(prefix + "code/") for n in members):
            raise UnsafeFileError(
                "is a TorchScript program (torch.jit.save): it holds code, not only weights; only plain "
                "state_dict checkpoints are opened",
                path=path,
                hint=_RESAVE,
            )
        order = members.get(prefix + "byteorder")
        if order is not None:
            if order.file_size > 16 or _read_member(zf, order, path).strip() != b"little":
                raise UnsupportedFormatError(
                    "checkpoint was saved on a big-endian machine", path=path, hint="Re-save it on a little-endian one"
                )
        info = members[pkls[0]]
        if info.file_size > MAX_PICKLE_BYTES:
            raise MalformedFileError(
                f"data.pkl is {info.file_size:,} bytes, over the {MAX_PICKLE_BYTES:,}-byte limit", path=path
            )
        raw = _read_member(zf, info, path)
        storages: dict[str, _Storage] = {}
        obj = _unpickle(io.BytesIO(raw), path, "data.pkl", storages)
        offsets: dict[str, int] = {}
        for key, st in storages.items():
            member = members.get(f"{prefix}data/{key}")
            if member is None:
                raise MalformedFileError(f"storage {key!r} is missing from the archive", path=path, hint=_RECOPY)
            if member.compress_type != zipfile.ZIP_STORED or member.flag_bits & 1:
                raise MalformedFileError(
                    f"storage {key!r} is compressed or encrypted; tensors must be stored as raw bytes",
                    path=path,
                    hint="Re-save it with torch.save, or unzip and re-zip it without compression (zip -0)",
                )
            if member.file_size != st.root_nbytes:
                raise MalformedFileError(
                    f"storage {key!r} holds {member.file_size:,} bytes but the pickle declares {st.root_nbytes:,}",
                    path=path,
                    hint=_RECOPY,
                )
            offsets[key] = _data_offset(f, member, path, size)
        used = {pkls[0], *(f"{prefix}data/{k}" for k in storages)}
        extra = [i for n, i in members.items() if n not in used and not i.is_dir()]
        notes = {}
        unexpected = sorted(i.filename for i in extra if i.filename[len(prefix) :] not in _BOOKKEEPING)
        if unexpected:
            notes["pytorch.unexpected_members"] = reprlib.repr(unexpected)
        extra_bytes = sum(i.file_size for i in extra if i.filename.startswith(prefix + "data/"))
    return _build(obj, path, "pytorch-zip", storages, offsets, notes, extra_bytes)


# ---------------------------------------------------------------------------------------------- legacy format
def open_torch_legacy(path: Path) -> ModelFile:
    """Open a legacy (non-zip) checkpoint: ``torch.save(..., _use_new_zipfile_serialization=False)``."""
    path = Path(path)
    size = path.stat().st_size
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as f:
        reader = _CappedReader(f, path)
        magic = _unpickle(reader, path, "the first pickle")
        if type(magic) is not int or magic != LEGACY_MAGIC:
            raise UnsupportedFormatError(
                "a Python pickle that is not a PyTorch checkpoint", path=path, hint="Open a file written by torch.save"
            )
        version = _unpickle(reader, path, "the protocol version")
        if version != LEGACY_PROTOCOL:
            raise UnsupportedFormatError(f"legacy checkpoint of unknown protocol {version!r}", path=path)
        info = _unpickle(reader, path, "the system info")
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise UnsupportedFormatError(
                "checkpoint was saved on a big-endian machine", path=path, hint="Re-save it on a little-endian one"
            )
        obj = _unpickle(reader, path, "the object pickle", storages)
        keys = _unpickle(reader, path, "the storage list")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
            raise MalformedFileError("storage list is not a list of distinct names", path=path, hint=_RECOPY)
        if set(keys) != set(storages):
            raise MalformedFileError(
                f"storage list names {len(keys)} storages but the pickle uses {len(storages)}", path=path, hint=_RECOPY
            )
        pos = reader.tell()
        offsets: dict[str, int] = {}
        for key in keys:
            st = storages[key]
            f.seek(pos)
            head = f.read(8)
            if len(head) != 8:
                raise MalformedFileError(f"file ends before storage {key!r} (truncated?)", path=path, hint=_RECOPY)
            (count,) = struct.unpack("<q", head)
            if count * st.dtype.itemsize != st.root_nbytes:
                raise MalformedFileError(
                    f"storage {key!r} holds {count:,} elements but the pickle declares "
                    f"{st.root_nbytes // st.dtype.itemsize:,}",
                    path=path,
                    hint=_RECOPY,
                )
            offsets[key] = pos + 8
            pos += 8 + st.root_nbytes
            if pos > size:
                raise MalformedFileError(f"storage {key!r} is cut short (truncated file?)", path=path, hint=_RECOPY)
    return _build(obj, path, "pytorch-legacy", storages, offsets, {}, size - pos)
