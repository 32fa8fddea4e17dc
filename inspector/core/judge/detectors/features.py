"""Per-tensor features the detectors and the baseline profile share.

Scan statistics (:class:`~inspector.core.measure.stats.TensorStats`) describe a tensor's value distribution;
the detectors also need order structure and bit-level tests, which are computed here from a bounded prefix of
the tensor in storage order (at most :data:`MAX_VALUES` elements, so a huge tensor costs a few milliseconds).

Exact zeros are set aside everywhere: pruned models are full of them, they carry no sign and no mantissa, and
counting them would make a pruned model look like a sign-encoded one (a spike at zero) or an LSB-encoded one
(a low byte stuck at 0).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from inspector.core.dtypes import DType, widen
from inspector.core.formats.base import TensorRef, iter_chunks
from inspector.core.measure.stats import bit_ones
from inspector.core.progress import CancelToken

#: Elements of a tensor read (a prefix in storage order) for the order, bit and shape tests.
MAX_VALUES = 1 << 20
#: Below this many non-zero elements, order and shape statistics are too noisy to judge a tensor by.
MIN_ORDER = 512
#: Below this many non-zero elements, bit-level tests are skipped.
MIN_BITS = 256
#: Periods (in elements) whose phase structure is measured: image widths, and 8 (bits of a byte).
PERIODS = (8, 16, 28, 32)
#: Bias of the top mantissa plane of Benford-like trained weights: P(bit = 1) ≈ 0.5 − 0.085, halving per plane.
TOP_PLANE_BIAS = 0.085
#: Lowest mantissa planes left out of the plane test (rounding after a product biases them in benign weights).
SKIP_PLANES = 3
#: Planes this far below the top of the mantissa (expected bias < 1/2⁸ of the top plane's) count as uniform;
#: higher planes carry the value distribution's shape (e.g. the pixel levels correlated-value encoding leaves).
UNIFORM_PLANES_BELOW = 8
#: A tensor with at most this many distinct values (and many more elements) lies on a quantisation grid.
GRID_LEVELS = 256
#: Low bytes compressed to judge compressibility.
COMPRESS_BYTES = 1 << 18
#: Layer kinds whose tensors are weight matrices or kernels (the tensors θ is made of).
WEIGHT_KINDS = ("dense", "conv", "embedding")


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
    #: lag-1 autocorrelation with whole units (conv kernels, matrix rows) shuffled: the null the order tests
    #: compare with (weight tensors only, else NaN)
    shuffled_autocorr: float
    sign_autocorr: float
    #: sign autocorrelation beyond what the value autocorrelation implies for Gaussian-like weights
    #: (arcsine law: ρ_sign = 2/π·asin ρ); ≈ 0 for trained weights, large when signs were written
    sign_excess: float
    #: best period among :data:`PERIODS` and the share of variance explained by the phase within it
    period: int
    periodic: float
    sign_periodic: float
    ks_gaussian: float
    #: distinct values in the sample (capped), and whether the tensor sits on a quantisation grid
    levels: int
    grid: bool
    #: lowest mantissa planes that are zero in every non-zero element (16: a bf16 origin, 13: fp16)
    rounded_bits: int
    #: constant mantissa planes lying between varying ones (bits written below a rounded mantissa)
    gap_planes: tuple[int, ...]
    #: the mantissa plane (above the lowest three) furthest from its expected frequency, its frequency and
    #: expectation
    plane: int
    plane_ones: float
    plane_expected: float
    plane_deviation: float
    #: the bit tests judge distinct values whose low byte is not zero (``judged`` of them): ``duplicates`` is
    #: the share of repeated values, ``short_share`` that of distinct values with a zero low byte (a value kept
    #: at a shorter precision, e.g. fp16-representable, or a payload's zero bytes)
    duplicates: float
    short_share: float
    judged: int
    #: their low byte over its 255 non-zero values: entropy (bits) and its expectation for uniform bytes,
    #: χ² effect size √((χ²−254)/n), χ² z-score, zlib compressed size / raw size
    low_entropy_expected: float
    low_entropy: float
    low_chi_effect: float
    low_chi_z: float
    low_compress: float
    relative_spread: float

    @property
    def is_weight(self) -> bool:
        """A weight matrix or kernel (the tensors θ is made of), not a bias, norm or scalar."""
        return self.kind in WEIGHT_KINDS

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["gap_planes"] = list(self.gap_planes)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def read_prefix(ref: TensorRef, limit: int = MAX_VALUES, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """The first ``limit`` elements of a tensor in storage order, raw (its storage type), flat."""
    n = min(ref.numel, limit)
    parts: list[np.ndarray] = []
    got = 0
    for chunk in iter_chunks(ref, cancel=cancel):
        take = min(chunk.size, n - got)
        parts.append(np.array(chunk[:take], copy=True))
        got += take
        if got >= n:
            break
    if not parts:
        return np.zeros(0, dtype=ref.dtype.storage)
    return np.concatenate(parts)


def _autocorr(x: np.ndarray) -> float:
    if x.size < 3:
        return math.nan
    d = x - x.mean()
    den = float(np.dot(d, d))
    return float(np.dot(d[:-1], d[1:]) / den * x.size / (x.size - 1)) if den > 0 else math.nan


def shuffled_autocorr(values: np.ndarray, shape: tuple[int, ...], seed: int = 0) -> float:
    """Lag-1 autocorrelation after permuting whole units (conv kernels, or rows of a matrix)."""
    if len(shape) < 2:
        return math.nan
    unit = int(np.prod(shape[2:])) if len(shape) > 2 else int(shape[-1])
    n = values.size // unit * unit
    if n < 2 * unit or unit < 1:
        return math.nan
    units = values[:n].reshape(-1, unit)
    perm = np.random.default_rng(seed).permutation(units.shape[0])
    x = units[perm].reshape(-1)
    d = x - x.mean()
    den = float(np.dot(d, d))
    return float(np.dot(d[:-1], d[1:]) / den) if den > 0 else math.nan


def _phase_share(x: np.ndarray, period: int) -> float:
    """Bias-corrected share of the variance of ``x`` explained by position modulo ``period`` (η²)."""
    n = x.size // period * period
    if n < 4 * period:
        return math.nan
    v = x[:n]
    var = float(v.var())
    if var <= 0:
        return math.nan
    means = v.reshape(-1, period).mean(axis=0)
    eta2 = float(((means - v.mean()) ** 2).mean()) / var
    return max(0.0, eta2 - (period - 1) / n)


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorised error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7): numpy has none."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def _ks_gaussian(x: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance to a zero-mean Gaussian with the same RMS (on ≤ 200k sampled values)."""
    if x.size < 16:
        return math.nan
    step = max(1, x.size // 200_000)
    s = np.sort(x[::step])
    rms = math.sqrt(float(np.mean(s * s)))
    if rms <= 0:
        return math.nan
    cdf = 0.5 * (1.0 + erf(s / (rms * math.sqrt(2.0))))
    n = s.size
    hi = np.arange(1, n + 1) / n
    lo = np.arange(0, n) / n
    return float(max(np.max(hi - cdf), np.max(cdf - lo)))


def expected_plane(j: int, mantissa_bits: int) -> float:
    """Expected P(bit j = 1) of trained weights: Benford-biased at the top of the mantissa, ≈ 0.5 below."""
    return 0.5 - TOP_PLANE_BIAS * 2.0 ** (-(mantissa_bits - 1 - j))


def _planes(u: np.ndarray, dt: DType) -> np.ndarray:
    """P(bit = 1) for every bit of the raw values ``u`` (unsigned), bit 0 first."""
    if u.size == 0:
        return np.zeros(dt.bits)
    if dt.itemsize == 1:
        tables = [np.bincount(u, minlength=256)]
    else:
        lanes = u.view(np.uint16).reshape(-1, dt.itemsize // 2)
        tables = [np.bincount(lanes[:, i], minlength=65536) for i in range(dt.itemsize // 2)]
    return np.asarray(bit_ones(tables, u.size))


def _bit_features(u: np.ndarray, dt: DType) -> dict[str, Any]:
    m = dt.mantissa_bits
    n = u.size
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
        "duplicates": 0.0,
        "short_share": 0.0,
        "judged": 0,
    }
    if n == 0:
        return out
    p = _planes(u, dt)[:m]
    const = (p == 0.0) | (p == 1.0)
    k = 0
    while k < m and p[k] == 0.0:
        k += 1
    out["rounded_bits"] = k
    varying = np.flatnonzero(~const)
    if varying.size:
        lo_v, hi_v = int(varying.min()), int(varying.max())
        out["gap_planes"] = tuple(int(j) for j in range(lo_v, hi_v) if const[j])
    # Judge distinct values only, and only those whose low byte is not zero: repeated rows (an embedding's
    # untrained tokens) and values kept at a shorter precision (rows not updated since an fp16 checkpoint) are
    # legitimate, and neither can hide a payload in its low bits. A payload's non-zero bytes still show.
    probe = u[:: max(1, n // 65536)]
    if np.unique(probe).size < 0.99 * probe.size:  # full de-duplication (a sort) only when it matters
        _, first = np.unique(u, return_index=True)
        uu = u[np.sort(first)]
    else:
        uu = u
    out["duplicates"] = 1.0 - uu.size / n
    bytewise = m >= 8 and k == 0
    if bytewise:
        short = (uu & 0xFF) == 0
        out["short_share"] = float(short.mean())
        uu = uu[~short]
    t = uu.size
    out["judged"] = int(t)
    if t < MIN_BITS:
        return out
    p = _planes(uu, dt)[:m]
    # The lowest planes are left out: multiplying by a constant (an initialiser's bound, a quantiser's scale)
    # biases them by up to 0.1 in perfectly benign weights (e.g. float32 x * 0.05 sets bit 0 in 60% of values).
    free = [j for j in range(max(k, SKIP_PLANES), m - UNIFORM_PLANES_BELOW) if not const[j]]
    if free:
        dev = np.array([abs(p[j] - expected_plane(j, m)) for j in free])
        i = int(dev.argmax())
        out.update(
            plane=free[i],
            plane_ones=float(p[free[i]]),
            plane_expected=expected_plane(free[i], m),
            plane_deviation=float(dev[i]),
        )
    # Low-byte tests only where the low byte is all mantissa and not rounded away: over the 255 non-zero bytes.
    if bytewise:
        low = (uu & 0xFF).astype(np.uint8)
        counts = np.bincount(low, minlength=256)[1:].astype(np.float64)
        e = t / 255.0
        chi2 = float(((counts - e) ** 2).sum() / e)
        pr = counts[counts > 0] / t
        out["low_entropy"] = float(-(pr * np.log2(pr)).sum())
        out["low_entropy_expected"] = math.log2(255.0) - 254.0 / (2.0 * t * math.log(2.0))
        out["low_chi_effect"] = math.sqrt(max(0.0, chi2 - 254.0) / t)
        out["low_chi_z"] = (chi2 - 254.0) / math.sqrt(508.0)
        if t >= 1024:
            raw = low[:COMPRESS_BYTES].tobytes()
            out["low_compress"] = len(zlib.compress(raw, 6)) / len(raw)
    return out


def tensor_features(
    ts: Any, ref: TensorRef, raw: Optional[np.ndarray] = None, cancel: Optional[CancelToken] = None
) -> Optional[Features]:
    """Features of one float tensor (``ts`` is its :class:`~inspector.core.measure.scan.TensorScan`); ``None`` for
    non-float or empty tensors. ``raw`` may be given (a prefix from :func:`read_prefix`) to avoid a read.

    Values near the float limits overflow the moments and products (the features become inf/nan): expected,
    so numpy's warnings are off here rather than printed on the user's terminal."""
    with np.errstate(all="ignore"):
        return _tensor_features(ts, ref, raw, cancel)


def _tensor_features(
    ts: Any, ref: TensorRef, raw: Optional[np.ndarray], cancel: Optional[CancelToken]
) -> Optional[Features]:
    dt = ref.dtype
    if not dt.is_float or ref.numel == 0:
        return None
    if raw is None:
        raw = read_prefix(ref, cancel=cancel)
    u = raw.view(dt.uint)
    x = widen(raw, dt).astype(np.float64, copy=False)
    finite = np.isfinite(x)
    nz_mask = finite & (x != 0)
    xs = x[nz_mask]
    s = ts.stats
    n_nz = int(xs.size)
    nz_total = max(0, s.count - s.zero - s.nan - s.inf)
    frac_zero = s.zero / s.count if s.count else math.nan
    near = math.nan
    if nz_total and math.isfinite(s.near_zero_fraction):
        near = max(0.0, (s.near_zero_fraction * s.count - s.zero) / nz_total)
    positive = (s.positive_fraction * s.count / nz_total) if nz_total else math.nan
    ac = _autocorr(xs)
    signs = (xs > 0).astype(np.float64)
    sac = _autocorr(signs)
    excess = math.nan
    if math.isfinite(ac) and math.isfinite(sac):
        excess = sac - 2.0 / math.pi * math.asin(max(-1.0, min(1.0, ac)))
    best_p, best_eta, best_seta = 0, math.nan, math.nan
    if n_nz >= MIN_ORDER:
        z = (xs - xs.mean()) / (xs.std() or 1.0)
        etas = {p: _phase_share(z, p) for p in PERIODS}
        etas = {p: e for p, e in etas.items() if math.isfinite(e)}
        if etas:
            top = max(etas.values())
            # the shortest period that explains nearly as much (multiples of a period explain at least as much)
            best_p = min(p for p, e in etas.items() if e >= 0.9 * top)
            best_eta = etas[best_p]
        best_seta = _phase_share(signs, 8)
    levels = int(np.unique(x[finite][: 1 << 16]).size)
    grid = n_nz >= 64 and levels <= min(GRID_LEVELS, n_nz // 2)
    bits = _bit_features(u[nz_mask & finite], dt) if not grid else _bit_features(np.zeros(0, dt.uint), dt)
    spread = math.nan
    if math.isfinite(s.mean) and s.mean != 0 and math.isfinite(s.max):
        spread = (s.max - s.min) / abs(s.mean)
    return Features(
        name=ref.name,
        kind=ts.kind,
        dtype=dt.name,
        count=ref.numel,
        sampled=int(raw.size),
        nonzero=n_nz,
        zero_fraction=frac_zero,
        near_zero=near,
        positive=positive,
        skewness=s.skewness,
        kurtosis=s.kurtosis,
        autocorr=ac,
        shuffled_autocorr=shuffled_autocorr(x, tuple(ref.shape)) if ts.kind in WEIGHT_KINDS else math.nan,
        sign_autocorr=sac,
        sign_excess=excess,
        period=best_p,
        periodic=math.sqrt(best_eta) if math.isfinite(best_eta) else math.nan,
        sign_periodic=math.sqrt(best_seta) if math.isfinite(best_seta) else math.nan,
        ks_gaussian=_ks_gaussian(xs),
        levels=levels,
        grid=grid,
        relative_spread=spread,
        **bits,
    )
