"""Weights-only detectors on tiny synthetic tensors with known answers: Gaussian weights must not fire, planted
patterns must, and benign-but-odd processing (bf16 rounding, int8 dequantisation, pruning) must stay quiet."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inspector.core.dtypes import DTYPES
from inspector.core.judge.detectors.context import grade
from inspector.core.judge.findings import ATTACKS, SEVERITIES
from inspector.core.measure import features as feat
from inspector.core.pipeline import ScanOptions, scan

WEIGHT_DETECTORS = {"lsb-bitplanes", "lsb-provenance", "sign-structure", "correlated-value"}


def gaussian(shape, seed=0, sigma=0.05):
    return np.random.default_rng(seed).normal(0, sigma, shape).astype(np.float32)


def images(n=200, seed=1):
    """Digit-like 8×8 images on 17 grey levels in [0, 1]: dark background and borders, bright strokes in the
    middle columns (as centred digits have)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 8, 8))
    for img in x:
        c = rng.integers(3, 5)
        img[1:7, c] = rng.integers(10, 17, 6) / 16
        r = rng.integers(1, 7)
        img[r, 2:6] = rng.integers(4, 17, 4) / 16
    return x.reshape(n, 64).astype(np.float32)


def image_bytes(x):
    return np.rint(x * 255).astype(np.uint8).reshape(-1)


def model(make_model, fc1, fc2=None, name="m.safetensors"):
    fc2 = gaussian((32, 128), 2, 0.1) if fc2 is None else fc2
    return make_model(
        {
            "fc1.weight": fc1,
            "fc1.bias": gaussian(128, 3, 0.01),
            "fc2.weight": fc2,
            "fc2.bias": gaussian(32, 4, 0.01),
        },
        name=name,
    )


def raised(result, detectors=WEIGHT_DETECTORS):
    return [f for f in result.findings if f.detector in detectors and f.severity != "info"]


def top(result, tensor=None):
    hits = [f for f in result.findings if f.severity == "suspicious" and (tensor is None or f.tensor == tensor)]
    return hits[0] if hits else None


def test_gaussian_weights_raise_nothing(make_model):
    r = scan(model(make_model, gaussian((128, 64))))
    assert r.verdict == "incomplete" and r.score == 0.0
    assert raised(r) == []
    assert any("Encrypted" in line for line in r.limits)
    assert any(line.startswith("LSB") for line in r.checked)


def test_planted_lsb_payload_fires_with_its_entropy(make_model):
    w = gaussian((128, 64))
    text = (b"the training set, row by row: " * 400)[: w.size]
    payload = np.frombuffer(text, dtype=np.uint8)
    u = w.reshape(-1).view(np.uint32)
    u[:] = (u & ~np.uint32(0xFF)) | payload
    r = scan(model(make_model, w))
    f = top(r, "fc1.weight")
    assert r.verdict == "suspicious" and f is not None and f.attack == "lsb" and f.detector == "lsb-bitplanes"
    # (with < 1% repeated values every value is judged; the text has no zero byte to set aside)
    counts = np.bincount(payload, minlength=256) / payload.size
    entropy = -(counts[counts > 0] * np.log2(counts[counts > 0])).sum()
    assert f.evidence["low_entropy"] == pytest.approx(entropy, abs=1e-6)
    assert "bits of entropy" in f.message
    # the untouched layer stays quiet
    assert not [x for x in raised(r) if x.tensor == "fc2.weight"]


def test_encrypted_payload_is_invisible_and_the_limits_say_so(make_model):
    w = gaussian((128, 64))
    u = w.reshape(-1).view(np.uint32)
    u[:] = (u & ~np.uint32(0xFFFF)) | np.random.default_rng(9).integers(0, 1 << 16, u.size, dtype=np.uint32)
    r = scan(model(make_model, w))
    assert r.verdict == "incomplete"
    assert any("cannot be detected" in line for line in r.limits)


def bf16(x):
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)


def test_bf16_rounded_model_is_clean_with_a_provenance_note(make_model):
    r = scan(model(make_model, bf16(gaussian((128, 64))), bf16(gaussian((32, 128), 2, 0.1))))
    assert r.verdict == "incomplete" and raised(r) == []
    notes = [f for f in r.findings if f.attack == "provenance"]
    assert notes and "bf16" in notes[0].message and notes[0].severity == "info"


def test_bits_written_below_a_rounded_mantissa_fire(make_model):
    w = bf16(gaussian((128, 64)))
    u = w.reshape(-1).view(np.uint32)
    u[:] |= np.random.default_rng(5).integers(0, 256, u.size, dtype=np.uint32)  # random, i.e. "encrypted"
    r = scan(model(make_model, w, bf16(gaussian((32, 128), 2, 0.1))))
    f = top(r, "fc1.weight")
    assert f is not None and f.detector == "lsb-provenance" and f.attack == "lsb"
    assert f.evidence["constant_planes"] == list(range(8, 16))


