"""Pass 2 of a float32 tensor mostly from pass 1's pattern table of its top 16 bits.

Pass 1 counts every pattern of a float32's top 16 bits (sign, exponent, 7 mantissa bits): a *bucket* of 65,536
consecutive floats, ordered by their low 16 bits. For trained weights nearly every bucket lies inside one bin of
the histogram, and wholly inside or outside the near-zero band (``|x| <= thr``): its count goes there without
reading a value. A bucket that one bin edge cuts is split at the first low-16-bit pattern past the edge, so its
values need one comparison each. Only the values of a bucket that several edges cut (bins narrower than the
bucket, far out in a skewed tensor's tail) or that an edge of the band cuts (two tiny buckets near ±thr) are
binned one by one, as :func:`~.kernels._k_hist` bins them. The second read of the tensor then costs a table
look-up and one increment per value (``_k_split``) instead of a bin estimate, its checks and a scatter
(``_k_hist``): about 0.45 ns a value instead of 1.2-1.6 on this project's 2-core test machine.

The counts equal ``np.histogram``'s, because with bins wider than a few ulps (the only case this is used for:
:func:`plan` returns ``None`` otherwise) numpy's estimate-and-correct binning puts every value in the bin whose
edges hold it, ``edges[k] <= x < edges[k+1]`` (the last bin closed), which is monotone in the value; and within a
bucket the value is monotone in the low 16 bits. Values outside the range (a range given for a shared x axis)
and non-finite values are not counted, as numpy drops them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ``thr16`` entry of a bucket whose values all share one bin (no value reaches it).
NO_SPLIT = 65536
#: ``thr16`` entry of a bucket whose values are binned one by one: several bin edges, or an edge of the near-zero
#: band, cut it.
EACH = -1
#: Such buckets may hold at most this share of the values (each costs a full binning and a mispredicted branch);
#: beyond it the plain histogram pass is used.
MAX_EACH_SHARE = 1 / 64
#: Values a tensor must hold for the plan to pay: making it costs about a millisecond, and saves about 1.2 ns a
#: value over the plain histogram pass.
MIN_VALUES = 1 << 21
_FINITE_TOP = 0x7F80  # top-16 patterns at and above this (either sign) are Inf and NaN


@dataclass(frozen=True)
class SplitPlan:
    """What ``_k_split`` needs (``thr16``, ``thr``) and how its counts become the histogram and the near-zero
    count (:meth:`finish`)."""

    thr16: np.ndarray  # int32 [65536]: NO_SPLIT, EACH, or the low-16 pattern where the bucket's bin changes
    thr: np.float32  # the near-zero band's half width (negative: count nothing)
    bins: int
    # per finite used bucket: its count, first and last bin (-1 below the range, ``bins`` above), in the band
    tops: np.ndarray
    counts: np.ndarray
    first_bin: np.ndarray
    last_bin: np.ndarray
    near: np.ndarray

    def finish(self, above: np.ndarray, each: np.ndarray, near_each: int) -> tuple[np.ndarray, int]:
        """The histogram and near-zero count from ``_k_split``'s counts summed over the tensor's pieces: per
        bucket the values at or past its split (``above``), and the histogram and near-zero count of the values
        binned one by one (``each``, ``near_each``)."""
        bins = self.bins
        split = self.thr16[self.tops]
        past = np.where((split >= 0) & (split < NO_SPLIT), above[self.tops], 0)
        whole = split != EACH
        hist = np.zeros(bins + 2, dtype=np.int64)  # slot 0: below the range, slot bins + 1: above it
        np.add.at(hist, self.first_bin[whole] + 1, self.counts[whole] - past[whole])
        np.add.at(hist, self.last_bin[whole] + 1, past[whole])
        hist = hist[1 : bins + 1] + np.asarray(each[:bins], dtype=np.int64)
        return hist, int(self.counts[whole & self.near].sum()) + int(near_each)


def _values(tops: np.ndarray, lows: np.ndarray) -> np.ndarray:
    return ((tops.astype(np.uint32) << np.uint32(16)) | lows.astype(np.uint32)).view(np.float32)


def _bin_of(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin each value falls in (``edges[k] <= x < edges[k+1]``, the last bin closed); -1 below the range,
    ``bins`` above it."""
    bins = edges.size - 1
    k = np.searchsorted(edges, x, side="right") - 1
    k[x == edges[-1]] = bins - 1
    return k


def _near(x: np.ndarray, thr: np.float32) -> np.ndarray:
    return np.abs(x) <= thr


def _first_change(tops: np.ndarray, key, start: np.ndarray) -> np.ndarray:
    """Per bucket, the first low-16 pattern whose ``key`` differs from the key at pattern 0, for buckets where the
    key at 0xFFFF differs (bisection: the key is monotone along a bucket, so "differs" holds from some point on)."""
    lo = np.zeros(tops.size, dtype=np.int64)
    hi = np.full(tops.size, 0xFFFF, dtype=np.int64)
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            return hi
        mid = (lo + hi) // 2
        moved = key(_values(tops, mid)) != start
        hi = np.where(open_ & moved, mid, hi)
        lo = np.where(open_ & ~moved, mid, lo)


def plan(top: np.ndarray, edges: np.ndarray, thr: np.float32, exact: bool) -> SplitPlan | None:
    """The split plan of a float32 tensor whose top-16-bit pattern table is ``top`` (65,536 counts), histogram
    ``edges`` (float32) and near-zero threshold ``thr`` (float32; negative: count nothing); ``None`` where the
    plain pass must run: fewer than :data:`MIN_VALUES` values, bins too narrow for the estimate (``exact``), edges
    of another type, or too many values in buckets that several edges cut."""
    if exact or edges.dtype != np.float32 or top.size != 65536 or edges.size < 2:
        return None
    if int(top.sum()) < MIN_VALUES:
        return None
    bins = edges.size - 1
    tops = np.flatnonzero(top).astype(np.int64)
    tops = tops[(tops & 0x7FFF) < _FINITE_TOP]
    counts = top[tops].astype(np.int64)
    first = _values(tops, np.zeros_like(tops))
    last = _values(tops, np.full_like(tops, 0xFFFF))
    first_bin, last_bin = _bin_of(first, edges), _bin_of(last, edges)
    first_near, last_near = _near(first, thr), _near(last, thr)
    thr16 = np.full(65536, NO_SPLIT, dtype=np.int32)
    cut = np.flatnonzero(first_bin != last_bin)
    if cut.size:
        at = _first_change(tops[cut], lambda x: _bin_of(x, edges), first_bin[cut])
        one = _bin_of(_values(tops[cut], at), edges) == last_bin[cut]  # one step: the key past ``at`` is the last one
        thr16[tops[cut]] = np.where(one, at, EACH)
    band = first_near != last_near  # the buckets holding +thr and -thr: one each at most
    thr16[tops[band]] = EACH
    each = thr16[tops] == EACH
    if counts[each].sum() > MAX_EACH_SHARE * max(1, int(counts.sum())):
        return None
    return SplitPlan(thr16, thr, bins, tops, counts, first_bin, last_bin, first_near & last_near)
