"""Element types of model files: their names, sizes, bit layouts and raw integer views.

Every tensor is read as raw little-endian storage. Float formats numpy lacks (bf16, fp8) are read as unsigned
integers of the same width and widened to float32 only for statistics, chunk by chunk. Bit positions are
counted from the least significant bit: bit 0 is the lowest mantissa bit, bit ``bits - 1`` the sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class DType:
    """One element type, named as safetensors names it (``F32``, ``BF16``, ``I64``...)."""

    name: str
    itemsize: int
    kind: str  # "float", "int", "uint" or "bool"
    exponent_bits: int = 0
    mantissa_bits: int = 0

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def bits(self) -> int:
        return self.itemsize * 8

    @property
    def uint(self) -> np.dtype:
        """The unsigned integer type of the same width (the raw bit view)."""
        return np.dtype(f"<u{self.itemsize}")

    @property
    def storage(self) -> np.dtype:
        """The numpy type the raw bytes are read as: native floats where numpy has them, else ``uint``."""
        return _STORAGE[self.name]


_TABLE = [
    DType("F64", 8, "float", 11, 52),
    DType("F32", 4, "float", 8, 23),
    DType("F16", 2, "float", 5, 10),
    DType("BF16", 2, "float", 8, 7),
    DType("F8_E4M3", 1, "float", 4, 3),
    DType("F8_E5M2", 1, "float", 5, 2),
    DType("I64", 8, "int"),
    DType("I32", 4, "int"),
    DType("I16", 2, "int"),
    DType("I8", 1, "int"),
    DType("U64", 8, "uint"),
    DType("U32", 4, "uint"),
    DType("U16", 2, "uint"),
    DType("U8", 1, "uint"),
    DType("BOOL", 1, "bool"),
]

#: Every supported element type by its safetensors name.
DTYPES: dict[str, DType] = {d.name: d for d in _TABLE}

_STORAGE: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "F8_E4M3": np.dtype("u1"),
    "F8_E5M2": np.dtype("u1"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

#: PyTorch storage class names (``torch.FloatStorage``) and dtype names (``torch.float32``) to our names.
TORCH_NAMES: dict[str, str] = {
    "DoubleStorage": "F64",
    "FloatStorage": "F32",
    "HalfStorage": "F16",
    "BFloat16Storage": "BF16",
    "LongStorage": "I64",
    "IntStorage": "I32",
    "ShortStorage": "I16",
    "CharStorage": "I8",
    "ByteStorage": "U8",
    "BoolStorage": "BOOL",
    "float64": "F64",
    "double": "F64",
    "float32": "F32",
    "float": "F32",
    "float16": "F16",
    "half": "F16",
    "bfloat16": "BF16",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
    "int64": "I64",
    "long": "I64",
    "int32": "I32",
    "int": "I32",
    "int16": "I16",
    "short": "I16",
    "int8": "I8",
    "uint8": "U8",
    "uint16": "U16",
    "uint32": "U32",
    "uint64": "U64",
    "bool": "BOOL",
}

#: numpy's type codes (kind and size, ``np.dtype(...).str`` less its byte order) of the element types a model
#: holds; other types (complex, text, records) have no element type of ours.
_NUMPY_CODES: dict[str, str] = {
    "f8": "F64",
    "f4": "F32",
    "f2": "F16",
    "i8": "I64",
    "i4": "I32",
    "i2": "I16",
    "i1": "I8",
    "u8": "U64",
    "u4": "U32",
    "u2": "U16",
    "u1": "U8",
    "b1": "BOOL",
}


def from_numpy(code: str, order: str = "<") -> Optional[DType]:
    """Our element type for numpy's type ``code`` (``"f4"``, ``"<f4"``) in byte ``order``, or ``None`` for a type
    we do not hold (complex, text, records) or a big-endian one wider than a byte."""
    if code[:1] in "<>|=":
        order, code = code[0], code[1:]
    name = _NUMPY_CODES.get(code)
    if name is None:
        return None
    dt = DTYPES[name]
    return None if order == ">" and dt.itemsize > 1 else dt


@cache
def _fp8_table(name: str) -> np.ndarray:
    """float32 value of each of the 256 codes of an fp8 format (OCP E4M3FN / E5M2)."""
    d = DTYPES[name]
    e_bits, m_bits = d.exponent_bits, d.mantissa_bits
    bias = (1 << (e_bits - 1)) - 1
    codes = np.arange(256, dtype=np.uint32)
    sign = np.where(codes >> 7, -1.0, 1.0)
    exp = (codes >> m_bits) & ((1 << e_bits) - 1)
    man = codes & ((1 << m_bits) - 1)
    normal = (1.0 + man / (1 << m_bits)) * np.exp2(exp.astype(np.float64) - bias)
    subnormal = (man / (1 << m_bits)) * np.exp2(1.0 - bias)
    values = sign * np.where(exp == 0, subnormal, normal)
    if name == "F8_E4M3":  # E4M3FN: no infinities; only S.1111.111 is NaN
        values[(exp == 15) & (man == 7)] = np.nan
    else:  # E5M2 follows IEEE: exponent all ones is Inf (mantissa 0) or NaN
        top = exp == 31
        values[top & (man == 0)] = sign[top & (man == 0)] * np.inf
        values[top & (man != 0)] = np.nan
    return values.astype(np.float32)


def widen(raw: np.ndarray, dt: DType) -> np.ndarray:
    """Values of a raw float chunk as float32 (float64 stays float64); integers become float64."""
    if dt.name == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if dt.name in ("F8_E4M3", "F8_E5M2"):
        return _fp8_table(dt.name)[raw]
    if dt.name == "F16":
        return raw.astype(np.float32)
    if dt.name in ("F32", "F64"):
        return raw
    return raw.astype(np.float64)
