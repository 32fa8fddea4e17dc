"""Hand-made hostile files: a tiny pickle emitter and builders of checkpoints, without torch.

Every builder writes opcodes directly, so the corpus is byte-for-byte reproducible on any machine and never
needs the code a hostile pickle names (it is never loaded by anything but the reader under test).
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class P:
    """A pickle under construction (protocol 2 opcodes; ``proto=None`` writes no PROTO opcode)."""

    def __init__(self, proto: Optional[int] = 2) -> None:
        self.b = bytearray(b"\x80" + bytes([proto]) if proto is not None else b"")

    def raw(self, data: bytes) -> P:
        self.b += data
        return self

    def glob(self, module: str, name: str) -> P:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def s(self, text: str) -> P:
        data = text.encode("utf-8", "surrogatepass")
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def i(self, value: int) -> P:
        if 0 <= value < 256:
            return self.raw(b"K" + bytes([value]))
        if -(2**31) <= value < 2**31:
            return self.raw(b"J" + struct.pack("<i", value))
        data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return self.raw(b"\x8a" + bytes([len(data)]) + data)

    def tup(self, items: Iterable[int]) -> P:
        self.raw(b"(")
        for v in items:
            self.i(v)
        return self.raw(b"t")

    def put(self, idx: int) -> P:
        return self.raw(b"r" + struct.pack("<I", idx))

    def get(self, idx: int) -> P:
        return self.raw(b"j" + struct.pack("<I", idx))

    def stop(self) -> bytes:
        return bytes(self.b + b".")


def storage(p: P, key: str, numel: int, kind: str = "FloatStorage") -> P:
    """A persistent id ('storage', torch.<kind>, key, 'cpu', numel), as torch.save writes it."""
    p.raw(b"(").s("storage").glob("torch", kind).s(key).s("cpu").i(numel).raw(b"t" + b"Q")
    return p


def tensor(p: P, key: str, numel: int, shape: Sequence[int], strides: Sequence[int], offset: int = 0) -> P:
    """``torch._utils._rebuild_tensor_v2(storage, offset, shape, strides, False, OrderedDict())``."""
    p.glob("torch._utils", "_rebuild_tensor_v2").raw(b"(")
    storage(p, key, numel)
    p.i(offset).tup(shape).tup(strides).raw(b"\x89").glob("collections", "OrderedDict").raw(b")R").raw(b"tR")
    return p


def state_dict_pickle(arrays: dict[str, np.ndarray], proto: Optional[int] = 2, extra: bytes = b"") -> bytes:
    """``{name: tensor}`` for float32 arrays, storage key = index; ``extra`` is spliced before the final SETITEMS."""
    p = P(proto).raw(b"}(")
    for k, (name, a) in enumerate(arrays.items()):
        p.s(name)
        strides = [int(s // 4) for s in np.ascontiguousarray(a).strides] if a.ndim else []
        tensor(p, str(k), a.size, a.shape, strides)
    p.raw(extra)
    return p.raw(b"u").stop()


def zip_checkpoint(
    path: Path,
    pkl: bytes,
    storages: dict[str, bytes],
    *,
    prefix: str = "archive",
    pkl_compression: int = zipfile.ZIP_STORED,
) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{prefix}/data.pkl", pkl, pkl_compression)
        z.writestr(f"{prefix}/byteorder", b"little")
        for key, data in storages.items():
            z.writestr(f"{prefix}/data/{key}", data)
    return path


def zip_of(path: Path, arrays: dict[str, np.ndarray], **kw) -> Path:
    storages = {str(k): np.ascontiguousarray(a, np.float32).tobytes() for k, a in enumerate(arrays.values())}
    return zip_checkpoint(path, state_dict_pickle(arrays), storages, **kw)


def legacy_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A legacy (non-zip) torch.save stream: magic, protocol, sys info, object, storage keys, storages."""
    out = bytearray()
    out += P().i(LEGACY_MAGIC).stop()
    out += P().i(1001).stop()
    out += P().raw(b"}(").s("protocol_version").i(1001).s("little_endian").raw(b"\x88").raw(b"u").stop()
    out += state_dict_pickle(arrays)
    keys = P().raw(b"](")
    for k in range(len(arrays)):
        keys.s(str(k))
    out += keys.raw(b"e").stop()
    for a in arrays.values():
        data = np.ascontiguousarray(a, np.float32)
        out += struct.pack("<q", data.size) + data.tobytes()
    return bytes(out)


def safetensors_raw(path: Path, header: dict, data: bytes, *, header_text: Optional[str] = None) -> Path:
    blob = (header_text if header_text is not None else json.dumps(header)).encode("utf-8", "surrogatepass")
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def system_call(p: P, module: str, name: str, command: str) -> P:
    """``module.name(command)`` by REDUCE: the classic code-execution gadget."""
    return p.glob(module, name).s(command).raw(b"\x85R")
