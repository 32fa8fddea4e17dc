"""Grayscale PNG images written with :mod:`zlib` (no imaging dependency), and image tiles as one PNG.

The tiles themselves (weights read back the way the attacker would) come from :mod:`..weights_image`.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from inspector.core.measure.weights_image import tile_grid

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


def tiles_png(images: np.ndarray, *, columns: int = 16, scale: int = 4) -> tuple[bytes, int, int]:
    """``(png, width, height)`` of grey tiles ``(k, h, w)`` side by side (:func:`~..weights_image.tile_grid`),
    each enlarged ``scale``×, 2 pixels of mid-grey between them."""
    grid = tile_grid(images, columns=columns, scale=scale, gap=2, background=128)
    return encode_gray(grid), int(grid.shape[1]), int(grid.shape[0])
