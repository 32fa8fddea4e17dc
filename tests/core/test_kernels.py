"""The numba kernels equal the numpy path: counts, tables, histograms and feature counts exactly, moments and
feature sums to rounding, whatever the chunking and piece splits."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from inspector import ScanOptions, scan  # noqa: E402
from inspector.core.dtypes import DTYPES, widen  # noqa: E402
from inspector.core.measure import aot, buckets, kernels  # noqa: E402
from inspector.core.measure.features import FeatureAcc  # noqa: E402
from inspector.core.measure.stats import (  # noqa: E402
    Pass1,
    histogram_chunk,
    histogram_edges,
    lane_counts,
    pass1_chunk,
)
from tests.conftest import raw_safetensors  # noqa: E402

FLOATS = ("F32", "F16", "BF16", "F64")


@pytest.fixture(scope="module", params=["aot", "jit"])
def kern(request):
    """Both ways the kernels run: compiled ahead of time for this machine (built on first use where missing), and
    numba's JIT. Scans in a test take the fixture's way through :func:`_use`."""
    if request.param == "aot":
        k = kernels._ahead_of_time()
        if k is None:
            pytest.skip("no kernels compiled ahead of time here (another system, or no C compiler)")
    else:
        k = kernels._jit()
        if k is None:
            pytest.skip("numba kernels could not be compiled here")
    return kernels.Kernels(k, kernels.SUPPORTED)


def _use(monkeypatch, kern) -> None:
    """Make this test's scans (``ScanOptions(jit=True)``) run the fixture's kernels."""
    monkeypatch.setattr(kernels, "_compiled", kern._k)
    monkeypatch.setattr(kernels, "_failed", False)


def _raw(x32: np.ndarray, name: str) -> np.ndarray:
    """Storage values of ``x32`` (float64 values) in dtype ``name``."""
    if name == "F32":
        return x32.astype(np.float32)
    if name == "F16":
        with np.errstate(over="ignore"):
            return x32.astype(np.float16)
    if name == "BF16":
        return (x32.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return x32.astype(np.float64)


def _specials(name: str) -> np.ndarray:
    dt = DTYPES[name]
    u = dt.uint
    bits = [
        0,  # +0
        1 << (dt.bits - 1),  # -0
        1,  # smallest subnormal
        (1 << dt.mantissa_bits) - 1,  # largest subnormal
        (1 << dt.mantissa_bits) | (1 << (dt.bits - 1)),  # -smallest normal
        ((1 << dt.exponent_bits) - 2) << dt.mantissa_bits | ((1 << dt.mantissa_bits) - 1),  # largest finite
        ((1 << dt.exponent_bits) - 1) << dt.mantissa_bits,  # +inf
        (((1 << dt.exponent_bits) - 1) << dt.mantissa_bits) | (1 << (dt.bits - 1)),  # -inf
        (((1 << dt.exponent_bits) - 1) << dt.mantissa_bits) | 1,  # nan
        (1 << dt.bits) - 1,  # -nan, all ones
    ]
    out = np.array(bits, dtype=np.uint64).astype(u).view(dt.storage)
    if name == "F64":
        out[5] = 1e60  # the numpy path's Moments.merge overflows (OverflowError) near float64's largest value
    return out


def _sample(name: str, n: int, seed: int, specials: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = _raw(rng.standard_t(4, n) * 0.03 + 0.002, name)
    if specials:
        sp = _specials(name)
        pos = rng.choice(n, size=3 * sp.size, replace=False)
        x[pos] = np.tile(sp, 3)
        x[:2] = sp[0]  # leading zeros
        x[-1] = sp[8]  # trailing nan
    return x


def _numpy_pass1(chunks, dt) -> Pass1:
    acc = Pass1()
    for c in chunks:
        acc = acc.merge(pass1_chunk(c, dt))
    return acc


def _same_pass1(a: Pass1, b: Pass1, rel: float = 1e-9) -> None:
    for f in ("count", "nan", "inf", "zero", "subnormal", "positive", "pairs", "neg_pairs", "neg_head", "neg_tail"):
        assert getattr(a, f) == getattr(b, f), f
    assert (a.sign_pairs, a.negatives) == (b.sign_pairs, b.negatives)
    assert a.min == b.min and a.max == b.max
    assert (a.first is None) == (b.first is None)
    if a.first is not None:
        for p, q in ((a.first, b.first), (a.last, b.last)):
            assert p[1] == q[1] and (p[0] == q[0] or (math.isnan(p[0]) and math.isnan(q[0])))
    assert len(a.tables) == len(b.tables)
    for s, t in zip(a.tables, b.tables):
        if s.shape != t.shape:  # a small chunk of a wide type counts its lanes in the compact form
            s, t = lane_counts(s), lane_counts(t)
            assert s.shape == (3, 256)
        assert np.array_equal(s, t)
    ma, mb = a.moments, b.moments
    assert ma.n == mb.n
    if ma.n:
        scale = mb.m2 / mb.n
        assert ma.mean == pytest.approx(mb.mean, rel=rel, abs=rel * math.sqrt(scale))
        assert ma.m2 == pytest.approx(mb.m2, rel=rel)
        assert ma.m3 == pytest.approx(mb.m3, rel=rel, abs=rel * mb.n * scale**1.5)
        assert ma.m4 == pytest.approx(mb.m4, rel=rel)
    # lag sums: relative to the size of their terms (they cancel for uncorrelated data)
    size = max(1.0, a.pairs) * (ma.mean**2 + (ma.m2 / ma.n if ma.n else 0.0))
    assert a.sxy == pytest.approx(b.sxy, rel=rel, abs=rel * size)
    span = math.sqrt(size) * max(1.0, a.pairs)
    assert a.s_head == pytest.approx(b.s_head, rel=rel, abs=rel * span)
    assert a.s_tail == pytest.approx(b.s_tail, rel=rel, abs=rel * span)


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("split", [1, 7, 1000, 1 << 20])
def test_pass1_equals_numpy(kern, name, split):
    dt = DTYPES[name]
    x = _sample(name, 5003 if split > 1 else 300, seed=len(name) + split)
    chunks = [x[i : i + split] for i in range(0, x.size, split)]
    ticks = []
    got = kern.pass1(iter(chunks), dt, ticks.append)
    assert sum(ticks) == x.nbytes
    _same_pass1(got, _numpy_pass1(chunks, dt))


@pytest.mark.parametrize("name", FLOATS)
def test_pass1_edge_runs(kern, name):
    dt = DTYPES[name]
    sp = _specials(name)
    nan, inf = sp[8], sp[6]
    runs = [
        np.array([nan, nan, inf], dtype=dt.storage),  # nothing finite
        sp[:1],  # one element
        np.repeat(sp[5], 9),  # constant at the largest finite value
        np.concatenate([sp, sp[::-1]]),
    ]
    for x in runs:
        for split in (1, 2, x.size):
            chunks = [x[i : i + split] for i in range(0, x.size, split)]
            _same_pass1(kern.pass1(chunks, dt, lambda n: None), _numpy_pass1(chunks, dt))
    assert kern.pass1([], dt, lambda n: None).count == 0


def _check_hist(kern, name, x, lo, hi, bins, thr, split=997):
    dt = DTYPES[name]
    edges = histogram_edges(lo, hi, bins, dt)
    chunks = [x[i : i + split] for i in range(0, x.size, split)]
    counts, near = kern.pass2(chunks, dt, edges, (lo, hi), thr, lambda n: None)
    v = widen(x, dt)
    olo, ohi = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    ref, ref_edges = np.histogram(v[np.isfinite(v)], bins=bins, range=(olo, ohi))
    assert np.array_equal(ref_edges, edges)
    assert np.array_equal(counts, ref), (counts - ref).nonzero()
    assert np.array_equal(counts, histogram_chunk(v, edges))
    assert near == (int(np.count_nonzero(np.abs(v) <= thr)) if math.isfinite(thr) else 0)


@pytest.mark.parametrize("name", FLOATS)
def test_pass2_equals_np_histogram(kern, name):
    dt = DTYPES[name]
    x = _sample(name, 20011, seed=5)
    v = widen(x, dt)
    fin = v[np.isfinite(v)]
    lo, hi = float(fin.min()), float(fin.max())
    _check_hist(kern, name, x, lo, hi, 256, 0.05 * float(fin.astype(np.float64).std()))
    # every edge itself and its neighbours, inside a given range narrower than the data
    lo2, hi2 = -0.05, 0.07
    edges = histogram_edges(lo2, hi2, 100, dt)
    on = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    xs = np.concatenate([v, on.astype(v.dtype)])
    with np.errstate(all="ignore"):
        raw = _raw(xs.astype(np.float64), name) if name != "F64" else xs
    _check_hist(kern, name, raw, lo2, hi2, 100, 0.01)
    _check_hist(kern, name, x, lo, hi, 7, math.nan, split=1)


def test_pass2_narrow_and_degenerate_ranges(kern):
    # bins about one float32 ulp wide (still increasing edges, else numpy refuses): numpy's own estimate is followed
    for base, bins in ((3000.0, 64), (1.0, 32), (-0.25, 64)):
        b = np.float32(base)
        y = b + np.arange(-40, 41, dtype=np.float32) * np.spacing(b)
        _check_hist(kern, "F32", y, float(y.min()), float(y.max()), bins, 1.0)
    # a constant tensor: numpy widens the range by 0.5 either side
    _check_hist(kern, "F32", np.full(10, 0.25, np.float32), 0.25, 0.25, 16, 0.0)
    _check_hist(kern, "F64", np.full(10, -3.0), -3.0, -3.0, 16, 0.0)


@pytest.mark.parametrize("name", ["F16", "BF16"])
def test_histogram_from_table_of_16_bit_types(kern, name):
    dt = DTYPES[name]
    x = _sample(name, 30011, seed=9)
    p1 = kern.pass1([x[:10000], x[10000:]], dt, lambda n: None)
    v = widen(x, dt)
    fin = v[np.isfinite(v)]
    thr = 0.05 * float(fin.astype(np.float64).std())
    for lo, hi, bins in ((p1.min, p1.max, 256), (-0.02, 0.03, 50), (0.5, 0.5, 8)):
        edges = histogram_edges(lo, hi, bins, dt)
        counts, near = kernels.histogram_from_table(p1.tables[0], dt, edges, (lo, hi), thr)
        ref, _ = np.histogram(fin, bins=bins, range=(lo, hi) if lo != hi else (lo - 0.5, hi + 0.5))
        assert np.array_equal(counts, ref)
        assert near == np.count_nonzero(np.abs(v) <= thr)


def _check_split(kern, x, lo, hi, bins, thr, split=997, each=False):
    """The float32 histogram and near-zero count by bucket splits (:mod:`~inspector.core.measure.buckets`) equal
    ``np.histogram``'s and numpy's count, chunked and in two pieces summed."""
    dt = DTYPES["F32"]
    p1 = kern.pass1([x], dt, lambda n: None)
    edges = histogram_edges(lo, hi, bins, dt)
    plan = kern.split_plan(p1.tables, dt, edges, (lo, hi), thr)
    assert plan is not None
    assert bool((plan.thr16[plan.tops] == buckets.EACH).sum() > 2) == each  # the band's edges cut two buckets
    half = x.size // 2
    parts = []
    for piece in (x[:half], x[half:]):
        chunks = [piece[i : i + split] for i in range(0, piece.size, split)]
        parts.append(kern.split(chunks, plan, edges, (lo, hi), lambda n: None))
    counts, near = plan.finish(parts[0][0] + parts[1][0], parts[0][1] + parts[1][1], parts[0][2] + parts[1][2])
    fin = x[np.isfinite(x)]
    ref, _ = np.histogram(fin, bins=bins, range=(lo, hi))
    assert np.array_equal(counts, ref), (counts - ref).nonzero()
    assert near == (int(np.count_nonzero(np.abs(x) <= thr)) if math.isfinite(thr) else 0)


def test_split_histogram_equals_np_histogram(kern, monkeypatch):
    monkeypatch.setattr(buckets, "MIN_VALUES", 0)
    x = _sample("F32", 50_021, seed=13)  # heavy tails, zeros, subnormals, ±inf, nan
    x[x == np.finfo(np.float32).max] = 0.75  # (a range up to it makes bins too wide for the estimate: see below)
    fin = x[np.isfinite(x)].astype(np.float64)
    lo, hi, thr = float(fin.min()), float(fin.max()), 0.05 * float(fin.std())
    _check_split(kern, x, lo, hi, 256, thr)
    _check_split(kern, x, lo, hi, 256, math.nan, split=1 << 20)
    # every edge, its neighbours and the band's edges themselves, in a range narrower than the data
    lo2, hi2 = -0.05, 0.07
    edges = histogram_edges(lo2, hi2, 100, DTYPES["F32"])
    t = np.float32(0.004)
    on = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [t, -t]])
    on = np.concatenate([on, np.nextafter(on[-2:], np.inf), np.nextafter(on[-2:], -np.inf)]).astype(np.float32)
    _check_split(kern, np.concatenate([x, on]), lo2, hi2, 100, float(t))
    # a skewed tail where bins are narrower than a bucket: those buckets' values are binned one by one
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(0, 0.01, 60_000), rng.uniform(0.3, 1.0, 300)]).astype(np.float32)
    _check_split(kern, y, float(y.min()), float(y.max()), 4000, 0.0005, each=True)
    _check_split(kern, y, -0.003, 0.9, 3000, 0.0005, each=True)


def test_split_plan_only_where_it_holds(kern, monkeypatch):
    dt = DTYPES["F32"]
    rng = np.random.default_rng(4)
    x = rng.normal(0, 0.02, 40_000).astype(np.float32)
    p1 = kern.pass1([x], dt, lambda n: None)
    span = (p1.min, p1.max)
    edges = histogram_edges(*span, 256, dt)
    assert kern.split_plan(p1.tables, dt, edges, span, 0.001) is None  # too small to pay
    monkeypatch.setattr(buckets, "MIN_VALUES", 0)
    assert kern.split_plan(p1.tables, dt, edges, span, 0.001) is not None
    # bins about an ulp wide: numpy's estimate may be off by more than one bin, the plain pass follows it
    b = np.float32(1.0)
    y = b + np.arange(-40, 41, dtype=np.float32) * np.spacing(b)
    py = kern.pass1([y], dt, lambda n: None)
    assert kern.split_plan(py.tables, dt, histogram_edges(py.min, py.max, 32, dt), (py.min, py.max), 0.1) is None
    # a narrow range far from zero: nearly every bucket holds many edges
    z = (1 + rng.normal(0, 0.001, 40_000)).astype(np.float32)
    pz = kern.pass1([z], dt, lambda n: None)
    assert kern.split_plan(pz.tables, dt, histogram_edges(pz.min, pz.max, 256, dt), (pz.min, pz.max), 0.1) is None
    # a range up to the largest float32: the estimate's error exceeds the margin
    big = np.concatenate([x, [np.finfo(np.float32).max]]).astype(np.float32)
    pb = kern.pass1([big], dt, lambda n: None)
    assert kern.split_plan(pb.tables, dt, histogram_edges(pb.min, pb.max, 256, dt), (pb.min, pb.max), 0.1) is None
    # a band wider than float32 (it would hold ±Inf, which the split leaves out): the plain pass
    assert kern.split_plan(p1.tables, dt, edges, span, 1e39) is None
    # other types keep their own ways
    p64 = kern.pass1([x.astype(np.float64)], DTYPES["F64"], lambda n: None)
    assert kern.split_plan(p64.tables, DTYPES["F64"], histogram_edges(*span, 256, DTYPES["F64"]), span, 0.001) is None


def _scan_model(tmp_path):
    rng = np.random.default_rng(11)
    tensors = {
        "a.weight": _sample("F32", 40_000, 1),
        "b.weight": _sample("F16", 30_001, 2),
        "c.weight": _sample("BF16", 25_000, 3),
        "d.weight": _sample("F64", 9_000, 4),
        "e.bias": rng.normal(0, 0.1, 33).astype(np.float32),
        "f.steps": np.arange(5, dtype=np.int64),
    }
    header, blobs, off = {}, [], 0
    for n, arr in tensors.items():
        dt = {"a": "F32", "b": "F16", "c": "BF16", "d": "F64", "e": "F32", "f": "I64"}[n[0]]
        b = arr.tobytes()
        header[n] = {"dtype": dt, "shape": [arr.size], "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    return raw_safetensors(tmp_path / "m.safetensors", header, b"".join(blobs))


def _same_stats(a, b) -> None:
    assert a.count == b.count
    for f in ("nan", "inf", "zero", "subnormal", "bit_ones"):
        assert getattr(a, f) == getattr(b, f), f
    assert np.array_equal(a.low_byte_counts, b.low_byte_counts)
    for f in ("min", "max", "near_zero_fraction", "positive_fraction"):
        p, q = getattr(a, f), getattr(b, f)
        assert p == q or (math.isnan(p) and math.isnan(q)), f
    for f in ("mean", "std", "skewness", "kurtosis", "autocorr_value", "autocorr_sign", "low_byte_entropy"):
        p, q = getattr(a, f), getattr(b, f)
        assert p == pytest.approx(q, rel=1e-8, abs=1e-10) or (math.isnan(p) and math.isnan(q)), f
    assert np.array_equal(a.histogram.edges, b.histogram.edges)
    assert np.array_equal(a.histogram.counts, b.histogram.counts)


@pytest.mark.parametrize("chunk_bytes, piece_bytes", [(4096, 1 << 30), (1000, 24_000), (1 << 20, 1 << 30)])
def test_scan_same_with_and_without_jit(kern, monkeypatch, tmp_path, chunk_bytes, piece_bytes):
    _use(monkeypatch, kern)
    p = _scan_model(tmp_path)
    base = dict(chunk_bytes=chunk_bytes, piece_bytes=piece_bytes, workers=2, hash=False, detectors=False)
    off = scan(p, ScanOptions(jit=False, **base))
    on = scan(p, ScanOptions(jit=True, **base))
    for t_off, t_on in zip(off.tensors, on.tensors):
        assert t_off.name == t_on.name
        _same_stats(t_on.stats, t_off.stats)
    # float32 histograms by bucket splits (a model this small bins its values otherwise)
    monkeypatch.setattr(buckets, "MIN_VALUES", 0)
    on = scan(p, ScanOptions(jit=True, **base))
    for t_off, t_on in zip(off.tensors, on.tensors):
        _same_stats(t_on.stats, t_off.stats)
    # a given range, narrower than the data
    ranges = {"a.weight": (-0.02, 0.03), "c.weight": (0.0, 0.1)}
    off = scan(p, ScanOptions(jit=False, ranges=ranges, bins=50, **base))
    on = scan(p, ScanOptions(jit=True, ranges=ranges, bins=50, **base))
    for t_off, t_on in zip(off.tensors, on.tensors):
        _same_stats(t_on.stats, t_off.stats)


def test_plan_policy(kern, monkeypatch):
    _use(monkeypatch, kern)
    monkeypatch.delenv(kernels.ENV_NO_JIT, raising=False)
    monkeypatch.setattr(kernels, "_warm", set())
    big = kernels.JIT_MIN_BYTES
    assert kernels.plan(None, {"F32": 1000}) is None  # a small model does not load numba
    assert kernels.plan(False, {"F32": 10 * big}) is None
    k = kernels.plan(None, {"F32": big, "F16": 10, "I64": 10 * big})
    assert k is not None and k.names == {"F32"}
    assert kernels.plan(True, {"F16": 10, "I64": 10}).names == {"F16"}
    kernels._warm.add("F16")  # kernels that already ran are used for small models too
    assert kernels.plan(None, {"F16": 10}).names == {"F16"}
    # where the module compiled ahead of time is built and loads (in a millisecond), from a megabyte on; never
    # numba's JIT for a model that small (the JIT's run of this test, or a module that does not load)
    kernels._warm.clear()
    small = kernels.AOT_MIN_BYTES
    monkeypatch.setattr(aot, "ready", lambda: True)
    got = kernels.plan(None, {"F32": small, "F16": small - 1})
    if isinstance(getattr(kern._k.pass1, "__self__", None), aot.Entry):
        assert got is not None and got.names == {"F32"}
    else:
        assert got is None
    monkeypatch.setattr(aot, "ready", lambda: False)
    assert kernels.plan(None, {"F32": small}) is None
    monkeypatch.setenv(kernels.ENV_NO_JIT, "1")
    assert kernels.plan(True, {"F32": 10 * big}) is None
    assert kernels.plan(None, {"F16": 10}) is None


def test_numpy_fallback_without_numba(monkeypatch, small_model):
    monkeypatch.delenv(kernels.ENV_NO_JIT, raising=False)
    monkeypatch.setenv(aot.ENV_NO_AOT, "1")  # nor a module compiled ahead of time
    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_failed", False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    assert kernels.plan(True, {"F32": 1 << 40}) is None
    r = scan(small_model, ScanOptions(jit=True, hash=False, detectors=False))
    assert r.tensor("fc1.weight").stats.count == 128 * 64


def test_compiled_phase_count_is_the_features_one(monkeypatch):
    """The phase count is compiled into the kernels (a literal in their module, so that numba's cache notices a
    change); a different features.PHASES makes the scan use numpy rather than overrun the phase arrays."""
    from inspector.core.measure import features

    assert kernels._PHASES == features.PHASES
    monkeypatch.setattr(kernels, "PHASES", features.PHASES + 1)
    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_failed", False)
    assert kernels.load() is None


def test_kernels_start_without_scipy(kern):
    """numba's CPU target imports scipy.linalg (≈ 0.3 s) only to probe for BLAS, which the kernels never call:
    in a fresh interpreter, loading and running them leaves scipy.linalg unimported."""

    code = (
        "import sys, numpy as np\n"
        "from inspector.core.measure import kernels\n"
        "k = kernels.load()\n"
        "x = np.linspace(-1, 1, 1000, dtype=np.float32)\n"
        "from inspector.core.dtypes import DTYPES\n"
        "p = kernels.Kernels(k, kernels.SUPPORTED).pass1([x], DTYPES['F32'], lambda n: None)\n"
        "assert p.count == 1000 and p.min == -1.0 and p.max == 1.0, p\n"
        "print('scipy.linalg' in sys.modules)\n"
    )
    env = dict(os.environ, **{aot.ENV_NO_AOT: "1"})  # the JIT's start, not the compiled module's
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_compiled_module_runs_without_numba(kern, tmp_path):
    """Where the module compiled ahead of time is built, a scan in a fresh interpreter uses it and never imports
    numba (its import and start are the 0.35 CPU-s the module saves)."""
    if not isinstance(getattr(kern._k.pass1, "__self__", None), aot.Entry):
        pytest.skip("the JIT's run of this module's tests")
    p = _scan_model(tmp_path)
    code = (
        "import sys\n"
        "sys.modules['numba'] = None\n"  # import numba -> ImportError
        "from inspector import ScanOptions, scan\n"
        f"r = scan({str(p)!r}, ScanOptions(jit=True, hash=False))\n"
        "from inspector.core.measure import kernels\n"
        "print(type(kernels.load().pass1.__self__).__name__, r.tensors[0].stats.count)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (aot.ENV_NO_AOT, kernels.ENV_NO_JIT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "Entry"


def test_env_var_forces_numpy_in_scan(monkeypatch, small_model):
    monkeypatch.setenv(kernels.ENV_NO_JIT, "1")
    calls = []
    monkeypatch.setattr(kernels.Kernels, "pass1", lambda *a, **k: calls.append(a))
    scan(small_model, ScanOptions(jit=True, hash=False, detectors=False))
    assert not calls


# ---------------------------------------------------------------------------------------- detector features

_F_COUNTS = (
    "n",
    "pairs",
    "pos_pairs",
    "pos_head",
    "pos_tail",
    "wpairs",
    "units",
    "seen",
    "win_fill",
    "sw_fill",
    "sw_pos",
    "sw_pp",
    "sw_start",
    "sw_count",
    "sw_best_start",
    "sw_best_stop",
)
_F_SUMS = (
    "sxy",
    "shead",
    "stail",
    "wxy",
    "whead",
    "wtail",
    "ufirst",
    "ulast",
    "ufl",
    "sw_s",
    "sw_q",
    "sw_xy",
    "sw_last",
    "sw_sum",
    "sw_sq",
    "sw_best",
)


def _numpy_features(chunks, dt, unit: int, start: int = 0) -> FeatureAcc:
    acc = FeatureAcc(start=start, unit=unit)
    for c in chunks:
        acc.add(c, dt)
    return acc


def _same_features(a: FeatureAcc, b: FeatureAcc) -> None:
    for f in _F_COUNTS:
        assert getattr(a, f) == getattr(b, f), f
    assert a.first == b.first and a.last == b.last
    scale = max(1.0, float(np.abs(b.rsq).sum()))  # the sums' terms are products of values: relative to Σx²
    for f in _F_SUMS:
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-9, abs=1e-12 * scale), f
    assert np.array_equal(a.rcnt, b.rcnt) and np.array_equal(a.rpos, b.rpos)
    assert np.allclose(a.rsum, b.rsum, rtol=1e-9, atol=1e-12 * scale)
    assert np.allclose(a.rsq, b.rsq, rtol=1e-9, atol=0)
    assert np.array_equal(a.win_counts, b.win_counts)
    assert a.worst == b.worst  # the same least uniform window, scored the same way
    assert (a.levels is None) == (b.levels is None)
    if a.levels is not None:
        assert np.array_equal(a.levels, b.levels)
    assert (a.dedup, a.dup_share, a.dedup_candidates) == (b.dedup, b.dup_share, b.dedup_candidates)
    assert (a.dedup_table is None) == (b.dedup_table is None)
    if a.dedup_table is not None:
        assert np.array_equal(a.dedup_table, b.dedup_table)


def _payload(x: np.ndarray, name: str, at: int, n: int) -> np.ndarray:
    """``x`` with low bytes drawn from 16 values over [at, at + n) (a payload that one window shows)."""
    dt = DTYPES[name]
    y = x.copy()
    u = y.view(dt.uint)
    low = np.random.default_rng(at).integers(0, 16, n).astype(dt.uint)
    u[at : at + n] = (u[at : at + n] & ~dt.uint.type(0xFF)) | low
    return y


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize(
    "split, unit", [(1, 0), (1, 9), (999, 1), (999, 1000), (65536, 9), (1 << 20, 0), (1 << 20, 1000)]
)
def test_features_equal_numpy(kern, name, split, unit):
    dt = DTYPES[name]
    n = 700 if split == 1 else 150_007
    specials = _payload(_sample(name, n, seed=split + unit), name, n // 3, min(n // 2, 70_000))
    plain = _sample(name, n, seed=unit + 1, specials=False)  # no zeros, NaN or Inf: the vectorised path
    for x in (specials, plain):
        chunks = [x[i : i + split] for i in range(0, x.size, split)]
        got = FeatureAcc(start=0, unit=unit)
        ticks = []
        p1 = kern.pass1(iter(chunks), dt, ticks.append, got)
        assert sum(ticks) == x.nbytes
        _same_features(got, _numpy_features(chunks, dt, unit))
        _same_pass1(p1, _numpy_pass1(chunks, dt))


@pytest.mark.parametrize("seed", range(4))
def test_windows_of_random_byte_layouts_equal_numpy(kern, seed):
    """The compiled window loop counts a stretch of elements at once where no subnormal has a low byte, and
    decides element by element elsewhere: both must give numpy's windows, whatever the runs of zero low bytes,
    zeros, subnormals and payloads, and wherever the chunks cut them."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        name = str(rng.choice(["F32", "F16", "F64"]))
        dt = DTYPES[name]
        n = int(rng.integers(1, 12_000))
        x = (rng.normal(size=n) * 0.02).astype(dt.storage)
        u = x.view(dt.uint)
        low = dt.uint.type(0xFF)
        if rng.random() < 0.7:  # a run of zero low bytes
            k = int(rng.integers(0, n))
            u[k : k + int(rng.integers(0, n - k + 1))] &= ~low
        if rng.random() < 0.5:  # zero low bytes strewn about
            u[rng.integers(0, n, int(rng.integers(0, n // 3 + 1)))] &= ~low
        if rng.random() < 0.3:  # subnormals with a low byte
            idx = rng.integers(0, n, int(rng.integers(0, 20)))
            u[idx] = rng.integers(1, 256, idx.size).astype(dt.uint)
        if rng.random() < 0.3:  # zeros
            u[rng.integers(0, n, int(rng.integers(0, n // 4 + 1)))] = 0
        if rng.random() < 0.4:  # a payload of few byte values, zero among them
            k = int(rng.integers(0, n))
            m = int(rng.integers(0, n - k + 1))
            u[k : k + m] = (u[k : k + m] & ~low) | rng.integers(0, 8, m).astype(dt.uint)
        split = int(rng.choice([1, 7, 300, 511, 512, 513, 1000, 4096, 1 << 20]))
        unit = int(rng.choice([0, 1, 9, 512]))
        chunks = [x[i : i + split] for i in range(0, n, split)]
        got = FeatureAcc(start=0, unit=unit)
        kern.pass1(iter(chunks), dt, lambda k: None, got)
        _same_features(got, _numpy_features(chunks, dt, unit))


@pytest.mark.parametrize("name", ["F32", "F16"])
def test_features_of_grids_and_repeated_values_equal_numpy(kern, name):
    dt = DTYPES[name]
    rng = np.random.default_rng(4)
    grid = _raw(rng.integers(-7, 8, 50_000) * 0.01, name)  # 15 levels
    repeats = _raw(np.repeat(rng.normal(0, 0.02, 5000), 10), name)  # every value ten times
    for x in (grid, repeats):
        for split in (2048, 1 << 20):  # the grid probe decides on a head of the chunk, or the whole chunk
            chunks = [x[i : i + split] for i in range(0, x.size, split)]
            got = FeatureAcc(unit=100)
            kern.pass1(chunks, dt, lambda n: None, got)
            _same_features(got, _numpy_features(chunks, dt, 100))
    assert got.dedup and got.dedup_table is not None


def test_features_pieces_merge_alike(kern):
    """Pieces folded by the kernels merge into what the numpy path's pieces merge into, in any split."""
    dt = DTYPES["F32"]
    x = _payload(_sample("F32", 200_000, seed=3), "F32", 120_000, 40_000)
    unit = 500
    for cut in (unit * 100, unit * 240, unit * 399):
        parts = []
        for kernel in (True, False):
            halves = []
            for a, b in ((0, cut), (cut, x.size)):
                chunks = [x[i : min(b, i + 7777)] for i in range(a, b, 7777)]
                if kernel:
                    acc = FeatureAcc(start=a, unit=unit)
                    kern.pass1(chunks, dt, lambda n: None, acc)
                else:
                    acc = _numpy_features(chunks, dt, unit, start=a)
                halves.append(acc)
            parts.append(halves[0].merge(halves[1]))
        _same_features(parts[0], parts[1])
        assert parts[0].units == x.size // unit and parts[0].n == _numpy_features([x], dt, unit).n


@pytest.mark.parametrize("chunk_bytes, piece_bytes", [(4096, 1 << 30), (1000, 24_000), (1 << 20, 1 << 30)])
def test_scan_features_same_with_and_without_jit(kern, monkeypatch, tmp_path, chunk_bytes, piece_bytes):
    _use(monkeypatch, kern)
    p = _scan_model(tmp_path)
    base = dict(chunk_bytes=chunk_bytes, piece_bytes=piece_bytes, workers=2, hash=False, detectors=False)
    off = scan(p, ScanOptions(jit=False, **base))
    on = scan(p, ScanOptions(jit=True, **base))
    for t_off, t_on in zip(off.tensors, on.tensors):
        assert (t_off.features is None) == (t_on.features is None), t_off.name
        if t_off.features is None:
            continue
        a, b = t_on.features.to_json(), t_off.features.to_json()
        assert a.keys() == b.keys()
        for k, va in a.items():
            vb = b[k]
            if isinstance(va, float) and isinstance(vb, float):
                assert va == pytest.approx(vb, rel=1e-6, abs=1e-9), (t_off.name, k)
            else:
                assert va == vb, (t_off.name, k)


@pytest.mark.parametrize("name", ["F32", "F64"])
def test_values_at_the_ends_of_the_type(kern, monkeypatch, tmp_path, name):
    """An attention mask's fill value (the largest negative float, in a scalar or a vector) beside a big layer:
    the histogram's range must be widened inside the type (it raised, past the largest float), and the kernels,
    whose estimate cannot land in a bin of such a range, leave it to the numpy path: same counts, every value
    counted."""
    _use(monkeypatch, kern)
    big = np.finfo(np.float32 if name == "F32" else np.float64).max
    dt = np.float32 if name == "F32" else np.float64
    rng = np.random.default_rng(7)
    tensors = {
        "w": rng.normal(0, 0.05, (512, 1024)).astype(dt),
        "fill": np.array(-big, dtype=dt),
        "top": np.full(100, big, dtype=dt),
        "both": np.array([-big, big] * 50, dtype=dt),
    }
    from safetensors.numpy import save_file

    p = tmp_path / "ends.safetensors"
    save_file(tensors, str(p))
    base = dict(hash=False, detectors=False)
    off = scan(p, ScanOptions(jit=False, **base))
    on = scan(p, ScanOptions(jit=True, **base))
    for t in ("fill", "top", "both"):
        a, b = off.tensor(t).stats.histogram, on.tensor(t).stats.histogram
        assert np.isfinite(a.edges).all() and int(a.counts.sum()) == tensors[t].size
        assert np.array_equal(a.edges, b.edges) and np.array_equal(a.counts, b.counts)
