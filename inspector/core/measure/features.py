"""Whole-tensor features for the detectors, accumulated in the same streaming pass as the statistics.

Every element of every float tensor is seen, in storage order, in bounded memory: nothing here samples a
prefix. A tensor is split into pieces (aligned to its units: conv kernels or matrix rows); each piece is read
chunk by chunk and folded into a :class:`FeatureAcc`; pieces merge in storage order. What is accumulated:

- lag-1 sums of the non-zero finite values and of their signs (zeros set aside: pruned models are full of
  them, they carry no sign and no mantissa), carried across chunk and piece boundaries;
- sums per position modulo :data:`PHASES` (= lcm of the periods measured) of the same sequence, so the share of
  variance explained by the position within any period in :data:`PERIODS` is exact for the whole tensor;
- within-unit lag-1 sums and each unit's first and last value, giving the autocorrelation expected when whole
  units are shuffled (the null of the order tests) without materialising a permutation;
- distinct values up to :data:`GRID_LEVELS` (a quantisation grid), with a cheap early exit for ordinary tensors;
- low-byte counts per window of :data:`WINDOW` non-zero low bytes, keeping the least uniform window and where it lies:
  a payload written anywhere in a big tensor shows there even when the whole tensor's low byte looks uniform;
- the sign excess (see :func:`window_sign_excess`) of every window of :data:`SIGN_WINDOW` non-zero values, keeping
  the highest, where it lies, and the sum and sum of squares of all of them (so the detector can tell one
  outlying window, a partial sign payload, from a layer whose windows all vary);
- for tensors with many repeated values (untrained embedding rows), the low-bit pattern table of distinct
  values per chunk, so repeats are not mistaken for structure.

Bit-plane frequencies and the tensor's low-byte histogram come from the statistics pass's pattern tables.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, Optional

import numpy as np

from inspector.core.dtypes import DTYPES, DType, widen
from inspector.core.measure.stats import lane_counts, plane_ones

#: Below this many non-zero elements, order and shape statistics are too noisy to judge a tensor by.
MIN_ORDER = 512
#: Below this many judged elements, bit-level tests are skipped.
MIN_BITS = 256
#: Periods (in elements) whose phase structure is measured: image widths, and 8 (bits of a byte).
PERIODS = (8, 16, 28, 32)
#: Periods of the sign sequence measured: the bits of a byte and of a 2-byte word (float16 records, UTF-16).
SIGN_PERIODS = (8, 16)
#: Phase bins kept: a common multiple of every period in :data:`PERIODS`.
PHASES = 224
#: Bias of the top mantissa plane of Benford-like trained weights: P(bit = 1) ≈ 0.5 − 0.085, halving per plane.
TOP_PLANE_BIAS = 0.085
#: Lowest mantissa planes left out of the plane test (rounding after a product biases them in benign weights).
SKIP_PLANES = 3
#: Planes this far below the top of the mantissa count as uniform; higher planes carry the value distribution's
#: shape (e.g. the pixel levels correlated-value encoding leaves).
UNIFORM_PLANES_BELOW = 8
#: A tensor with at most this many distinct values (and many more elements) lies on a quantisation grid.
GRID_LEVELS = 256
#: The same for float32 and float64, whose trained values all differ: a layer quantised to a fixed step with up to
#: 10 bits of levels (k × 0.00625, k in −255..262: a captcha model's first convolution) is a grid too. Narrow
#: floats keep 256: their own rounding leaves a bfloat16 layer with about a thousand values.
WIDE_GRID_LEVELS = 1024


def grid_levels(dt: DType) -> int:
    """The most distinct values a tensor of type ``dt`` may hold and still lie on a quantisation grid."""
    return WIDE_GRID_LEVELS if dt.mantissa_bits >= 23 else GRID_LEVELS


#: Elements looked at before deciding a tensor cannot be a grid (more distinct values than GRID_LEVELS there).
GRID_PROBE = 4096
#: Judged (non-zero) low bytes per window: a window spans as many elements as it takes to hold them.
WINDOW = 512
#: Non-zero values per sign window (windows do not straddle the pieces a tensor is read in; a piece's last,
#: partly filled window is not judged).
SIGN_WINDOW = 1024
#: Share of repeated values in the first chunk above which the bit tests judge distinct values per chunk (for
#: float32; see :func:`repeat_probe` for narrower types, whose values repeat by rounding alone).
DUPLICATE_PROBE = 0.01


def repeat_probe(dt: DType) -> tuple[int, float]:
    """How many values to probe for repeats, and the share of repeats above which a tensor of type ``dt``
    repeats values (a computed basis, copied rows) rather than by rounding to its grid.

    Two draws from a smooth weight distribution land on the same float with probability c ≈ 2^-m / 2π (m
    mantissa bits; ∫ p(x)² ulp(x) dx is scale-free). float32 (c ≈ 2e-8) repeats nothing by chance in 65,536
    values; float16 (c ≈ 1.6e-4) repeats 80% of them, bfloat16 nearly all. So narrower types are probed on
    fewer values (about 0.05/c, at least 256), where chance repeats stay few, and the threshold is three times
    the chance share (never below :data:`DUPLICATE_PROBE`)."""
    c = 2.0 ** -max(1, dt.mantissa_bits) / (2 * math.pi)
    n = int(min(65536, max(256, 0.05 / c)))
    nc = n * c
    chance = 1.0 - (1.0 - math.exp(-nc)) / nc if nc > 1e-9 else 0.0
    return n, max(DUPLICATE_PROBE, 3.0 * chance)


def repeats(duplicates: float, dtype: str) -> bool:
    """Whether a tensor whose probe found ``duplicates`` repeats values beyond what its type's rounding makes."""
    dt = DTYPES.get(dtype)
    return duplicates >= (repeat_probe(dt)[1] if dt is not None else DUPLICATE_PROBE)


#: Layer kinds whose tensors are weight matrices or kernels (the tensors θ is made of).
WEIGHT_KINDS = ("dense", "conv", "embedding")


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not np.dot: BLAS dot stalls for tens of ms under thread contention
    return float(np.einsum("i,i->", a, b))


