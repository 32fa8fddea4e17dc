"""How far a value histogram departs from a smooth curve, beyond counting noise: the measure the correlated-value
test judges (a copied secret's histogram is lumpy, trained weights' is smooth), and which the second read
(``structure.py``) takes again of a layer's values less its columns' levels."""

from __future__ import annotations

import math
import weakref
from types import SimpleNamespace
from typing import Any, Optional

import numpy as np

from inspector.core.dtypes import widen
from inspector.core.formats.base import TensorRef, iter_chunks
from inspector.core.progress import CancelToken

#: Fewest elements, and fewest histogram bins of 1/8 σ across ±2.5σ, for a lumpiness figure.
LUMPY_MIN_COUNT = 4096
LUMPY_MIN_BINS = 16


#: Lumpiness already worked out, by the statistics object it was worked out of (frozen, so it cannot change):
#: the second read, the judge and every re-judgement ask again for each layer and its baseline layer, and the
#: fit costs about 75 µs a layer. An entry goes with its object.
_KNOWN: dict[int, tuple[weakref.ref, tuple[float, float]]] = {}


def lumpiness(stats: Any) -> tuple[float, float]:
    """:func:`measure_lumpiness` of ``stats``, worked out once per statistics object."""
    key = id(stats)
    hit = _KNOWN.get(key)
    if hit is not None and hit[0]() is stats:
        return hit[1]
    value = measure_lumpiness(stats)

    def forget(_: object, k: int = key) -> None:
        _KNOWN.pop(k, None)

    try:
        ref = weakref.ref(stats, forget)
    except TypeError:  # an object without weak references: not kept
        return value
    _KNOWN[key] = (ref, value)
    return value


def measure_lumpiness(stats: Any) -> tuple[float, float]:
    """How far a layer's value histogram departs from a smooth curve, beyond counting noise: ``(rms, mass)``,
    NaN where not judged.

    Correlated value encoding makes the weights an affine copy of the secret's values plus noise, so their
    histogram inherits the secret's: pixel levels, letter frequencies, record fields, each a bump of its own.
    Trained (and initialised) weights have a smooth density. The histogram is regrouped into bins of about
    σ/8 across mean ± 2.5σ; the bins around zero (where weight decay and pruning pile values) and thin bins are
    left out; a quartic is fitted to the log counts (a Gaussian is a quadratic, skew and kurtosis the rest).
    ``rms`` is the RMS of (count − fit)/fit after subtracting the Poisson variance (every bin alike, so the
    tails speak loudly); ``mass`` is √((χ² − bins)/n), the same departures weighted by the bins' mass. Both are
    signed (≤ 0: as smooth as counting noise allows). Values on a coarse grid (quantised: empty bins alternating
    with full ones within ±1σ; a gap between clusters is not a grid) are not judged, nor a histogram whose
    range, stretched by outliers, leaves fewer than 16 bins across ±2.5σ.
    """
    nan = (math.nan, math.nan)
    h = getattr(stats, "histogram", None)
    mean, std = float(getattr(stats, "mean", math.nan)), float(getattr(stats, "std", math.nan))
    if h is None or len(h.counts) < 2 or not (math.isfinite(mean) and math.isfinite(std)) or std <= 0:
        return nan
    edges = np.asarray(h.edges, dtype=np.float64)
    counts = np.asarray(h.counts, dtype=np.float64)
    if int(counts.sum()) < LUMPY_MIN_COUNT:
        return nan
    width = float(edges[1] - edges[0])
    if not math.isfinite(width) or width <= 0:
        return nan
    mid = (edges[:-1] + edges[1:]) / 2
    empty = counts[np.abs(mid - mean) < std] == 0
    flips = int(np.count_nonzero(empty[1:] != empty[:-1]))
    if len(empty) >= 8 and float(np.mean(empty)) > 0.1 and flips >= max(8, len(empty) // 5):
        return nan  # values on a grid (quantised): empty bins alternate with full ones, the grid's comb
    g = max(1, int(round(0.125 * std / width)))
    inside = np.flatnonzero(np.abs(mid - mean) < 2.5 * std)
    if len(inside) < LUMPY_MIN_BINS * g:
        return nan
    m = (len(inside) // g) * g
    grouped = counts[inside[0] : inside[0] + m].reshape(-1, g).sum(axis=1)
    centre = mid[inside[0] : inside[0] + m].reshape(-1, g).mean(axis=1)
    keep = (np.abs(centre) > 0.15 * std + g * width) & (grouped > 20)
    if int(keep.sum()) < 12:
        return nan
    z, c = (centre[keep] - mean) / std, grouped[keep]
    poly = np.polynomial.polynomial
    fit = np.exp(poly.polyval(z, poly.polyfit(z, np.log(c), 4, w=np.sqrt(c))))
    rough = float(np.mean(((c - fit) ** 2 - fit) / fit**2))
    chi = float(np.sum((c - fit) ** 2 / fit)) - len(c)
    return math.copysign(math.sqrt(abs(rough)), rough), math.copysign(math.sqrt(abs(chi) / float(c.sum())), chi)


#: A layer whose lumpiness comes this near the correlated-value test's thresholds (half of 1.0 RMS and 0.3 by
#: mass) is measured again less its columns' levels, up to this many elements.
NEAR_LUMPY = (0.5, 0.15)
MAX_RESIDUAL_ELEMENTS = 1 << 22


def residual_lumpiness(ref: TensorRef, cancel: Optional[CancelToken] = None) -> tuple[float, float]:
    """Lumpiness of a layer's values less each column's mean (NaN where not judged): input units with a level of
    their own (a few columns shifted up or down) make the whole histogram lumpy, which a copied secret's levels
    survive, since the columns of an image or a text have much the same mean."""
    width = int(math.prod(ref.shape[1:])) if len(ref.shape) >= 2 else 0
    if width < 2 or ref.numel > MAX_RESIDUAL_ELEMENTS or ref.numel < 4 * width:
        return math.nan, math.nan
    x = np.concatenate([widen(c, ref.dtype).astype(np.float64) for c in iter_chunks(ref, cancel=cancel)])
    x = x.reshape(-1, width)
    x = x[np.all(np.isfinite(x), axis=1)]
    if x.shape[0] < 4:
        return math.nan, math.nan
    r = (x - x.mean(axis=0, keepdims=True)).reshape(-1)
    lo, hi = float(r.min()), float(r.max())
    if not hi > lo:
        return math.nan, math.nan
    counts, edges = np.histogram(r, bins=256, range=(lo, hi))
    hist = SimpleNamespace(counts=counts, edges=edges)
    return measure_lumpiness(SimpleNamespace(histogram=hist, mean=float(r.mean()), std=float(r.std())))
