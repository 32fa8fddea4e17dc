"""Compare tasks: two layers on shared bin edges, the bits a scrub changed, two tile pages and their difference.

Each reads the two tensors in the worker through the core (:func:`~inspector.core.measure.layer_histogram.
layer_histogram`, :func:`~inspector.core.formats.read_range`, :mod:`inspector.core.measure.weights_image`) and
returns arrays the views draw as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.core.formats import ModelFile, read_range
from inspector.core.measure import LayerHistogram, source_length, source_values, tile_grid
from inspector.core.progress import CancelToken, check
from inspector.qt.tasks.contract import Emit, Progress
from inspector.qt.tasks.images import BACKGROUND, TileImage, tile_image
from inspector.qt.tasks.scanning import histogram

#: elements read at a time when counting changed bits
CHUNK = 1 << 20


def pair_histogram(
    left: ModelFile,
    left_name: str,
    right: ModelFile,
    right_name: str,
    bins: int,
    value_range: tuple[float, float],
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> LayerHistogram:
    """Both layers histogrammed on the same ``bins`` edges over ``value_range`` (``counts``: left,
    ``baseline_counts``: right)."""
    return histogram(left, left_name, bins, right, right_name, value_range, progress=progress, cancel=cancel, emit=emit)


def page_histograms(
    jobs: list[tuple[str, ModelFile, str, ModelFile, str, tuple[float, float]]],
    bins: int,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> dict[str, LayerHistogram]:
    """:func:`pair_histogram` for each ``(key, left, left_name, right, right_name, range)`` of a page."""
    out: dict[str, LayerHistogram] = {}
    for i, (key, left, ln, right, rn, rng) in enumerate(jobs):
        check(cancel)
        progress(i, len(jobs), "histogramming the page")
        out[key] = histogram(left, ln, bins, right, rn, rng, progress=lambda *_a: None, cancel=cancel, emit=emit)
    return out


@dataclass(frozen=True)
class BitChanges:
    """Per bit position (0 = lowest), the fraction of elements whose bit differs between two tensors."""

    name: str
    changed: np.ndarray  # float64, one per bit of the dtype
    elements: int
    elements_changed: int  # elements with at least one bit changed


def bit_changes(
    a: ModelFile, a_name: str, b: ModelFile, b_name: str, *, progress: Progress, cancel: CancelToken, emit: Emit
) -> BitChanges:
    """Which bits differ between tensor ``a_name`` of ``a`` and ``b_name`` of ``b`` (same dtype and size), per
    bit plane, reading both in chunks."""
    ra, rb = a[a_name], b[b_name]
    if ra.dtype.name != rb.dtype.name or ra.numel != rb.numel:
        raise ValueError(
            f"{a_name} ({ra.dtype.name}, {ra.numel:,}) and {b_name} ({rb.dtype.name}, {rb.numel:,}) differ"
        )
    nbits = 8 * ra.dtype.itemsize
    counts = np.zeros(nbits, dtype=np.int64)
    any_changed = 0
    n = ra.numel
    for start in range(0, n, CHUNK):
        check(cancel)
        progress(start, n, "comparing bits")
        stop = min(n, start + CHUNK)
        xa = read_range(ra, start, stop)
        xb = read_range(rb, start, stop)
        x = xa.view(np.uint8).reshape(-1, ra.dtype.itemsize) ^ xb.view(np.uint8).reshape(-1, ra.dtype.itemsize)
        bits = np.unpackbits(x, axis=1, bitorder="little")  # little-endian bytes: bit 0 of byte 0 is bit 0
        counts += bits.sum(axis=0, dtype=np.int64)
        any_changed += int(np.count_nonzero(x.any(axis=1)))
    changed = counts / n if n else counts.astype(np.float64)
    return BitChanges(a_name, changed.astype(np.float64), n, any_changed)


def tile_pair(
    left: ModelFile,
    left_names: list[str],
    right: ModelFile,
    right_names: list[str],
    source: str,
    tile_shape: tuple[int, int],
    start_tile: int,
    max_tiles: int,
    invert: bool,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> tuple[TileImage, TileImage]:
    """The same page of tiles from two models (for side by side)."""
    a = tile_image(
        left, left_names, source, tile_shape, start_tile, max_tiles, invert, progress=progress, cancel=cancel, emit=emit
    )
    b = tile_image(
        right,
        right_names,
        source,
        tile_shape,
        start_tile,
        max_tiles,
        invert,
        progress=progress,
        cancel=cancel,
        emit=emit,
    )
    return a, b


@dataclass(frozen=True)
class DiffImage:
    """A page of tiles of ``plus − minus`` values (the source as shown, e.g. weight values), as a diverging image."""

    delta: np.ndarray  # (H, W) float64 laid out like the tiles, NaN in the gaps
    vmax: float  # the colour scale is ±vmax (the largest |Δ| on the page)
    tiles: int
    available: int
    columns: int
    tile_shape: tuple[int, int]
    values: int
    changed: int  # values on the page that differ
    max_abs: float
    description: str


def tile_difference(
    plus: ModelFile,
    plus_names: list[str],
    minus: ModelFile,
    minus_names: list[str],
    source: str,
    tile_shape: tuple[int, int],
    start_tile: int,
    max_tiles: int,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> DiffImage:
    """``plus − minus`` of the same page of both sources, laid out as tiles (no per-tile rescaling: one colour
    scale for the page, symmetric around zero, so equal colours mean equal differences)."""
    pr = [plus[n] for n in plus_names]
    mr = [minus[n] for n in minus_names]
    size, other = source_length(pr, source), source_length(mr, source)
    if size != other:
        raise ValueError(f"the two sides hold {size:,} and {other:,} values: a difference needs the same layout")
    th, tw = tile_shape
    per = th * tw
    available = max(0, size // per - start_tile) if per else 0
    n = min(available, max_tiles)
    a, b = start_tile * per, (start_tile + n) * per
    progress(0, 3, "reading both sides")
    d = source_values(pr, source, a, b, cancel=cancel) - source_values(mr, source, a, b, cancel=cancel)
    progress(2, 3, "laying out the difference")
    tiles = d[: n * per].reshape(n, th, tw) if n else np.zeros((0, th, tw))
    cols = max(1, math.ceil(math.sqrt(n)))
    finite = d[np.isfinite(d)]
    max_abs = float(np.abs(finite).max()) if finite.size else 0.0
    grid = tile_grid(tiles.astype(np.float64), columns=cols, gap=1, background=0)
    inside = tile_grid(np.ones(tiles.shape, dtype=np.uint8), columns=cols, gap=1, background=0)
    grid[inside == 0] = np.nan  # the gaps between tiles: no value, drawn as the background
    changed = int(np.count_nonzero(d))
    desc = f"{n} of {available} tiles {th}×{tw} · {changed:,} of {d.size:,} values differ · max |Δ| {max_abs:.3g}"
    progress(3, 3, "")
    return DiffImage(grid, max_abs, n, available, cols, (th, tw), int(d.size), changed, max_abs, desc)


__all__ = [
    "BACKGROUND",
    "BitChanges",
    "DiffImage",
    "bit_changes",
    "page_histograms",
    "pair_histogram",
    "tile_difference",
    "tile_pair",
]
