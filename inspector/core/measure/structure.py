"""The second read: structure trained layers have that the pass's sequence statistics cannot see, measured on the
tensors whose first-pass features come near a threshold, so that the judge can ask what it explains.

Kinds of structure that trained layers have and that mimic a written payload:

- **rows that share one sign**: an output unit whose weights are nearly all negative (a detection head's box
  bins, a dead unit) makes neighbouring signs agree although the values, heavy-tailed, barely correlate;
- **columns with a scale or sign of their own**: the weights that read one input channel share its scale, so a
  1×1 convolution or a dense layer over hidden units repeats with every period that divides its fan-in; whether
  the column levels follow the column index (an image's columns do, a table's dimensions do not);
- **kernels with a shape of their own**: a convolution's taps (the centre of a 1×7 kernel heavier than its
  ends) repeat with every period the kernel size divides, and smooth kernels keep one sign inside a kernel;
- **rows with a level of their own**: a matrix stored [inputs, outputs] whose input units have a mean effect
  correlates neighbours inside each row, with no sequence copied;
- **sign patterns shorter than a byte**: output units of alternating sign in a matrix stored input-major
  (4 classes per row) repeat every 4 signs, which also shows at periods 8 and 16;
- **values repeated or rounded**: a low-byte window's values looked at again (distinct, or repeated elsewhere
  too), and how float32/float64 values end (rounded to fewer bits, with the bits above the lowest set one
  uniform).

Only tensors the pass flagged as near a threshold are read again (a bounded read of a few, usually small,
tensors: at most :data:`MAX_REREAD_BYTES` per model, the rest judged without it).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any, Optional, Sequence

import numpy as np

from inspector.core.dtypes import DTYPES, DType, widen
from inspector.core.errors import TensorNotFoundError
from inspector.core.formats.base import ModelFile, TensorRef, iter_chunks, read_range
from inspector.core.measure.computed import MAX_INDEX_ELEMENTS, computed_table, sinusoid_table
from inspector.core.measure.features import WEIGHT_KINDS, Features, repeat_probe, repeats
from inspector.core.measure.layers import linear_layers_named_as_tables
from inspector.core.measure.lumps import NEAR_LUMPY, lumpiness, residual_lumpiness
from inspector.core.measure.masks import with_masks
from inspector.core.progress import CancelToken, check

#: A tensor is read again when its features come this near a threshold of the sign or period tests (about half
#: of each: anything that could reach a warning).
NEAR_SIGN_EXCESS = 0.05
NEAR_PERIODIC = 0.12
NEAR_SIGN_PERIODIC = 0.1
NEAR_AUTOCORR = 0.07
#: the low-byte window's χ² effect from which its full values are looked at (the window test's threshold is 1.5)
NEAR_WINDOW_CHI = 0.75
#: Bytes read again per model at most (in storage order of the tensors; the rest are judged without them).
MAX_REREAD_BYTES = 512 << 20
#: Fan-ins above this keep no column sums (bounded memory); their row balance is still measured.
MAX_COLUMNS = 1 << 18
MIN_ELEMENTS = 256


def window_wanted(f: Optional[Features]) -> bool:
    """Whether the least uniform low-byte window is worth a look at its full values: it comes near the window
    test's threshold. Where the tensor repeats values, which switch that test off, the look also asks whether the
    window's own values repeat (a payload in the low bits creates repeats of its own: text repeats its byte
    pairs; values repeated by the tensor itself repeat whole)."""
    return (
        f is not None
        and f.window_start >= 0
        and f.window_stop > f.window_start
        and math.isfinite(f.window_chi_effect)
        and f.window_chi_effect >= NEAR_WINDOW_CHI
    )


def _slice(ref: TensorRef, start: int, stop: int) -> np.ndarray:
    """The non-zero finite values of elements [start, stop), raw (as unsigned integers of the storage width);
    only their bytes are read where the tensor is contiguous."""
    raw = read_range(ref, start, stop)
    live = widen(raw, ref.dtype)
    return raw.view(ref.dtype.uint)[np.isfinite(live) & (live != 0)]


def _distinct_share(vals: np.ndarray) -> float:
    return float(np.unique(vals).size / vals.size) if vals.size else math.nan


#: Relative distance from the window's median within which its values count as one value.
CLUSTER_TOLERANCE = 2.0**-8


def cluster_share(vals: np.ndarray, dt: DType) -> float:
    """Share of ``vals`` (raw non-zero finite values of type ``dt``) within :data:`CLUSTER_TOLERANCE` of their
    median, relative to it: over ½, most of them are one value, whose low bytes follow the few optimizer steps
    that brought it there (the weights of an input that never fires), not rounding noise."""
    if vals.size == 0:
        return math.nan
    x = widen(vals.view(dt.storage), dt).astype(np.float64)
    mid = float(np.median(x))
    if mid == 0.0:
        return 0.0
    return float(np.count_nonzero(np.abs(x - mid) <= CLUSTER_TOLERANCE * abs(mid))) / x.size


def window_look(ref: TensorRef, f: Features, cancel: Optional[CancelToken] = None) -> dict[str, float]:
    """The least uniform window's values looked at again: the share of them that are one value
    (:func:`cluster_share`), and where the tensor repeats values, the share of them that are distinct and the
    share of repeated values in a probe as far from the window as the tensor allows (its type's probe size). A
    payload in the low bits makes the region it fills repeat values and leaves the rest alone; a tensor that
    repeats values by itself (rows copied, short-precision values times a per-channel scale) repeats them
    everywhere."""
    check(cancel)
    vals = _slice(ref, f.window_start, f.window_stop)
    out = {"window_cluster": cluster_share(vals, ref.dtype)}
    if not repeats(f.duplicates, f.dtype):
        return out
    out["window_distinct"] = _distinct_share(vals)
    n = repeat_probe(ref.dtype)[0]
    before, after = f.window_start, ref.numel - f.window_stop
    if after >= before and after >= 2 * n:  # the tensor's end is the farther: its last n values
        far = _slice(ref, ref.numel - n, ref.numel)
    elif before > after and before >= 2 * n:  # its start
        far = _slice(ref, 0, n)
    else:
        far = np.zeros(0, dtype=ref.dtype.uint)
    share = _distinct_share(far)
    out["repeats_elsewhere"] = 1.0 - share if far.size >= n // 2 and math.isfinite(share) else math.nan
    return out


#: A float32/float64 tensor whose low-byte χ² effect, or whose bit-plane departure, comes this near the LSB test's
#: thresholds (about half of each) is read again for how it was rounded.
NEAR_LOW_CHI = 0.75
NEAR_PLANE = 0.03
#: Trailing zeros of each byte value (8 for 0).
_TZ = np.array([8] + [(b & -b).bit_length() - 1 for b in range(1, 256)], dtype=np.int64)


def rounding_wanted(f: Optional[Features]) -> bool:
    """Whether a float32/float64 tensor's low bits come near the LSB test's thresholds: worth asking whether its
    values were rounded (fewer significant bits than the type holds) rather than written."""
    if f is None or f.dtype not in ("F32", "F64") or f.judged < 256:
        return False
    chi = math.isfinite(f.low_chi_effect) and f.low_chi_effect >= NEAR_LOW_CHI
    plane = math.isfinite(f.plane_deviation) and f.plane_deviation >= NEAR_PLANE
    return chi or plane


def rounding_look(ref: TensorRef, cancel: Optional[CancelToken] = None) -> dict[str, float]:
    """How a tensor's normal values end: the share of non-zero low bytes with a trailing zero (a value carries
    fewer significant bits than its type: ½ for full-precision values, more where values were rounded, e.g.
    weights ported through a shorter precision), and how uniform the low-byte bits above each value's lowest set
    bit are (χ² effect over the groups of equal trailing zeros). Rounded values keep those bits as random as any;
    bits written into the low byte (pixels, text) skew them whatever the rounding."""
    dt = ref.dtype
    emask = np.array((1 << dt.exponent_bits) - 1, dtype=dt.uint)
    counts = [np.zeros(1 << (7 - t), dtype=np.int64) for t in range(7)]
    seen = rounded = 0
    for chunk in iter_chunks(ref, cancel=cancel):
        u = chunk.view(dt.uint)
        expo = (u >> np.array(dt.mantissa_bits, dtype=dt.uint)) & emask
        b = (u[(expo != 0) & (expo != emask)] & np.array(0xFF, dtype=dt.uint)).astype(np.int64)
        b = b[b != 0]
        tz = _TZ[b]
        seen += b.size
        rounded += int(np.count_nonzero(tz))
        for t in range(7):
            counts[t] += np.bincount(b[tz == t] >> (t + 1), minlength=1 << (7 - t))
    excess = 0.0
    n = 0
    for c in counts:
        k = c.size
        m = int(c.sum())
        if m >= 8:
            excess += k * float(np.dot(c, c)) / m - m - (k - 1)
            n += m
    return {
        "rounded_share": rounded / seen if seen else math.nan,
        "above_lowest_count": float(n),
        "above_lowest_chi_effect": math.sqrt(max(0.0, excess) / n) if n else math.nan,
    }


def wanted(f: Optional[Features], shape: Sequence[int]) -> bool:
    """Whether a tensor's structure is worth a second read: a weight matrix or kernel near a sign or period
    threshold."""
    if f is None or f.kind not in WEIGHT_KINDS or len(shape) < 2 or f.nonzero < MIN_ELEMENTS:
        return False
    if (
        f.kind in ("dense", "embedding")
        and len(shape) == 2
        and math.isfinite(f.autocorr)
        and f.autocorr >= NEAR_AUTOCORR
    ):
        return True  # the neighbour test of unordered inputs asks how much the rows' levels explain
    near = (
        (f.sign_excess, NEAR_SIGN_EXCESS),
        (f.periodic, NEAR_PERIODIC),
        (f.sign_periodic, NEAR_SIGN_PERIODIC),
    )
    return any(math.isfinite(v) and v >= t for v, t in near)


class _Balance:
    """Sign balance of consecutive groups of ``width`` elements (rows, or kernels): Σ n·m² and Σ n over the
    groups, m a group's mean sign among its n non-zero elements (groups with fewer than 2 left out)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.a = 0.0
        self.n = 0
        self.b = 0.0  # Σ over groups of (value sum)² / n: what the groups' means explain of the values
        self.groups = 0
        self.open_s = 0  # sign sum, value sum and non-zero count of the group still open
        self.open_v = 0.0
        self.open_n = 0

    def _close(self, s: np.ndarray, v: np.ndarray, n: np.ndarray) -> None:
        keep = n >= 2
        if keep.any():
            s, v, n = s[keep].astype(np.float64), v[keep], n[keep]
            self.a += float(np.sum(s * s / n))
            self.b += float(np.sum(v * v / n))
            self.n += int(n.sum())
            self.groups += int(keep.sum())

    def add(self, sign: np.ndarray, x: np.ndarray, nz: np.ndarray, pos0: int) -> None:
        """Fold in a chunk's signs (−1, 0, +1), values and non-zero mask; ``pos0``: the chunk's first element's
        global index."""
        w, m = self.width, sign.size
        at = pos0 % w
        head = min(m, (w - at) % w) if at else 0
        if head:
            self.open_s += int(sign[:head].sum())
            self.open_v += float(x[:head].sum())
            self.open_n += int(np.count_nonzero(nz[:head]))
            if at + head == w:
                self.flush()
        groups = (m - head) // w
        if groups:
            end = head + groups * w
            self._close(
                sign[head:end].reshape(groups, w).sum(axis=1),
                x[head:end].reshape(groups, w).sum(axis=1),
                nz[head:end].reshape(groups, w).sum(axis=1),
            )
        if head + groups * w < m:
            self.open_s += int(sign[head + groups * w :].sum())
            self.open_v += float(x[head + groups * w :].sum())
            self.open_n += int(np.count_nonzero(nz[head + groups * w :]))

    def flush(self) -> None:
        if self.open_n:
            self._close(np.array([self.open_s]), np.array([self.open_v]), np.array([self.open_n]))
        self.open_s = self.open_n = 0
        self.open_v = 0.0

    def eta(self, mean: float, var: float) -> float:
        """√η² (bias-corrected) of the values that the group (row) explains."""
        self.flush()
        if self.groups < 2 or not var > 0 or self.n < 4 * self.groups:
            return math.nan
        eta2 = (self.b - self.n * mean * mean) / (self.n * var) - (self.groups - 1) / self.n
        return math.sqrt(max(0.0, eta2))

    def null(self, msq: float) -> float:
        """Lag-1 sign autocorrelation expected if signs were independent within each group, given its balance."""
        self.flush()
        return (self.a / self.n - msq) / (1.0 - msq) if self.n and msq < 1.0 else math.nan


