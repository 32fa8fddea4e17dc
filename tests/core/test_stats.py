"""Streaming statistics equal their whole-array definitions, whatever the chunking and threading."""

from __future__ import annotations

import math

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector import ScanOptions, open_model, read_tensor, scan
from inspector.core.dtypes import DTYPES, widen
from inspector.core.measure import features
from inspector.core.measure.stats import Moments, plane_ones


def _kurt(x):
    d = x - x.mean()
    return float((d**4).mean() / (d**2).mean() ** 2)


def _skew(x):
    d = x - x.mean()
    return float((d**3).mean() / (d**2).mean() ** 1.5)


def _ac1(x):
    d = x - x.mean()
    return float((d[:-1] * d[1:]).sum() / (len(x) - 1) / (d**2).mean())


@pytest.mark.parametrize("chunk_bytes, piece_bytes", [(64, 1 << 30), (4096, 8192), (1 << 20, 1 << 30)])
def test_fp32_stats_match_numpy_for_any_chunking(tmp_path, chunk_bytes, piece_bytes):
    rng = np.random.default_rng(3)
    x = (rng.standard_t(5, size=(50, 81)) * 0.02 + 0.001).astype(np.float32)
    x[0, :5] = 0.0
    p = tmp_path / "m.safetensors"
    save_file({"w": x}, str(p))
    r = scan(p, ScanOptions(chunk_bytes=chunk_bytes, piece_bytes=piece_bytes, workers=2))
    s = r.tensor("w").stats
    xd = x.astype(np.float64).ravel()
    assert s.count == x.size
    assert s.zero == 5
    assert s.mean == pytest.approx(xd.mean(), rel=1e-9, abs=1e-12)
    assert s.std == pytest.approx(xd.std(), rel=1e-9)
    assert s.skewness == pytest.approx(_skew(xd), rel=1e-7)
    assert s.kurtosis == pytest.approx(_kurt(xd), rel=1e-7)
    assert s.min == x.min() and s.max == x.max()
    assert s.positive_fraction == np.count_nonzero(x > 0) / x.size
    assert s.near_zero_fraction == np.count_nonzero(np.abs(xd) <= 0.05 * xd.std()) / x.size
    assert s.autocorr_value == pytest.approx(_ac1(xd), rel=1e-7, abs=1e-12)
    signs = (x.ravel() < 0).astype(np.float64)
    assert s.autocorr_sign == pytest.approx(_ac1(signs), rel=1e-7, abs=1e-12)
    counts, edges = np.histogram(x, bins=256, range=(float(x.min()), float(x.max())))
    assert np.array_equal(s.histogram.counts, counts)
    assert np.array_equal(s.histogram.edges, edges)
    u = x.view(np.uint32).ravel()
    for b in (0, 7, 16, 22, 23, 30, 31):
        assert s.bit_ones[b] == np.count_nonzero((u >> b) & 1) / x.size
    low = np.bincount(u & 0xFF, minlength=256)
    assert list(s.low_byte_counts) == low.tolist()
    p_ = low[low > 0] / low.sum()
    assert s.low_byte_entropy == pytest.approx(-(p_ * np.log2(p_)).sum())


def test_given_range_and_bins(tmp_path):
    x = np.linspace(-1, 1, 1001, dtype=np.float32)
    p = tmp_path / "m.safetensors"
    save_file({"w": x}, str(p))
    r = scan(p, ScanOptions(bins=10, ranges={"w": (-0.5, 0.5)}))
    counts, edges = np.histogram(x, bins=10, range=(-0.5, 0.5))
    assert r.tensor("w").stats.histogram.counts.tolist() == counts.tolist()
    assert r.tensor("w").stats.histogram.edges.tolist() == edges.tolist()


def test_nan_inf_and_subnormals_are_counted_and_excluded_from_moments(tmp_path):
    x = np.array([1.0, np.nan, -2.0, np.inf, 3.0, -np.inf, 1e-40, 0.0], dtype=np.float32)
    p = tmp_path / "m.safetensors"
    save_file({"w": x}, str(p))
    s = scan(p, ScanOptions(chunk_bytes=8)).tensor("w").stats
    finite = np.array([1.0, -2.0, 3.0, np.float32(1e-40), 0.0])
    assert (s.nan, s.inf, s.zero, s.subnormal) == (1, 2, 1, 1)
    assert s.mean == pytest.approx(finite.mean())
    assert s.min == -2.0 and s.max == 3.0
    assert s.histogram.counts.sum() == 5
    assert s.to_json()["nan"] == 1


