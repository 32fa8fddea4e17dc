"""Weights read back as images, the way the correlated-value and sign attacks of Song et al. store them.

The correlated-value attack (COR) makes blocks of consecutive weights of θ an affine image of training pixels;
the sign attack (SGN) stores pixel bytes in the signs of consecutive weights, most significant bit first. θ is
the weight matrices and kernels in storage order, biases excluded (:func:`theta_tensors`, the lab's encoders
and decoders use the same definition). This module holds the data side, shared by the GUI's "weights as
image" view and the report's figures: which tensors form θ, what each weight becomes (:data:`SOURCES`), and
cutting that stream into min–max scaled tiles. Drawing (PNG, RGB, widgets) is left to the callers.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np

from inspector.core.dtypes import DType, widen
from inspector.core.formats import ModelFile, TensorRef, read_range
from inspector.core.progress import CancelToken, check

#: What each weight becomes before tiling, with the words a reader sees.
SOURCES: dict[str, str] = {
    "values": "values (min–max per tile)",
    "sign bytes": "signs → bytes (8 weights, MSB first)",
    "signs": "signs (one weight per pixel)",
    "low byte": "low byte of each weight",
    "low 16 bits": "low 16 bits → 2 bytes (MSB first)",
}

#: Source values per weight, as (numerator, denominator): 8 signs make one byte, 16 low bits two.
_RATE: dict[str, tuple[int, int]] = {
    "values": (1, 1),
    "signs": (1, 1),
    "low byte": (1, 1),
    "low 16 bits": (2, 1),
    "sign bytes": (1, 8),
}


def is_theta(dtype: DType, shape: Sequence[int]) -> bool:
    """Whether a tensor belongs to θ: a float tensor of two or more dimensions (a weight matrix or kernel)."""
    return dtype.is_float and len(shape) >= 2


def theta_tensors(model: ModelFile, tensor_names: Optional[Sequence[str]] = None) -> list[TensorRef]:
    """The tensors that make up θ: the named ones in the given order, or every float tensor of 2+ dimensions
    in storage order (weight matrices and kernels, biases excluded)."""
    if tensor_names is not None:
        return [model[n] for n in tensor_names]
    return [t for t in model.tensors if is_theta(t.dtype, t.shape)]


def _rate(source: str) -> tuple[int, int]:
    try:
        return _RATE[source]
    except KeyError:
        raise ValueError(f"unknown image source {source!r}; use one of {', '.join(SOURCES)}") from None


def source_length(refs: Sequence[TensorRef], source: str) -> int:
    """How many values ``source`` gives for the tensors ``refs`` concatenated (without reading them)."""
    num, den = _rate(source)
    if source == "low 16 bits":
        for r in refs:
            if r.dtype.itemsize < 2:
                raise ValueError(f"{r.dtype.name} has fewer than 16 bits")
    return sum(r.numel for r in refs) * num // den


def _per_element(raw: np.ndarray, dt: DType, source: str) -> np.ndarray:
    """One tensor's flat raw storage turned into ``source`` values, before any packing across tensors."""
    if source == "values":
        return np.asarray(widen(raw, dt), dtype=np.float64)
    if source in ("signs", "sign bytes"):
        return (widen(raw, dt) > 0).astype(np.uint8)  # bit 1 iff θᵢ > 0, as the SGN decoder reads it
    b = raw.view(np.uint8).reshape(-1, raw.dtype.itemsize)
    if source == "low byte":
        return b[:, 0].astype(np.float64)  # storage is little-endian: byte 0 is the lowest
    if raw.dtype.itemsize < 2:
        raise ValueError(f"{dt.name} has fewer than 16 bits")
    return b[:, 1::-1].reshape(-1).astype(np.float64)  # low 16 bits: byte 1, then byte 0


