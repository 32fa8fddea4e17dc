"""A payload written far into a big tensor is found: every element is measured, and the least uniform low-byte
window is judged on its own (a payload diluted in the whole tensor's low byte still shows there in full)."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.core.pipeline import scan

N = 16 << 20  # 16M fp32 elements (64 MB)
START, STOP = 4 << 20, 6 << 20


def _weights() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.02, N).astype(np.float32).reshape(4096, 4096)


def _digit_bytes(n: int) -> np.ndarray:
    """Digit-like image bytes: mostly background 0, strokes at a few grey levels (as the lab's payloads are)."""
    rng = np.random.default_rng(1)
    img = np.zeros((n // 64, 8, 8), dtype=np.uint8)
    img[:, 1:7, 3] = rng.choice([128, 192, 255], (n // 64, 6))
    img[:, 4, 2:6] = rng.choice([64, 255], (n // 64, 4))
    return img.reshape(-1)[:n]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("window")
    benign = _weights()
    attacked = benign.copy()
    u = attacked.reshape(-1).view(np.uint32)
    hi, lo = _digit_bytes(STOP - START), _digit_bytes(STOP - START)[::-1]
    u[START:STOP] = (u[START:STOP] & ~np.uint32(0xFFFF)) | (hi.astype(np.uint32) << 8) | lo
    save_file({"big.weight": benign}, str(d / "benign.safetensors"))
    save_file({"big.weight": attacked}, str(d / "attacked.safetensors"))
    return d / "benign.safetensors", d / "attacked.safetensors"


def test_payload_past_element_4m_is_flagged_where_it_lies(files):
    _, attacked = files
    r = scan(attacked)
    f = next(f for f in r.findings if f.detector == "lsb-bitplanes")
    assert r.verdict == "suspicious" and f.severity == "suspicious"
    assert START <= f.evidence["window_start"] < STOP
    assert {s.family: s.status for s in r.families}["lsb"] == "detected"


def test_the_same_big_benign_tensor_draws_no_warning(files):
    benign, _ = files
    r = scan(benign)
    assert [f for f in r.findings if f.severity != "info"] == []
    assert r.verdict == "incomplete"  # nothing probed capacity abuse: never called clean


@pytest.mark.parametrize("at", [0, 300_000])
def test_a_float16_low_byte_payload_is_found_at_the_start_and_further_in(tmp_path, at) -> None:
    """float16 values repeat by rounding alone (80% of 65,536 draws), and a payload at the start makes them repeat
    more: neither may switch the low-byte windows off."""
    w = np.random.default_rng(2).normal(0, 0.05, (1024, 1024)).astype(np.float16)
    payload = _digit_bytes(19_200)
    u = w.reshape(-1).view(np.uint16)
    u[at : at + payload.size] = (u[at : at + payload.size] & np.uint16(0xFF00)) | payload
    save_file({"fc.weight": w}, str(tmp_path / "m.safetensors"))
    res = scan(tmp_path / "m.safetensors")
    lsb = [f for f in res.findings if f.attack == "lsb" and f.severity == "suspicious"]
    assert lsb and at <= lsb[0].evidence["window_start"] < at + payload.size


def test_float16_weights_decayed_towards_zero_are_not_flagged(tmp_path) -> None:
    """Subnormal float16 values (|x| < 6.1e-5) have a low byte that is their value, not rounding noise: a layer
    with many of them (strong weight decay, pruning residue) must not look like a payload."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.05, (512, 512))
    w[200:216] *= rng.choice([1e-5, 1e-4], (16, 512))  # a few dead units, decayed to tiny values
    save_file({"fc.weight": w.astype(np.float16)}, str(tmp_path / "m.safetensors"))
    res = scan(tmp_path / "m.safetensors")
    assert not [f for f in res.findings if f.attack == "lsb" and f.severity != "info"]


def test_a_text_payload_that_makes_the_tensor_repeat_values_is_still_judged_by_its_window(tmp_path) -> None:
    """Text in the low 16 bits of the first 40% of a layer: its byte pairs recur, so whole values recur (more
    than 1% of them), which switches the window test off for tensors that repeat values. The window's own values
    are nearly all distinct, so the window test stays on; a layer of repeated rows is left to its distinct
    values as before."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.02, (256, 1024)).astype(np.float32)
    text = np.frombuffer(b"the model remembers the training data in the low bits of its weights. " * 3000, np.uint8)
    n = int(w.size * 0.4)
    pairs = text[: 2 * n].reshape(n, 2).astype(np.uint32)
    u = w.reshape(-1).view(np.uint32)
    u[:n] = (u[:n] & ~np.uint32(0xFFFF)) | (pairs[:, 0] << 8) | pairs[:, 1]
    save_file({"fc.weight": w}, str(tmp_path / "text.safetensors"))
    r = scan(tmp_path / "text.safetensors")
    f = r.tensors[0].features
    assert f.duplicates >= 0.01 and f.window_distinct >= 0.9
    hit = [x for x in r.findings if x.detector == "lsb-bitplanes" and x.severity == "suspicious"]
    assert hit and hit[0].evidence["window_start"] < n


def test_a_layer_of_repeated_rows_keeps_its_window_test_off(tmp_path) -> None:
    rng = np.random.default_rng(4)
    row = rng.normal(0, 0.02, 512).astype(np.float32)
    w = np.tile(row, (64, 1))  # one row copied 64 times (untrained rows of a table)
    w[::2] = rng.normal(0, 0.02, (32, 512))
    save_file({"emb.weight": w}, str(tmp_path / "rows.safetensors"))
    r = scan(tmp_path / "rows.safetensors")
    assert not [x for x in r.findings if x.detector == "lsb-bitplanes" and x.severity != "info"]


def _one_value_run(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` weights held at one value by the same few optimizer steps (inputs that never fire): about −3.0e-4,
    apart by a few even multiples of a small step, so that their low bytes follow those steps, not rounding."""
    return np.float32(-3.0e-4) + np.float32(2.0**-33) * (2 * rng.integers(0, 40, n)).astype(np.float32)


def test_a_window_that_is_mostly_one_value_draws_a_warning_not_a_verdict(tmp_path) -> None:
    """A ported regression model's dense layer: 61% of one 512-byte window's values within 0.25% of −3.0e-4 (its
    low bytes 6.4 bits of entropy, the layer's other windows ≈ 7.6). Its low bytes are those values' history,
    not a payload: the window is still named, as a warning."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.03, (128, 1948)).astype(np.float32)
    row = w[51]
    dead = np.flatnonzero(rng.random(1948) < 0.62)  # most of the row's inputs never fire
    row[dead] = _one_value_run(dead.size, rng)
    save_file({"fc.weight": w}, str(tmp_path / "m.safetensors"))
    res = scan(tmp_path / "m.safetensors")
    lsb = [f for f in res.findings if f.detector == "lsb-bitplanes" and f.severity != "info"]
    assert lsb and all(f.severity == "warning" for f in lsb)
    assert lsb[0].evidence["window_cluster"] > 0.5 and "one value" in lsb[0].message
    assert res.verdict != "suspicious"


def test_a_payload_in_the_low_bytes_of_spread_values_is_not_taken_for_one_value(tmp_path) -> None:
    """The same layer with a payload written into one row's low bytes instead: its values are spread (no share of
    them is one value), so the window is judged as it is."""
    w = np.random.default_rng(5).normal(0, 0.03, (128, 1948)).astype(np.float32)
    u = w.reshape(-1).view(np.uint32)
    at, n = 51 * 1948, 1920
    u[at : at + n] = (u[at : at + n] & ~np.uint32(0xFF)) | _digit_bytes(n)
    save_file({"fc.weight": w}, str(tmp_path / "m.safetensors"))
    res = scan(tmp_path / "m.safetensors")
    f = next(f for f in res.findings if f.detector == "lsb-bitplanes")
    assert f.severity == "suspicious" and f.evidence["window_cluster"] < 0.1