@pytest.mark.parametrize("name", ["F16", "BF16", "F64", "F8_E4M3", "F8_E5M2"])
def test_other_float_formats(tmp_path, name):
    import torch
    from safetensors.torch import save_file as save_torch

    tdt = {
        "F16": torch.float16,
        "BF16": torch.bfloat16,
        "F64": torch.float64,
        "F8_E4M3": torch.float8_e4m3fn,
        "F8_E5M2": torch.float8_e5m2,
    }[name]
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(777, generator=g) * 0.3).to(tdt)
    p = tmp_path / "m.safetensors"
    save_torch({"w": t}, str(p))
    m = open_model(p)
    s = scan(m, ScanOptions(chunk_bytes=100)).tensor("w").stats
    ref = t.to(torch.float64).numpy()
    assert np.array_equal(widen(read_tensor(m["w"]), DTYPES[name]).astype(np.float64), ref)
    assert s.mean == pytest.approx(ref.mean(), rel=1e-9)
    assert s.std == pytest.approx(ref.std(), rel=1e-9)
    bits = DTYPES[name].bits
    assert len(s.bit_ones) == bits
    raw = read_tensor(m["w"]).view(DTYPES[name].uint).astype(np.uint64)
    assert s.bit_ones[bits - 1] == np.count_nonzero(raw >> np.uint64(bits - 1)) / raw.size


def test_integer_tensors_get_counts_and_histogram(tmp_path):
    x = np.array([0, 1, 1, 5, -3], dtype=np.int64)
    p = tmp_path / "m.safetensors"
    save_file({"i": x, "b": np.array([True, False, True])}, str(p))
    r = scan(p)
    s = r.tensor("i").stats
    assert (s.count, s.min, s.max, s.zero) == (5, -3.0, 5.0, 1)
    assert s.mean == pytest.approx(0.8)
    assert s.bit_ones == () and s.low_byte_counts == ()
    assert s.histogram.counts.sum() == 5
    assert r.tensor("b").stats.mean == pytest.approx(2 / 3)


def test_zero_size_and_scalar_tensors(tmp_path):
    p = tmp_path / "m.safetensors"
    save_file({"e": np.zeros((0, 3), np.float32), "s": np.array(0.5, np.float32)}, str(p))
    r = scan(p)
    e, s = r.tensor("e").stats, r.tensor("s").stats
    assert e.count == 0 and math.isnan(e.mean)
    assert s.count == 1 and s.mean == 0.5 and s.std == 0.0
    doc = r.to_json()
    assert doc["tensors"][0]["stats"]["mean"] is None or doc["tensors"][1]["stats"]["mean"] is None


def test_moment_merge_is_associative_and_exact():
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, size=10_001)
    whole = Moments.of(x)
    parts = Moments()
    for piece in np.array_split(x, 7):
        parts = parts.merge(Moments.of(piece))
    for a in ("n", "mean", "m2", "m3", "m4"):
        assert getattr(parts, a) == pytest.approx(getattr(whole, a), rel=1e-10)


def test_tensor_within_a_few_ulps_and_near_float64_max_do_not_crash(tmp_path):
    one = np.float32(1.0)
    x = np.array([one, np.nextafter(one, np.float32(2)), one], dtype=np.float32)
    big = np.array([1.7e308, -1.7e308, 1.6e308, 1e308], dtype=np.float64)
    p = tmp_path / "m.safetensors"
    save_file({"ulps": x, "big": big}, str(p))
    r = scan(p, ScanOptions(chunk_bytes=16))
    h = r.tensor("ulps").stats.histogram
    assert h.counts.sum() == 3 and np.all(np.diff(h.edges) > 0)
    assert r.tensor("big").stats.count == 4


# --------------------------------------------------------------------- helpers of the features' numpy path


def _floats(name: str, n: int, seed: int) -> np.ndarray:
    """``n`` values of dtype ``name`` in storage form, with zeros, ±Inf and NaN among them."""
    dt = DTYPES[name]
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.03, n)
    x[::50] = 0.0
    x[1::97] = np.inf
    x[2::89] = -np.inf
    x[3::71] = np.nan
    with np.errstate(all="ignore"):
        if name == "BF16":
            return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return x.astype(dt.storage)