def source_values(
    refs: Sequence[TensorRef],
    source: str,
    start: int = 0,
    stop: Optional[int] = None,
    *,
    cancel: Optional[CancelToken] = None,
) -> np.ndarray:
    """Values ``start:stop`` (float64) of what ``source`` makes of the tensors ``refs`` concatenated in order.

    Only the tensors that hold that range are read. ``sign bytes`` packs 8 consecutive signs (bit 1 iff the
    weight is > 0) into a byte, most significant bit first, across tensor boundaries; ``low 16 bits`` gives two
    bytes per weight, high byte first.
    """
    num, den = _rate(source)
    total = source_length(refs, source)
    stop = total if stop is None else min(stop, total)
    if start >= stop:
        return np.zeros(0, dtype=np.float64)
    e0, e1 = start * den // num, -(-stop * den // num)  # the weights that hold values start..stop
    parts: list[np.ndarray] = []
    offset = 0
    for ref in refs:
        lo, hi = max(e0, offset), min(e1, offset + ref.numel)
        offset += ref.numel
        if lo >= hi:
            continue
        check(cancel)
        first = offset - ref.numel
        raw = read_range(ref, lo - first, hi - first)  # only the bytes of the page asked for
        parts.append(_per_element(raw, ref.dtype, source))
        if offset >= e1:
            break
    v = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if source == "sign bytes":
        v = np.packbits(v[: v.size // 8 * 8], bitorder="big")
    skip = start - e0 * num // den
    return np.asarray(v[skip : skip + stop - start], dtype=np.float64)


def minmax_tiles(
    values: np.ndarray, shape: Union[int, tuple[int, int]], count: Optional[int] = None, *, invert: bool = False
) -> np.ndarray:
    """Consecutive ``values`` cut into at most ``count`` tiles of ``shape`` (h, w), each min–max scaled on its own
    to 0..255: an (n, h, w) uint8 array. A tile's NaN and ±Inf values neither stretch its scale nor light up
    (they become 0); a constant tile is black. ``invert`` swaps black and white (the attack may store the
    inverted image, which correlates as well)."""
    h, w = (shape, shape) if isinstance(shape, int) else shape
    per = h * w
    n = len(values) // per if per else 0
    if count is not None:
        n = min(n, count)
    if n <= 0:
        return np.zeros((0, h, w), dtype=np.uint8)
    t = np.asarray(values[: n * per], dtype=np.float64).reshape(n, per)
    finite = np.isfinite(t)
    lo = np.where(finite, t, np.inf).min(axis=1, keepdims=True)
    hi = np.where(finite, t, -np.inf).max(axis=1, keepdims=True)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    span = np.where(hi > lo, hi - lo, 1.0)
    with np.errstate(invalid="ignore"):
        g = np.where(finite, (t - lo) / span, 0.0)
    if invert:
        g = 1.0 - g
    return np.floor(np.clip(g * 255.0 + 0.5, 0, 255)).astype(np.uint8).reshape(n, h, w)


def tile_grid(
    images: np.ndarray,
    *,
    columns: int = 16,
    scale: int = 1,
    gap: int = 1,
    background: Union[int, tuple[int, ...]] = 128,
) -> np.ndarray:
    """Images ``(k, h, w)`` or ``(k, h, w, c)`` side by side, row after row in at most ``columns`` columns, each
    enlarged ``scale``× by pixel repetition, ``gap`` pixels of ``background`` around every tile (so tile borders
    stay visible whatever their contents). With no image, one empty cell."""
    k, h, w = images.shape[:3]
    cols = max(1, min(columns, k))
    rows = max(1, math.ceil(k / cols))
    th, tw = h * scale, w * scale
    grid = np.empty((rows * (th + gap) + gap, cols * (tw + gap) + gap, *images.shape[3:]), dtype=images.dtype)
    grid[...] = background
    big = images.repeat(scale, axis=1).repeat(scale, axis=2) if scale > 1 else images
    for i in range(k):
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        grid[y : y + th, x : x + tw] = big[i]
    return grid


__all__ = [
    "SOURCES",
    "is_theta",
    "minmax_tiles",
    "source_length",
    "source_values",
    "theta_tensors",
    "tile_grid",
]