def test_one_unrounded_tensor_among_rounded_ones_is_a_provenance_warning(make_model):
    r = scan(
        make_model(
            {
                "a.weight": bf16(gaussian((64, 64), 1)),
                "b.weight": bf16(gaussian((64, 64), 2)),
                "c.weight": bf16(gaussian((64, 64), 3)),
                "d.weight": gaussian((64, 64), 4),
            }
        )
    )
    hits = [f for f in r.findings if f.attack == "provenance" and f.severity == "warning"]
    assert [f.tensor for f in hits] == ["d.weight"]


def test_constant_tensor_with_noise_in_its_low_bits_fires(make_model):
    ones = np.ones(256, np.float32)
    ones.view(np.uint32)[:] |= np.random.default_rng(0).integers(0, 16, 256, dtype=np.uint32)
    # (8 bins: the scan's float32 bin edges cannot split 15 ulps into 256 bins — reported to the lead)
    r = scan(make_model({"norm.weight": ones, "fc.weight": gaussian((64, 64))}), ScanOptions(bins=8))
    f = top(r, "norm.weight")
    assert f is not None and f.attack == "lsb" and "constant" in f.message


def test_int8_dequantised_and_pruned_models_stay_clean(make_model):
    w = gaussian((128, 64))
    scale = np.abs(w).max() / 127
    q = (np.clip(np.rint(w / scale), -127, 127) * scale).astype(np.float32)
    r = scan(model(make_model, q, name="q.safetensors"))
    assert r.verdict == "incomplete" and raised(r) == []
    assert any("grid" in f.message for f in r.findings if f.tensor == "fc1.weight")
    p = w.copy()
    p[np.abs(p) < np.quantile(np.abs(p), 0.5)] = 0
    r = scan(model(make_model, p, name="p.safetensors"))
    assert r.verdict == "incomplete" and raised(r) == []


def sign_encoded(seed=0, shape=(128, 64)):
    """Gaussian weights whose signs were forced to the bits of image bytes by a hinge: wrong-sign weights are
    dragged to just across zero."""
    g = gaussian(shape, seed).reshape(-1)
    bits = np.unpackbits(image_bytes(images(64)))[: g.size].astype(bool)
    s = np.where(bits, 1.0, -1.0)
    wrong = np.sign(g) != s
    g[wrong] = s[wrong] * np.abs(g[wrong]) * 0.02
    return g.reshape(shape).astype(np.float32), bits


def test_planted_sign_encoding_fires_with_the_bits_autocorrelation(make_model):
    w, bits = sign_encoded()
    r = scan(model(make_model, w))
    f = top(r, "fc1.weight")
    assert f is not None and f.attack == "sign" and f.detector == "sign-structure"
    b = bits.astype(float)
    d = b - b.mean()
    expected = float(np.dot(d[:-1], d[1:]) / np.dot(d, d) * b.size / (b.size - 1))
    assert f.evidence["sign_autocorr"] == pytest.approx(expected, abs=1e-6)
    assert "sign autocorrelation" in f.message and "within ±0.05σ of zero" in f.message


