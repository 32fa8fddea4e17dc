"""Baselines: layer matching (by name, by shape and order), distances, shared histogram edges, profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.core.errors import InspectorError
from inspector.core.judge.baselines import (
    GAUSSIAN_NEAR_ZERO,
    PROFILE_SCHEMA,
    Profile,
    build_profile,
    coarse_histograms,
    default_profile_path,
    histogram_distance,
    load_profile,
    load_reference,
    match_layers,
    save_profile,
)
from inspector.core.measure.stats import Histogram, TensorStats
from inspector.core.pipeline import ScanOptions, scan


def test_match_by_name_then_by_shape_and_order():
    layers = [("fc1.weight", (128, 64)), ("fc1.bias", (128,)), ("fc2.weight", (10, 128)), ("extra", (3, 3))]
    ref = [("net.0.weight", (128, 64)), ("net.0.bias", (128,)), ("fc2.weight", (10, 128))]
    matches, unmatched = match_layers(layers, ref)
    got = {m.name: (m.ref_name, m.how) for m in matches}
    assert got == {
        "fc1.weight": ("net.0.weight", "shape+order"),
        "fc1.bias": ("net.0.bias", "shape+order"),
        "fc2.weight": ("fc2.weight", "name"),
    }
    assert unmatched == ["extra"]


def test_same_name_with_another_shape_falls_back_to_shape_and_order():
    matches, unmatched = match_layers([("a", (4, 4)), ("b", (2, 8))], [("b", (4, 4)), ("c", (2, 8))])
    assert [(m.name, m.ref_name, m.how) for m in matches] == [("a", "b", "shape+order"), ("b", "c", "shape+order")]
    assert unmatched == []


def test_shape_order_matching_follows_storage_order():
    layers = [("x", (8, 8)), ("y", (8, 8))]
    ref = [("p", (8, 8)), ("q", (8, 8))]
    matches, _ = match_layers(layers, ref)
    assert [(m.name, m.ref_name) for m in matches] == [("x", "p"), ("y", "q")]


def _stats(x: np.ndarray, edges: np.ndarray) -> TensorStats:
    counts = np.histogram(x, edges)[0]
    return TensorStats(
        count=x.size,
        zero=int(np.count_nonzero(x == 0)),
        mean=float(x.mean()),
        std=float(x.std()),
        histogram=Histogram(edges.astype(np.float64), counts.astype(np.int64)),
    )


def test_distances_from_histograms_on_shared_edges():
    rng = np.random.default_rng(0)
    edges = np.linspace(-8, 8, 1025)
    x, y = rng.normal(0, 1, 50_000), rng.normal(0, 1, 50_000)
    d = histogram_distance(_stats(x, edges), _stats(y, edges))
    assert d.ks < 0.02 and d.wasserstein < 0.03
    d = histogram_distance(_stats(x, edges), _stats(2 * y, edges))
    assert d.ks > 0.1 and d.wasserstein == pytest.approx(0.4, abs=0.03)  # mean |q_x − q_2y| = 0.8σ_x / 2σ_y
    shifted = histogram_distance(_stats(x + 3.0, edges), _stats(x, edges))
    assert shifted.wasserstein == pytest.approx(3.0, abs=0.05) and shifted.ks > 0.8
    z = x.copy()
    z[:25_000] = 0.0  # exact zeros (pruning) are left out of both
    assert histogram_distance(_stats(z, edges), _stats(y, edges)).ks < 0.03
    # different edges cannot be compared bin by bin
    assert histogram_distance(_stats(x, edges), _stats(y, np.linspace(-4, 4, 1025))) is None


def test_coarse_histograms_merge_bins_on_the_same_edges():
    edges = np.linspace(0.0, 4.0, 9)
    a, b = _stats(np.array([0.1, 0.6, 1.1, 3.9]), edges), _stats(np.array([2.2, 2.7]), edges)
    h = coarse_histograms(a, b, bins=4)
    assert h["edges"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert h["counts"] == [2, 1, 0, 1] and h["ref_counts"] == [0, 0, 2, 0]


def test_reference_is_scanned_on_the_models_edges_and_matched(make_model):
    rng = np.random.default_rng(0)
    model = make_model({"fc.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32)}, name="m.safetensors")
    ref = make_model({"layer.w": rng.normal(0, 0.08, (64, 32)).astype(np.float32)}, name="r.safetensors")
    result = scan(model, ScanOptions(detectors=False))
    reference = load_reference(ref, result.tensors)
    assert [(m.name, m.ref_name, m.how) for m in reference.matches] == [("fc.weight", "layer.w", "shape+order")]
    mine = result.tensor("fc.weight").stats.histogram
    theirs = reference.tensors["layer.w"].stats.histogram
    assert np.array_equal(mine.edges, theirs.edges)
    assert "1 by shape and order" in reference.describe_matching()


def test_scan_with_a_baseline_reports_the_matching(make_model):
    rng = np.random.default_rng(0)
    model = make_model({"fc.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32)}, name="m.safetensors")
    ref = make_model({"fc.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32)}, name="r.safetensors")
    r = scan(model, ScanOptions(baselines=(str(ref),)))
    assert any("1 layer(s) matched by name" in c for c in r.checked)
    info = [f for f in r.findings if f.detector == "baseline-distance" and f.tensor is None]
    assert info and info[0].evidence["matches"] == [
        {"layer": "fc.weight", "baseline_layer": "fc.weight", "how": "name"}
    ]
    assert r.verdict == "incomplete"  # nothing probed capacity abuse
    assert {f.family: f.status for f in r.families}["sign"] == "not-detected"


def test_profile_build_save_load_round_trip(make_model, tmp_path):
    rng = np.random.default_rng(0)
    paths = [
        make_model({"fc.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32)}, name=f"t{i}.safetensors")
        for i in range(2)
    ]
    prof = build_profile(paths, description="two Gaussians")
    nz = prof.get("dense", "near_zero")
    assert nz is not None and nz.count == 2 and nz.lo <= nz.median <= nz.hi
    assert nz.median == pytest.approx(GAUSSIAN_NEAR_ZERO, abs=0.01)
    out = tmp_path / "p.json"
    save_profile(prof, out)
    doc = json.loads(out.read_text())
    assert doc["schema"] == PROFILE_SCHEMA and doc["sources"] == ["t0.safetensors", "t1.safetensors"]
    again = load_profile(str(out))
    assert again.get("dense", "near_zero") == nz and again.description == "two Gaussians"


def test_bad_profiles_are_refused_with_a_hint(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(InspectorError, match="baseline build"):
        load_profile(str(p))
    with pytest.raises(InspectorError, match="no such baseline profile"):
        load_profile(str(tmp_path / "missing.json"))
    with pytest.raises(InspectorError, match="malformed"):
        Profile.from_json({"schema": PROFILE_SCHEMA, "kinds": {"dense": {"near_zero": {"lo": 1}}}})


def test_the_built_in_profile_ships_and_covers_dense_and_conv_layers():
    assert default_profile_path().is_file()
    prof = load_profile(None)
    assert prof is not None and prof.sources and "digits" in prof.description
    for kind in ("dense", "conv"):
        assert prof.get(kind, "sign_excess") is not None and prof.get(kind, "near_zero") is not None


def test_a_reference_is_scanned_once_per_file_version_and_edges(tmp_path, monkeypatch):
    import os as _os

    import numpy as _np
    from safetensors.numpy import save_file as _save

    import inspector.core.measure.scan as scan_mod
    from inspector.core.judge.baselines import load_reference
    from inspector.core.pipeline import scan as _scan

    rng = _np.random.default_rng(3)
    model = tmp_path / "m.safetensors"
    ref = tmp_path / "r.safetensors"
    _save({"w": rng.normal(0, 0.1, (32, 32)).astype(_np.float32)}, str(model))
    _save({"w": rng.normal(0, 0.1, (32, 32)).astype(_np.float32)}, str(ref))
    tensors = _scan(model).tensors
    calls = []
    real = scan_mod.scan_tensors
    monkeypatch.setattr(scan_mod, "scan_tensors", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load_reference(ref, tensors)
    again = load_reference(ref, tensors)  # what the report asks for after the detectors did
    assert len(calls) == 1 and again.tensors is first.tensors
    st = ref.stat()
    _os.utime(ref, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # the file changed: scan it again
    load_reference(ref, tensors)
    assert len(calls) == 2
