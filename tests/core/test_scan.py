"""The scan's contract: JSON schema, progress, cancellation, and the core's independence from Qt and torch."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from inspector import Cancelled, CancelToken, ScanOptions, open_model, scan
from inspector.core.judge.findings import ATTACKS, SEVERITIES


def test_scan_json_contract(small_model):
    r = scan(small_model)
    doc = json.loads(json.dumps(r.to_json(), allow_nan=False))
    assert doc["schema"] == "model-inspector/scan/1"
    assert doc["tool"]["name"] == "model-inspector"
    m = doc["model"]
    assert m["format"] == "safetensors" and m["tensors"] == 5
    assert m["parameters"] == 128 * 64 + 128 + 10 * 128 + 10 + 7
    assert m["bytes"] == (128 * 64 + 128 + 10) * 4 + 10 * 128 * 2 + 7 * 8
    import hashlib

    assert m["sha256"] == hashlib.sha256(small_model.read_bytes()).hexdigest()
    assert doc["inputs"] == {
        "baselines": [],
        "profile": None,
        "arch": None,
        "data": None,
        "train_sample": None,
        "base": None,
        "bins": 256,
    }
    assert doc["verdict"] in ("clean", "incomplete", "suspicious")
    assert {f["family"] for f in doc["families"]} == {
        "lsb",
        "correlated-value",
        "sign",
        "capacity-abuse",
        "non-float",
        "metadata",
        "code-execution",
    }
    assert sum(r["bytes"] for r in doc["coverage"]["rows"]) == doc["coverage"]["file_bytes"]
    assert 0.0 <= doc["score"] <= 1.0
    for f in doc["findings"]:
        assert f["attack"] in ATTACKS and f["severity"] in SEVERITIES
    names = [t["name"] for t in doc["tensors"]]
    assert sorted(names) == sorted(open_model(small_model).names)
    for t in doc["tensors"]:
        st = t["stats"]
        for key in (
            "count",
            "mean",
            "std",
            "min",
            "max",
            "skewness",
            "kurtosis",
            "zero_fraction",
            "nan",
            "inf",
            "subnormal",
        ):
            assert key in st
        h = t["histogram"]
        assert len(h["edges"]) == len(h["counts"]) + 1
        assert sum(h["counts"]) == st["count"] - st["nan"] - st["inf"]


def test_progress_reaches_total_and_tensors_arrive_one_by_one(small_model):
    seen = []
    arrived = []
    r = scan(
        small_model,
        ScanOptions(chunk_bytes=1024),
        progress=lambda d, t, m: seen.append((d, t)),
        on_tensor=arrived.append,
    )
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:], strict=False)), "progress went backwards"
    assert max(d for d, _ in seen) == seen[0][1]
    assert sorted(t.name for t in arrived) == sorted(t.name for t in r.tensors)


def test_cancel_stops_a_long_scan_quickly(make_model):
    x = np.random.default_rng(0).normal(size=(64, 1 << 16)).astype(np.float32)  # 16 MB
    p = make_model({"big": x, "big2": x[:32]})
    token = CancelToken()
    started = threading.Event()

    def progress(d, t, m):
        started.set()

    result: dict = {}

    def work():
        try:
            scan(p, ScanOptions(chunk_bytes=64 << 10, piece_bytes=1 << 20), progress=progress, cancel=token)
            result["r"] = "finished"
        except Cancelled:
            result["r"] = "cancelled"

    th = threading.Thread(target=work)
    th.start()
    assert started.wait(10)
    t0 = time.perf_counter()
    token.cancel()
    th.join(5)
    assert not th.is_alive()
    assert result["r"] in ("cancelled", "finished")
    assert time.perf_counter() - t0 < 1.0


def test_scan_of_a_missing_file_raises_inspector_error(tmp_path):
    from inspector import InspectorError

    with pytest.raises(InspectorError):
        scan(tmp_path / "missing.safetensors")


def test_core_imports_neither_qt_nor_torch():
    code = (
        "import sys, inspector, inspector.core.measure.scan, inspector.core.formats, inspector.core.judge.detectors;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','shiboken6','torch')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_listing_reads_headers_only(make_model, monkeypatch):
    p = make_model({"w": np.ones((100, 100), np.float32)})
    import inspector.core.formats.base as base

    def boom(*a, **k):
        raise AssertionError("tensor data was read while listing")

    monkeypatch.setattr(base, "_readinto", boom)
    m = open_model(p)
    assert m.names == ["w"] and m.parameters == 10_000


def test_a_failed_scan_leaves_the_callers_token_alone(small_model):
    token = CancelToken()

    def fail(_tensor):
        raise ValueError("consumer failed")

    with pytest.raises(ValueError, match="consumer failed"):
        scan(small_model, cancel=token, on_tensor=fail)
    assert not token.cancelled
    assert scan(small_model, ScanOptions(detectors=False), cancel=token).tensors  # the token is still usable


def test_16_bit_tensors_are_read_once(make_model, monkeypatch):
    rng = np.random.default_rng(3)
    half = (rng.standard_t(4, 5000) * 0.02).astype(np.float16)
    half[[7, 99]] = [np.inf, np.nan]
    p = make_model({"h": half, "f": rng.normal(size=3000).astype(np.float32)})
    import inspector.core.measure.scan as scan_mod

    reads: dict[str, int] = {}
    real = scan_mod.iter_chunks

    def counting(ref, *a, **k):
        reads[ref.name] = reads.get(ref.name, 0) + 1
        return real(ref, *a, **k)

    monkeypatch.setattr(scan_mod, "iter_chunks", counting)
    monkeypatch.setattr(scan_mod, "SMALL_BYTES", 0)  # each tensor read alone (as a big one is)
    seen = []
    r = scan(p, ScanOptions(bins=64, jit=False, detectors=False), progress=lambda d, t, m: seen.append((d, t)))
    assert reads == {"h": 1, "f": 2}
    assert seen[-1][0] == seen[-1][1]
    st = r.tensor("h").stats
    fin = half[np.isfinite(half)].astype(np.float32)
    counts, edges = np.histogram(fin, bins=64, range=(float(fin.min()), float(fin.max())))
    assert np.array_equal(st.histogram.counts, counts) and np.array_equal(st.histogram.edges, edges)
    thr = 0.05 * float(fin.astype(np.float64).std())
    assert st.near_zero_fraction == np.count_nonzero(np.abs(half.astype(np.float32)) <= thr) / half.size


@pytest.mark.parametrize("jit", [False, True])
def test_small_tensors_are_read_once_in_runs(tmp_path, monkeypatch, jit):
    """Small neighbouring tensors are read in one read that serves both passes and every tensor of the run, with
    the results of reading them one by one (an unaligned tensor and an empty one included)."""
    if jit:
        pytest.importorskip("numba")
    import inspector.core.measure.scan as scan_mod
    from tests.conftest import raw_safetensors

    rng = np.random.default_rng(11)
    arrays = {
        "a": (rng.standard_t(4, 3001) * 0.02).astype(np.float16),  # odd length: what follows is unaligned
        "b": (rng.standard_t(4, (40, 50)) * 0.05).astype(np.float32),
        "c": np.zeros(0, np.float32),
        "d": rng.normal(size=1).astype(np.float64),
        "e": (rng.normal(size=7000) * 0.1).astype(np.float32),
        "f": np.arange(9, dtype=np.int64),
    }
    dtypes = {np.float16: "F16", np.float32: "F32", np.float64: "F64", np.int64: "I64"}
    header, data = {}, b""
    for name, x in arrays.items():
        b = x.tobytes()
        header[name] = {
            "dtype": dtypes[x.dtype.type],
            "shape": list(x.shape),
            "data_offsets": [len(data), len(data) + len(b)],
        }
        data += b
    p = raw_safetensors(tmp_path / "m.safetensors", header, data)

    opened, chunked = [], []
    real_open, real_chunks = scan_mod.open_regular, scan_mod.iter_chunks
    monkeypatch.setattr(scan_mod, "open_regular", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    monkeypatch.setattr(
        scan_mod, "iter_chunks", lambda ref, *a, **k: chunked.append(ref.name) or real_chunks(ref, *a, **k)
    )
    opts = ScanOptions(bins=64, jit=jit, hash=False, chunk_bytes=4096, workers=2)
    runs = scan(p, opts)
    assert len(opened) == 1 and set(chunked) == {"c"}  # the empty tensor is not read at all
    monkeypatch.setattr(scan_mod, "SMALL_BYTES", 0)
    chunked.clear()
    alone = scan(p, opts)
    assert set(chunked) == set(arrays)
    assert [t.to_json() for t in runs.tensors] == [t.to_json() for t in alone.tensors]
    assert runs.tensor("b").stats.count == 2000 and runs.tensor("c").stats.count == 0


def test_big_tensors_at_once_give_the_results_of_one_at_a_time(make_model, monkeypatch):
    """Several big tensors (split into pieces) measured at once, each from its own thread, give what measuring
    them one after the other gives; an error in one stops the scan and leaves no thread behind."""
    import inspector.core.measure.scan as scan_mod

    rng = np.random.default_rng(4)
    p = make_model({f"w{i}": rng.normal(size=(200, 100)).astype(np.float32) for i in range(5)} | {"b": np.ones(3)})
    opts = ScanOptions(piece_bytes=20_000, chunk_bytes=4096, jit=False)
    monkeypatch.setattr(scan_mod, "BIG_AT_ONCE", 1)
    one = [t.to_json() for t in scan(p, opts).tensors]
    monkeypatch.setattr(scan_mod, "BIG_AT_ONCE", 3)
    assert [t.to_json() for t in scan(p, opts).tensors] == one
    before = threading.active_count()

    def fail(t):
        raise ValueError("consumer failed")

    with pytest.raises(ValueError, match="consumer failed"):
        scan(p, opts, on_tensor=fail)
    assert threading.active_count() == before


def test_runs_of_tiny_tensors_are_measured_one_at_a_time(make_model, monkeypatch):
    """Runs of tiny tensors are Python work under the GIL: one worker at a time measures them (the others wait
    on a lock instead of trading the GIL), with the results of measuring them side by side."""
    import inspector.core.measure.scan as scan_mod

    rng = np.random.default_rng(8)
    p = make_model({f"t{i:04d}": rng.normal(size=3).astype(np.float32) for i in range(1100)})
    active, most = [0], [0]
    real = scan_mod._Scanner._run

    def counting(self, refs):
        active[0] += 1
        most[0] = max(most[0], active[0])
        try:
            time.sleep(0.02)  # long enough for another worker to start a run of its own, if it may
            return real(self, refs)
        finally:
            active[0] -= 1

    monkeypatch.setattr(scan_mod._Scanner, "_run", counting)
    opts = ScanOptions(workers=3, detectors=False, hash=False)
    serial = scan(p, opts)
    assert most[0] == 1
    monkeypatch.setattr(scan_mod, "GIL_BOUND_BYTES", 0)
    most[0] = 0
    parallel = scan(p, opts)
    assert most[0] > 1
    assert [t.to_json() for t in serial.tensors] == [t.to_json() for t in parallel.tensors]