def distinct(a: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``a`` (no NaN): ``np.unique``'s answer by a sort, which is tens of times
    faster than numpy 2's hash-based ``unique`` on a few thousand to a million values."""
    s = np.sort(a.reshape(-1))
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def n_distinct(a: np.ndarray) -> int:
    """``distinct(a).size`` without building the distinct values."""
    s = np.sort(a.reshape(-1))
    return int(s.size) if s.size < 2 else 1 + int(np.count_nonzero(s[1:] != s[:-1]))


def more_distinct_than(a: np.ndarray, cap: int) -> bool:
    """``n_distinct(a) > cap``, from a prefix of ``2 cap`` values first: trained weights are all distinct there,
    and a sort of 512 values costs a fifth of one of 4,096 (the grid probe of every tensor)."""
    if a.size > 2 * cap and n_distinct(a[: 2 * cap]) > cap:
        return True
    return n_distinct(a) > cap


def live(u: np.ndarray, dt: DType) -> np.ndarray:
    """Mask of the finite non-zero values of a float type's raw integer view (no conversion to float)."""
    a = u & np.array((1 << (dt.bits - 1)) - 1, dtype=u.dtype)
    return (a != 0) & (a < np.array(((1 << dt.exponent_bits) - 1) << dt.mantissa_bits, dtype=u.dtype))


def windowed(dt: DType) -> bool:
    """Whether low-byte windows (and the distinct-value table) are measured for tensors of type ``dt``."""
    return dt.itemsize >= 2 and dt.mantissa_bits >= 8


def unit_of(shape: tuple[int, ...]) -> int:
    """Elements of one unit: a conv kernel (product of the trailing dims past the second), else a matrix row."""
    if len(shape) < 2:
        return 0
    unit = math.prod(shape[2:]) if len(shape) > 2 else int(shape[-1])
    return unit if unit >= 1 else 0


@dataclass(frozen=True)
class Features:
    """What the detectors know about one float tensor. Fractions are of the non-zero elements."""

    name: str
    kind: str
    dtype: str
    count: int
    sampled: int
    nonzero: int
    zero_fraction: float
    near_zero: float
    positive: float
    skewness: float
    kurtosis: float
    autocorr: float
    #: lag-1 autocorrelation expected with whole units (conv kernels, matrix rows) shuffled: the null the order
    #: tests compare with (weight tensors only, else NaN)
    shuffled_autocorr: float
    sign_autocorr: float
    #: sign autocorrelation beyond what the value autocorrelation implies for Gaussian-like weights
    #: (arcsine law: ρ_sign = 2/π·asin ρ); ≈ 0 for trained weights, large when signs were written
    sign_excess: float
    #: best period among :data:`PERIODS` and the share of variance explained by the phase within it (as √η²)
    period: int
    periodic: float
    #: the same share for the sign sequence, best of :data:`SIGN_PERIODS`
    sign_periodic: float
    ks_gaussian: float
    #: distinct values (capped just above GRID_LEVELS), and whether the tensor sits on a quantisation grid
    levels: int
    grid: bool
    #: lowest mantissa planes that are zero in every non-zero element (16: a bf16 origin, 13: fp16)
    rounded_bits: int
    #: constant mantissa planes lying between varying ones (bits written below a rounded mantissa)
    gap_planes: tuple[int, ...]
    plane: int
    plane_ones: float
    plane_expected: float
    plane_deviation: float
    #: the bit tests judge values whose low byte is not zero (``judged`` of them; distinct values only where
    #: the tensor repeats values): ``duplicates`` is the share of repeated values in the first chunk,
    #: ``short_share`` that of judged candidates with a zero low byte
    duplicates: float
    short_share: float
    judged: int
    low_entropy_expected: float
    low_entropy: float
    low_chi_effect: float
    low_chi_z: float
    low_compress: float
    relative_spread: float
    #: the least uniform window of WINDOW judged low bytes: the elements it spans [start, stop), its judged bytes,
    #: low-byte entropy and χ²
    window_start: int = -1
    window_stop: int = -1
    window_judged: int = 0
    window_entropy: float = math.nan
    window_chi_effect: float = math.nan
    window_chi_z: float = math.nan
    window_compress: float = math.nan
    #: windows of SIGN_WINDOW non-zero values judged for their sign excess; the highest window's excess and the
    #: elements it spans [start, stop); the mean and standard deviation of the other windows' excess
    sign_windows: int = 0
    sign_window_excess: float = math.nan
    sign_window_start: int = -1
    sign_window_stop: int = -1
    sign_window_mean: float = math.nan
    sign_window_sd: float = math.nan
    #: measured only for tensors near a sign or period threshold (``structure.py``), else NaN: the lag-1 sign
    #: autocorrelation expected from each row's sign balance alone, and the share of variance (as √η²) that the
    #: column (input position) explains, of the values and of the signs
    row_sign_null: float = math.nan
    #: the share of variance (as √η²) that the row explains: rows with a level of their own
    row_eta: float = math.nan
    column_eta: float = math.nan
    column_sign_eta: float = math.nan
    #: 99th percentile of the period's share of variance (η²) that the columns' levels (values) and sign shares
    #: make when their order is shuffled: structure of the columns, not of the period (for the pass's period;
    #: for signs, the larger of periods 8 and 16)
    period_column_null: float = math.nan
    sign_period_column_null: float = math.nan
    #: lumpiness of the values less each column's mean (read again for layers near that test's thresholds)
    residual_lumpiness: float = math.nan
    residual_lumpiness_mass: float = math.nan
    #: correlation of the signs of the pairs across row ends (a row's last element and the next row's first)
    boundary_sign_corr: float = math.nan
    #: the same across a convolution's kernel ends (a kernel's last tap, the next kernel's first)
    kernel_boundary_sign_corr: float = math.nan
    #: the same for a convolution's kernels: the sign autocorrelation each kernel's balance implies, and the
    #: share of variance explained by the tap (position within the kernel)
    unit_sign_null: float = math.nan
    #: lag-1 correlation of the column means along the column index (second read): an image's columns are
    #: ordered (smooth across its width), a table's dimensions are not
    column_level_autocorr: float = math.nan
    kernel_eta: float = math.nan
    #: √η² of the signs by position among the non-zero values, at periods 4, 8 and 16 (a byte's pattern is the
    #: part of period 8 beyond period 4)
    sign_eta4: float = math.nan
    sign_eta8: float = math.nan
    sign_eta16: float = math.nan
    #: how the values end, read again where the low bits come near the LSB thresholds (``structure.py``): the
    #: share of non-zero low bytes with a trailing zero (½ at full precision, more where values were rounded), and
    #: the χ² effect of the low-byte bits above each value's lowest set bit (uniform when only rounding shaped them)
    rounded_share: float = math.nan
    above_lowest_count: float = math.nan
    above_lowest_chi_effect: float = math.nan
    #: share of the least uniform low-byte window's non-zero values that lie within 2⁻⁸ (relative) of their median,
    #: read again where that window comes near the window test's threshold (``structure.py``): over ½, most of
    #: the window is one value (the weights of inputs that never fire)
    window_cluster: float = math.nan
    #: share of distinct values among the least uniform low-byte window's values, read again where the tensor
    #: repeats values (``structure.py``): near 1, the window's low bytes are not the tensor's repeats
    window_distinct: float = math.nan
    #: share of repeated values in a probe far from that window (NaN: no room for one)
    repeats_elsewhere: float = math.nan

    @property
    def is_weight(self) -> bool:
        """A weight matrix or kernel (the tensors θ is made of), not a bias, norm or scalar."""
        return self.kind in WEIGHT_KINDS

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["gap_planes"] = list(self.gap_planes)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Features:
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name == "gap_planes":
                v = tuple(int(x) for x in v or ())
            elif v is None:
                v = math.nan
            kw[f.name] = v
        return cls(**kw)


# ------------------------------------------------------------------------------------------------ accumulate


def score_window(counts: np.ndarray, lows: np.ndarray, start: int, stop: int = -1) -> Optional[_Window]:
    """A low-byte window's uniformity (χ² of its non-zero low bytes; ``None`` below :data:`MIN_BITS` of them)."""
    ci = np.asarray(counts[1:], dtype=np.int64)
    ti = int(ci.sum())
    if ti < MIN_BITS:
        return None
    # χ² = Σ(c − e)²/e = 255·Σc²/t − t with e = t/255: from exact integer sums, so the compiled kernels, which
    # use the same formula, pick the same window when two score alike
    chi2 = 255.0 * float(int(np.dot(ci, ci))) / ti - ti
    z = (chi2 - 254.0) / math.sqrt(508.0)
    c = ci.astype(np.float64)
    t = float(ti)
    pr = c[c > 0] / t
    return _Window(
        score=z,
        start=int(start),
        stop=int(stop),
        judged=int(t),
        entropy=float(-(pr * np.log2(pr)).sum()),
        chi_effect=math.sqrt(max(0.0, chi2 - 254.0) / t),
        chi_z=z,
        lows=np.asarray(lows)[np.asarray(lows) != 0].tobytes(),
    )


def window_sign_excess(k: int, npos: int, pp: int, s: float, q: float, xy: float) -> float:
    """Sign excess of one window of ``k`` non-zero values: lag-1 sign autocorrelation (``npos`` positives, ``pp``
    positive pairs among its k − 1 pairs) less the arcsine law's 2/π·asin ρ of its value autocorrelation ρ
    (from Σx = ``s``, Σx² = ``q``, Σx·x' = ``xy``); NaN for a one-signed or constant window. The compiled
    kernels use the same formula."""
    if k < 2 or npos <= 0 or npos >= k:
        return math.nan
    p = npos / k
    sac = (pp / (k - 1) - p * p) / (p * (1.0 - p))
    m = s / k
    var = q / k - m * m
    if not var > 0:
        return math.nan
    ac = (xy / (k - 1) - m * m) / var
    return sac - 2.0 / math.pi * math.asin(max(-1.0, min(1.0, ac)))


@dataclass
class _Window:
    """The least uniform low-byte window seen so far."""

    score: float = -math.inf
    start: int = -1
    stop: int = -1
    judged: int = 0
    entropy: float = math.nan
    chi_effect: float = math.nan
    chi_z: float = math.nan
    lows: bytes = b""


@dataclass
class FeatureAcc:
    """Feature sums over a run of consecutive elements of one tensor (a piece), mergeable in storage order."""

    start: int = 0  # global index of the run's first element
    unit: int = 0
    seen: int = 0  # elements folded in so far
    # the non-zero finite sequence ("xs"): lag-1 sums, first and last value
    n: int = 0
    sxy: float = 0.0
    shead: float = 0.0
    stail: float = 0.0
    pairs: int = 0
    first: Optional[float] = None
    last: Optional[float] = None
    # its signs (1 = positive)
    pos_pairs: int = 0
    pos_head: int = 0
    pos_tail: int = 0
    # sums per position modulo PHASES (positions counted from the run's own first non-zero value)
    rsum: np.ndarray = field(default_factory=lambda: np.zeros(PHASES))
    rsq: np.ndarray = field(default_factory=lambda: np.zeros(PHASES))
    rcnt: np.ndarray = field(default_factory=lambda: np.zeros(PHASES, dtype=np.int64))
    rpos: np.ndarray = field(default_factory=lambda: np.zeros(PHASES, dtype=np.int64))
    # all values (non-finite as 0) over whole units: within-unit lag-1 sums, unit first/last sums
    wxy: float = 0.0
    whead: float = 0.0
    wtail: float = 0.0
    wpairs: int = 0
    ufirst: float = 0.0
    ulast: float = 0.0
    ufl: float = 0.0
    units: int = 0
    open_first: float = 0.0  # first value of the unit still open at the end of what was folded
    raw_last: float = 0.0  # last value folded (for the pair across a chunk boundary)
    # distinct values (None: more than level_cap, the grid threshold of the tensor's type)
    levels: Optional[np.ndarray] = field(default_factory=lambda: np.zeros(0))
    level_cap: int = GRID_LEVELS
    # distinct-value low-lane table, for tensors that repeat values
    dedup: Optional[bool] = None
    dup_share: float = 0.0
    dedup_table: Optional[np.ndarray] = None
    dedup_candidates: int = 0
    # low-byte windows
    win_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    win_fill: int = 0
    win_start: int = -1  # first element of the open window
    win_lows: list = field(default_factory=list)
    worst: _Window = field(default_factory=_Window)
    # sign windows: the open one (values, positives, positive pairs, Σx, Σx², Σx·x', its last value, first
    # element) and the judged ones (count, Σ excess, Σ excess², the highest and the elements it spans)
    sw_fill: int = 0
    sw_pos: int = 0
    sw_pp: int = 0
    sw_s: float = 0.0
    sw_q: float = 0.0
    sw_xy: float = 0.0
    sw_last: float = 0.0
    sw_start: int = -1
    sw_count: int = 0
    sw_sum: float = 0.0
    sw_sq: float = 0.0
    sw_best: float = -math.inf
    sw_best_start: int = -1
    sw_best_stop: int = -1

    # ------------------------------------------------------------------ chunks
    def add(self, raw: np.ndarray, dt: DType) -> None:
        """Fold in the next chunk of the run (raw storage values, flat; the buffer may be reused afterwards)."""
        m = raw.size
        if m == 0:
            return
        with np.errstate(all="ignore"):
            x = widen(raw, dt).astype(np.float64, copy=False)
            finite = np.isfinite(x)
            all_finite = bool(finite.all())
            self._order(x, finite, all_finite)
            self._units(x if all_finite else np.where(finite, x, 0.0))
        u = raw.view(dt.uint)
        self.level_cap = grid_levels(dt)
        self._levels(x, finite, all_finite)
        if windowed(dt):
            self._dedup(u, dt)
            self._windows(u, dt)
        self.seen += m

    def add_values(self, raw: np.ndarray, dt: DType, all_live: bool = False) -> None:
        """What :meth:`add` measures besides order, units and windows (distinct values, the distinct-value
        table), for a caller that folds those itself (the compiled kernels); ``seen`` is left to that caller.
        ``all_live``: the caller knows every value to be finite and non-zero. Costs nothing once the tensor is
        known to be no grid and to repeat no values (the usual case)."""
        if raw.size == 0:
            return
        if windowed(dt) and (self.dedup is None or self.dedup):
            self._dedup(raw.view(dt.uint), dt, all_live)
        if self.levels is None:
            return
        self.level_cap = grid_levels(dt)
        with np.errstate(all="ignore"):
            if self.levels.size == 0 and raw.size > 2 * GRID_PROBE:  # the probe of _levels, on a head only
                head = widen(raw[: 2 * GRID_PROBE], dt).astype(np.float64, copy=False)
                hv = head[np.isfinite(head)]
                if hv.size > GRID_PROBE and more_distinct_than(hv[:GRID_PROBE], self.level_cap):
                    self.levels = None
                    return
            x = widen(raw, dt).astype(np.float64, copy=False)
            finite = np.isfinite(x)
            self._levels(x, finite, bool(finite.all()))

    def _order(self, x: np.ndarray, finite: np.ndarray, all_finite: bool) -> None:
        mask = finite & (x != 0) if not all_finite else x != 0
        xs = x[mask]
        k = xs.size
        if k == 0:
            return
        self._sign_windows(xs, None if k == x.size else np.flatnonzero(mask))
        if self.last is not None:  # the pair across the previous chunk
            a, b = self.last, float(xs[0])
            self.sxy += a * b
            self.shead += a
            self.stail += b
            self.pairs += 1
            pa, pb = a > 0, b > 0
            self.pos_pairs += int(pa and pb)
            self.pos_head += int(pa)
            self.pos_tail += int(pb)
        if k > 1:
            self.sxy += _dot(xs[:-1], xs[1:])
            self.shead += float(xs[:-1].sum())
            self.stail += float(xs[1:].sum())
            self.pairs += k - 1
            s = xs > 0
            self.pos_pairs += int(np.count_nonzero(s[:-1] & s[1:]))
            npos = int(np.count_nonzero(s))
            self.pos_head += npos - int(s[-1])
            self.pos_tail += npos - int(s[0])
        if self.first is None:
            self.first = float(xs[0])
        self.last = float(xs[-1])
        # phase sums: position of xs[0] is self.n; rotate so that phase bins stay aligned to the run's start
        off = self.n % PHASES
        head = min(k, (PHASES - off) % PHASES)
        if head:
            seg = xs[:head]
            idx = slice(off, off + head)
            self.rsum[idx] += seg
            self.rsq[idx] += seg * seg
            self.rcnt[idx] += 1
            self.rpos[idx] += seg > 0
        body = (k - head) // PHASES * PHASES
        if body:
            blk = xs[head : head + body].reshape(-1, PHASES)
            self.rsum += blk.sum(axis=0)
            self.rsq += np.einsum("ij,ij->j", blk, blk)
            self.rcnt += blk.shape[0]
            self.rpos += np.count_nonzero(blk > 0, axis=0)
        tail = xs[head + body :]
        if tail.size:
            idx = slice(0, tail.size)
            self.rsum[idx] += tail
            self.rsq[idx] += tail * tail
            self.rcnt[idx] += 1
            self.rpos[idx] += tail > 0
        self.n += k

    def _sign_windows(self, xs: np.ndarray, where: Optional[np.ndarray]) -> None:
        """Fold the chunk's non-zero values ``xs`` (at chunk elements ``where``; None: every element) into the
        sign windows."""
        base = self.start + self.seen
        k = xs.size

        def at(i: int) -> int:
            return base + (i if where is None else int(where[i]))

        i = 0
        if self.sw_fill:  # the window left open by the previous chunk
            i = min(k, SIGN_WINDOW - self.sw_fill)
            self._sw_add(xs[:i])
            if self.sw_fill == SIGN_WINDOW:
                self._sw_close(at(i - 1) + 1)
        nw = (k - i) // SIGN_WINDOW
        if nw:
            blk = xs[i : i + nw * SIGN_WINDOW].reshape(nw, SIGN_WINDOW)
            pos = blk > 0
            npos = np.count_nonzero(pos, axis=1)
            pp = np.count_nonzero(pos[:, :-1] & pos[:, 1:], axis=1)
            sums = blk.sum(axis=1)
            sq = np.einsum("ij,ij->i", blk, blk)
            xy = np.einsum("ij,ij->i", blk[:, :-1], blk[:, 1:])
            for r in range(nw):
                e = window_sign_excess(
                    SIGN_WINDOW, int(npos[r]), int(pp[r]), float(sums[r]), float(sq[r]), float(xy[r])
                )
                j = i + r * SIGN_WINDOW
                self._sw_judge(e, at(j), at(j + SIGN_WINDOW - 1) + 1)
            i += nw * SIGN_WINDOW
        if i < k:
            self.sw_start = at(i)
            self._sw_add(xs[i:])

    def _sw_add(self, seg: np.ndarray) -> None:
        if seg.size == 0:
            return
        pos = seg > 0
        if self.sw_fill:
            self.sw_xy += self.sw_last * float(seg[0])
            self.sw_pp += int(self.sw_last > 0 and pos[0])
        self.sw_xy += _dot(seg[:-1], seg[1:]) if seg.size > 1 else 0.0
        self.sw_pp += int(np.count_nonzero(pos[:-1] & pos[1:]))
        self.sw_pos += int(np.count_nonzero(pos))
        self.sw_s += float(seg.sum())
        self.sw_q += _dot(seg, seg)
        self.sw_fill += seg.size
        self.sw_last = float(seg[-1])

    def _sw_close(self, stop: int) -> None:
        e = window_sign_excess(self.sw_fill, self.sw_pos, self.sw_pp, self.sw_s, self.sw_q, self.sw_xy)
        self._sw_judge(e, self.sw_start, stop)
        self.sw_fill = self.sw_pos = self.sw_pp = 0
        self.sw_s = self.sw_q = self.sw_xy = self.sw_last = 0.0
        self.sw_start = -1

    def _sw_judge(self, e: float, start: int, stop: int) -> None:
        if not math.isfinite(e):
            return
        self.sw_count += 1
        self.sw_sum += e
        self.sw_sq += e * e
        if e > self.sw_best:
            self.sw_best, self.sw_best_start, self.sw_best_stop = e, start, stop

    def _units(self, x: np.ndarray) -> None:
        unit = self.unit
        if unit < 1:
            return
        m = x.size
        g0 = self.start + self.seen  # global index of x[0]
        pos0 = (g0 - self.start) % unit  # position of x[0] within its unit (runs start on a unit boundary)
        # lag-1 pairs inside this chunk and the one across the previous chunk, within units only
        total = _dot(x[:-1], x[1:]) if m > 1 else 0.0
        head = float(x[:-1].sum()) if m > 1 else 0.0
        tail = float(x[1:].sum()) if m > 1 else 0.0
        npairs = m - 1
        # pairs (i, i+1) with i+1 starting a unit are not within a unit
        starts = np.arange((unit - pos0) % unit, m, unit)  # chunk indices that start a unit
        cross = starts[starts >= 1]
        if cross.size:
            a, b = x[cross - 1], x[cross]
            total -= _dot(a, b)
            head -= float(a.sum())
            tail -= float(b.sum())
            npairs -= cross.size
        if self.seen and pos0 != 0:  # the chunk continues a unit: the pair across the chunk boundary counts
            total += self.raw_last * float(x[0])
            head += self.raw_last
            tail += float(x[0])
            npairs += 1
        self.wxy += total
        self.whead += head
        self.wtail += tail
        self.wpairs += npairs
        # unit ends inside this chunk
        ends = np.arange((unit - 1 - pos0) % unit, m, unit)
        firsts = x[starts]
        lasts = x[ends]
        self.ufirst += float(firsts.sum())
        self.ulast += float(lasts.sum())
        # pair each end with its unit's first value: the first end may close a unit opened earlier
        if ends.size:
            open_first = self.open_first if pos0 != 0 else (float(x[0]) if starts.size and starts[0] == 0 else 0.0)
            fs = firsts
            if pos0 != 0:
                fs = np.concatenate([[open_first], firsts])
            n_pairs = min(fs.size, ends.size)
            self.ufl += _dot(fs[:n_pairs], lasts[:n_pairs])
            self.units += int(ends.size)
        if starts.size and (starts[-1] > (ends[-1] if ends.size else -1)):
            self.open_first = float(x[starts[-1]])
        elif not ends.size and pos0 == 0 and m:
            self.open_first = float(x[0])
        self.raw_last = float(x[-1])

    def _levels(self, x: np.ndarray, finite: np.ndarray, all_finite: bool) -> None:
        if self.levels is None:
            return
        v = x if all_finite else x[finite]
        if self.levels.size == 0 and v.size > GRID_PROBE:
            if more_distinct_than(v[:GRID_PROBE], self.level_cap):
                self.levels = None
                return
        merged = distinct(np.concatenate([self.levels, v]))
        self.levels = merged if merged.size <= self.level_cap else None

    def _dedup(self, u: np.ndarray, dt: DType, all_live: bool = False) -> None:
        if self.dedup is None:  # decide from the first chunk whether the tensor repeats values
            n, threshold = repeat_probe(dt)
            vals = u if all_live else u[live(u, dt)]
            # narrow floats: five short probes spread over the chunk, and their median, so that a payload written
            # at the start (whose few byte values make them repeat) does not decide for the whole tensor; wide
            # floats (one probe of 65,536) repeat nothing by chance, payload or not, and one sort is enough
            narrow = n < 65536 and vals.size > n
            starts = np.linspace(0, vals.size - n, 5).astype(np.int64) if narrow else [0]
            shares = [1.0 - n_distinct(vals[a : a + n]) / vals[a : a + n].size for a in starts if vals[a : a + n].size]
            if shares:  # the median of an odd count is its middle value (np.median's own answer, without its cost)
                self.dup_share = float(sorted(shares)[len(shares) // 2] if len(shares) % 2 else np.median(shares))
            self.dedup = self.dup_share >= threshold
        if not self.dedup:
            return
        vals = distinct(u if all_live else u[live(u, dt)])
        self.dedup_candidates += int(vals.size)
        low = (vals & 0xFFFF).astype(np.int64)
        t = np.bincount(low, minlength=65536)
        self.dedup_table = t if self.dedup_table is None else self.dedup_table + t

    def _windows(self, u: np.ndarray, dt: DType) -> None:
        # windows hold WINDOW judged low bytes (non-zero ones), however many elements that spans: a payload
        # full of zero bytes (image background) still fills whole windows with its other bytes. Subnormal values
        # are left out: their low byte is the value itself (a small integer times the smallest step), not rounding
        # noise, and float16 weights decayed towards zero hold many of them
        lows = (u & 0xFF).astype(np.uint8)
        lows[(u & np.array(((1 << dt.exponent_bits) - 1) << dt.mantissa_bits, dtype=u.dtype)) == 0] = 0
        pos = np.flatnonzero(lows)
        if pos.size == 0:
            return
        vals = lows[pos]
        base = self.start + self.seen
        i, k = 0, pos.size
        if self.win_fill:  # fill the window left open by the previous chunk
            i = self._fill_window(vals, pos, 0, base)
        nw = (k - i) // WINDOW
        if nw:  # whole windows: all scored at once, the least uniform (the first of equals) kept
            seg = vals[i : i + nw * WINDOW]
            rows = np.arange(seg.size, dtype=np.int64) // WINDOW * 256
            counts = np.bincount(rows + seg, minlength=nw * 256).reshape(nw, 256)
            ci = counts[:, 1:]
            ti = ci.sum(axis=1)
            sq = np.einsum("ij,ij->i", ci, ci)
            with np.errstate(all="ignore"):  # score_window's formula, window by window, on exact integer sums
                chi2 = 255.0 * sq.astype(np.float64) / ti - ti
                z = np.where(ti >= MIN_BITS, (chi2 - 254.0) / math.sqrt(508.0), -math.inf)
            best = int(np.argmax(z))
            if z[best] > self.worst.score:
                j = i + best * WINDOW
                w = seg[best * WINDOW : (best + 1) * WINDOW]
                self._close_window(counts[best], w, base + int(pos[j]), base + int(pos[j + WINDOW - 1]) + 1)
            i += nw * WINDOW
        if i < k:  # the rest opens a window that the next chunk (or flush_window) closes
            self._fill_window(vals, pos, i, base)

    def _fill_window(self, vals: np.ndarray, pos: np.ndarray, i: int, base: int) -> int:
        """Add ``vals[i:]`` (at elements ``base + pos``) to the open window until it is full; returns where
        it stopped."""
        if self.win_fill == 0:
            self.win_start = base + int(pos[i])
        take = min(WINDOW - self.win_fill, vals.size - i)
        seg = vals[i : i + take]
        self.win_counts += np.bincount(seg, minlength=256)
        self.win_lows.append(seg.copy())
        self.win_fill += take
        if self.win_fill == WINDOW:
            self.flush_window(base + int(pos[i + take - 1]) + 1)
        return i + take

    def flush_window(self, end: Optional[int] = None) -> None:
        """Judge the open window, which ends before global element ``end`` (default: where folding stopped)."""
        if self.win_fill == 0:
            return
        if end is None:
            end = self.start + self.seen
        lows = np.concatenate(self.win_lows) if self.win_lows else np.zeros(0, np.uint8)
        self._close_window(self.win_counts, lows, self.win_start, end)
        self.win_counts = np.zeros(256, dtype=np.int64)
        self.win_lows = []
        self.win_fill = 0
        self.win_start = -1

    def _close_window(self, counts: np.ndarray, lows: np.ndarray, start: int, stop: int = -1) -> None:
        w = score_window(counts, lows, start, stop)
        if w is not None and w.score > self.worst.score:
            self.worst = w

    # ------------------------------------------------------------------ merge
    def merge(self, o: FeatureAcc) -> FeatureAcc:
        """Combine with the run that immediately follows this one in storage order. Windows do not straddle
        runs: this run's last, partly filled window is judged here, the other's is carried on."""
        self.flush_window()
        r = FeatureAcc(start=self.start, unit=self.unit, seen=self.seen + o.seen)
        r.win_counts, r.win_lows, r.win_fill, r.win_start = o.win_counts, o.win_lows, o.win_fill, o.win_start
        # sign windows: this run's open window is dropped (not judged), the other's carried on
        r.sw_fill, r.sw_pos, r.sw_pp, r.sw_start = o.sw_fill, o.sw_pos, o.sw_pp, o.sw_start
        r.sw_s, r.sw_q, r.sw_xy, r.sw_last = o.sw_s, o.sw_q, o.sw_xy, o.sw_last
        r.sw_count, r.sw_sum, r.sw_sq = self.sw_count + o.sw_count, self.sw_sum + o.sw_sum, self.sw_sq + o.sw_sq
        if self.sw_best >= o.sw_best:
            r.sw_best, r.sw_best_start, r.sw_best_stop = self.sw_best, self.sw_best_start, self.sw_best_stop
        else:
            r.sw_best, r.sw_best_start, r.sw_best_stop = o.sw_best, o.sw_best_start, o.sw_best_stop
        r.n = self.n + o.n
        r.sxy, r.shead, r.stail, r.pairs = (
            self.sxy + o.sxy,
            self.shead + o.shead,
            self.stail + o.stail,
            self.pairs + o.pairs,
        )
        r.pos_pairs, r.pos_head, r.pos_tail = (
            self.pos_pairs + o.pos_pairs,
            self.pos_head + o.pos_head,
            self.pos_tail + o.pos_tail,
        )
        r.first = self.first if self.first is not None else o.first
        r.last = o.last if o.last is not None else self.last
        if self.last is not None and o.first is not None:
            a, b = self.last, o.first
            r.sxy += a * b
            r.shead += a
            r.stail += b
            r.pairs += 1
            r.pos_pairs += int(a > 0 and b > 0)
            r.pos_head += int(a > 0)
            r.pos_tail += int(b > 0)
        shift = self.n % PHASES
        r.rsum = self.rsum + np.roll(o.rsum, shift)
        r.rsq = self.rsq + np.roll(o.rsq, shift)
        r.rcnt = self.rcnt + np.roll(o.rcnt, shift)
        r.rpos = self.rpos + np.roll(o.rpos, shift)
        # runs start on unit boundaries: units never straddle two runs
        r.wxy, r.whead, r.wtail, r.wpairs = (
            self.wxy + o.wxy,
            self.whead + o.whead,
            self.wtail + o.wtail,
            self.wpairs + o.wpairs,
        )
        r.ufirst, r.ulast, r.ufl, r.units = (
            self.ufirst + o.ufirst,
            self.ulast + o.ulast,
            self.ufl + o.ufl,
            self.units + o.units,
        )
        r.level_cap = max(self.level_cap, o.level_cap)
        if self.levels is None or o.levels is None:
            r.levels = None
        else:
            lv = distinct(np.concatenate([self.levels, o.levels]))
            r.levels = lv if lv.size <= r.level_cap else None
        r.dedup = bool(self.dedup or o.dedup) if (self.dedup is not None or o.dedup is not None) else None
        r.dup_share = self.dup_share if self.dedup is not None else o.dup_share
        tables = [t for t in (self.dedup_table, o.dedup_table) if t is not None]
        if tables:
            r.dedup_table = tables[0] if len(tables) == 1 else tables[0] + tables[1]
        r.dedup_candidates = self.dedup_candidates + o.dedup_candidates
        r.worst = self.worst if self.worst.score >= o.worst.score else o.worst
        return r


# ------------------------------------------------------------------------------------------------ finish


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorised error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7): numpy has none."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def expected_plane(j: int, mantissa_bits: int) -> float:
    """Expected P(bit j = 1) of trained weights: Benford-biased at the top of the mantissa, ≈ 0.5 below."""
    return 0.5 - TOP_PLANE_BIAS * 2.0 ** (-(mantissa_bits - 1 - j))


def _lag1(sxy: float, shead: float, stail: float, pairs: int, mean: float, var: float) -> float:
    if pairs < 2 or not var > 0:
        return math.nan
    return ((sxy - mean * (shead + stail) + pairs * mean * mean) / pairs) / var


def _phase_share(s: np.ndarray, q: np.ndarray, c: np.ndarray, period: int) -> float:
    """Bias-corrected share of variance explained by position modulo ``period`` (η²), from phase sums."""
    ps = s.reshape(-1, period).sum(axis=0)
    pq = ps if q is s else q.reshape(-1, period).sum(axis=0)  # the signs' squares are themselves
    pc = c.reshape(-1, period).sum(axis=0)
    n = int(pc.sum())
    if n < 4 * period or (pc == 0).any():
        return math.nan
    mean = float(ps.sum()) / n
    var = float(pq.sum()) / n - mean * mean
    if not var > 0:
        return math.nan
    means = ps / pc
    eta2 = float(((means - mean) ** 2).mean()) / var
    return max(0.0, eta2 - (period - 1) / n)


def _ks_from_histogram(stats: Any) -> float:
    """Kolmogorov–Smirnov distance to a zero-mean Gaussian of the same RMS, at the histogram's edges (exact
    zeros left out; the distance is measured at bin edges, so it is a lower bound to within one bin)."""
    h = stats.histogram
    if h is None or not h.bins:
        return math.nan
    counts = np.asarray(h.counts, dtype=np.float64).copy()
    edges = np.asarray(h.edges, dtype=np.float64)
    if stats.zero:
        b = int(np.searchsorted(edges, 0.0, side="right") - 1)
        if 0 <= b < counts.size:
            counts[b] = max(0.0, counts[b] - stats.zero)
    n = counts.sum()
    if n < 16 or not math.isfinite(stats.mean) or not math.isfinite(stats.std):
        return math.nan
    rms = math.sqrt(stats.std**2 + stats.mean**2)
    if not rms > 0:
        return math.nan
    emp = np.concatenate([[0.0], np.cumsum(counts) / n])
    cdf = 0.5 * (1.0 + erf(edges / (rms * math.sqrt(2.0))))
    return float(np.max(np.abs(emp - cdf)))


def shape_planes(mean: float, std: float, mantissa_bits: int) -> int:
    """Mantissa planes from this one up carry the shape of a distribution concentrated near a constant.

    Values within ``std`` of a ``mean`` far from zero (a norm layer's γ ≈ 1 a few steps after init) share their
    exponent and leading mantissa bits; only planes well below log2(std/|mean|) relative to the top of the
    mantissa vary like noise. Weights centred on zero span many exponents: every plane is free.
    """
    if not (math.isfinite(mean) and math.isfinite(std)) or mean == 0 or std <= 0 or std >= abs(mean):
        return mantissa_bits
    return max(0, mantissa_bits + math.floor(math.log2(std / abs(mean))) - 3)


def _bits(
    tables: list[np.ndarray], acc: FeatureAcc, dt: DType, nonzero: int, top_free: Optional[int] = None
) -> dict[str, Any]:
    m = dt.mantissa_bits
    out: dict[str, Any] = {
        "rounded_bits": 0,
        "gap_planes": (),
        "plane": -1,
        "plane_ones": math.nan,
        "plane_expected": math.nan,
        "plane_deviation": math.nan,
        "low_entropy": math.nan,
        "low_chi_effect": math.nan,
        "low_chi_z": math.nan,
        "low_compress": math.nan,
        "low_entropy_expected": math.nan,
        "duplicates": acc.dup_share,
        "short_share": 0.0,
        "judged": 0,
    }
    if nonzero == 0 or not tables:
        return out
    # ones per plane over every element (zeros contribute none), as a share of the non-zero elements
    p = np.concatenate([plane_ones(t) for t in tables])[:m] / nonzero
    const = (p <= 0.0) | (p >= 1.0)
    k = 0
    while k < m and p[k] <= 0.0:
        k += 1
    out["rounded_bits"] = k
    varying = np.flatnonzero(~const)
    if varying.size:
        lo_v, hi_v = int(varying.min()), int(varying.max())
        out["gap_planes"] = tuple(int(j) for j in range(lo_v, hi_v) if const[j])
    bytewise = m >= 8 and k == 0 and (tables[0].size == 65536 or tables[0].shape == (3, 256))
    if not bytewise:
        return out
    # the judged values: non-zero, low byte not zero (distinct values per chunk where the tensor repeats values);
    # all read from the low 16 bits' compact counts: low byte, high byte, high byte where the low byte is 0
    low16 = lane_counts(acc.dedup_table if acc.dedup_table is not None else tables[0]).astype(np.float64)
    col, row, col0 = low16[0], low16[1], low16[2]
    candidates = float(col.sum()) if acc.dedup_table is not None else float(nonzero)
    short = float(col0.sum())
    if acc.dedup_table is None:  # zeros (and Inf/NaN) have a zero low byte too, but are no candidates
        short = max(0.0, short - (float(col.sum()) - nonzero))
    out["short_share"] = short / candidates if candidates else 0.0
    # the values whose low byte is not 0: the low byte's counts without 0, the high byte's less those with it
    judged = np.stack([np.concatenate([[0.0], col[1:]]), row - col0, np.zeros(256)])
    t = float(judged[0].sum())
    out["judged"] = int(t)
    if t < MIN_BITS:
        return out
    top = m - UNIFORM_PLANES_BELOW if top_free is None else min(m - UNIFORM_PLANES_BELOW, top_free)
    free = [j for j in range(max(k, SKIP_PLANES), top) if not const[j]]
    if free:
        low_ones = plane_ones(judged)
        dev = []
        pj = []
        for j in free:
            if j < 16:
                o = float(low_ones[j]) / t
            else:
                o = p[j]
            pj.append(o)
            dev.append(abs(o - expected_plane(j, m)))
        i = int(np.argmax(dev))
        out.update(
            plane=free[i], plane_ones=float(pj[i]), plane_expected=expected_plane(free[i], m), plane_deviation=dev[i]
        )
    counts = judged[0][1:]
    e = t / 255.0
    chi2 = float(((counts - e) ** 2).sum() / e)
    pr = counts[counts > 0] / t
    out["low_entropy"] = float(-(pr * np.log2(pr)).sum())
    out["low_entropy_expected"] = math.log2(255.0) - 254.0 / (2.0 * t * math.log(2.0))
    out["low_chi_effect"] = math.sqrt(max(0.0, chi2 - 254.0) / t)
    out["low_chi_z"] = (chi2 - 254.0) / math.sqrt(508.0)
    return out


def finish(
    acc: FeatureAcc, stats: Any, tables: Optional[list[np.ndarray]], name: str, kind: str, dt: DType
) -> Features:
    """The :class:`Features` of a whole tensor from its merged accumulators and statistics."""
    acc.flush_window()
    s = stats
    nz_total = max(0, s.count - s.zero - s.nan - s.inf)
    frac_zero = s.zero / s.count if s.count else math.nan
    near = math.nan
    if nz_total and math.isfinite(s.near_zero_fraction):
        near = max(0.0, (s.near_zero_fraction * s.count - s.zero) / nz_total)
    positive = (s.positive_fraction * s.count / nz_total) if nz_total else math.nan
    n = acc.n
    sum_x = float(acc.rsum.sum())
    mean_xs = sum_x / n if n else math.nan
    var_xs = float(acc.rsq.sum()) / n - mean_xs * mean_xs if n else math.nan
    ac = _lag1(acc.sxy, acc.shead, acc.stail, acc.pairs, mean_xs, var_xs) if n else math.nan
    npos = int(acc.rpos.sum())
    q = npos / n if n else math.nan
    sac = (
        _lag1(float(acc.pos_pairs), float(acc.pos_head), float(acc.pos_tail), acc.pairs, q, q * (1 - q))
        if n
        else math.nan
    )
    excess = math.nan
    if math.isfinite(ac) and math.isfinite(sac):
        excess = sac - 2.0 / math.pi * math.asin(max(-1.0, min(1.0, ac)))
    best_p, best_eta, best_seta = 0, math.nan, math.nan
    if n >= MIN_ORDER:
        etas = {p: _phase_share(acc.rsum, acc.rsq, acc.rcnt, p) for p in PERIODS}
        etas = {p: e for p, e in etas.items() if math.isfinite(e)}
        if etas:
            top = max(etas.values())
            best_p = min(p for p, e in etas.items() if e >= 0.9 * top)
            best_eta = etas[best_p]
        sp = acc.rpos.astype(np.float64)
        # signs are 0/1: their squares are themselves; periods of a byte's and a 2-byte word's bits
        setas = [_phase_share(sp, sp, acc.rcnt, p) for p in SIGN_PERIODS]
        setas = [e for e in setas if math.isfinite(e)]
        best_seta = max(setas) if setas else math.nan
    shuffled = math.nan
    if kind in WEIGHT_KINDS and acc.units >= 2 and math.isfinite(s.mean) and s.std > 0:
        u = acc.units
        cross_xy = (acc.ufirst * acc.ulast - acc.ufl) / u
        cross_head = acc.ulast * (u - 1) / u
        cross_tail = acc.ufirst * (u - 1) / u
        pairs = acc.wpairs + (u - 1)
        used = acc.wpairs + u  # elements in whole units
        mu = s.mean
        num = (acc.wxy + cross_xy) - mu * (acc.whead + acc.wtail + cross_head + cross_tail) + pairs * mu * mu
        shuffled = num / (used * s.std**2) if used else math.nan
    cap = grid_levels(dt)
    levels = int(acc.levels.size) if acc.levels is not None else cap + 1
    grid = nz_total >= 64 and levels <= min(cap, nz_total // 2)
    top_free = shape_planes(s.mean, s.std, dt.mantissa_bits)
    bits = _bits(tables or [], acc, dt, nz_total, top_free) if not grid else _bits([], acc, dt, 0)
    w = acc.worst
    window: dict[str, Any] = {}
    if w.start >= 0 and not grid and bits.get("rounded_bits", 0) == 0:
        compress = len(zlib.compress(w.lows, 6)) / len(w.lows) if len(w.lows) >= MIN_BITS else math.nan
        window = dict(
            window_start=w.start,
            window_stop=w.stop,
            window_judged=w.judged,
            window_entropy=w.entropy,
            window_chi_effect=w.chi_effect,
            window_chi_z=w.chi_z,
            window_compress=compress,
        )
        # repeated values (a computed basis, untrained rows) compress whatever their bits: judged on distinct
        # values, which the window does not see
        if bits.get("judged", 0) >= MIN_BITS and not repeats(acc.dup_share, dt.name):
            bits["low_compress"] = compress
    if acc.sw_count >= 1:
        window["sign_windows"] = acc.sw_count
        window["sign_window_excess"] = acc.sw_best
        window["sign_window_start"] = acc.sw_best_start
        window["sign_window_stop"] = acc.sw_best_stop
        others = acc.sw_count - 1
        if others >= 1:
            mo = (acc.sw_sum - acc.sw_best) / others
            window["sign_window_mean"] = mo
            window["sign_window_sd"] = math.sqrt(max(0.0, (acc.sw_sq - acc.sw_best**2) / others - mo * mo))
    spread = math.nan
    if math.isfinite(s.mean) and s.mean != 0 and math.isfinite(s.max):
        spread = (s.max - s.min) / abs(s.mean)
    with np.errstate(all="ignore"):
        ks = _ks_from_histogram(s)
    return Features(
        name=name,
        kind=kind,
        dtype=dt.name,
        count=s.count,
        sampled=s.count,
        nonzero=n,
        zero_fraction=frac_zero,
        near_zero=near,
        positive=positive,
        skewness=s.skewness,
        kurtosis=s.kurtosis,
        autocorr=ac,
        shuffled_autocorr=shuffled,
        sign_autocorr=sac,
        sign_excess=excess,
        period=best_p,
        periodic=math.sqrt(best_eta) if math.isfinite(best_eta) else math.nan,
        sign_periodic=math.sqrt(best_seta) if math.isfinite(best_seta) else math.nan,
        ks_gaussian=ks,
        levels=levels,
        grid=grid,
        relative_spread=spread,
        **bits,
        **window,
    )
