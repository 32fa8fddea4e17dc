"""A bounded ``.npz`` reader: each ``.npy`` member's header is checked against its size before any data is read.

``np.load`` of an npz trusts each member: a 1 MB deflated member of 1 GiB of zeros is inflated in full, a
member that is not ``.npy`` raises whatever its bytes provoke. Here the archive is opened once by descriptor
(a regular file only), each member must be stored or deflated within a sane expansion ratio, its header must
describe a plain (non-object) array whose bytes are exactly what the member holds, and only then is it read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from inspector.core.errors import DataError
from inspector.core.formats.base import clean_text, open_regular

#: Largest member accepted, whatever its compression.
MAX_MEMBER_BYTES = 8 << 30
#: Largest expansion of a compressed member beyond a first 64 MB (image data compresses far less).
MAX_RATIO = 64
_MAX_HEADER = 10_000


def _header(m: Any) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    version = np.lib.format.read_magic(m)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(m, max_header_size=_MAX_HEADER)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(m, max_header_size=_MAX_HEADER)
    else:
        raise ValueError(f"unknown .npy version {version}")
    return shape, fortran, dtype, m.tell()


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
            arr = np.lib.format.read_array(m, allow_pickle=False, max_header_size=_MAX_HEADER)
    except DataError:
        raise
    except Exception as e:  # a member that is not .npy, a corrupt stream, a CRC error
        raise DataError(
            f"{name} is not a readable .npy array ({clean_text(str(e))[:200]})", path=path, hint=hint
        ) from None
    return np.asarray(arr)
