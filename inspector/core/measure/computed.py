"""Tensors that are computed, not trained or written: an ONNX export's integer index tables, sinusoidal position
tables. The measuring step's second read recognises them (``structure.py``); the order tests then leave them
alone, and only their low bits are judged."""

from __future__ import annotations

import math
import zlib
from typing import Any, Optional

import numpy as np

from inspector.core.dtypes import widen
from inspector.core.formats.base import TensorRef, iter_chunks
from inspector.core.progress import CancelToken

#: Integer tensors up to this many elements are looked at for a computed table; their first differences must take
#: at most INDEX_STEPS values and compress (zlib) below INDEX_COMPRESS of the tensor's bytes.
MAX_INDEX_ELEMENTS = 1 << 22
INDEX_STEPS = 16
INDEX_COMPRESS = 0.05


def computed_table(ref: TensorRef, cancel: Optional[CancelToken] = None) -> Optional[str]:
    """A description of an integer tensor that is computed rather than data (an ONNX export's index table for a
    Gather or Scatter, an arange), or ``None``. Its first differences take a handful of values and compress to
    almost nothing; a payload stored as integers (bytes, a sorted subset encoding data) keeps its entropy in
    its differences (hundreds of distinct steps, 35-40% after compression)."""
    parts = [np.array(c, copy=True) for c in iter_chunks(ref, cancel=cancel)]
    if not parts:
        return None
    v = np.concatenate(parts).astype(np.int64, copy=False)
    if v.size < 64:
        return None
    d = np.diff(v)
    steps = np.unique(d[: 1 << 20])
    if steps.size > INDEX_STEPS:
        return None
    ratio = len(zlib.compress(d.astype(v.dtype).tobytes(), 6)) / max(1, v.size * ref.dtype.itemsize)
    if ratio >= INDEX_COMPRESS:
        return None
    return f"a computed index table ({steps.size} distinct steps; its differences compress to {ratio:.1%})"


#: Largest position table compared with the sinusoid formulas (elements).
MAX_TABLE_ELEMENTS = 1 << 24


def _sinusoids(length: int, width: int) -> list[tuple[str, np.ndarray]]:
    """The standard sinusoidal position tables of ``length`` × ``width``: sines and cosines interleaved (the
    Transformer paper's) or concatenated (Whisper's, and others'), with the two common frequency ladders."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    half = width // 2
    ladders = {
        "10000^(-2i/C)": np.exp(np.arange(half) * (-2.0 * math.log(10000.0) / width)),
        "10000^(-i/(C/2-1))": np.exp(np.arange(half) * (-math.log(10000.0) / max(1, half - 1))),
    }
    out = []
    for label, freq in ladders.items():
        angle = pos * freq[None, :]
        sin, cos = np.sin(angle), np.cos(angle)
        inter = np.empty((length, width))
        inter[:, 0::2], inter[:, 1::2] = sin, cos
        out.append((f"sines and cosines interleaved, frequencies {label}", inter))
        out.append((f"sines then cosines, frequencies {label}", np.concatenate([sin, cos], axis=1)))
    return out


def sinusoid_table(ref: TensorRef, stats: Any, cancel: Optional[CancelToken] = None) -> Optional[str]:
    """A description of a float tensor that is a standard sinusoidal position table (to within the rounding of
    its type and of float32 angles), or ``None``. Such a table is computed, not trained: its order and signs
    follow sin and cos, so the order tests do not judge it; its low bits are still judged."""
    shape = [int(d) for d in ref.shape]
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 2 or shape[0] < 8 or shape[1] < 8 or shape[1] % 2 or math.prod(shape) > MAX_TABLE_ELEMENTS:
        return None
    lo, hi = float(getattr(stats, "min", math.nan)), float(getattr(stats, "max", math.nan))
    sd = float(getattr(stats, "std", math.nan))
    # sines and cosines over 8 or more positions reach both -1 and +1, and spread wide (RMS 0.71): trained
    # weights inside [-1, 1] seldom touch both ends, so a table is read again only when its statistics allow it
    if not (-1.0001 <= lo <= -0.98 and 0.98 <= hi <= 1.0001 and sd >= 0.3):
        return None
    parts = [widen(c, ref.dtype).astype(np.float64) for c in iter_chunks(ref, cancel=cancel)]
    x = np.concatenate(parts).reshape(shape)
    length, width = shape
    tol = max(8.0 * length * 2.0**-24, 2.0 ** -(ref.dtype.mantissa_bits - 1), 1e-5)
    for label, table in _sinusoids(length, width):
        if float(np.max(np.abs(x - table))) <= tol:
            return f"a sinusoidal position table ({length} × {width}, {label})"
    return None