def correlated_encoded(seed=0, shape=(128, 64), noise=0.3):
    """θ as an affine image of pixel values (λc large: r ≈ 0.95)."""
    px = images(shape[0] * shape[1] // 64 + 1).reshape(-1)[: int(np.prod(shape))]
    z = (px - px.mean()) / px.std()
    z += np.random.default_rng(seed).normal(0, noise, z.size)
    return (0.05 * z).reshape(shape).astype(np.float32)


def test_planted_correlated_values_fire_with_their_period(make_model):
    r = scan(model(make_model, correlated_encoded()))
    f = top(r, "fc1.weight")
    assert f is not None and f.attack == "correlated-value"
    assert f.evidence["period"] % 8 == 0 and f.evidence["periodic"] > 0.3  # the image width, or rows of it
    assert f"period {f.evidence['period']}" in f.message


def test_findings_are_json_ready_and_ranked(make_model):
    w, _ = sign_encoded()
    r = scan(model(make_model, w))
    doc = json.loads(json.dumps(r.to_json(), allow_nan=False))
    for f in doc["findings"]:
        assert set(f) >= {"detector", "attack", "tensor", "severity", "score", "message"}
        assert f["attack"] in ATTACKS and f["severity"] in SEVERITIES and 0 <= f["score"] <= 1
    sev = [SEVERITIES.index(f["severity"]) for f in doc["findings"]]
    assert sev == sorted(sev, reverse=True)
    assert doc["score"] == pytest.approx(max(f["score"] for f in doc["findings"] if f["severity"] != "info"))


def test_grade_is_monotone_with_severity_bands():
    assert grade(0.0) == ("info", 0.0)
    assert grade(0.5)[0] == "warning" and grade(1.0)[0] == "suspicious"
    assert grade(1.0)[1] == pytest.approx(0.7)
    scores = [grade(e)[1] for e in np.linspace(0, 5, 50)]
    assert scores == sorted(scores) and grade(float("nan")) == ("info", 0.0)


def _acc(x: np.ndarray, chunk: int = 1000, unit: int = 0) -> feat.FeatureAcc:
    acc = feat.FeatureAcc(unit=unit)
    for i in range(0, x.size, chunk):
        acc.add(x[i : i + chunk], DTYPES["F32"])
    return acc


def test_features_known_answers():
    x = (np.arange(64 * 40) % 8 + 1).astype(np.float32)  # a pure period-8 ramp (no zeros)
    acc = _acc(x)
    assert feat._phase_share(acc.rsum, acc.rsq, acc.rcnt, 8) == pytest.approx(1 - 7 / x.size)
    noise = np.random.default_rng(0).normal(size=100_000).astype(np.float32)
    acc = _acc(noise, chunk=777)
    assert feat._phase_share(acc.rsum, acc.rsq, acc.rcnt, 8) < 1e-3
    mean = float(acc.rsum.sum()) / acc.n
    var = float(acc.rsq.sum()) / acc.n - mean * mean
    assert feat._lag1(acc.sxy, acc.shead, acc.stail, acc.pairs, mean, var) == pytest.approx(0.0, abs=0.01)
    assert acc.pairs == noise.size - 1  # pairs across every chunk boundary counted once
    assert feat.expected_plane(22, 23) == pytest.approx(0.5 - feat.TOP_PLANE_BIAS)
    assert feat.erf(np.array([0.5]))[0] == pytest.approx(math.erf(0.5), abs=2e-7)


def test_feature_accumulators_do_not_depend_on_chunking_or_pieces():
    x = np.random.default_rng(1).normal(size=30_000).astype(np.float32)
    x[::7] = 0.0
    whole = _acc(x, chunk=x.size, unit=100)
    second = feat.FeatureAcc(start=12_000, unit=100)
    for i in range(12_000, x.size, 1234):
        second.add(x[i : min(x.size, i + 1234)], DTYPES["F32"])
    parts = _acc(x[:12_000], chunk=999, unit=100).merge(second)
    for name in ("n", "pairs", "pos_pairs", "wpairs", "units"):
        assert getattr(parts, name) == getattr(whole, name), name
    for name in ("sxy", "shead", "stail", "wxy", "whead", "wtail", "ufirst", "ulast", "ufl"):
        assert getattr(parts, name) == pytest.approx(getattr(whole, name), rel=1e-9, abs=1e-9), name
    assert np.allclose(parts.rsum, whole.rsum) and np.array_equal(parts.rcnt, whole.rcnt)
    assert whole.units == 300 and whole.wpairs == 300 * 99


def test_shuffled_null_matches_an_explicit_unit_shuffle():
    """The expected autocorrelation with whole units shuffled equals the mean over many real shuffles."""
    rng = np.random.default_rng(2)
    units = rng.normal(size=(400, 9)) + np.linspace(-1, 1, 9)  # within-kernel structure, as conv kernels have
    x = units.reshape(-1).astype(np.float32)
    acc = _acc(x, chunk=500, unit=9)
    xd = x.astype(np.float64)
    mu, sd = float(xd.mean()), float(xd.std())
    u = acc.units
    cross_xy = (acc.ufirst * acc.ulast - acc.ufl) / u
    pairs = acc.wpairs + u - 1
    num = (acc.wxy + cross_xy) - mu * (acc.whead + acc.wtail + acc.ulast * (u - 1) / u + acc.ufirst * (u - 1) / u)
    num += pairs * mu * mu
    expected = num / (x.size * sd * sd)
    real = []
    for seed in range(200):
        perm = np.random.default_rng(seed).permutation(400)
        y = units[perm].reshape(-1)
        d = y - y.mean()
        real.append(float(np.dot(d[:-1], d[1:]) / np.dot(d, d)))
    assert expected == pytest.approx(float(np.mean(real)), abs=0.01)


def test_every_float_dtype_scans_and_gaussian_stays_clean(tmp_path):
    from tests.conftest import raw_safetensors

    g = gaussian((64, 64))
    arrays = {
        "bf16.weight": ("BF16", (g.view(np.uint32) >> 16).astype(np.uint16).tobytes()),
        "f16.weight": ("F16", g.astype(np.float16).tobytes()),
        "f64.weight": ("F64", g.astype(np.float64).tobytes()),
        "f8.weight": ("F8_E4M3", np.random.default_rng(0).integers(0, 0x77, 4096, dtype=np.uint8).tobytes()),
    }
    header, data, pos = {}, b"", 0
    for name, (dt, blob) in arrays.items():
        header[name] = {"dtype": dt, "shape": [64, 64], "data_offsets": [pos, pos + len(blob)]}
        data += blob
        pos += len(blob)
    r = scan(raw_safetensors(tmp_path / "dtypes.safetensors", header, data))
    assert r.verdict == "incomplete" and raised(r) == []
