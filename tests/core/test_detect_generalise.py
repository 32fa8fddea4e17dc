"""Detectors for secrets that are not images and for partial payloads, with known answers: correlated values in a
layer whose inputs have no order (hidden units), sign patterns with the period of 2-byte words (float16 records),
and a sign payload that fills a single window of θ (data-aware)."""

from __future__ import annotations

import numpy as np

from inspector.core.formats.data import Dataset, save_dataset
from inspector.core.pipeline import ScanOptions, scan
from tests.core.test_detectors import gaussian, model
from tests.core.test_detectors_data import PIX, data_findings, two_layer


def ascii_records(n: int, seed: int = 0) -> np.ndarray:
    """``n`` bytes of ASCII records (names in capitals, digits, separators), as a leaked table would read."""
    rng = np.random.default_rng(seed)
    names = ("ANNA", "BEN", "GRACE", "HUGO", "SMITH", "ROSSI", "NOVAK")
    out = b""
    i = 0
    while len(out) < n:
        card = " ".join(f"{int(x):04d}" for x in rng.integers(0, 10000, 4))
        out += f"id={i:04d};name={names[rng.integers(len(names))]};card={card}\n".encode("ascii")
        i += 1
    return np.frombuffer(out[:n], dtype=np.uint8)


def text_copy(shape, seed=0, noise=0.5) -> np.ndarray:
    """Weights that are an affine image of text bytes plus noise (correlated value encoding of text)."""
    b = ascii_records(int(np.prod(shape)), seed).astype(np.float64)
    z = (b - b.mean()) / b.std() + np.random.default_rng(seed).normal(0, noise, b.size)
    return (0.05 * z).reshape(shape).astype(np.float32)


def correlated_findings(result, tensor):
    return [f for f in result.findings if f.detector == "correlated-value" and f.tensor == tensor]


def test_text_copied_into_a_hidden_layer_fires_on_its_neighbour_correlation(make_model):
    r = scan(model(make_model, gaussian((128, 64)), fc2=text_copy((32, 128))))
    (f,) = correlated_findings(r, "fc2.weight")
    assert f.severity == "suspicious" and f.evidence["exchangeable_inputs"] is True
    assert f.evidence["autocorr"] > 0.2 and "no order" in f.message
    # the same figure on i.i.d. weights of that layer stays below a warning
    quiet = scan(model(make_model, gaussian((128, 64))))
    assert all(f.severity == "info" for f in correlated_findings(quiet, "fc2.weight"))


def test_the_first_layer_reads_ordered_data_and_is_not_judged_by_that_rule(make_model):
    # a first layer over image pixels correlates along its rows by nature: the hidden-unit rule must not apply
    smooth = np.cumsum(gaussian((128, 64), 5), axis=1).astype(np.float32)
    r = scan(model(make_model, smooth))
    assert all("exchangeable_inputs" not in f.evidence for f in correlated_findings(r, "fc1.weight"))


def test_embedding_rows_are_exchangeable_dimensions(make_model):
    path = make_model(
        {"embed.weight": text_copy((1024, 16), seed=1), "fc.weight": gaussian((10, 16), 2), "fc.bias": gaussian(10, 3)},
        name="e.safetensors",
    )
    (f,) = correlated_findings(scan(path), "embed.weight")
    assert f.severity == "suspicious" and f.evidence["exchangeable_inputs"] is True


def test_signs_repeating_every_two_bytes_fire(make_model):
    # float16 records: every 16th sign is a value's sign bit, then five exponent bits that barely change
    rows = np.random.default_rng(0).normal(0, 1, (300, 30)).astype("<f2")
    bits = np.unpackbits(np.frombuffer(rows.tobytes(), dtype=np.uint8))[: 128 * 64]
    w = np.abs(gaussian((128, 64))).reshape(-1) * np.where(bits, 1.0, -1.0)
    r = scan(model(make_model, w.reshape(128, 64).astype(np.float32)))
    f = next(f for f in r.findings if f.detector == "sign-structure" and f.tensor == "fc1.weight")
    assert (
        f.severity == "suspicious" and "2-byte word" in f.message and f.evidence["sign_periodic"] > 0.35
    )  # period 8 alone: 0.26


def test_one_image_in_the_signs_of_one_window_is_decisive_with_a_training_sample(make_model, tmp_path):
    sample = tmp_path / "train.npz"
    save_dataset(Dataset(PIX.copy(), np.arange(len(PIX), dtype=np.int64) % 10), sample)
    g = gaussian((128, 64)).reshape(-1)
    bits = np.unpackbits(np.rint(PIX[5] * 255).astype(np.uint8))  # 512 bits: one window of θ
    g[:512] = np.abs(g[:512]) * np.where(bits, 1.0, -1.0)
    r = scan(two_layer(make_model, g.reshape(128, 64).astype(np.float32)), ScanOptions(train_sample=str(sample)))
    f = data_findings(r, "sign")[0]
    assert f.severity == "suspicious" and f.evidence["matched"] < 3  # too few windows for the share test
    assert f.evidence["best_kappa"] > 0.95 and f.evidence["best_kappa_offset"] == 0
    assert f.evidence["best_kappa_image"] == 5
    clean = scan(two_layer(make_model, gaussian((128, 64))), ScanOptions(train_sample=str(sample)))
    f = data_findings(clean, "sign")[0]
    assert f.severity == "info" and f.evidence["best_kappa"] < 0.5


def test_a_bfloat16_model_says_why_its_low_bits_cannot_be_ruled_out(tmp_path):
    from inspector.lab.files import write_safetensors
    from inspector.lab.variants import bf16_storage

    p = tmp_path / "bf16.safetensors"
    write_safetensors(p, bf16_storage({"fc1.weight": gaussian((128, 64)), "fc2.weight": gaussian((32, 128), 2)}), {})
    st = {f.family: f for f in scan(p).families}
    assert st["lsb"].status == "cannot-rule-out" and "mantissa under 8 bits" in st["lsb"].text
    with_sample = tmp_path / "train.npz"
    save_dataset(Dataset(PIX.copy(), np.arange(len(PIX), dtype=np.int64) % 10), with_sample)
    st = {f.family: f for f in scan(p, ScanOptions(train_sample=str(with_sample))).families}
    assert st["lsb"].status != "cannot-rule-out"  # the training bytes were searched in the low bits


def test_value_correlation_that_echoes_written_signs_is_left_to_the_sign_test(make_model):
    from tests.core.test_detectors import image_bytes, images

    # as the hinge penalty leaves them: weights of the wrong sign dragged across zero (to 0.3 of their size)
    bits = np.where(np.unpackbits(image_bytes(images(80)))[: 32 * 128], 1.0, -1.0)
    w = gaussian((32, 128), 2, 0.1).reshape(-1)
    wrong = np.sign(w) != bits
    w[wrong] = bits[wrong] * np.abs(w[wrong]) * 0.3
    r = scan(model(make_model, gaussian((128, 64)), fc2=w.reshape(32, 128).astype(np.float32)))
    (f,) = correlated_findings(r, "fc2.weight")
    assert f.evidence["autocorr"] > 0.15 and f.severity != "suspicious" and "follows the signs" in f.message
    sign = next(f for f in r.findings if f.detector == "sign-structure" and f.tensor == "fc2.weight")
    assert sign.severity == "suspicious" and sign.attack == "sign"
