"""The weights-as-image task: the core's tiles (:mod:`inspector.core.measure.weights_image`) laid out as one RGB image."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.core.formats import ModelFile
from inspector.core.measure import SOURCES, minmax_tiles, source_length, source_values, tile_grid
from inspector.core.progress import CancelToken
from inspector.qt.tasks.contract import Emit, Progress

#: What each weight becomes before tiling.
IMAGE_SOURCES = SOURCES
#: Tiles shown at once (one page).
MAX_TILES = 400
#: Behind and between the tiles: a dark slate that neither black nor white tiles blend into.
BACKGROUND = (70, 78, 96)


@dataclass(frozen=True)
class TileImage:
    """An RGB image of tiles laid out in a grid, and what it shows."""

    rgb: np.ndarray  # (H, W, 3) uint8
    tiles: int
    available: int  # tiles the source holds from the start offset
    columns: int
    tile_shape: tuple[int, int]
    source_elements: int
    description: str


def tile_image(
    model: ModelFile,
    names: list[str],
    source: str,
    tile_shape: tuple[int, int],
    start_tile: int = 0,
    max_tiles: int = MAX_TILES,
    invert: bool = False,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> TileImage:
    """A page of min–max scaled tiles of the weights of ``names`` (concatenated in storage order).

    This is how correlated-value and sign encodings are read back (Song et al.): consecutive parameters form
    an image; each tile is rescaled on its own, and the inverted image is as likely as the upright one.
    """
    progress(0, 3, "reading weights")
    refs = [model[n] for n in names]
    th, tw = tile_shape
    per = th * tw
    size = source_length(refs, source)
    available = max(0, size // per - start_tile) if per else 0
    n = min(available, max_tiles)
    values = source_values(refs, source, start_tile * per, (start_tile + n) * per, cancel=cancel)
    progress(1, 3, "laying out tiles")
    tiles = minmax_tiles(values, (th, tw), n, invert=invert)
    cols = max(1, math.ceil(math.sqrt(n)))
    rgb = tile_grid(np.repeat(tiles[..., None], 3, axis=3), columns=cols, gap=1, background=BACKGROUND)
    progress(3, 3, "")
    what = SOURCES.get(source, source)
    desc = f"{n} of {available} tiles {th}×{tw} from {size:,} elements · {what}" + (" · inverted" if invert else "")
    return TileImage(rgb, n, available, cols, (th, tw), size, desc)


__all__ = ["IMAGE_SOURCES", "MAX_TILES", "TileImage", "tile_image"]
