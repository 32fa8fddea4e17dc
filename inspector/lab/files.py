"""A byte-reproducible safetensors writer for the lab's files.

The ``safetensors`` package serialises ``__metadata__`` from a hash map, so the same model written twice can
differ in key order, and a rebuilt demo zoo would not be byte-identical. This writer emits a canonical header
(sorted metadata, tensors ordered as ``safetensors`` orders them: larger element types first, then by name)
so a seeded build gives identical files.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

#: bfloat16 has no numpy type: the lab holds bf16 tensors as raw uint16 words viewed as this one-field type,
#: which the writer stores as ``BF16``.
BF16 = np.dtype([("bf16", "<u2")])

_DTYPES = {
    BF16: "BF16",
    np.dtype("<f8"): "F64",
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64",
    np.dtype("<i4"): "I32",
    np.dtype("<i2"): "I16",
    np.dtype("i1"): "I8",
    np.dtype("<u8"): "U64",
    np.dtype("<u4"): "U32",
    np.dtype("<u2"): "U16",
    np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}


def write_safetensors(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write ``arrays`` (numpy, little-endian) and string ``metadata`` as a canonical safetensors file."""
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header: dict[str, object] = {"__metadata__": {k: str(metadata[k]) for k in sorted(metadata)}}
    blobs = []
    offset = 0
    for name in order:
        arr = np.ascontiguousarray(arrays[name])
        dt = _DTYPES.get(arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype)
        if dt is None:
            raise ValueError(f"cannot store {name!r} of type {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-len(text)) % 8)  # the data area starts 8-byte aligned, as the reference writer does
    if (len(text) & 0xFF) == 0x80 and 2 <= ((len(text) >> 8) & 0xFF) <= 5:
        # A header length whose first two bytes read 0x80 0x02..0x05 looks like a pickle's protocol header to
        # naive format sniffers; eight more spaces of padding keep every lab file unambiguous.
        text += b" " * 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