class _Positions:
    """Sums by position within consecutive groups of ``width`` elements (a row's columns, a kernel's taps)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.sum = np.zeros(width)
        self.nz = np.zeros(width, dtype=np.int64)
        self.pos = np.zeros(width, dtype=np.int64)

    def add(self, x: np.ndarray, pos0: int) -> None:
        w, m = self.width, x.size
        at = pos0 % w
        head = min(m, (w - at) % w) if at else 0
        if head:
            self._seg(x[:head], at)
        groups = (m - head) // w
        if groups:
            blk = x[head : head + groups * w].reshape(groups, w)
            self.sum += blk.sum(axis=0)
            self.nz += np.count_nonzero(blk, axis=0)
            self.pos += np.count_nonzero(blk > 0, axis=0)
        if head + groups * w < m:
            self._seg(x[head + groups * w :], 0)

    def _seg(self, seg: np.ndarray, at: int) -> None:
        sl = slice(at, at + seg.size)
        self.sum[sl] += seg
        self.nz[sl] += seg != 0
        self.pos[sl] += seg > 0

    def etas(self, n: int, mean: float, var: float, q: float) -> tuple[float, float]:
        """√η² (bias-corrected) of the values and of the signs that the position explains."""
        used = self.nz > 0
        k = int(used.sum())
        if k < 2 or n < 4 * k:
            return math.nan, math.nan
        eta = seta = math.nan
        if var > 0:
            cm = self.sum[used] / self.nz[used]
            eta2 = float(np.sum(self.nz[used] * (cm - mean) ** 2)) / (n * var) - (k - 1) / n
            eta = math.sqrt(max(0.0, eta2))
        if 0.0 < q < 1.0:
            cp = self.pos[used] / self.nz[used]
            seta2 = float(np.sum(self.nz[used] * (cp - q) ** 2)) / (n * q * (1 - q)) - (k - 1) / n
            seta = math.sqrt(max(0.0, seta2))
        return eta, seta

    def level_autocorr(self) -> float:
        """Lag-1 correlation of the columns' mean values along the column index: an image's columns rise and fall
        smoothly across its width (a digit's: dark edges, bright middle), the dimensions of a learned table do
        not come in an order."""
        used = self.nz > 0
        if int(used.sum()) < 4 or not used.all():
            return math.nan
        d = self.sum / self.nz
        d = d - d.mean()
        v = float(np.dot(d, d))
        return float(np.dot(d[:-1], d[1:])) / v if v > 0 else math.nan

    def period_nulls(
        self, period: int, n: int, mean: float, var: float, q: float, seed: int = 0
    ) -> tuple[float, float]:
        """The 99th percentile of the share of variance (η², bias-corrected as the pass corrects its own) that
        position modulo ``period`` explains when the columns keep their levels (values) and sign shares but
        their order is shuffled: what structure of the columns alone, in any order, makes of a period. A pattern
        written with that period lies beyond it."""
        used = np.flatnonzero(self.nz > 0)
        k = used.size
        g = math.gcd(self.width, period)
        if k < 2 or g < 2 or n < 4 * k or k > MAX_NULL_COLUMNS:
            return math.nan, math.nan
        w = self.nz[used].astype(np.float64)
        rng = np.random.default_rng(seed)
        rounds = NULL_ROUNDS
        # each round assigns the columns to the residues modulo g at random (a random permutation of positions)
        groups = np.argsort(rng.random((rounds, k)), axis=1) % g
        flat = (groups + g * np.arange(rounds)[:, None]).reshape(-1)
        wt = np.bincount(flat, weights=np.tile(w, rounds), minlength=rounds * g).reshape(rounds, g)
        wt = np.where(wt > 0, wt, 1.0)

        def null(level: np.ndarray, centre: float, spread: float) -> float:
            s = np.bincount(flat, weights=np.tile(w * level, rounds), minlength=rounds * g).reshape(rounds, g)
            eta2 = ((s / wt - centre) ** 2 * wt).sum(axis=1) / (n * spread) - (period - 1) / n
            return float(np.quantile(eta2, 0.99))

        vnull = null(self.sum[used] / w, mean, var) if var > 0 else math.nan
        snull = null(self.pos[used] / w, q, q * (1 - q)) if 0.0 < q < 1.0 else math.nan
        return vnull, snull


#: Names of recurrent layers' tensors (PyTorch's ``lstm.bias_ih_l0``, ONNX's ``onnx::LSTM_352``), whose bias
#: rows are gate blocks.
RECURRENT = re.compile(r"lstm|gru|rnn")

#: Column orders drawn for the column-order null, and the widest fan-in it is drawn for.
NULL_ROUNDS = 200
MAX_NULL_COLUMNS = 16384

#: Sign phases kept (positions among the non-zero values, as the pass counts them): periods 4, 8 and 16.
SIGN_PHASES = 16

_NAN = {
    "boundary_sign_corr": math.nan,
    "kernel_boundary_sign_corr": math.nan,
    "period_column_null": math.nan,
    "sign_period_column_null": math.nan,
    "row_sign_null": math.nan,
    "row_eta": math.nan,
    "unit_sign_null": math.nan,
    "column_eta": math.nan,
    "column_level_autocorr": math.nan,
    "column_sign_eta": math.nan,
    "kernel_eta": math.nan,
    "sign_eta4": math.nan,
    "sign_eta8": math.nan,
    "sign_eta16": math.nan,
}


class _Ends:
    """Sign pairs across the ends of consecutive groups of ``width`` elements (a row's last element and the next
    row's first; a kernel's last tap and the next kernel's first): their correlation."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.sums = np.zeros(4)  # n, Σ first, Σ second, Σ products
        self.prev_end: Optional[float] = None  # the previous chunk's last element, if it ended a group

    def add(self, x: np.ndarray, g0: int) -> None:
        w, m = self.width, x.size
        ends = np.arange((w - 1 - g0 % w) % w, m - 1, w)
        a, b = x[ends], x[ends + 1]
        if self.prev_end is not None and m:
            a, b = np.concatenate([[self.prev_end], a]), np.concatenate([[x[0]], b])
        self.prev_end = float(x[-1]) if m and (g0 + m - 1) % w == w - 1 else None
        keep = (a != 0) & (b != 0)
        sa, sb = np.sign(a[keep]), np.sign(b[keep])
        self.sums += np.array([sa.size, sa.sum(), sb.sum(), (sa * sb).sum()])

    def corr(self) -> float:
        """Pearson correlation of the signs across group ends (NaN under 30 pairs)."""
        n, sa, sb, sab = self.sums
        if n < 30:
            return math.nan
        va, vb = 1.0 - (sa / n) ** 2, 1.0 - (sb / n) ** 2
        return (sab / n - (sa / n) * (sb / n)) / math.sqrt(va * vb) if va > 0 and vb > 0 else math.nan


class _Acc:
    """Everything :func:`structure_of` measures, over a tensor's elements in storage order: rows of ``width``
    (its fan-in), kernels of ``kernel`` taps (1: none), sign phases among the non-zero values."""

    def __init__(self, width: int, kernel: int = 1, gates: bool = False) -> None:
        self.width = width
        self.rows = _Balance(width)
        self.kernels = _Balance(kernel) if 1 < kernel < width else None
        # a recurrent layer's bias row is gate blocks ([b_ih | b_hh] × 4 gates of H for an ONNX LSTM's B): each
        # block keeps a level and a sign of its own (forget gates positive)
        sizes = sorted({width // d for d in (8, 6, 4, 3) if width % d == 0 and width // d >= 16}) if gates else []
        self.blocks = [_Balance(b) for b in sizes]
        self.cols = _Positions(width) if width <= MAX_COLUMNS else None
        self.taps = _Positions(kernel) if 1 < kernel < width else None
        self.phase_pos = np.zeros(SIGN_PHASES, dtype=np.int64)
        self.phase_nz = np.zeros(SIGN_PHASES, dtype=np.int64)
        self.sum = 0.0
        self.sq = 0.0
        self.nz = 0
        self.pos = 0
        self.seen = 0
        self.row_ends = _Ends(width)
        self.kernel_ends = _Ends(kernel) if kernel > 1 else None

    def add(self, x: np.ndarray) -> None:
        x = np.where(np.isfinite(x), x, 0.0)
        g0 = self.seen
        self.seen += x.size
        nz = x != 0
        sign = np.sign(x)
        self.sum += float(x.sum())
        self.sq += float(np.einsum("i,i->", x, x))
        self.rows.add(sign, x, nz, g0)
        self.row_ends.add(x, g0)
        if self.kernel_ends is not None:
            self.kernel_ends.add(x, g0)
        if self.kernels is not None:
            self.kernels.add(sign, x, nz, g0)
        for b in self.blocks:
            b.add(sign, x, nz, g0)
        if self.cols is not None:
            self.cols.add(x, g0)
        if self.taps is not None:
            self.taps.add(x, g0)
        # sign phases by position among the non-zero values (as the pass's sign period test counts them)
        live = x[nz]
        if live.size:
            phase = (np.arange(live.size) + self.nz) % SIGN_PHASES
            self.phase_nz += np.bincount(phase, minlength=SIGN_PHASES)
            self.phase_pos += np.bincount(phase, weights=live > 0, minlength=SIGN_PHASES).astype(np.int64)
        self.nz += int(live.size)
        self.pos += int(np.count_nonzero(live > 0))

    def _sign_eta(self, period: int, q: float) -> float:
        pos = self.phase_pos.reshape(-1, period).sum(axis=0)
        cnt = self.phase_nz.reshape(-1, period).sum(axis=0)
        n = int(cnt.sum())
        if n < 4 * period or (cnt == 0).any() or not 0.0 < q < 1.0:
            return math.nan
        eta2 = float(np.sum(cnt * (pos / cnt - q) ** 2)) / (n * q * (1 - q)) - (period - 1) / n
        return math.sqrt(max(0.0, eta2))

    def result(self, period: int = 0) -> dict[str, float]:
        out = dict(_NAN)
        n = self.nz
        if n < MIN_ELEMENTS:
            return out
        q = self.pos / n
        msq = (2.0 * q - 1.0) ** 2
        out["row_sign_null"] = self.rows.null(msq)
        units = [k.null(msq) for k in ([self.kernels] if self.kernels is not None else []) + self.blocks]
        units = [u for u in units if math.isfinite(u)]
        if units:
            out["unit_sign_null"] = max(units)
        mean = self.sum / n
        var = self.sq / n - mean * mean
        out["row_eta"] = self.rows.eta(mean, var)
        out["boundary_sign_corr"] = self.row_ends.corr()
        if self.kernel_ends is not None:
            out["kernel_boundary_sign_corr"] = self.kernel_ends.corr()
        if self.cols is not None:
            out["column_eta"], out["column_sign_eta"] = self.cols.etas(n, mean, var, q)
            out["column_level_autocorr"] = self.cols.level_autocorr()
            if period >= 2:
                out["period_column_null"] = self.cols.period_nulls(period, n, mean, var, q)[0]
            sign_nulls = [self.cols.period_nulls(p, n, mean, var, q, seed=p)[1] for p in (8, 16)]
            sign_nulls = [v for v in sign_nulls if math.isfinite(v)]
            if sign_nulls:
                out["sign_period_column_null"] = max(sign_nulls)
        if self.taps is not None:
            out["kernel_eta"] = self.taps.etas(n, mean, var, q)[0]
        for p in (4, 8, 16):
            out[f"sign_eta{p}"] = self._sign_eta(p, q)
        return out


def structure_of(ref: TensorRef, cancel: Optional[CancelToken] = None, period: int = 0) -> dict[str, float]:
    """Row and kernel sign balance, column and kernel-tap structure and sign phases of one tensor, over every
    element (rows: its first axis; kernels: its trailing axes past the second); ``period``: the values' period
    the pass found, for the column-order null."""
    width = int(math.prod(ref.shape[1:])) if len(ref.shape) >= 2 else 0
    if width < 2:
        return dict(_NAN)
    kernel = int(math.prod(ref.shape[2:])) if len(ref.shape) >= 3 else 1
    gates = len(ref.shape) == 2 and RECURRENT.search(ref.name.lower()) is not None
    acc = _Acc(width, kernel, gates)
    with np.errstate(all="ignore"):
        for chunk in iter_chunks(ref, cancel=cancel):
            acc.add(widen(chunk, ref.dtype).astype(np.float64, copy=False))
    return acc.result(period)


def confirm(model: ModelFile, tensors: Sequence[Any], cancel: Optional[CancelToken] = None) -> tuple[Any, ...]:
    """The measured tensors, looked at again where the pass's figures call for it: linear layers named like
    embedding tables given their kind (``layers.py``); integer index tables and sinusoidal position tables
    marked as computed (``computed.py``); the lumpiness of a layer less its columns' levels (``lumps.py``); the
    row, kernel and column structure of the tensors near a sign, period or neighbour threshold, within
    :data:`MAX_REREAD_BYTES`; the values of a least uniform low-byte window near the window test's threshold;
    the bits of tensors that hold only 0 and 1 (``masks.py``), within what is left of that budget. The others are
    returned unchanged."""
    out = []
    budget = MAX_REREAD_BYTES
    for t in linear_layers_named_as_tables(tensors):
        f = getattr(t, "features", None)
        dt = DTYPES.get(t.dtype)
        if f is None and dt is not None and not dt.is_float and 64 <= math.prod(t.shape) <= MAX_INDEX_ELEMENTS:
            check(cancel)
            try:
                desc = computed_table(model[t.name], cancel)
            except TensorNotFoundError:
                desc = None
            out.append(replace(t, computed=desc) if desc else t)
            continue
        if f is not None and dt is not None and dt.is_float and len(t.shape) >= 2:
            check(cancel)
            table = sinusoid_table(model[t.name], t.stats, cancel) if t.name in model else None
            if table:
                out.append(replace(t, computed=table))
                continue
        if f is not None and f.kind in WEIGHT_KINDS and len(t.shape) >= 2:
            lump, mass = lumpiness(t.stats)
            if math.isfinite(lump) and lump >= NEAR_LUMPY[0] and mass >= NEAR_LUMPY[1] and t.name in model:
                check(cancel)
                rl, rm = residual_lumpiness(model[t.name], cancel)
                f = replace(f, residual_lumpiness=rl, residual_lumpiness_mass=rm)
                t = replace(t, features=f)
        want, window = f is not None and wanted(f, t.shape), window_wanted(f)
        size = math.prod(t.shape) * (DTYPES[t.dtype].itemsize if t.dtype in DTYPES else 4)
        rounding = rounding_wanted(f) and size <= budget
        if f is None or not (want or window or rounding) or (want and size > budget):
            out.append(t)
            continue
        if want or rounding:
            budget -= size
        check(cancel)
        try:
            ref = model[t.name]
        except TensorNotFoundError:
            out.append(t)
            continue
        extra: dict[str, float] = structure_of(ref, cancel, f.period) if want else {}
        if window:
            extra.update(window_look(ref, f, cancel))
        if rounding:
            extra.update(rounding_look(ref, cancel))
        out.append(replace(t, features=replace(f, **extra)))
    masked, _ = with_masks(model, out, budget, cancel)
    return masked
