"""A bounded ``.npz`` reader: each ``.npy`` member's header is checked against its size before any data is read;
an ``.npz`` of weights opens as a model (:func:`open_npz_model`).

``np.load`` of an npz trusts each member: a 1 MB deflated member of 1 GiB of zeros is inflated in full, a
member that is not ``.npy`` raises whatever its bytes provoke. Here the archive is opened once by descriptor
(a regular file only), each member must be stored or deflated within a sane expansion ratio, its header must
describe a plain (non-object) array whose bytes are exactly what the member holds, and only then is it read.
"""

from __future__ import annotations

import ast
import io
import math
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from inspector.core.dtypes import from_numpy
from inspector.core.errors import DataError, MalformedFileError, UnsupportedFormatError
from inspector.core.formats.base import (
    HIDDEN_SAMPLE,
    Hidden,
    ModelFile,
    TensorRef,
    Threat,
    clean_text,
    open_regular,
    shape_problem,
    zip_member_offset,
    zip_sidecars,
)

#: Largest member accepted, whatever its compression.
MAX_MEMBER_BYTES = 8 << 30
#: Largest expansion of a compressed member beyond a first 64 MB (image data compresses far less).
MAX_RATIO = 64


#: Longest ``.npy`` header read (numpy writes about 128 bytes; a record type of many fields takes more).
MAX_HEADER_BYTES = 4096


