"""Streaming per-tensor statistics: exact, mergeable over chunks, and cheap per byte.

One tensor is split into pieces (ranges of elements); each piece is read chunk by chunk into a reused buffer.
Pass 1 accumulates counts, extrema, central moments (Chan et al.'s parallel merge), lag-1 sums and the bit-plane
tables; pass 2, once the tensor's range and σ are known, builds the value histogram (numpy's exact binning
rule, so counts equal ``np.histogram``'s) and counts values within ±0.05σ of zero. The low byte's histogram
comes for free from pass 1's 16-bit pattern tables. Pieces of the same tensor may run on different threads and merge in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from inspector.core.dtypes import DType, widen

#: Half-width of the "near zero" band, in standard deviations (sign encoding piles a third of the weights inside it;
#: benign layers hold a few percent).
NEAR_ZERO_SIGMAS = 0.05


@dataclass(frozen=True)
class Histogram:
    """Counts of values in ``len(edges) - 1`` bins; ``edges`` are shared with any baseline it is compared to."""

    edges: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        self.edges.setflags(write=False)
        self.counts.setflags(write=False)

    @property
    def bins(self) -> int:
        return len(self.counts)

    def to_json(self) -> dict:
        return {"edges": [float(e) for e in self.edges], "counts": [int(c) for c in self.counts]}


@dataclass(frozen=True)
class TensorStats:
    """Statistics of one tensor. Moments ignore NaN and ±Inf; fractions are of all elements.

    ``bit_ones[i]`` is P(bit i = 1) in the raw integer view, bit 0 being the lowest mantissa bit.
    ``low_byte_counts`` is the 256-bin histogram of the least significant byte (float tensors only).
    ``nibble_pairs[i]`` counts the 256 values of 4-bit halves i+1 (high) and i (low) of the raw view taken together,
    lowest first: even rows are the bytes, odd rows the pairs that straddle two bytes (integer tensors of two bytes
    or more: what packed 4-bit weights are judged by).
    ``kurtosis`` is the plain fourth standardised moment (3 for a Gaussian).
    """

    count: int
    nan: int = 0
    inf: int = 0
    zero: int = 0
    subnormal: int = 0
    min: float = math.nan
    max: float = math.nan
    mean: float = math.nan
    std: float = math.nan
    skewness: float = math.nan
    kurtosis: float = math.nan
    near_zero_fraction: float = math.nan
    positive_fraction: float = math.nan
    autocorr_value: float = math.nan
    autocorr_sign: float = math.nan
    low_byte_entropy: float = math.nan
    histogram: Optional[Histogram] = None
    bit_ones: tuple[float, ...] = ()
    #: read-only int64 array of 256 counts (a tuple of 256 Python ints held 10 KB for every tensor), or ``()``
    low_byte_counts: np.ndarray | tuple[int, ...] = ()
    nibble_pairs: tuple[tuple[int, ...], ...] = ()

    @property
    def zero_fraction(self) -> float:
        return self.zero / self.count if self.count else math.nan

    def to_json(self) -> dict:
        def num(v: float) -> Optional[float]:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "count": self.count,
            "mean": num(self.mean),
            "std": num(self.std),
            "min": num(self.min),
            "max": num(self.max),
            "skewness": num(self.skewness),
            "kurtosis": num(self.kurtosis),
            "zero_fraction": num(self.zero_fraction),
            "zero": self.zero,
            "nan": self.nan,
            "inf": self.inf,
            "subnormal": self.subnormal,
            "near_zero_fraction": num(self.near_zero_fraction),
            "positive_fraction": num(self.positive_fraction),
            "autocorr_value": num(self.autocorr_value),
            "autocorr_sign": num(self.autocorr_sign),
            "low_byte_entropy": num(self.low_byte_entropy),
            "bit_ones": [round(b, 6) for b in self.bit_ones],
            **({"nibble_pairs": [list(r) for r in self.nibble_pairs]} if self.nibble_pairs else {}),
        }

    @classmethod
    def from_json(cls, d: dict, histogram: Optional[dict] = None) -> TensorStats:
        """Statistics from their scan/1 form (with the tensor's ``histogram`` entry, if any)."""

        def f(key: str) -> float:
            v = d.get(key)
            return math.nan if v is None else float(v)

        count = int(d.get("count") or 0)
        zero = d.get("zero")
        if zero is None:  # documents written before the count was recorded
            zf = d.get("zero_fraction")
            zero = int(round(float(zf) * count)) if zf is not None else 0
        hist = None
        if histogram and histogram.get("counts"):
            hist = Histogram(
                np.asarray(histogram["edges"], dtype=np.float64), np.asarray(histogram["counts"], dtype=np.int64)
            )
        return cls(
            count=count,
            nan=int(d.get("nan") or 0),
            inf=int(d.get("inf") or 0),
            zero=int(zero),
            subnormal=int(d.get("subnormal") or 0),
            min=f("min"),
            max=f("max"),
            mean=f("mean"),
            std=f("std"),
            skewness=f("skewness"),
            kurtosis=f("kurtosis"),
            near_zero_fraction=f("near_zero_fraction"),
            positive_fraction=f("positive_fraction"),
            autocorr_value=f("autocorr_value"),
            autocorr_sign=f("autocorr_sign"),
            low_byte_entropy=f("low_byte_entropy"),
            histogram=hist,
            bit_ones=tuple(float(b) for b in d.get("bit_ones") or ()),
            nibble_pairs=tuple(tuple(int(c) for c in r) for r in d.get("nibble_pairs") or ()),
        )


# --------------------------------------------------------------------------------------------------------------
# Pass 1: mergeable accumulators


@dataclass
class Moments:
    """Count, mean and central moment sums M2..M4 of finite values, mergeable (Chan/Pébay)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        n = x.size
        if n == 0:
            return cls()
        d = x.astype(np.float64)  # a private copy, centred in place
        mean = float(d.sum()) / n
        d -= mean
        return cls.of_centred(d, mean)

    @classmethod
    def of_centred(cls, d: np.ndarray, mean: float) -> Moments:
        """Moments from float64 values already centred on their own ``mean``."""
        d2 = d * d
        # einsum, not np.dot: BLAS ddot can be 50x slower here under thread contention
        return cls(d.size, mean, float(d2.sum()), float(np.einsum("i,i->", d2, d)), float(np.einsum("i,i->", d2, d2)))

    def merge(self, o: Moments) -> Moments:
        if o.n == 0:
            return self
        if self.n == 0:
            return o
        try:
            return self._merge(o)
        except OverflowError:  # values near the float64 limit: the moments are infinite, not an error
            return Moments(self.n + o.n, math.nan, math.inf, math.nan, math.inf)

    def _merge(self, o: Moments) -> Moments:
        n = self.n + o.n
        delta = o.mean - self.mean
        d_n = delta / n
        na, nb = self.n, o.n
        mean = self.mean + d_n * nb
        m2 = self.m2 + o.m2 + delta * d_n * na * nb
        m3 = self.m3 + o.m3 + delta * d_n * d_n * na * nb * (na - nb) + 3.0 * d_n * (na * o.m2 - nb * self.m2)
        m4 = (
            self.m4
            + o.m4
            + delta * d_n**3 * na * nb * (na * na - na * nb + nb * nb)
            + 6.0 * d_n * d_n * (na * na * o.m2 + nb * nb * self.m2)
            + 4.0 * d_n * (na * o.m3 - nb * self.m3)
        )
        return Moments(n, mean, m2, m3, m4)


@dataclass
class Pass1:
    """What pass 1 accumulates over a run of consecutive elements of one tensor."""

    count: int = 0
    nan: int = 0
    inf: int = 0
    zero: int = 0
    subnormal: int = 0
    positive: int = 0
    min: float = math.inf
    max: float = -math.inf
    moments: Moments = field(default_factory=Moments)
    # lag-1 sums over finite consecutive pairs inside the run, plus the run's first and last value/sign
    sxy: float = 0.0
    pairs: int = 0
    s_head: float = 0.0  # sum of x_i over pairs' first members
    s_tail: float = 0.0  # sum of x_{i+1} over pairs' second members
    neg_pairs: int = 0  # consecutive (negative, negative) sign-bit pairs
    neg_head: int = 0
    neg_tail: int = 0
    sign_pairs: int = 0
    negatives: int = 0
    first: Optional[tuple[float, int]] = None  # (value, sign bit) of the first element
    last: Optional[tuple[float, int]] = None
    #: 16-bit (or 8-bit) pattern counts per lane of the raw view; a lane of a type wider than 16 bits may be in the
    #: compact form of :func:`lane_counts`
    tables: Optional[list[np.ndarray]] = None
    #: an integer type's counts of adjacent 4-bit halves (see :func:`nibble_pair_counts`)
    nibbles: Optional[np.ndarray] = None

    def merge(self, o: Pass1) -> Pass1:
        """Combine with the run that immediately follows this one in storage order."""
        if o.count == 0:
            return self
        if self.count == 0:
            return o
        r = Pass1(
            count=self.count + o.count,
            nan=self.nan + o.nan,
            inf=self.inf + o.inf,
            zero=self.zero + o.zero,
            subnormal=self.subnormal + o.subnormal,
            positive=self.positive + o.positive,
            min=min(self.min, o.min),
            max=max(self.max, o.max),
            moments=self.moments.merge(o.moments),
            sxy=self.sxy + o.sxy,
            pairs=self.pairs + o.pairs,
            s_head=self.s_head + o.s_head,
            s_tail=self.s_tail + o.s_tail,
            neg_pairs=self.neg_pairs + o.neg_pairs,
            neg_head=self.neg_head + o.neg_head,
            neg_tail=self.neg_tail + o.neg_tail,
            sign_pairs=self.sign_pairs + o.sign_pairs,
            negatives=self.negatives + o.negatives,
            first=self.first,
            last=o.last,
            tables=_add_tables(self.tables, o.tables),
            nibbles=o.nibbles
            if self.nibbles is None
            else self.nibbles
            if o.nibbles is None
            else self.nibbles + o.nibbles,
        )
        # the pair that straddles the boundary
        if self.last is not None and o.first is not None:
            (xa, sa), (xb, sb) = self.last, o.first
            if math.isfinite(xa) and math.isfinite(xb):
                r.sxy += xa * xb
                r.pairs += 1
                r.s_head += xa
                r.s_tail += xb
            r.sign_pairs += 1
            r.neg_pairs += sa & sb
            r.neg_head += sa
            r.neg_tail += sb
        return r


def _add_tables(a: Optional[list[np.ndarray]], b: Optional[list[np.ndarray]]) -> Optional[list[np.ndarray]]:
    if a is None:
        return b
    if b is None:
        return a
    return [x + y if x.shape == y.shape else lane_counts(x) + lane_counts(y) for x, y in zip(a, b)]


def _tiny(dt: DType) -> float:
    """The smallest normal value of a float type (``np.finfo(...).tiny`` for the types numpy has)."""
    bias = (1 << (dt.exponent_bits - 1)) - 1
    return float(2.0 ** (1 - bias))


def pass1_chunk(raw: np.ndarray, dt: DType) -> Pass1:
    """Pass-1 accumulators of one chunk (raw storage values, flat)."""
    n = raw.size
    p = Pass1(count=n)
    if n == 0:
        return p
    x = widen(raw, dt)
    if dt.is_float:
        u = raw.view(dt.uint)
        signs = (u >> (dt.bits - 1)).astype(np.uint8, copy=False)
        p.tables = _bit_tables(u, dt)
    else:
        signs = (x < 0).astype(np.uint8)
        if dt.itemsize >= 2:  # packed 4-bit weights are judged by their adjacent halves
            p.nibbles = nibble_pair_counts(raw.view(np.uint8).reshape(n, dt.itemsize))
    mn, mx = float(x.min()), float(x.max())
    finite_mask = None
    if not (math.isfinite(mn) and math.isfinite(mx)):
        isnan = np.isnan(x)
        isinf = np.isinf(x)
        p.nan = int(np.count_nonzero(isnan))
        p.inf = int(np.count_nonzero(isinf))
        finite_mask = ~(isnan | isinf)
        xf = x[finite_mask]
        mn, mx = (float(xf.min()), float(xf.max())) if xf.size else (math.inf, -math.inf)
    else:
        xf = x
    p.min, p.max = mn, mx
    nf = xf.size
    if nf:
        d = xf.astype(np.float64)
        c = float(d.sum()) / nf
        d -= c
        p.moments = Moments.of_centred(d, c)
    p.zero = int(np.count_nonzero(xf == 0))
    p.positive = int(np.count_nonzero(xf > 0))
    if dt.is_float:
        p.subnormal = int(np.count_nonzero(np.abs(xf) < _tiny(dt))) - p.zero
    # lag-1 value sums over finite consecutive pairs
    if n > 1:
        if finite_mask is None:
            # from the centred copy: sum x_i x_{i+1} = sum d_i d_{i+1} + c (sum d[:-1] + sum d[1:]) + (n-1) c^2,
            # and sum d = 0 gives sum d[:-1] = -d[-1], sum d[1:] = -d[0]
            inner = float(np.einsum("i,i->", d[:-1], d[1:]))
            p.sxy = inner + c * (-float(d[-1]) - float(d[0])) + (n - 1) * c * c
            p.pairs = n - 1
            p.s_head = n * c - float(x[-1])
            p.s_tail = n * c - float(x[0])
        else:
            ok = finite_mask[:-1] & finite_mask[1:]
            a = np.where(ok, x[:-1], 0).astype(np.float64)
            b = np.where(ok, x[1:], 0).astype(np.float64)
            p.sxy = float(np.einsum("i,i->", a, b))
            p.pairs = int(np.count_nonzero(ok))
            p.s_head, p.s_tail = float(a.sum()), float(b.sum())
        p.neg_pairs = int(np.count_nonzero(signs[:-1] & signs[1:]))
        p.neg_head = int(np.count_nonzero(signs[:-1]))
        p.neg_tail = int(np.count_nonzero(signs[1:]))
        p.sign_pairs = n - 1
    p.negatives = int(np.count_nonzero(signs))
    p.first = (float(x[0]), int(signs[0]))
    p.last = (float(x[-1]), int(signs[-1]))
    return p


#: Below this many elements, a chunk of a type wider than 16 bits counts its lanes in the compact form of
#: :func:`lane_counts` directly (3 × 256 counts, not 65,536 per lane: a tiny tensor's cost is its tables).
COMPACT_BELOW = 1 << 14


def _bit_tables(u: np.ndarray, dt: DType) -> list[np.ndarray]:
    """Counts of every 16-bit pattern in each 16-bit lane of the raw view (8-bit for 1-byte types).

    Two 65,536-bin ``bincount``\\ s over the halves of an fp32 give every bit frequency and the low byte's
    histogram at once, far cheaper than 32 mask-and-count passes. A small chunk of a type wider than 16 bits gets
    each lane's :func:`lane_counts` instead (what every consumer of a wider type's tables reads).
    """
    if dt.itemsize == 1:
        return [np.bincount(u, minlength=256)]
    lanes = u.view(np.uint16)
    k = dt.itemsize // 2
    if k == 1:
        return [np.bincount(lanes, minlength=65536)]
    lanes = lanes.reshape(-1, k)
    if u.size < COMPACT_BELOW:
        return _compact_lanes(lanes)
    return [np.bincount(lanes[:, i], minlength=65536) for i in range(k)]


def _compact_lanes(lanes: np.ndarray) -> list[np.ndarray]:
    """:func:`lane_counts` of each column of the 16-bit values ``lanes`` (rows × lanes) without their
    65,536-entry tables: one ``bincount`` for every row of every lane (lane i's rows at offset 768 i)."""
    k = lanes.shape[1]
    low = (lanes & 0xFF).astype(np.intp)
    high = (lanes >> 8).astype(np.intp)
    base = np.arange(k, dtype=np.intp) * 768
    high += base
    idx = np.concatenate([(low + base).ravel(), (high + 256).ravel(), (high + 512)[low == 0]])
    counts = np.bincount(idx, minlength=768 * k).astype(np.int64, copy=False).reshape(k, 3, 256)
    return list(counts)


def lane_counts(t: np.ndarray) -> np.ndarray:
    """The compact form of one 16-bit lane's pattern table, all that the statistics and features read of it:
    rows of 256 counts of the low byte, of the high byte, and of the high byte among values whose low byte is 0.
    Idempotent; an 8-bit table (256 counts) is returned as it is."""
    if t.size != 65536:
        return t
    m = t.reshape(256, 256)  # [high byte, low byte]
    if m.dtype != np.int64:
        return np.stack([m.sum(axis=0), m.sum(axis=1), m[:, 0]]).astype(np.int64, copy=False)
    # integer counts: any order of addition gives the same sums; einsum sums rows twice as fast as sum(axis=1)
    out = np.empty((3, 256), dtype=np.int64)
    m.sum(axis=0, out=out[0])
    np.einsum("ij->i", m, out=out[1])
    out[2] = m[:, 0]
    return out


#: bit b of each byte value, one row per bit
_BYTE_BITS = ((np.arange(256)[None, :] >> np.arange(8)[:, None]) & 1).astype(np.int64)


def plane_ones(t: np.ndarray) -> np.ndarray:
    """Counts of ones in each bit plane (lowest first) of the values a pattern table of 2^8 or 2^16 entries
    (or a 16-bit table's :func:`lane_counts`) counts (exact: integer counts, also when given as floats): a 16-bit
    table as 256 × 256, the low byte's planes from its column sums and the high byte's from its row sums, each by
    one small integer product."""
    if t.size == 65536 or t.shape == (3, 256):
        c = lane_counts(t)
        low, high = c[0].astype(np.int64, copy=False), c[1].astype(np.int64, copy=False)
        return np.concatenate([_BYTE_BITS @ low, _BYTE_BITS @ high]).astype(np.float64)
    return (_BYTE_BITS @ t.astype(np.int64)).astype(np.float64)


def nibble_pair_counts(b: np.ndarray) -> np.ndarray:
    """Counts of every adjacent pair of 4-bit halves of values given as bytes (``b``: values × bytes, lowest byte
    first): row i counts ``half[i + 1] << 4 | half[i]``, so even rows are the bytes themselves and odd rows the
    pairs that straddle two bytes (the high half of one, the low half of the next)."""
    k = b.shape[1]
    rows = []
    for i in range(k):
        rows.append(np.bincount(b[:, i], minlength=256))
        if i + 1 < k:
            rows.append(np.bincount((b[:, i] >> 4) | ((b[:, i + 1] & 0x0F) << 4), minlength=256))
    return np.stack(rows).astype(np.int64, copy=False)


def bit_ones(tables: list[np.ndarray], count: int) -> tuple[float, ...]:
    """P(bit = 1) for every bit of the raw view, bit 0 first, from the lane pattern tables (exact counts; no
    BLAS product, which stalled for tens of ms under thread contention)."""
    if not count:
        return ()
    # every lane's byte counts as rows (low byte, then high byte), bit counts of all of them by one product
    rows = [lane_counts(t)[:2] if t.size == 65536 or t.shape == (3, 256) else t.reshape(1, -1) for t in tables]
    ones = np.concatenate(rows).astype(np.int64, copy=False) @ _BYTE_BITS.T
    return tuple((ones.ravel().astype(np.float64) / count).tolist())


def low_byte_counts(tables: list[np.ndarray]) -> np.ndarray:
    t = tables[0]
    if t.size == 256:
        return t.copy()
    return lane_counts(t)[0].copy()


def entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(abs(-(p * np.log2(p)).sum()))


# --------------------------------------------------------------------------------------------------------------
# Pass 2: histogram with numpy's exact binning, and the near-zero band


def histogram_edges(lo: float, hi: float, bins: int, dt: DType) -> np.ndarray:
    """Bin edges exactly as ``np.histogram(values, bins, range=(lo, hi))`` makes them for this tensor."""
    lo, hi = outer_range(lo, hi)
    sample = np.empty(0, dtype=_value_dtype(dt))
    try:
        return _bin_edges(sample, bins, lo, hi)
    except ValueError:
        if not math.isfinite(hi - lo):  # a range wider than the largest float: halve exactly, bin, double
            return np.histogram_bin_edges(sample, bins=bins, range=(lo / 2, hi / 2)) * 2
        # the range spans fewer representable values than bins (weights within a few ulps of each other):
        # widen it symmetrically until every bin has a finite width
        mid = lo / 2 + hi / 2  # (lo + hi) / 2 overflows at the ends of float64
        m = np.abs(sample.dtype.type(mid))
        with np.errstate(over="ignore"):
            ulp = float(np.spacing(m))
        if not math.isfinite(ulp):  # the largest float has no float above it: the step below it
            ulp = float(m) - float(np.nextafter(m, sample.dtype.type(0)))
        half = max(hi - lo, bins * ulp) * 2
        a, b = mid - half, mid + half
        # at the ends of the type (an attention mask's fill value, -3.4e38 in float32) widening must stay inside
        # it: the edges are made in the values' type, where a range past the largest float is infinite
        top = float(np.finfo(sample.dtype).max)
        if a < -top:
            a, b = -top, -top + 2 * half
        elif b > top:
            a, b = top - 2 * half, top
        return np.histogram_bin_edges(sample, bins=bins, range=(a, b))


def _bin_edges(sample: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """``np.histogram_bin_edges(sample, bins, range=(lo, hi))`` for a whole number of bins and a finite range
    (as :func:`outer_range` gives), by numpy's own steps without its argument handling (a model of 20,000 tensors
    makes 20,000 edge arrays): the edge type of ``np.result_type(lo, hi, sample)``, ``np.linspace`` over the
    range, and ``ValueError`` where bins would have no width."""
    if bins < 1 or lo > hi or not (math.isfinite(lo) and math.isfinite(hi)):
        return np.histogram_bin_edges(sample, bins=bins, range=(lo, hi))  # numpy says what is wrong
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edge_type = np.result_type(lo, hi, sample)
    if np.issubdtype(edge_type, np.integer):
        edge_type = np.result_type(edge_type, float)
    edges = np.linspace(lo, hi, bins + 1, endpoint=True, dtype=edge_type)
    if np.any(edges[:-1] >= edges[1:]):
        raise ValueError(f"Too many bins for data range. Cannot create {bins} finite-sized bins.")
    return edges


def _value_dtype(dt: DType) -> np.dtype:
    if dt.name == "F64" or not dt.is_float:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def outer_range(lo: float, hi: float) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return 0.0, 1.0
    if lo == hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def histogram_chunk(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histogram counts of ``x`` over uniform ``edges``, following ``np.histogram``'s algorithm step for step
    (so counts are identical, values on edges included), without its per-call overheads."""
    bins = len(edges) - 1
    first, last = edges[0], edges[-1]
    if not np.isfinite(last - first):  # halving is exact and keeps order: bin the halves on halved edges
        return histogram_chunk(x * 0.5, edges * 0.5)
    keep = (x >= first) & (x <= last)
    if not keep.all():
        x = x[keep]
    width = last - first
    with np.errstate(over="ignore"):
        norm = bins / width
    # a range of a few subnormals: bins/width overflows, so divide first (as np.histogram does)
    f = (x - first) * norm if np.isfinite(norm) else (x - first) / width * bins
    idx = f.astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)
    dec = x < edges[idx]
    idx[dec] -= 1
    inc = (x >= edges[idx + 1]) & (idx != bins - 1)
    idx[inc] += 1
    return np.bincount(idx, minlength=bins)


def finalize(
    p1: Pass1, dt: DType, hist_counts: Optional[np.ndarray], edges: Optional[np.ndarray], near_zero: int
) -> TensorStats:
    """Turn merged pass-1 accumulators and pass-2 counts into :class:`TensorStats`."""
    m = p1.moments
    n = p1.count
    if m.n:
        var = m.m2 / m.n
        std = math.sqrt(var)
        mean = m.mean
        skew = (m.m3 / m.n) / var**1.5 if var > 0 else math.nan
        kurt = (m.m4 / m.n) / (var * var) if var > 0 else math.nan
    else:
        var = std = mean = skew = kurt = math.nan
    ac_v = math.nan
    if p1.pairs > 1 and m.n and var > 0:
        num = p1.sxy - mean * (p1.s_head + p1.s_tail) + p1.pairs * mean * mean
        ac_v = (num / p1.pairs) / var
    ac_s = math.nan
    if p1.sign_pairs > 1 and n:
        q = p1.negatives / n
        if 0 < q < 1:
            num = p1.neg_pairs - q * (p1.neg_head + p1.neg_tail) + p1.sign_pairs * q * q
            ac_s = (num / p1.sign_pairs) / (q * (1 - q))
    hist = None
    lb: np.ndarray | tuple[int, ...] = ()
    ent = math.nan
    bits: tuple[float, ...] = ()
    pairs: tuple[tuple[int, ...], ...] = ()
    if dt.is_float and p1.tables is not None:
        bits = bit_ones(p1.tables, n)
        lbc = low_byte_counts(p1.tables)
        lb = np.array(lbc, dtype=np.int64)
        lb.setflags(write=False)
        ent = entropy_bits(lbc)
    elif p1.nibbles is not None:
        pairs = tuple(tuple(r) for r in p1.nibbles.tolist())
    if hist_counts is not None and edges is not None:
        hist = Histogram(np.asarray(edges, dtype=np.float64), np.asarray(hist_counts, dtype=np.int64))
    return TensorStats(
        count=n,
        nan=p1.nan,
        inf=p1.inf,
        zero=p1.zero,
        subnormal=p1.subnormal,
        min=p1.min if m.n else math.nan,
        max=p1.max if m.n else math.nan,
        mean=mean,
        std=std,
        skewness=skew,
        kurtosis=kurt,
        near_zero_fraction=near_zero / n if n and m.n else math.nan,
        positive_fraction=p1.positive / n if n else math.nan,
        autocorr_value=ac_v,
        autocorr_sign=ac_s,
        low_byte_entropy=ent,
        histogram=hist,
        bit_ones=bits,
        low_byte_counts=lb,
        nibble_pairs=pairs,
    )
