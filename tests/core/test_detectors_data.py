"""Data-aware detectors (--train-sample) and the capacity-abuse probe (--arch, --data) with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.formats.data import Dataset, save_dataset
from inspector.core.judge.detectors import capacity
from inspector.core.judge.detectors.data_aware import image_bytes, layouts_of
from inspector.core.pipeline import ScanOptions, scan
from tests.core.test_detectors import gaussian


def images(n, seed):
    """Grey-level images (17 levels in [0, 1]) with dark borders and busy middles, like handwritten digits."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 8, 8))
    x[:, 1:7, 1:7] = rng.integers(0, 17, (n, 6, 6)) / 16
    return x.reshape(n, 64).astype(np.float32)


PIX = images(120, seed=7)


@pytest.fixture
def train_sample(tmp_path):
    p = tmp_path / "train.npz"
    save_dataset(Dataset(PIX.copy(), np.arange(len(PIX), dtype=np.int64) % 10), p)
    return p


def two_layer(make_model, fc1, name="m.safetensors"):
    return make_model(
        {
            "fc1.weight": fc1,
            "fc1.bias": gaussian(128, 3, 0.01),
            "fc2.weight": gaussian((10, 128), 2, 0.1),
            "fc2.bias": gaussian(10, 4, 0.01),
        },
        name=name,
    )


def data_findings(result, attack=None):
    return [f for f in result.findings if f.detector == "data-aware" and (attack is None or f.attack == attack)]


def test_gaussian_weights_match_no_training_image(make_model, train_sample):
    r = scan(two_layer(make_model, gaussian((128, 64))), ScanOptions(train_sample=str(train_sample)))
    assert r.verdict == "incomplete"
    found = {f.attack: f for f in data_findings(r)}
    assert set(found) == {"correlated-value", "sign", "lsb"}
    assert all(f.severity == "info" for f in found.values())
    assert found["lsb"].evidence["hits"] == 0
    assert found["correlated-value"].evidence["median_best_r"] < 0.6


