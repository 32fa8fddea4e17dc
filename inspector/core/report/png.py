"""Grayscale PNG images written with :mod:`zlib` (no imaging dependency), and weights laid out as image tiles.

The correlated-value attack (COR) makes blocks of consecutive weights an affine image of training pixels; the
sign attack (SGN) stores pixel bytes in the signs of consecutive weights, most significant bit first. Laying the
weights out the way the attacker would read them back shows the reviewer what leaked, if anything did.
"""

from __future__ import annotations

import struct
import zlib
from typing import Sequence

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_gray(image: np.ndarray) -> bytes:
    """A PNG of a 2-D uint8 array (0 black, 255 white)."""
    img = np.ascontiguousarray(image, dtype=np.uint8)
    if img.ndim != 2 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError("encode_gray wants a non-empty 2-D array")
    h, w = img.shape
    raw = np.zeros((h, w + 1), dtype=np.uint8)  # filter byte 0 (None) before every row
    raw[:, 1:] = img

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header; raises ``ValueError`` if ``data`` is not a PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def minmax_blocks(values: np.ndarray, side: int, count: int) -> np.ndarray:
    """``count`` images of ``side × side`` consecutive values, each min–max scaled to 0..255 (uint8)."""
    n = side * side
    usable = min(count, len(values) // n)
    if usable <= 0:
        return np.zeros((0, side, side), dtype=np.uint8)
    blocks = np.asarray(values[: usable * n], dtype=np.float64).reshape(usable, n)
    blocks = np.where(np.isfinite(blocks), blocks, 0.0)
    lo = blocks.min(axis=1, keepdims=True)
    hi = blocks.max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.rint((blocks - lo) / span * 255.0)
    return scaled.astype(np.uint8).reshape(usable, side, side)


def sign_bytes(values: np.ndarray, sign_bits: np.ndarray | None = None) -> np.ndarray:
    """Bytes read from consecutive signs, most significant bit first (1 = non-negative, as the SGN attack
    encodes a 1 bit with a positive weight)."""
    bits = (np.asarray(values) >= 0).astype(np.uint8) if sign_bits is None else sign_bits.astype(np.uint8)
    usable = len(bits) // 8 * 8
    return np.packbits(bits[:usable])


def tile_grid(images: np.ndarray, *, columns: int = 16, scale: int = 4, gap: int = 2) -> np.ndarray:
    """Images (k, h, w) side by side in a grid, each enlarged ``scale``× by pixel repetition, on a mid-grey
    background so tile borders stay visible whatever the tile contents."""
    k, h, w = images.shape
    if k == 0:
        return np.full((h * scale or 1, w * scale or 1), 128, dtype=np.uint8)
    cols = min(columns, k)
    rows = -(-k // cols)
    th, tw = h * scale, w * scale
    grid = np.full((rows * (th + gap) + gap, cols * (tw + gap) + gap), 128, dtype=np.uint8)
    big = images.repeat(scale, axis=1).repeat(scale, axis=2)
    for i in range(k):
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        grid[y : y + th, x : x + tw] = big[i]
    return grid


def tiles_png(images: np.ndarray, *, columns: int = 16, scale: int = 4) -> tuple[bytes, int, int]:
    """``(png, width, height)`` of :func:`tile_grid`."""
    grid = tile_grid(images, columns=columns, scale=scale)
    return encode_gray(grid), int(grid.shape[1]), int(grid.shape[0])


def concat_weights(arrays: Sequence[np.ndarray], limit: int) -> np.ndarray:
    """Flat concatenation of ``arrays`` in order, at most ``limit`` values (float64)."""
    out: list[np.ndarray] = []
    have = 0
    for a in arrays:
        flat = np.asarray(a, dtype=np.float64).reshape(-1)
        take = flat[: max(0, limit - have)]
        out.append(take)
        have += len(take)
        if have >= limit:
            break
    return np.concatenate(out) if out else np.zeros(0)