def test_distinct_live_and_plane_ones_equal_their_definitions():
    rng = np.random.default_rng(5)
    for a in (rng.integers(0, 50, 10_000).astype(np.uint32), rng.normal(size=3000), np.zeros(0), np.ones(1)):
        assert np.array_equal(features.distinct(a), np.unique(a))
    for name in ("F32", "F16", "BF16", "F64"):
        dt = DTYPES[name]
        x = _floats(name, 5000, seed=6)
        with np.errstate(all="ignore"):
            v = widen(x, dt).astype(np.float64)
        assert np.array_equal(features.live(x.view(dt.uint), dt), np.isfinite(v) & (v != 0))
    for t in (rng.integers(0, 10**9, 65536), rng.integers(0, 1000, 256), rng.integers(0, 1000, 65536) * 1.0):
        bits = 16 if t.size == 65536 else 8
        ones = [float(t.reshape(-1, 2, 1 << b)[:, 1, :].sum()) for b in range(bits)]
        assert plane_ones(t).tolist() == ones


def test_merge_judges_the_partly_filled_window_of_the_first_piece():
    """Low-byte windows restart with each piece: the first piece's last, partly filled window is judged too."""
    dt = DTYPES["F32"]
    x = np.random.default_rng(8).normal(0, 0.03, 100_000).astype(np.float32)
    u = x.view(np.uint32)
    u |= np.uint32(1)  # every low byte judged: a window spans exactly WINDOW elements
    open_at = features.WINDOW * (50_000 // features.WINDOW)
    cut = open_at + 400  # the first piece ends 400 elements into a window: a payload fills those
    u[open_at:cut] = (u[open_at:cut] & ~np.uint32(0xFF)) | np.random.default_rng(9).integers(1, 16, 400)
    head, tail = features.FeatureAcc(), features.FeatureAcc(start=cut)
    head.add(x[:cut], dt)
    tail.add(x[cut:], dt)
    whole = head.merge(tail)
    whole.flush_window()
    assert (whole.worst.start, whole.worst.stop, whole.worst.judged) == (open_at, cut, 400)
    assert whole.worst.chi_z > 100


@pytest.mark.parametrize("name", ["F32", "F16", "BF16", "F64", "I32"])
def test_histogram_edges_are_numpys(name):
    """The edges are those np.histogram_bin_edges makes for the range (same type, same values), down to ranges a
    few ulps wide and single values, and the too-narrow ranges numpy refuses are widened as before."""
    from inspector.core.measure.stats import histogram_edges, outer_range

    dt = DTYPES[name]
    vt = np.float64 if name in ("F64", "I32") else np.float32
    cases = [(-0.1, 0.3), (0.0, 0.0), (1e-42, 3e-42), (5.0, float(np.nextafter(vt(5), vt(6)))), (-1e30, 1e30)]
    cases += [(float(a), float(b)) for a, b in np.sort(np.random.default_rng(1).normal(0, 3, (20, 2)), axis=1)]
    for lo, hi in cases:
        for bins in (1, 7, 256):
            got = histogram_edges(lo, hi, bins, dt)
            try:
                want = np.histogram_bin_edges(np.empty(0, vt), bins=bins, range=outer_range(lo, hi))
            except ValueError:
                assert got.size == bins + 1 and np.all(got[1:] > got[:-1])  # widened
                continue
            assert got.dtype == want.dtype and np.array_equal(got, want), (lo, hi, bins)


@pytest.mark.parametrize("name", ["F32", "F64"])
def test_compact_tables_of_small_chunks_equal_the_full_ones(name):
    """A small chunk of a type wider than 16 bits: its lane tables (counted compactly, all lanes in one bincount) and its bit frequencies equal
    those of the full 65,536-entry tables."""
    from inspector.core.measure.stats import COMPACT_BELOW, bit_ones, lane_counts, pass1_chunk

    dt = DTYPES[name]
    rng = np.random.default_rng(2)
    vals = rng.normal(0, 0.05, 999).astype(np.float64)
    vals[::7] = 0
    raw = vals.astype(dt.storage)
    assert raw.size < COMPACT_BELOW
    small = pass1_chunk(raw, dt).tables
    lanes = raw.view(np.uint16).reshape(-1, dt.itemsize // 2)
    full = [np.bincount(lanes[:, i], minlength=65536) for i in range(lanes.shape[1])]
    assert small is not None and len(small) == len(full)
    for s, f in zip(small, full):
        assert s.dtype == np.int64 and np.array_equal(s, lane_counts(f))
    want = tuple(float(c) / raw.size for t in full for c in plane_ones(t))
    assert bit_ones(small, raw.size) == want == bit_ones(full, raw.size)