def _header(m: Any) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, column-major flag, element type and header length of a ``.npy`` stream, read with
    ``ast.literal_eval`` alone (numpy's reader falls back to tokenizing Python 2 literals: seconds per header)."""
    prefix = m.read(8)
    if len(prefix) < 8 or prefix[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy array")
    major = prefix[6]
    if major not in (1, 2, 3):
        raise ValueError(f"unknown .npy version {major}")
    width = 2 if major == 1 else 4
    length = int.from_bytes(m.read(width), "little")
    if length > MAX_HEADER_BYTES:
        raise ValueError(f"a header of {length:,} bytes")
    raw = m.read(length)
    if len(raw) != length:
        raise ValueError("the header is cut short")
    d = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
    if not (isinstance(d, dict) and set(d) == {"descr", "fortran_order", "shape"}):
        raise ValueError("the header is not numpy's")
    shape, fortran, descr = d["shape"], d["fortran_order"], d["descr"]
    if not (isinstance(shape, tuple) and isinstance(fortran, bool)):
        raise ValueError("the header is not numpy's")
    dtype = np.dtype(descr) if isinstance(descr, str) else np.lib.format.descr_to_dtype(descr)
    return shape, fortran, dtype, 8 + width + length


def read_npz(path: Path, names: Sequence[str], *, hint: str = "") -> dict[str, np.ndarray]:
    """The arrays ``names`` of the npz at ``path`` (each stored as ``NAME.npy``); :class:`DataError` otherwise."""
    with open_regular(path, what="data file") as f:
        try:
            z = zipfile.ZipFile(f)
        except Exception as e:  # BadZipFile, and whatever a hostile directory provokes
            raise DataError(f"not a readable .npz file ({clean_text(str(e))[:200]})", path=path, hint=hint) from None
        with z:
            members = {i.filename: i for i in z.infolist()}
            missing = [n for n in names if f"{n}.npy" not in members]
            if missing:
                found = ", ".join(clean_text(k.removesuffix(".npy"))[:60] for k in list(members)[:8]) or "none"
                raise DataError(f"missing array(s) {', '.join(missing)} (found: {found})", path=path, hint=hint)
            return {n: _member(z, members[f"{n}.npy"], path, hint) for n in names}


def _member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, hint: str) -> np.ndarray:
    name = clean_text(info.filename)[:100]
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
        raise DataError(f"{name} is encrypted or compressed with an unusual method", path=path, hint=hint)
    if info.file_size > MAX_MEMBER_BYTES or (
        info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_RATIO * info.compress_size + (64 << 20)
    ):
        raise DataError(
            f"{name} expands from {info.compress_size:,} to {info.file_size:,} bytes, beyond what a data file needs",
            path=path,
            hint=hint,
        )
    try:
        with z.open(info) as m:
            shape, fortran, dtype, header_len = _header(m)
        if dtype.hasobject:
            raise DataError(f"{name} holds arrays that need pickled code to load", path=path, hint=hint)
        if not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 32:
            raise ValueError(f"bad shape {shape!r}"[:100])
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if header_len + need != info.file_size:
            raise ValueError(f"its header describes {need:,} bytes but it holds {info.file_size - header_len:,}")
        with z.open(info) as m:
            arr = np.lib.format.read_array(m, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)
    except DataError:
        raise
    except Exception as e:  # a member that is not .npy, a corrupt stream, a CRC error
        raise DataError(
            f"{name} is not a readable .npy array ({clean_text(str(e))[:200]})", path=path, hint=hint
        ) from None
    return np.asarray(arr)


# ------------------------------------------------------------------------------------------- npz as a model
#: Bytes of the arrays of compressed members (``np.savez_compressed``) inflated and held while a model is open,
#: all together: stored members are read in place, by chunks, whatever their size.
MAX_INFLATED_BYTES = 64 << 20
#: Most members an ``.npz`` model may list.
MAX_MEMBERS = 1 << 16
RESAVE_NPZ = "Re-save it with np.savez (uncompressed), or as .safetensors"


def is_npz(infos: Sequence[zipfile.ZipInfo]) -> bool:
    """Whether a zip's members are those of ``np.savez``: at least one, every file among them a ``.npy``."""
    files = [i for i in infos if not i.is_dir()]
    return bool(files) and all(i.filename.endswith(".npy") for i in files)


def open_npz_model(zf: zipfile.ZipFile, f: Any, path: Path, size: int, file_id: tuple[int, int, int, int]) -> ModelFile:
    """An ``.npz`` of weights (``np.savez``: JAX/Flax exports, Google's ViT and BiT checkpoints) as a model, each
    array a tensor named after its member.

    Stored members are read in place by offset (the file is never loaded whole); compressed ones
    (``np.savez_compressed``) are inflated once here, up to :data:`MAX_INFLATED_BYTES` in all. An array of Python
    objects needs pickle to load (``allow_pickle``): its pickle is run by the bounded interpreter for what it would
    call, and its bytes are judged as bytes no tensor shows; so are the bytes of an element type a model does not
    hold (complex, big-endian, strings)."""
    from inspector.core.formats.torch_pickle import unpickle

    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_MEMBERS:
        raise MalformedFileError(f".npz lists {len(infos):,} members", path=path, hint=RESAVE_NPZ)
    refs: list[TensorRef] = []
    hidden: list[Hidden] = []
    threats: list[Threat] = []
    notes: dict[str, str] = {}
    inflated = 0
    for info in infos:
        name = clean_text(info.filename)[:200]
        stored = info.compress_type == zipfile.ZIP_STORED
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
            raise MalformedFileError(
                f"{name} is encrypted or compressed with an unusual method", path=path, hint=RESAVE_NPZ
            )
        if info.file_size > MAX_MEMBER_BYTES or (
            not stored and info.file_size > MAX_RATIO * info.compress_size + (64 << 20)
        ):
            raise MalformedFileError(
                f"{name} expands from {info.compress_size:,} to {info.file_size:,} bytes: a file built to exhaust memory",
                path=path,
                hint=RESAVE_NPZ,
            )
        start = zip_member_offset(f, info, path, size)
        try:
            with zf.open(info) as m:
                shape, fortran, dtype, header_len = _header(m)
        except Exception as e:  # not .npy, a corrupt stream, a CRC error
            raise MalformedFileError(
                f"{name} is not a readable .npy array ({clean_text(str(e))[:200]})", path=path, hint=RESAVE_NPZ
            ) from None
        if not all(type(d) is int and d >= 0 for d in shape) or shape_problem(shape):
            raise MalformedFileError(f"{name} declares the shape {str(shape)[:100]}", path=path, hint=RESAVE_NPZ)
        body = info.file_size - header_len
        where = f"archive member {name!r}"
        if dtype.hasobject:
            data = _member_bytes(zf, info, header_len, body, path) if body <= MAX_INFLATED_BYTES - inflated else None
            if data is not None:
                inflated += len(data)
                threats += unpickle(io.BytesIO(data), len(data), path, name, None).threats
            sample = data[:HIDDEN_SAMPLE] if data is not None else None  # what is judged of them, as elsewhere
            hidden.append(
                Hidden("member", f"{where} (an array of Python objects, pickled)", body, path, -1, sample, file_id)
            )
            continue
        dt = from_numpy(dtype.str) if not dtype.fields else None
        numel = math.prod(shape)
        if dt is None:
            hidden.append(
                Hidden(
                    "member",
                    f"{where} (elements of type {dtype.str}, not a model's)",
                    body,
                    path,
                    start + header_len if stored else -1,
                    None,
                    file_id,
                )
            )
            continue
        if numel * dt.itemsize != body:
            raise MalformedFileError(
                f"{name}: its header describes {numel * dt.itemsize:,} bytes but it holds {body:,}",
                path=path,
                hint=RESAVE_NPZ,
            )
        tensor = name.removesuffix(".npy")
        if stored:
            strides = None
            if fortran and len(shape) > 1:  # column-major: the first axis varies fastest
                strides = tuple(math.prod(shape[:k]) for k in range(len(shape)))
            refs.append(TensorRef(tensor, dt, tuple(shape), path, start + header_len, body, strides, file_id=file_id))
            continue
        if inflated + body > MAX_INFLATED_BYTES:
            raise UnsupportedFormatError(
                f"compressed .npz (np.savez_compressed) whose arrays hold over {MAX_INFLATED_BYTES >> 20} MB: "
                "Model Inspector streams stored members only",
                path=path,
                hint=RESAVE_NPZ,
            )
        data = _member_bytes(zf, info, header_len, body, path)
        inflated += body
        if fortran and len(shape) > 1:
            data = np.ascontiguousarray(np.frombuffer(data, dtype=dt.storage).reshape(shape, order="F")).tobytes()
        refs.append(TensorRef(tensor, dt, tuple(shape), path, start, info.compress_size, file_id=file_id, inline=data))
    if inflated:
        notes["npz.inflated_bytes"] = str(inflated)
    hidden += zip_sidecars(zf, f, path)
    return ModelFile(
        path=path,
        format="npz",
        tensors=tuple(refs),
        metadata=notes,
        files=(path,),
        threats=tuple(threats),
        hidden=tuple(hidden),
    )


def _member_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo, header_len: int, body: int, path: Path) -> bytes:
    """A member's bytes past its ``.npy`` header (inflated where it is compressed)."""
    try:
        with zf.open(info) as m:
            m.read(header_len)
            data = m.read(body)
    except Exception as e:
        raise MalformedFileError(
            f"cannot read {clean_text(info.filename)[:200]!r} ({clean_text(str(e))[:200]})", path=path, hint=RESAVE_NPZ
        ) from None
    if len(data) != body:
        raise MalformedFileError(f"{clean_text(info.filename)[:200]!r} is cut short", path=path, hint=RESAVE_NPZ)
    return data
