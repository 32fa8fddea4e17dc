"""Partial sign payloads: the most outlying window of SIGN_WINDOW non-zero weights, measured in the streaming pass
and judged against the layer's other windows (issue 15: a payload filling a fraction of a layer is diluted in the
whole-layer sign excess)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.core.dtypes import DTYPES
from inspector.core.measure import features as feat
from inspector.core.measure.features import SIGN_WINDOW, Features
from inspector.core.pipeline import scan

from .test_detectors import gaussian, image_bytes, images, model, top


def partial_sign_payload(shape=(128, 64), at=0, n=SIGN_WINDOW, seed=0):
    """Gaussian weights whose signs over [at, at + n) are the bits of digit-like images, the disagreeing weights
    dragged to just across zero (what the hinge penalty does), the rest untouched."""
    g = gaussian(shape, seed).reshape(-1)
    bits = np.unpackbits(image_bytes(images(n // 512 + 1, seed=seed + 7)))[:n].astype(bool)
    s = np.where(bits, 1.0, -1.0)
    seg = g[at : at + n]
    wrong = np.sign(seg) != s
    seg[wrong] = s[wrong] * np.abs(seg[wrong]) * 0.02
    return g.reshape(shape).astype(np.float32)


def _acc(x: np.ndarray, chunk: int) -> feat.FeatureAcc:
    acc = feat.FeatureAcc()
    for i in range(0, x.size, chunk):
        acc.add(x[i : i + chunk], DTYPES["F32"])
    return acc


def test_window_excess_known_answer():
    rng = np.random.default_rng(3)
    v = rng.normal(size=SIGN_WINDOW)
    v[: SIGN_WINDOW // 2] = np.abs(v[: SIGN_WINDOW // 2])  # a run of positive signs: excess well above 0
    s = v > 0
    p = s.mean()
    sac = (np.count_nonzero(s[:-1] & s[1:]) / (v.size - 1) - p * p) / (p * (1 - p))
    m = v.mean()
    ac = (float(np.dot(v[:-1], v[1:])) / (v.size - 1) - m * m) / (float(np.dot(v, v)) / v.size - m * m)
    want = sac - 2 / math.pi * math.asin(ac)
    pp = int(np.count_nonzero(s[:-1] & s[1:]))
    got = feat.window_sign_excess(v.size, int(s.sum()), pp, v.sum(), (v * v).sum(), float(np.dot(v[:-1], v[1:])))
    assert got == pytest.approx(want, rel=1e-12) and got > 0.2
    assert math.isnan(feat.window_sign_excess(8, 8, 7, 1.0, 1.0, 1.0))  # one-signed: nothing to judge


@pytest.mark.parametrize("chunk", [777, 5000, 1 << 20])
def test_planted_window_is_found_where_it_lies_whatever_the_chunks(chunk):
    x = partial_sign_payload(at=3 * SIGN_WINDOW).reshape(-1)
    x[::97] = 0.0  # zeros are set aside: windows count non-zero values, their span counts elements
    acc = _acc(x, chunk)
    nz = np.flatnonzero(x)
    assert acc.sw_count == nz.size // SIGN_WINDOW
    # the fourth window of non-zero values holds most of the payload
    assert (acc.sw_best_start, acc.sw_best_stop) == (int(nz[3 * SIGN_WINDOW]), int(nz[4 * SIGN_WINDOW - 1]) + 1)
    others = acc.sw_count - 1
    mean = (acc.sw_sum - acc.sw_best) / others
    assert acc.sw_best > 0.25 and abs(mean) < 0.05


def test_window_fields_are_serialised(make_model):
    from inspector.core.measure.scan import measure

    m = measure(model(make_model, partial_sign_payload()))
    f = next(t.features for t in m.tensors if t.features is not None and t.features.name == "fc1.weight")
    assert f.sign_windows == 8 and (f.sign_window_start, f.sign_window_stop) == (0, SIGN_WINDOW)
    again = Features.from_json(f.to_json())
    assert again == f
    assert math.isfinite(f.sign_window_mean) and math.isfinite(f.sign_window_sd)


def test_window_finding_survives_the_scan_json_round_trip(make_model):
    import json

    from inspector.core.judge import judge
    from inspector.core.measure import Measurement

    path = model(make_model, partial_sign_payload(at=SIGN_WINDOW))
    first = scan(path)
    doc = json.loads(json.dumps(first.to_json()))
    path.unlink()
    m = Measurement.from_scan_json(doc)
    f = next(t.features for t in m.tensors if t.features is not None and t.features.name == "fc1.weight")
    assert (f.sign_window_start, f.sign_window_stop) == (SIGN_WINDOW, 2 * SIGN_WINDOW)
    again = judge(m, first.inputs)
    assert [x.to_json() for x in again.findings] == [x.to_json() for x in first.findings]
    assert top(first, "fc1.weight") is not None


def test_partial_sign_payload_is_suspicious_weights_only(make_model):
    r = scan(model(make_model, partial_sign_payload(at=2 * SIGN_WINDOW)))
    f = top(r, "fc1.weight")
    assert f is not None and f.attack == "sign" and f.detector == "sign-structure"
    assert (f.evidence["window_start"], f.evidence["window_stop"]) == (2 * SIGN_WINDOW, 3 * SIGN_WINDOW)
    assert "one stretch of 1,024 non-zero weights" in f.message
    # the whole layer's excess alone would not have flagged it
    assert f.evidence["sign_excess"] < 0.14


def test_gaussian_layers_and_computed_bases_raise_no_window_evidence(make_model):
    from inspector.core.measure.scan import measure

    n = np.arange(256)
    rows = [np.cos(2 * np.pi * k * n / 256) for k in range(129)] + [np.sin(2 * np.pi * k * n / 256) for k in range(129)]
    basis = np.stack(rows).reshape(258, 1, 256).astype(np.float32)  # an STFT's kernels: repeated computed values
    path = make_model({"stft.weight": basis, "fc.weight": gaussian((256, 64), 5)}, name="b.safetensors")
    f = next(t.features for t in measure(path).tensors if t.features is not None and t.features.name == "stft.weight")
    # its windows of smooth and alternating rows side by side stand far out from one another ...
    z = (
        (f.sign_window_excess - f.sign_window_mean)
        / max(0.04, f.sign_window_sd)
        / math.sqrt(2 * math.log(f.sign_windows) + 1)
    )
    assert z > 2.0 and feat.repeats(f.duplicates, f.dtype)
    # ... but its values repeat: not trained weights, no window evidence
    r = scan(path)
    assert not [f for f in r.findings if f.detector == "sign-structure" and f.severity != "info"]