def test_weights_that_copy_training_images_are_found_with_the_image_index(make_model, train_sample):
    px = PIX[:128].reshape(-1)  # images 0..119 then wrap: θ = affine(pixels) + noise
    theta = np.resize(px, 128 * 64)
    theta = 0.05 * (theta - theta.mean()) / theta.std()
    theta += np.random.default_rng(0).normal(0, 0.01, theta.size)
    r = scan(
        two_layer(make_model, theta.reshape(128, 64).astype(np.float32)), ScanOptions(train_sample=str(train_sample))
    )
    f = data_findings(r, "correlated-value")[0]
    assert f.severity == "suspicious" and f.evidence["matched"] >= 128  # every window of fc1
    assert {t["image"] for t in f.evidence["top"]} <= set(range(120))
    best = f.evidence["top"][0]
    assert best["image"] == (best["offset"] // 64) % 120 and best["r"] > 0.95


def test_signs_that_spell_training_bits_are_found(make_model, train_sample):
    bits = np.unpackbits(image_bytes(PIX[:16]).reshape(-1))[: 128 * 64]
    g = np.abs(gaussian((128, 64))).reshape(-1) * np.where(bits, 1, -1)
    r = scan(two_layer(make_model, g.reshape(128, 64).astype(np.float32)), ScanOptions(train_sample=str(train_sample)))
    f = data_findings(r, "sign")[0]
    assert f.severity == "suspicious" and f.evidence["median_best_agreement"] == pytest.approx(1.0)


def test_training_bytes_in_the_low_bits_are_found_with_their_bit_count(make_model, train_sample):
    w = gaussian((128, 64))
    payload = image_bytes(PIX).reshape(-1)
    u = w.reshape(-1).view(np.uint32)
    # 12 bits per weight, most significant first, as the lab's embed_lsb writes them
    stream = np.unpackbits(payload)[: (u.size * 12) // 12 * 12]
    words = stream[: (stream.size // 12) * 12].reshape(-1, 12) @ (1 << np.arange(11, -1, -1))
    u[: words.size] = (u[: words.size] & ~np.uint32(0xFFF)) | words.astype(np.uint32)
    r = scan(two_layer(make_model, w), ScanOptions(train_sample=str(train_sample)))
    f = data_findings(r, "lsb")[0]
    assert f.severity == "suspicious" and f.evidence["low_bits"] == 12 and f.evidence["hits"] > 100


def test_layouts_cover_row_and_column_major():
    lay = layouts_of(Dataset(PIX.reshape(-1, 1, 8, 8).copy(), np.zeros(len(PIX), dtype=np.int64)))
    assert lay.names == ("row-major", "column-major") and lay.pixels == 64
    assert np.array_equal(lay.vectors[1][0].reshape(8, 8), PIX[0].reshape(8, 8).T)
    assert image_bytes(np.array([[0.0, 0.5, 1.0]])).tolist() == [[0, 128, 255]]
    assert image_bytes(np.array([[0.0, 8.0, 16.0]])).tolist() == [[0, 128, 255]]  # 0..16 grey levels


# ---------------------------------------------------------------------------------------------------- capacity


@pytest.fixture
def digits_mlp(make_model):
    """Two digits-mlp files (the registered recipe) with random weights, and evaluation data."""
    pytest.importorskip("torch")

    def make(seed, name):
        rng = np.random.default_rng(seed)
        return make_model(
            {
                "fc1.weight": rng.normal(0, 0.2, (128, 64)).astype(np.float32),
                "fc1.bias": rng.normal(0, 0.1, 128).astype(np.float32),
                "fc2.weight": rng.normal(0, 0.2, (10, 128)).astype(np.float32),
                "fc2.bias": rng.normal(0, 0.1, 10).astype(np.float32),
            },
            name=name,
            metadata={"inspector.lab.recipe": "digits-mlp"},
        )

    return make


def test_capacity_probe_against_an_identical_baseline_sees_no_shift(digits_mlp, tmp_path):
    m = digits_mlp(0, "a.safetensors")
    twin = digits_mlp(0, "b.safetensors")
    data = tmp_path / "eval.npz"
    save_dataset(Dataset(PIX.copy(), np.arange(len(PIX), dtype=np.int64) % 10), data)
    r = scan(m, ScanOptions(data=str(data), baselines=(str(twin),)))
    f = [x for x in r.findings if x.detector == "capacity-probe"][0]
    assert f.severity == "info" and f.score == 0.0
    for fam in ("uniform noise", "sparse high values", "PRNG images"):
        assert f.evidence[fam] == {"entropy_shift": 0.0, "confidence_shift": 0.0}
    assert any(c.startswith("capacity abuse") for c in r.checked)
    assert not any("was not probed" in line for line in r.limits)


def test_capacity_is_listed_as_not_ruled_out_without_data(digits_mlp):
    r = scan(digits_mlp(0, "a.safetensors"))
    assert any("Capacity abuse" in line and "not probed" in line for line in r.limits)


def test_capacity_comparison_flags_a_model_whose_noise_answers_moved():
    own = capacity.Behaviour(
        {"uniform noise": 0.7, "sparse high values": 3.0, "PRNG images": 0.8, "real data": 3.3},
        {"uniform noise": 0.55, "sparse high values": 0.4, "PRNG images": 0.55, "real data": 0.95},
        {},
    )
    ref = capacity.Behaviour(
        {"uniform noise": 2.1, "sparse high values": 3.1, "PRNG images": 2.2, "real data": 3.3},
        {"uniform noise": 0.8, "sparse high values": 0.4, "PRNG images": 0.8, "real data": 0.97},
        {},
    )
    excess, msg, ev = capacity._compare(own, ref, "baseline b")
    # the second-strongest family (PRNG images), capped below weight-level evidence
    assert excess == pytest.approx(min(1.4 / 0.8, 0.25 / 0.12, capacity.MAX_EXCESS))
    assert "entropy 0.70 bits" in msg and "baseline b: 2.10 bits" in msg
    same, _, _ = capacity._compare(ref, ref, "b")
    assert same <= 0.0


def test_label_alphabet_known_answers():
    real = [36] * 10  # real data uses every class
    cap = capacity.Behaviour(
        {},
        {},
        {
            "uniform noise": [900, 50, 40, 10, 0, 0, 0, 0, 0, 0],
            "PRNG images": [800, 100, 60, 38, 0, 0, 0, 2, 0, 0],
            "real data": real,
        },
    )
    e, msg, ev = capacity.alphabet(cap)
    assert ev["alphabet"] == 4 and ev["noise_outside"] == pytest.approx(2 / 2000)
    assert e == pytest.approx(min(capacity.MAX_EXCESS, (0.05 - 2 / 2000) / 0.04))
    assert "classes 0–3 only" in msg and "2 bits per query" in msg
    benign = capacity.Behaviour(
        {},
        {},
        {"uniform noise": [10, 100, 80, 500, 300, 60, 40, 600, 170, 140], "PRNG images": [20] * 10, "real data": real},
    )
    assert capacity.alphabet(benign)[0] == 0.0
    # collapsing onto one class is not an alphabet: every alphabet class must be used
    collapsed = capacity.Behaviour(
        {}, {}, {"uniform noise": [1000] + [0] * 9, "PRNG images": [1000] + [0] * 9, "real data": real}
    )
    assert capacity.alphabet(collapsed)[0] == 0.0
