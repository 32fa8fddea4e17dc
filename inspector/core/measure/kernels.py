"""Fused numba kernels for the scan's two passes over float tensors (F32, F16, BF16, F64).

One compiled call per chunk does what :func:`~.stats.pass1_chunk` or :func:`~.stats.histogram_chunk` does with a
dozen numpy calls and float64 temporaries (a big float32 tensor's histogram mostly comes from pass 1's table of
its top 16 bits instead, with a cheaper second read: :mod:`.buckets` and ``_k_split``): a few tight loops over the chunk while it sits in cache, split so that
those numba can vectorise (classes, extrema as integer order keys, sums, moments, bin estimates) run apart from
the scatters it cannot (pattern tables, histogram). Results equal the numpy path's: counts, pattern tables and
histograms exactly (numpy's binning steps), moments and lag-1 sums to rounding (each chunk is centred on its own
mean in float64, as the numpy path does, and chunks merge with Chan's formulas). Everything is compiled with
``fastmath=False`` except the two reductions over values already known to be finite (sum; centred moments),
which allow ``reassoc`` so that they vectorise: only the order of their float64 additions changes.

The kernels run compiled in one of two ways, with the same functions and flags. First choice, the module that
:mod:`.aot` compiled ahead of time for this machine's instruction set (the install script builds it; otherwise
the first scan that needs the kernels does, once): it loads in a millisecond without importing numba. Otherwise
numba's JIT, imported lazily so that a scan of a small model never pays its import or compile time (compiled
code is cached on disk, so only the very first big scan compiles). Kernels are used for a dtype when the caller
forces them, when they already ran in this process, or when the model holds at least :data:`JIT_MIN_BYTES` of
that dtype (:data:`AOT_MIN_BYTES` where the compiled module is built). ``MODEL_INSPECTOR_NO_JIT=1`` forces the
numpy path; so does any failure of both.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from functools import cache
from typing import Callable, Iterable, Mapping, Optional

import numpy as np

from inspector.core.dtypes import DType, widen
from inspector.core.measure import aot
from inspector.core.measure.buckets import SplitPlan
from inspector.core.measure.buckets import plan as split_plan
from inspector.core.measure.features import (
    MIN_BITS,
    PHASES,
    SIGN_WINDOW,
    WINDOW,
    FeatureAcc,
    score_window,
    windowed,
)
from inspector.core.measure.stats import Moments, Pass1, outer_range

log = logging.getLogger(__name__)

#: Bytes of one dtype a model must hold before a scan loads numba. Loading costs ≈ 0.45 CPU-s per process with
#: numba's on-disk cache warm (several seconds the very first time, compiling); with the detector features in
#: the pass, the kernels save ≈ 5 CPU-ms per MB over the numpy path (measured on 300 fp32 tensors of 0.87 MB),
#: so they pay from ≈ 90 MB on.
JIT_MIN_BYTES = 96 << 20
#: The same where the kernels compiled ahead of time for this machine are built (:mod:`.aot`): they load in about
#: a millisecond, without numba, and pay from about a megabyte on.
AOT_MIN_BYTES = 1 << 20
ENV_NO_JIT = "MODEL_INSPECTOR_NO_JIT"

#: dtype name -> (raw integer view, sign shift, |x| mask, +Inf bits)
_LAYOUT: dict[str, tuple[np.dtype, int, int, int]] = {
    "F32": (np.dtype("<u4"), 31, 0x7FFFFFFF, 0x7F800000),
    "F16": (np.dtype("<u2"), 15, 0x7FFF, 0x7C00),
    "BF16": (np.dtype("<u2"), 15, 0x7FFF, 0x7F80),
    "F64": (np.dtype("<i8"), 63, 0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000),
}
SUPPORTED = frozenset(_LAYOUT)

# integer state slots of a run
_COUNT, _NAN, _INF, _ZERO, _ZP, _NEGPAIRS, _PAIRS, _NF, _SIGN0, _SIGNL, _FINL, _STARTED, _KMIN, _KMAX = range(14)
# float state slots of a run
_MEAN, _M2, _M3, _M4, _SXY, _SHEAD, _STAIL, _X0, _XL = range(9)
_BIG = (1 << 63) - 1  # beyond every order key (int64 max)
#: The phase count ``_k_phases`` is compiled with, written here as a literal: numba's on-disk cache is keyed on
#: this file alone and would keep using a value imported from another module after it changed there (the phase
#: arrays would then be overrun). :func:`load` uses numpy instead when it differs from ``features.PHASES``.
_PHASES = 224


# --------------------------------------------------------------------------------------------------------------
# Kernel sources: plain functions that :func:`load` compiles, callees first (importing this module never imports
# numba). Loops that numba cannot vectorise (the pattern tables, the histogram scatter) are kept apart from those
# it can, so that the latter run at tens of GB/s on cache-resident chunks.


def _k_tables(u, tables):  # pragma: no cover - compiled
    """Counts of each 16-bit pattern in each 16-bit lane of the raw view."""
    lanes = tables.shape[0]
    for i in range(u.size):
        b = np.int64(u[i])
        if lanes == 1:
            tables[0, b & 0xFFFF] += 1
        elif lanes == 2:
            tables[0, b & 0xFFFF] += 1
            tables[1, (b >> 16) & 0xFFFF] += 1
        else:
            for j in range(lanes):
                tables[j, (b >> (16 * j)) & 0xFFFF] += 1


def _k_ints(u, sign_shift, abs_mask, inf_bits, ps):  # pragma: no cover - compiled
    """Integer classes and sign pairs (``ps``: the sign before the chunk), and the order keys of the finite
    extrema: ``key = |bits| ^ -sign`` orders floats as integers (vectorises, unlike a float min/max)."""
    negpairs = 0
    zero = 0
    zp = 0
    bad = 0
    inf = 0
    kmin = _BIG
    kmax = -_BIG
    for i in range(u.size):
        b = np.int64(u[i])
        sg = (b >> sign_shift) & 1
        negpairs += sg & ps
        ps = sg
        a = b & abs_mask
        zero += a == 0
        zp += b == 0
        bad += a >= inf_bits
        inf += a == inf_bits
        key = a ^ (-sg)
        k1 = key if a < inf_bits else _BIG
        k2 = key if a < inf_bits else -_BIG
        kmin = min(kmin, k1)
        kmax = max(kmax, k2)
    return negpairs, zero, zp, bad, inf, kmin, kmax, ps


def _k_sum(v):  # pragma: no cover - compiled with fastmath={"reassoc"}: finite values only
    s = 0.0
    for i in range(v.size):
        s += np.float64(v[i])
    return s


def _k_moments(v, c):  # pragma: no cover - compiled with fastmath={"reassoc"}: finite values only
    """Sums of d, d^2, d^3, d^4 and d_i d_{i+1} for d = v - c (float64)."""
    d = np.float64(v[0]) - c
    q = d * d
    m1 = d
    m2 = q
    m3 = q * d
    m4 = q * q
    sdd = 0.0
    for i in range(1, v.size):
        d = np.float64(v[i]) - c
        dp = np.float64(v[i - 1]) - c
        q = d * d
        m1 += d
        m2 += q
        m3 += q * d
        m4 += q * q
        sdd += dp * d
    return m1, m2, m3, m4, sdd


def _k_general(u, v, abs_mask, inf_bits):  # pragma: no cover - compiled
    """Moments and lag-1 sums of a chunk that holds NaN or Inf (plain scalar loops: the rare case)."""
    n = u.size
    nf = 0
    s = 0.0
    for i in range(n):
        if (np.int64(u[i]) & abs_mask) < inf_bits:
            s += np.float64(v[i])
            nf += 1
    c = s / nf if nf else 0.0
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    sdd = 0.0
    sh = 0.0
    st = 0.0
    pc = 0
    had = False
    dprev = 0.0
    for i in range(n):
        if (np.int64(u[i]) & abs_mask) < inf_bits:
            d = np.float64(v[i]) - c
            q = d * d
            m2 += q
            m3 += q * d
            m4 += q * q
            if had:
                sdd += dprev * d
                sh += dprev
                st += d
                pc += 1
            dprev = d
            had = True
        else:
            had = False
    return c, m2, m3, m4, sdd, sh, st, pc


def _k_widen(u, lut, out):  # pragma: no cover - compiled
    """``out[i] = lut[u[i]]``: float16 to float32 by table (numpy's own conversion runs at ~0.5 G values/s)."""
    for i in range(u.size):
        out[i] = lut[u[i]]


def _k_pass1(u, v, tables, ist, fst, sign_shift, abs_mask, inf_bits):  # pragma: no cover - compiled
    """Accumulate one chunk (raw view ``u``, values ``v``) into a run's state ``ist``/``fst``/``tables``."""
    n = u.size
    if n == 0:
        return
    started = ist[_STARTED]
    _k_tables(u, tables)
    negpairs, zero, zp, bad, inf, kmin, kmax, ps = _k_ints(u, sign_shift, abs_mask, inf_bits, ist[_SIGNL])
    nf = n - bad
    if bad == 0:
        # centred on the chunk's own mean in float64, as the numpy path does
        c = _k_sum(v) / n
        m1, m2, m3, m4, sdd = _k_moments(v, c)
        sh = m1 - (np.float64(v[n - 1]) - c)
        st = m1 - (np.float64(v[0]) - c)
        pc = n - 1
    else:
        c, m2, m3, m4, sdd, sh, st, pc = _k_general(u, v, abs_mask, inf_bits)
    sxy = sdd + c * (sh + st) + pc * c * c
    s_head = sh + pc * c
    s_tail = st + pc * c
    # the pair that straddles the previous chunk and this one (raw values, as Pass1.merge adds it)
    x0 = np.float64(v[0])
    fin0 = (np.int64(u[0]) & abs_mask) < inf_bits
    if started and ist[_FINL] and fin0:
        xl = fst[_XL]
        sxy += xl * x0
        s_head += xl
        s_tail += x0
        pc += 1
    if not started:
        ist[_STARTED] = 1
        ist[_SIGN0] = (np.int64(u[0]) >> sign_shift) & 1
        ist[_KMIN] = _BIG
        ist[_KMAX] = -_BIG
        fst[_X0] = x0
    ist[_COUNT] += n
    ist[_NAN] += bad - inf
    ist[_INF] += inf
    ist[_ZERO] += zero
    ist[_ZP] += zp
    ist[_NEGPAIRS] += negpairs
    ist[_PAIRS] += pc
    ist[_SIGNL] = ps
    ist[_FINL] = (np.int64(u[n - 1]) & abs_mask) < inf_bits
    ist[_KMIN] = min(ist[_KMIN], kmin)
    ist[_KMAX] = max(ist[_KMAX], kmax)
    fst[_XL] = np.float64(v[n - 1])
    fst[_SXY] += sxy
    fst[_SHEAD] += s_head
    fst[_STAIL] += s_tail
    if nf:
        na = ist[_NF]
        if na == 0:
            fst[_MEAN] = c
            fst[_M2] = m2
            fst[_M3] = m3
            fst[_M4] = m4
        else:  # Chan/Pébay, as Moments.merge
            nt = na + nf
            ma2 = fst[_M2]
            ma3 = fst[_M3]
            ma4 = fst[_M4]
            delta = c - fst[_MEAN]
            d_n = delta / nt
            fa = float(na)
            fb = float(nf)
            fst[_MEAN] = fst[_MEAN] + d_n * fb
            fst[_M2] = ma2 + m2 + delta * d_n * fa * fb
            fst[_M3] = ma3 + m3 + delta * d_n * d_n * fa * fb * (fa - fb) + 3.0 * d_n * (fa * m2 - fb * ma2)
            fst[_M4] = (
                ma4
                + m4
                + delta * d_n**3 * fa * fb * (fa * fa - fa * fb + fb * fb)
                + 6.0 * d_n * d_n * (fa * fa * m2 + fb * fb * ma2)
                + 4.0 * d_n * (fa * m3 - fb * ma3)
            )
        ist[_NF] = na + nf


def _k_codes(v, s, m, lo, hi, scale, tol, bins, thr, buf):  # pragma: no cover - compiled
    """Bin estimates of ``v[s:s+m]`` into ``buf`` (vectorised): the bin where the estimate is safely inside
    one, ``bins`` for values outside [lo, hi] (and NaN), ``bins + 1`` for values that need numpy's steps.
    Returns (count of ``|x| <= thr``, count of ``bins + 1``)."""
    near = 0
    nchk = 0
    out = np.int32(bins)
    chk = np.int32(bins + 1)
    for j in range(m):
        x = v[s + j]
        near += abs(x) <= thr
        inr = (x >= lo) & (x <= hi)
        f = np.float64(x - lo) * scale  # x - lo in the values' type, as numpy subtracts
        fc = f if inr else 0.5
        k = np.int32(fc)
        fr = fc - k
        ok = (fr >= tol) & (fr <= 1.0 - tol) & (k < bins)
        c = k if ok else chk
        c = c if inr else out
        nchk += c == chk
        buf[j] = c
    return near, nchk


def _k_hist(v, edges, denom, exact, tol, thr, counts, buf):  # pragma: no cover - compiled
    """Add the histogram of ``v`` over ``edges`` to ``counts`` (4 interleaved rows of ``bins + 2``), binning as
    ``np.histogram`` does; return the count of ``|x| <= thr``.

    numpy estimates ``(x - lo) / (hi - lo) * bins``, then moves the index by one where the edges array says so.
    A reciprocal multiply lands in the same bin unless it comes within ``tol`` of a bin boundary; only those
    values (all values when ``exact``: bins too narrow for the edges' precision) take numpy's steps.
    """
    n = v.size
    bins = edges.size - 1
    lo = edges[0]
    hi = edges[bins]
    scale = bins / denom
    if exact:
        tol = 2.0
    near = 0
    bsize = buf.size
    for s in range(0, n, bsize):
        m = min(bsize, n - s)
        nr, nchk = _k_codes(v, s, m, lo, hi, scale, tol, bins, thr, buf)
        near += nr
        for j in range(m):
            counts[j & 3, buf[j]] += 1
        if nchk:
            for j in range(m):
                if buf[j] == bins + 1:
                    counts[0, _k_bin(v[s + j], edges, denom, scale, exact)] += 1
    return near


def _k_bin(x, edges, denom, scale, exact):  # pragma: no cover - compiled
    """The bin of one value inside the range by numpy's steps: its estimate, then one step down or up where the
    edges say so."""
    bins = edges.size - 1
    t = np.float64(x - edges[0])
    k = int((t / denom) * bins) if exact else int(t * scale)
    if k >= bins:
        k = bins - 1
    if x < edges[k]:
        k -= 1
    if k != bins - 1 and x >= edges[k + 1]:
        k += 1
    return k


def _k_split(u, v, thr16, above, edges, denom, thr, each):  # pragma: no cover - compiled
    """Pass 2 of a float32 chunk under a :class:`~.buckets.SplitPlan`: per value, one look-up of its top-16-bit
    bucket's split (``thr16``) and one increment of the bucket's count of values at or past it (``above``); a value
    of a bucket marked -1 is binned alone, by numpy's steps, into ``each``. Returns the count of those values with
    ``|x| <= thr``."""
    bins = edges.size - 1
    lo = edges[0]
    hi = edges[bins]
    scale = bins / denom
    near = 0
    for i in range(u.size):
        b = np.int64(u[i])
        t = b >> 16
        s = thr16[t]
        if s >= 0:
            above[t] += (b & 0xFFFF) >= s
        else:
            x = v[i]
            near += abs(x) <= thr
            if (x >= lo) & (x <= hi):
                each[_k_bin(x, edges, denom, scale, False)] += 1
    return near


# Detector features (see :mod:`.features`): one scalar loop over a chunk, in storage order

# integer feature slots: the non-zero finite sequence (count, pairs, sign pairs), whether it has a last value;
# within-unit pairs, whole units, elements folded, the run's unit and first element; the low-byte window; the
# sign window (size, fill, positives, positive pairs, first element; windows judged, the highest's span)
(
    _FN,
    _FPAIRS,
    _FPP,
    _FPH,
    _FPT,
    _FHAS,
    _FWP,
    _FUNITS,
    _FSEEN,
    _FUNIT,
    _FSTART,
    _FFILL,
    _FBSTART,
    _FWIN,
    _FOPEN,
    _FBSTOP,
    _FSWSIZE,
    _FSWFILL,
    _FSWPOS,
    _FSWPP,
    _FSWSTART,
    _FSWCOUNT,
    _FSWBSTART,
    _FSWBSTOP,
) = range(24)
# float feature slots (then the sign window's Σx, Σx², Σx·x', last value; Σ excess, Σ excess², the highest)
(
    _GSXY,
    _GSH,
    _GST,
    _GFIRST,
    _GLAST,
    _GWXY,
    _GWH,
    _GWT,
    _GUF,
    _GUL,
    _GUFL,
    _GOPEN,
    _GRAWL,
    _GBEST,
    _GSWS,
    _GSWQ,
    _GSWXY,
    _GSWLAST,
    _GSWSUM,
    _GSWSQ,
    _GSWBEST,
) = range(21)


def _k_sw_close(fi, ff, stop):  # pragma: no cover - compiled
    """Judge the full sign window ending before element ``stop`` (:func:`~.features.window_sign_excess`'s
    formula) and open the next one."""
    k = fi[_FSWFILL]
    npos = fi[_FSWPOS]
    if k >= 2 and npos > 0 and npos < k:
        p = npos / k
        sac = (fi[_FSWPP] / (k - 1) - p * p) / (p * (1.0 - p))
        m = ff[_GSWS] / k
        var = ff[_GSWQ] / k - m * m
        if var > 0:
            ac = (ff[_GSWXY] / (k - 1) - m * m) / var
            e = sac - 2.0 / math.pi * math.asin(max(-1.0, min(1.0, ac)))
            fi[_FSWCOUNT] += 1
            ff[_GSWSUM] += e
            ff[_GSWSQ] += e * e
            if e > ff[_GSWBEST]:
                ff[_GSWBEST] = e
                fi[_FSWBSTART] = fi[_FSWSTART]
                fi[_FSWBSTOP] = stop
    fi[_FSWFILL] = 0
    fi[_FSWPOS] = 0
    fi[_FSWPP] = 0
    fi[_FSWSTART] = -1
    ff[_GSWS] = 0.0
    ff[_GSWQ] = 0.0
    ff[_GSWXY] = 0.0
    ff[_GSWLAST] = 0.0


def _k_close(u, j, jo, carry, wc, wl, bc, bl, fi, ff, start, stop, inf_bits, min_bits):  # pragma: no cover
    """Score the full low-byte window (counts ``wc`` of its bytes; ``wc[0]`` counts zero low bytes among them,
    which no window judges) spanning elements [start, stop) and ending at the chunk's element ``j``; keep it in
    ``bc``/``bl`` when it is the least uniform so far (the score is :func:`~.features.score_window`'s). Its
    bytes are read only then: ``wl[:carry]`` from earlier chunks, then the judged low bytes of ``u[jo : j + 1]``."""
    t = 0
    sq = 0
    for b in range(1, 256):
        t += wc[b]
        sq += wc[b] * wc[b]
    if t >= min_bits:
        chi2 = 255.0 * np.float64(sq) / t - t
        z = (chi2 - 254.0) / math.sqrt(508.0)
        if z > ff[_GBEST]:
            ff[_GBEST] = z
            fi[_FBSTART] = start
            fi[_FBSTOP] = stop
            for b in range(256):
                bc[b] = wc[b]
            bc[0] = 0
            for k in range(carry):
                bl[k] = wl[k]
            k = carry
            for i in range(jo, j + 1):
                w = np.int64(u[i])
                if (w & 0xFF) != 0 and (w & inf_bits) != 0:
                    bl[k] = w & 0xFF
                    k += 1
    for b in range(256):
        wc[b] = 0


def _k_plain(u, inf_bits):  # pragma: no cover - compiled
    """Whether every value of zero exponent (zero, subnormal) has a zero low byte: then a window's judged bytes
    are simply its non-zero low bytes (vectorised)."""
    bad = 0
    for i in range(u.size):
        w = np.int64(u[i])
        bad += ((w & inf_bits) == 0) & ((w & 0xFF) != 0)
    return bad == 0


def _k_lows(u, a, b, wc):  # pragma: no cover - compiled
    """Count the low bytes of ``u[a:b]`` into ``wc`` (zero ones in ``wc[0]``)."""
    for i in range(a, b):
        wc[np.int64(u[i]) & 0xFF] += 1


def _k_windows(u, wc, wl, bc, bl, fi, ff, inf_bits, min_bits):  # pragma: no cover - compiled
    """Fold a chunk into the low-byte windows: runs of ``wl.size`` judged low bytes (non-zero, of normal values;
    see :meth:`FeatureAcc._windows`), each scored as it fills. Bytes are copied only for the window kept and for
    the part of the open window that the next chunk continues.

    Where no subnormal has a non-zero low byte (the usual chunk), a window is a stretch of elements counted by one
    tight loop: the next ``need`` elements hold ``need`` judged bytes less the zero bytes among them, which the
    loop counts in ``wc[0]`` (about twice as fast as deciding element by element)."""
    n = u.size
    size = wl.size
    fill = fi[_FFILL]
    base = fi[_FSTART] + fi[_FSEEN]
    opened = fi[_FOPEN]
    carry = fill  # the open window's bytes held in ``wl``
    jo = 0  # where this chunk's part of the open window begins
    if _k_plain(u, inf_bits):
        j = 0
        while j < n:
            if fill == 0:  # a window opens at a judged byte
                while j < n and (np.int64(u[j]) & 0xFF) == 0:
                    j += 1
                if j == n:
                    break
                opened = base + j
                jo = j
                carry = 0
            e = min(n, j + size - fill)
            z = wc[0]
            _k_lows(u, j, e, wc)
            fill += e - j - (wc[0] - z)
            j = e
            if fill == size:  # then the last element read is judged: a zero byte there would have left it short
                _k_close(u, j - 1, jo, carry, wc, wl, bc, bl, fi, ff, opened, base + j, inf_bits, min_bits)
                fill = 0
        wc[0] = 0
    else:
        for j in range(n):
            w = np.int64(u[j])
            b = w & 0xFF
            if b == 0 or (w & inf_bits) == 0:  # zero low byte, or subnormal (see FeatureAcc._windows)
                continue
            wc[b] += 1
            if fill == 0:
                opened = base + j
                jo = j
                carry = 0
            fill += 1
            if fill == size:
                _k_close(u, j, jo, carry, wc, wl, bc, bl, fi, ff, opened, base + j + 1, inf_bits, min_bits)
                fill = 0
    if fill > carry:  # the open window's bytes from this chunk, after those of earlier chunks
        k = carry
        for i in range(jo, n):
            w = np.int64(u[i])
            if (w & 0xFF) != 0 and (w & inf_bits) != 0:
                wl[k] = w & 0xFF
                k += 1
    fi[_FOPEN] = opened
    fi[_FFILL] = fill


def _k_live(u, abs_mask, inf_bits):  # pragma: no cover - compiled
    """Whether every value of the chunk is finite and non-zero (vectorised)."""
    bad = 0
    for i in range(u.size):
        a = np.int64(u[i]) & abs_mask
        bad += (a == 0) | (a >= inf_bits)
    return bad == 0


def _k_lag(v):  # pragma: no cover - compiled with fastmath={"reassoc"}: finite values only
    """Sum, sum of squares, lag-1 sum of products, positives and positive pairs of a run of finite values (called
    on a slice: with explicit bounds instead, this loop ran 25% slower)."""
    x0 = np.float64(v[0])
    s = x0
    q = x0 * x0
    sxy = 0.0
    npos = np.int64(x0 > 0)
    pp = np.int64(0)
    for i in range(1, v.size):
        a = np.float64(v[i - 1])
        b = np.float64(v[i])
        s += b
        q += b * b
        sxy += a * b
        npos += b > 0
        pp += (a > 0) & (b > 0)
    return s, q, sxy, npos, pp


def _k_phases(v, ph, rs, rq, rc, rp):  # pragma: no cover - compiled
    """Add a chunk of finite non-zero values to the phase sums, the first value at phase ``ph``; returns the
    phase after the chunk. Whole blocks of phases run as one vectorised loop. (Counts per phase follow from the
    number of values: :meth:`_FeatureState.into` fills them in.)"""
    n = v.size
    phases = _PHASES  # a compile-time constant: the block loop below vectorises only with a known trip count
    i = 0
    while i < n and ph != 0:
        x = np.float64(v[i])
        rs[ph] += x
        rq[ph] += x * x
        rp[ph] += x > 0
        ph = ph + 1 if ph + 1 < phases else 0
        i += 1
    while i + phases <= n:
        for j in range(phases):
            x = np.float64(v[i + j])
            rs[j] += x
            rq[j] += x * x
            rp[j] += x > 0
        i += phases
    while i < n:
        x = np.float64(v[i])
        rs[ph] += x
        rq[ph] += x * x
        rp[ph] += x > 0
        ph += 1
        i += 1
    return ph


def _k_units_live(v, fi, ff, sxy_in, s):  # pragma: no cover - compiled
    """Within-unit lag-1 sums and unit first/last sums of a chunk of finite values: the chunk's own lag-1 sums
    (``sxy_in``, sum ``s``) less the pairs that cross a unit boundary, one step per unit."""
    n = v.size
    unit = fi[_FUNIT]
    pos = fi[_FSEEN] % unit
    x0 = np.float64(v[0])
    wxy = sxy_in
    wh = s - np.float64(v[n - 1])
    wt = s - x0
    wp = n - 1
    if pos != 0:  # the chunk continues a unit: the pair across the chunk boundary is within it
        prev = ff[_GRAWL]
        wxy += prev * x0
        wh += prev
        wt += x0
        wp += 1
    uf = ff[_GUF]
    ul = ff[_GUL]
    ufl = ff[_GUFL]
    openf = ff[_GOPEN]
    units = fi[_FUNITS]
    k = (unit - pos) % unit  # the first unit start in the chunk
    if pos != 0 and k <= n:  # the unit left open by the previous chunk ends right before k
        e = np.float64(v[k - 1])
        ul += e
        ufl += openf * e
        units += 1
    while k < n:
        f = np.float64(v[k])
        uf += f
        openf = f
        if k >= 1:
            a = np.float64(v[k - 1])
            wxy -= a * f
            wh -= a
            wt -= f
            wp -= 1
        end = k + unit - 1
        if end < n:
            e = np.float64(v[end])
            ul += e
            ufl += f * e
            units += 1
        k += unit
    ff[_GWXY] += wxy
    ff[_GWH] += wh
    ff[_GWT] += wt
    fi[_FWP] += wp
    ff[_GUF] = uf
    ff[_GUL] = ul
    ff[_GUFL] = ufl
    ff[_GOPEN] = openf
    fi[_FUNITS] = units
    ff[_GRAWL] = np.float64(v[n - 1])


def _k_features(u, v, fi, ff, rs, rq, rc, rp, wc, wl, bc, bl, abs_mask, inf_bits, min_bits):  # pragma: no cover
    """Fold one chunk (raw view ``u``, values ``v``) into a feature run's state: what
    :meth:`FeatureAcc._order`, ``_units`` and ``_windows`` do with numpy, in one pass. Returns whether every
    value of the chunk is finite and non-zero."""
    n = u.size
    all_live = n > 0 and _k_live(u, abs_mask, inf_bits)
    if n > 1 and all_live:
        _k_features_live(v, fi, ff, rs, rq, rc, rp)
    else:
        _k_features_any(u, v, fi, ff, rs, rq, rc, rp, abs_mask, inf_bits)
    if fi[_FWIN]:
        _k_windows(u, wc, wl, bc, bl, fi, ff, inf_bits, min_bits)
    fi[_FSEEN] += n
    return all_live


def _k_features_live(v, fi, ff, rs, rq, rc, rp):  # pragma: no cover - compiled
    """Order, phase and unit sums of a chunk whose values are all finite and non-zero (the usual chunk of
    trained weights): vectorised sums instead of a scalar loop."""
    n = v.size
    # one pass of the lag sums per stretch of the chunk that lies in one sign window: the window takes the
    # stretch's sums, the chunk adds them up with the pairs between stretches
    size = fi[_FSWSIZE]
    base = fi[_FSTART] + fi[_FSEEN]
    s = 0.0
    sxy_in = 0.0
    npos = np.int64(0)
    pp_in = np.int64(0)
    prev = 0.0
    i = 0
    while i < n:
        fill = fi[_FSWFILL]
        b = min(n, i + size - fill)
        ss, sq, sx, sp, spp = _k_lag(v[i:b])
        a0 = np.float64(v[i])
        if fill == 0:
            fi[_FSWSTART] = base + i
        else:
            last = ff[_GSWLAST]
            ff[_GSWXY] += last * a0
            fi[_FSWPP] += (last > 0) and (a0 > 0)
        ff[_GSWS] += ss
        ff[_GSWQ] += sq
        ff[_GSWXY] += sx
        fi[_FSWPOS] += sp
        fi[_FSWPP] += spp
        fi[_FSWFILL] = fill + (b - i)
        ff[_GSWLAST] = np.float64(v[b - 1])
        if fi[_FSWFILL] == size:
            _k_sw_close(fi, ff, base + b)
        if i > 0:
            sxy_in += prev * a0
            pp_in += (prev > 0) and (a0 > 0)
        s += ss
        sxy_in += sx
        npos += sp
        pp_in += spp
        prev = np.float64(v[b - 1])
        i = b
    x0 = np.float64(v[0])
    xl = np.float64(v[n - 1])
    if fi[_FHAS]:
        last = ff[_GLAST]
        ff[_GSXY] += last * x0
        ff[_GSH] += last
        ff[_GST] += x0
        fi[_FPAIRS] += 1
        fi[_FPP] += (last > 0) and (x0 > 0)
        fi[_FPH] += last > 0
        fi[_FPT] += x0 > 0
    else:
        fi[_FHAS] = 1
        ff[_GFIRST] = x0
    ff[_GSXY] += sxy_in
    ff[_GSH] += s - xl
    ff[_GST] += s - x0
    fi[_FPAIRS] += n - 1
    fi[_FPP] += pp_in
    fi[_FPH] += npos - (xl > 0)
    fi[_FPT] += npos - (x0 > 0)
    ff[_GLAST] = xl
    _k_phases(v, fi[_FN] % rs.size, rs, rq, rc, rp)
    fi[_FN] += n
    if fi[_FUNIT] >= 1:
        _k_units_live(v, fi, ff, sxy_in, s)


def _k_features_any(u, v, fi, ff, rs, rq, rc, rp, abs_mask, inf_bits):  # pragma: no cover - compiled
    """Order, phase and unit sums of any chunk (zeros, NaN, Inf among the values): one scalar loop."""
    n = u.size
    phases = rs.size
    cnt = fi[_FN]
    ph = cnt % phases
    has = fi[_FHAS]
    pairs = fi[_FPAIRS]
    pp = fi[_FPP]
    phd = fi[_FPH]
    ptl = fi[_FPT]
    last = ff[_GLAST]
    sxy = ff[_GSXY]
    sh = ff[_GSH]
    st = ff[_GST]
    unit = fi[_FUNIT]
    seen = fi[_FSEEN]
    pos = seen % unit if unit >= 1 else 0
    wp = fi[_FWP]
    units = fi[_FUNITS]
    wxy = ff[_GWXY]
    wh = ff[_GWH]
    wt = ff[_GWT]
    uf = ff[_GUF]
    ul = ff[_GUL]
    ufl = ff[_GUFL]
    openf = ff[_GOPEN]
    prev = ff[_GRAWL]
    size = fi[_FSWSIZE]
    base = fi[_FSTART] + seen
    swfill = fi[_FSWFILL]
    swpos = fi[_FSWPOS]
    swpp = fi[_FSWPP]
    sws = ff[_GSWS]
    swq = ff[_GSWQ]
    swxy = ff[_GSWXY]
    swlast = ff[_GSWLAST]
    for i in range(n):
        a = np.int64(u[i]) & abs_mask
        fin = a < inf_bits
        x = np.float64(v[i])
        if fin and a != 0:
            xp = x > 0
            if swfill == 0:
                fi[_FSWSTART] = base + i
            else:
                swxy += swlast * x
                swpp += (swlast > 0) and xp
            sws += x
            swq += x * x
            swpos += xp
            swfill += 1
            swlast = x
            if swfill == size:
                fi[_FSWFILL] = swfill
                fi[_FSWPOS] = swpos
                fi[_FSWPP] = swpp
                ff[_GSWS] = sws
                ff[_GSWQ] = swq
                ff[_GSWXY] = swxy
                _k_sw_close(fi, ff, base + i + 1)
                swfill = 0
                swpos = 0
                swpp = 0
                sws = 0.0
                swq = 0.0
                swxy = 0.0
                swlast = 0.0
            if has:
                sxy += last * x
                sh += last
                st += x
                pairs += 1
                lp = last > 0
                pp += lp and xp
                phd += lp
                ptl += xp
            else:
                has = 1
                ff[_GFIRST] = x
            rs[ph] += x
            rq[ph] += x * x
            rp[ph] += xp
            ph += 1
            if ph == phases:
                ph = 0
            cnt += 1
            last = x
        if unit >= 1:
            xu = x if fin else 0.0
            if pos == 0:
                uf += xu
                openf = xu
            else:
                wxy += prev * xu
                wh += prev
                wt += xu
                wp += 1
            if pos == unit - 1:
                ul += xu
                ufl += openf * xu
                units += 1
                pos = 0
            else:
                pos += 1
            prev = xu
    fi[_FN] = cnt
    fi[_FHAS] = has
    fi[_FPAIRS] = pairs
    fi[_FPP] = pp
    fi[_FPH] = phd
    fi[_FPT] = ptl
    ff[_GLAST] = last
    ff[_GSXY] = sxy
    ff[_GSH] = sh
    ff[_GST] = st
    fi[_FWP] = wp
    fi[_FUNITS] = units
    ff[_GWXY] = wxy
    ff[_GWH] = wh
    ff[_GWT] = wt
    ff[_GUF] = uf
    ff[_GUL] = ul
    ff[_GUFL] = ufl
    ff[_GOPEN] = openf
    ff[_GRAWL] = prev
    fi[_FSWFILL] = swfill
    fi[_FSWPOS] = swpos
    fi[_FSWPP] = swpp
    ff[_GSWS] = sws
    ff[_GSWQ] = swq
    ff[_GSWXY] = swxy
    ff[_GSWLAST] = swlast


# --------------------------------------------------------------------------------------------------------------
# Loading, and the choice between kernels and numpy


class _Compiled:
    def __init__(self, pass1: Callable, pass2: Callable, widen: Callable, features: Callable, split: Callable) -> None:
        self.pass1 = pass1
        self.pass2 = pass2
        self.widen = widen
        self.features = features
        self.split = split


_PLAIN = (
    "_k_tables",
    "_k_ints",
    "_k_general",
    "_k_codes",
    "_k_bin",
    "_k_widen",
    "_k_close",
    "_k_plain",
    "_k_lows",
    "_k_windows",
    "_k_sw_close",
    "_k_live",
    "_k_phases",
    "_k_units_live",
    "_k_features_any",
)
#: pure arithmetic on values already known finite: the reduction order may change (vectorised partial sums)
_REASSOC = ("_k_sum", "_k_moments", "_k_lag")
_DRIVERS = ("_k_pass1", "_k_hist", "_k_split", "_k_features_live", "_k_features")

_lock = threading.Lock()
_compiled: Optional[_Compiled] = None
_failed = False
_warm: set[str] = set()  # dtypes whose kernels ran in this process


def disabled_by_env() -> bool:
    """Whether ``MODEL_INSPECTOR_NO_JIT`` asks for the numpy path."""
    return os.environ.get(ENV_NO_JIT, "").strip().lower() not in ("", "0", "false", "no")


def _skip_blas_probe() -> None:
    """Import numba's array functions without their BLAS probe.

    When numba's CPU target first starts (on the first call of any compiled function, cached or not), it
    imports ``numba.np.arraymath``, which imports ``scipy.linalg`` (≈ 0.3 s, a third of a scan of 250 MB) only
    to learn whether ``np.dot`` and friends may call BLAS. The kernels call no BLAS function, so the module is
    imported here with that probe answering "no BLAS": numba's ``np.correlate``/``np.convolve`` would then use
    their own loops, nothing else changes. Does nothing where the module or scipy.linalg is loaded already.
    """
    import sys

    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        import numba.np.linalg as nl
    except Exception:  # a numba without that module: let it start as it does
        return
    probe = getattr(nl, "ensure_blas", None)
    if probe is None:
        return

    def no_blas() -> None:
        raise ImportError("the scan kernels use no BLAS")

    nl.ensure_blas = no_blas
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        nl.ensure_blas = probe


def compile_kernels(njit: Callable, cache: bool = False) -> dict[str, Callable]:
    """Turn the kernel sources of this module into numba functions with ``njit`` (numba's), each with the flags
    it needs, callees first (they bind by global name); the four entry points by operation. Used by the JIT and by
    the ahead-of-time build (:mod:`.aot`), so that both compile the same functions the same way."""
    g = globals()
    for name in _PLAIN + _REASSOC + _DRIVERS:
        fm: set[str] | bool = {"reassoc"} if name in _REASSOC else False
        g[name] = njit(cache=cache, nogil=True, error_model="numpy", fastmath=fm)(g[name])
    return {
        "pass1": g["_k_pass1"],
        "pass2": g["_k_hist"],
        "widen": g["_k_widen"],
        "features": g["_k_features"],
        "split": g["_k_split"],
    }


def _jit() -> Optional[_Compiled]:
    """The numba JIT's kernels (compiled lazily per dtype on first call, or loaded from numba's on-disk cache)."""
    try:
        from numba import njit

        _skip_blas_probe()
        k = compile_kernels(njit, cache=True)
        return _Compiled(k["pass1"], k["pass2"], k["widen"], k["features"], k["split"])
    except Exception as e:  # ImportError, or a numba that cannot work here (frozen app, no cache dir)
        log.info("numba kernels unavailable, using numpy: %s", e)
        return None


def _ahead_of_time(build_missing: bool = True, note: Optional[Callable[[str], None]] = None) -> Optional[_Compiled]:
    """The kernels compiled ahead of time for this machine (:mod:`.aot`), built first where missing."""
    try:
        e = aot.load(build_missing, note)
    except Exception as exc:  # a damaged cache or an odd system: the JIT takes over
        log.info("compiled kernels unavailable: %s", exc)
        return None
    return _Compiled(e.pass1, e.pass2, e.widen, e.features, e.split) if e is not None else None


def load(note: Optional[Callable[[str], None]] = None) -> Optional[_Compiled]:
    """The kernels: those compiled ahead of time for this machine (no numba import), else numba's JIT; ``None``
    where neither can run (the numpy path is used). ``note`` hears of a build of the former (once a machine)."""
    global _compiled, _failed
    with _lock:
        if _compiled is not None or _failed:
            return _compiled
        if _PHASES != PHASES:
            log.warning("kernels._PHASES (%d) differs from features.PHASES (%d): using numpy", _PHASES, PHASES)
            _failed = True
            return None
        _compiled = _ahead_of_time(note=note) or _jit()
        _failed = _compiled is None
        return _compiled


def plan(
    jit: Optional[bool], bytes_by_dtype: Mapping[str, int], note: Optional[Callable[[str], None]] = None
) -> Optional[Kernels]:
    """The kernels a scan should use, or ``None`` for the numpy path everywhere.

    ``jit``: ``True`` every supported dtype (if the kernels load), ``False`` never, ``None`` automatic: the dtypes
    with at least :data:`JIT_MIN_BYTES` in the model, or :data:`AOT_MIN_BYTES` where this machine's compiled
    module is built already (it loads in a millisecond), or whose kernels already ran in this process.
    ``MODEL_INSPECTOR_NO_JIT=1`` wins over all. ``note``: told when the kernels must be compiled first.
    """
    if jit is False or disabled_by_env():
        return None
    present = {n for n, b in bytes_by_dtype.items() if n in SUPPORTED and b > 0}
    if jit:
        names = present
    else:
        names = {n for n in present if bytes_by_dtype[n] >= JIT_MIN_BYTES or n in _warm}
        small = {n for n in present if bytes_by_dtype[n] >= AOT_MIN_BYTES} - names
        if small and aot.ready() and _ahead_loaded():  # never numba's import for a model this small
            names |= small
    if not names:
        return None
    k = load(note)
    return Kernels(k, frozenset(names)) if k is not None else None


def _ahead_loaded() -> bool:
    """Whether the kernels in use are the compiled module's, loading it now if nothing is loaded yet (without
    building it, and without falling back to the JIT: a module that is there but does not load must not make a
    small model's scan import numba)."""
    global _compiled
    with _lock:
        if _compiled is None and not _failed and _PHASES == PHASES:
            _compiled = _ahead_of_time(build_missing=False)
        return _compiled is not None and isinstance(getattr(_compiled.pass1, "__self__", None), aot.Entry)


class Kernels:
    """Per-dtype entry points the scan calls instead of the numpy pass functions."""

    def __init__(self, compiled: _Compiled, names: frozenset[str]) -> None:
        self._k = compiled
        self.names = names

    def covers(self, dt: DType) -> bool:
        return dt.name in self.names

    def pass1(
        self,
        chunks: Iterable[np.ndarray],
        dt: DType,
        tick: Callable[[int], None],
        features: Optional[FeatureAcc] = None,
    ) -> Pass1:
        """Pass-1 accumulators of a run of chunks (raw storage), equal to merging
        :func:`~.stats.pass1_chunk` over them. ``features``: a fresh accumulator that the same chunks are
        folded into, as :meth:`FeatureAcc.add` would fold them, while each chunk is in cache."""
        view, sign_shift, abs_mask, inf_bits = _LAYOUT[dt.name]
        tables = np.zeros((dt.itemsize // 2, 65536), dtype=np.int64)
        ist = np.zeros(14, dtype=np.int64)
        fst = np.zeros(9, dtype=np.float64)
        k = self._k.pass1
        kf = self._k.features
        fs = _FeatureState(features, dt) if features is not None else None
        values = self._values(dt)
        for raw in chunks:
            u = raw.view(view)
            v = values(raw)
            k(u, v, tables, ist, fst, sign_shift, abs_mask, inf_bits)
            if fs is not None and features is not None:
                all_live = kf(u, v, *fs.arrays, abs_mask, inf_bits, MIN_BITS)
                features.add_values(raw, dt, all_live)
            tick(raw.nbytes)
        if fs is not None and features is not None:
            fs.into(features)
        _warm.add(dt.name)
        return _to_pass1(ist, fst, tables, dt)

    def bins(self, edges: np.ndarray, span: tuple[float, float], dt: DType) -> bool:
        """Whether :meth:`pass2` can bin over ``edges``: a range of positive, finite width, in float64 and in the
        values' type. Values at the ends of the type (a mask's fill value, ±3.4e38 in float32) make a range that
        collapses or overflows there; the numpy path halves or divides for those, the kernel's estimate would not
        land in a bin."""
        lo, hi = outer_range(*span)
        vt = np.float64 if dt.name == "F64" else np.float32
        with np.errstate(over="ignore", invalid="ignore"):
            width = vt(edges[-1]) - vt(edges[0])
        d = float(hi) - float(lo)
        return math.isfinite(d) and d > 0 and bool(np.isfinite(width)) and bool(width > 0)

    def pass2(
        self,
        chunks: Iterable[np.ndarray],
        dt: DType,
        edges: np.ndarray,
        span: tuple[float, float],
        thr: float,
        tick: Callable[[int], None],
    ) -> tuple[np.ndarray, int]:
        """Histogram over ``edges`` (binned as ``np.histogram(x, len(edges) - 1, range=span)`` bins) and the
        count of ``|x| <= thr`` of a run of chunks. ``span`` is the (lo, hi) the edges were made from."""
        bins = len(edges) - 1
        counts = np.zeros((4, bins + 2), dtype=np.int64)
        buf = np.empty(2048, dtype=np.int32)
        lo, hi = outer_range(*span)
        denom = float(hi) - float(lo)
        tol = _boundary_tol(edges, denom)
        exact = tol is None
        vt = np.float64 if dt.name == "F64" else np.float32
        # numpy compares float32 values with a Python float in float32; -1 counts nothing
        thr_v = vt(thr) if math.isfinite(thr) else vt(-1)
        near = 0
        k = self._k.pass2
        values = self._values(dt)
        for raw in chunks:
            v = values(raw)
            near += k(v, edges, denom, exact, 0.0 if exact else tol, thr_v, counts, buf)
            tick(raw.nbytes)
        _warm.add(dt.name)
        return counts[:, :bins].sum(axis=0), int(near)

    def split_plan(
        self, tables: Optional[list[np.ndarray]], dt: DType, edges: np.ndarray, span: tuple[float, float], thr: float
    ) -> Optional[SplitPlan]:
        """The plan under which :meth:`split` gives a float32 tensor's histogram and near-zero count from pass 1's
        top-lane table and one cheap read (see :mod:`.buckets`), or ``None`` where :meth:`pass2` must bin it."""
        if dt.name != "F32" or not self.covers(dt) or tables is None or len(tables) != 2 or tables[1].size != 65536:
            return None
        if not self.bins(edges, span, dt):
            return None
        lo, hi = outer_range(*span)
        exact = _boundary_tol(edges, float(hi) - float(lo)) is None
        with np.errstate(over="ignore"):
            thr_v = np.float32(thr) if math.isfinite(thr) else np.float32(-1)
        if not np.isfinite(thr_v):  # a band wider than float32 holds Inf too: the plain pass counts it so
            return None
        with np.errstate(all="ignore"):
            return split_plan(tables[1], edges, thr_v, exact)

    def split(
        self,
        chunks: Iterable[np.ndarray],
        plan: SplitPlan,
        edges: np.ndarray,
        span: tuple[float, float],
        tick: Callable[[int], None],
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """``_k_split``'s counts over a run of float32 chunks, for :meth:`~.buckets.SplitPlan.finish` (summed over
        a tensor's pieces first)."""
        above = np.zeros(65536, dtype=np.int64)
        each = np.zeros(plan.bins, dtype=np.int64)
        lo, hi = outer_range(*span)
        denom = float(hi) - float(lo)
        near = 0
        k = self._k.split
        for raw in chunks:
            near += k(raw.view(np.uint32), raw, plan.thr16, above, edges, denom, plan.thr, each)
            tick(raw.nbytes)
        _warm.add("F32")
        return above, each, near

    def _values(self, dt: DType) -> Callable[[np.ndarray], np.ndarray]:
        """Raw chunk -> float values (float32, or float64 for F64); one reused buffer for F16."""
        if dt.name in ("F32", "F64"):
            return lambda raw: raw
        if dt.name != "F16":
            return lambda raw: widen(raw, dt)
        lut = _F16_LUT
        k = self._k.widen
        buf = np.empty(0, dtype=np.float32)

        def f16(raw: np.ndarray) -> np.ndarray:
            nonlocal buf
            if buf.size < raw.size:
                buf = np.empty(raw.size, dtype=np.float32)
            out = buf[: raw.size]
            k(raw.view(np.uint16), lut, out)
            return out

        return f16


_F16_LUT = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)


class _FeatureState:
    """A feature run's state as the arrays ``_k_features`` updates, and back into a :class:`FeatureAcc`."""

    def __init__(self, acc: FeatureAcc, dt: DType) -> None:
        if acc.seen:
            raise ValueError("the kernels fold chunks into a fresh feature accumulator only")
        fi = np.zeros(24, dtype=np.int64)
        ff = np.zeros(21, dtype=np.float64)
        fi[_FUNIT] = acc.unit
        fi[_FSTART] = acc.start
        fi[_FBSTART] = -1
        fi[_FBSTOP] = -1
        win = windowed(dt)
        fi[_FWIN] = win
        ff[_GBEST] = -math.inf
        fi[_FSWSIZE] = SIGN_WINDOW
        fi[_FSWSTART] = -1
        fi[_FSWBSTART] = -1
        fi[_FSWBSTOP] = -1
        ff[_GSWBEST] = -math.inf
        size = WINDOW if win else 1
        self.arrays = (
            fi,
            ff,
            np.zeros(PHASES),
            np.zeros(PHASES),
            np.zeros(PHASES, dtype=np.int64),
            np.zeros(PHASES, dtype=np.int64),
            np.zeros(256, dtype=np.int64),
            np.zeros(size, dtype=np.uint8),
            np.zeros(256, dtype=np.int64),
            np.zeros(size, dtype=np.uint8),
        )

    def into(self, acc: FeatureAcc) -> None:
        fi, ff, rs, rq, rc, rp, wc, wl, bc, bl = self.arrays
        acc.seen = int(fi[_FSEEN])
        acc.n = int(fi[_FN])
        acc.sxy, acc.shead, acc.stail = float(ff[_GSXY]), float(ff[_GSH]), float(ff[_GST])
        acc.pairs = int(fi[_FPAIRS])
        acc.pos_pairs, acc.pos_head, acc.pos_tail = int(fi[_FPP]), int(fi[_FPH]), int(fi[_FPT])
        if fi[_FHAS]:
            acc.first, acc.last = float(ff[_GFIRST]), float(ff[_GLAST])
        # the phase counts follow from the count alone: phases are positions in the non-zero sequence
        n, phases = acc.n, rc.size
        rc[:] = n // phases + (np.arange(phases) < n % phases)
        acc.rsum, acc.rsq, acc.rcnt, acc.rpos = rs, rq, rc, rp
        acc.wxy, acc.whead, acc.wtail = float(ff[_GWXY]), float(ff[_GWH]), float(ff[_GWT])
        acc.wpairs, acc.units = int(fi[_FWP]), int(fi[_FUNITS])
        acc.ufirst, acc.ulast, acc.ufl = float(ff[_GUF]), float(ff[_GUL]), float(ff[_GUFL])
        acc.open_first, acc.raw_last = float(ff[_GOPEN]), float(ff[_GRAWL])
        acc.sw_fill, acc.sw_pos, acc.sw_pp = int(fi[_FSWFILL]), int(fi[_FSWPOS]), int(fi[_FSWPP])
        acc.sw_start = int(fi[_FSWSTART]) if acc.sw_fill else -1
        acc.sw_s, acc.sw_q, acc.sw_xy = float(ff[_GSWS]), float(ff[_GSWQ]), float(ff[_GSWXY])
        acc.sw_last = float(ff[_GSWLAST]) if acc.sw_fill else 0.0
        acc.sw_count, acc.sw_sum, acc.sw_sq = int(fi[_FSWCOUNT]), float(ff[_GSWSUM]), float(ff[_GSWSQ])
        acc.sw_best, acc.sw_best_start, acc.sw_best_stop = (
            float(ff[_GSWBEST]),
            int(fi[_FSWBSTART]),
            int(fi[_FSWBSTOP]),
        )
        fill = int(fi[_FFILL])
        if fill:
            acc.win_counts, acc.win_lows, acc.win_fill = wc.copy(), [wl[:fill].copy()], fill
            acc.win_start = int(fi[_FOPEN])
        if fi[_FBSTART] >= 0:
            w = score_window(bc, bl, int(fi[_FBSTART]), int(fi[_FBSTOP]))
            if w is not None:
                acc.worst = w


def histogram_from_table(
    table: np.ndarray, dt: DType, edges: np.ndarray, span: tuple[float, float], thr: float
) -> tuple[np.ndarray, int]:
    """Pass 2 of a 16-bit float tensor without reading it again (plain numpy; no numba needed).

    Pass 1's pattern table of a 16-bit type counts every distinct value, so binning the 65,536 possible values
    with those counts as weights gives ``np.histogram``'s counts of the whole tensor exactly (same binning
    steps, value by value), and the near-zero count too. ``span``: the (lo, hi) the edges were made from.
    """
    if dt.itemsize != 2 or not dt.is_float or table.size != 65536:
        raise ValueError(f"histogram_from_table needs a 16-bit float pattern table, not {dt.name}")
    values = _values16(dt)
    used = np.flatnonzero(table)
    v, w = values[used], table[used]
    fin = np.isfinite(v)
    v, w = v[fin], w[fin]
    lo, hi = outer_range(*span)
    counts, got = np.histogram(v, bins=len(edges) - 1, range=(lo, hi), weights=w)
    if not np.array_equal(got, edges):
        raise ValueError("edges were not made from this span")
    near = int(w[np.abs(v) <= thr].sum()) if math.isfinite(thr) else 0
    return counts.astype(np.int64), near


@cache
def _values16(dt: DType) -> np.ndarray:
    """The value of each of the 65,536 codes of a 16-bit float type (read-only)."""
    values = widen(np.arange(65536, dtype=np.uint16).view(dt.storage), dt)
    values.setflags(write=False)
    return values


def _boundary_tol(edges: np.ndarray, denom: float) -> Optional[float]:
    """How close (in bins) a multiply-based estimate may come to a bin boundary before numpy's steps are needed,
    or ``None`` where bins are too narrow for the edges' precision (then numpy's estimate is followed exactly).

    Edges and ``lo`` are the rounded ``lo + k (hi - lo) / bins``; they, and the subtraction ``x - lo`` in the
    values' type, are each off by at most one ulp of the largest |edge|. Four such ulps, in bins, is the margin.
    """
    bins = len(edges) - 1
    if not (denom > 0 and math.isfinite(denom)) or not bool(np.all(edges[1:] > edges[:-1])):
        return None
    big = max(abs(float(edges[0])), abs(float(edges[-1])))
    with np.errstate(over="ignore"):
        ulp = float(np.spacing(edges.dtype.type(big)))
    tol = 4.0 * ulp * bins / denom + 1e-9
    return tol if tol < 0.125 else None


def _top_counts(top: np.ndarray, dt: DType) -> tuple[int, int, int]:
    """From the top 16-bit lane's pattern table: values with the sign set, finite values with the sign clear,
    values with a zero exponent. The exponent field sits right below the sign, so each is one or two runs of
    consecutive patterns: +finite [0, e16), exponent zero [0, m16] and [0x8000, 0x8000 + m16]."""
    e16 = _LAYOUT[dt.name][3] >> (dt.bits - 16)  # the exponent field within the top lane
    m16 = 0x7FFF - e16  # the mantissa bits within the top lane
    negatives = int(top[0x8000:].sum())
    positive_finite = int(top[:e16].sum())
    exp0 = int(top[: m16 + 1].sum()) + int(top[0x8000 : 0x8000 + m16 + 1].sum())
    return negatives, positive_finite, exp0


def _from_key(key: int, dt: DType) -> float:
    """The float whose order key (see ``_k_ints``) is ``key``."""
    bits = key if key >= 0 else (~key) | (1 << (dt.bits - 1))
    raw = np.array([bits], dtype=np.uint64).astype(dt.uint).view(dt.storage)
    return float(widen(raw, dt)[0])


def _to_pass1(ist: np.ndarray, fst: np.ndarray, tables: np.ndarray, dt: DType) -> Pass1:
    n = int(ist[_COUNT])
    if n == 0:
        return Pass1()
    # counts that the top lane's pattern table holds already
    negatives, positive_finite, exp0 = _top_counts(tables[-1], dt)
    zero = int(ist[_ZERO])
    nf = int(ist[_NF])
    s0, sl = int(ist[_SIGN0]), int(ist[_SIGNL])
    kmin, kmax = int(ist[_KMIN]), int(ist[_KMAX])
    return Pass1(
        count=n,
        nan=int(ist[_NAN]),
        inf=int(ist[_INF]),
        zero=zero,
        subnormal=exp0 - zero,
        positive=positive_finite - int(ist[_ZP]),
        min=_from_key(kmin, dt) if nf else math.inf,
        max=_from_key(kmax, dt) if nf else -math.inf,
        moments=Moments(nf, float(fst[_MEAN]), float(fst[_M2]), float(fst[_M3]), float(fst[_M4])) if nf else Moments(),
        sxy=float(fst[_SXY]),
        pairs=int(ist[_PAIRS]),
        s_head=float(fst[_SHEAD]),
        s_tail=float(fst[_STAIL]),
        neg_pairs=int(ist[_NEGPAIRS]),
        neg_head=negatives - sl,
        neg_tail=negatives - s0,
        sign_pairs=n - 1,
        negatives=negatives,
        first=(float(fst[_X0]), s0),
        last=(float(fst[_XL]), sl),
        tables=[tables[i] for i in range(tables.shape[0])],
    )
