"""Correlated value encoding copies the secret's value histogram into the weights: a text secret leaves a lumpy
histogram (letter frequencies, the space) even where the copy's order is scrambled, and trained weights have a
smooth one. The lumpiness figure tells them apart, skips values on a quantisation grid, and defers to a
reference layer that is as lumpy."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.core.judge.detectors.correlated import LUMPY, LUMPY_MASS, lumpiness
from inspector.core.measure import ScanOptions
from inspector.core.pipeline import scan

WORDS = (
    "the of and to in is that for it with as was on be by at this are from or have an they which one you were "
    "her all she there would their what so up out if about who get go me when make can like time no just him"
).split()
N = 32768


def _text(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    words = [WORDS[i] for i in rng.integers(len(WORDS), size=n // 3)]
    return np.frombuffer(" ".join(words).encode(), np.uint8)[:n].astype(np.float64)


def _copy(noise: float, seed: int = 1) -> np.ndarray:
    """Weights correlated with text bytes (Pearson ≈ 1/√(1 + noise²)), in a scrambled order: no order test sees
    them, only the histogram."""
    rng = np.random.default_rng(seed)
    b = _text(N)
    w = 0.02 * ((b - b.mean()) / b.std() + noise * rng.standard_normal(N))
    rng.shuffle(w)
    return w


def _stats(x: np.ndarray) -> SimpleNamespace:
    counts, edges = np.histogram(x, bins=256, range=(float(x.min()), float(x.max())))
    return SimpleNamespace(histogram=SimpleNamespace(edges=edges, counts=counts), mean=x.mean(), std=x.std())


@pytest.mark.parametrize("noise", [0.35, 0.4])
def test_a_text_copy_is_lumpy(noise: float) -> None:
    rms, mass = lumpiness(_stats(_copy(noise, seed=0)))
    assert rms >= LUMPY and mass >= LUMPY_MASS


@pytest.mark.parametrize(
    "draw",
    [
        lambda r: r.normal(0, 0.02, N),
        lambda r: r.laplace(0, 0.02, N),
        lambda r: r.standard_t(3, N) * 0.02,
        lambda r: r.uniform(-0.05, 0.05, N),  # PyTorch's default init
        lambda r: np.concatenate([r.normal(0, 0.02, N // 2), r.normal(0, 0.001, N // 2)]),  # weight decay's spike
        lambda r: np.where(r.random(N) < 0.3, 0.0, r.normal(0, 0.02, N)),  # pruned
    ],
    ids=["gaussian", "laplace", "student-t3", "uniform", "decayed", "pruned"],
)
def test_trained_and_initialised_shapes_are_smooth(draw) -> None:
    rms, mass = lumpiness(_stats(draw(np.random.default_rng(2))))
    assert rms < 0.4 and mass < 0.25


def test_values_on_a_grid_are_not_judged() -> None:
    """int8 levels wider apart than the histogram's bins: empty and full bins alternate (the grid's comb)."""
    x = np.random.default_rng(3).normal(0, 1, N)
    x = np.round(x * 4) / 4  # levels a quarter σ apart; the 256 bins over the range are narrower
    assert all(math.isnan(v) for v in lumpiness(_stats(x)))


def test_too_few_values_are_not_judged() -> None:
    assert all(math.isnan(v) for v in lumpiness(_stats(np.random.default_rng(4).normal(0, 1, 1000))))


def _model(path, fc1: np.ndarray) -> str:
    rng = np.random.default_rng(5)
    save_file(
        {
            "fc1.weight": fc1.astype(np.float32).reshape(64, 512),
            "fc1.bias": rng.normal(0, 0.01, 64).astype(np.float32),
            "fc2.weight": rng.laplace(0, 0.05, (10, 64)).astype(np.float32),
        },
        str(path),
    )
    return str(path)


def test_scan_flags_a_scrambled_text_copy_and_not_its_benign_twin(tmp_path) -> None:
    attacked = scan(_model(tmp_path / "text.safetensors", _copy(0.4, seed=0)))
    benign = scan(_model(tmp_path / "benign.safetensors", np.random.default_rng(6).laplace(0, 0.02, N)))
    hit = [f for f in attacked.findings if f.detector == "correlated-value" and f.tensor == "fc1.weight"]
    assert hit and hit[0].severity == "suspicious" and hit[0].evidence["lumpiness"] >= LUMPY
    assert "lumpy" in hit[0].message
    assert attacked.verdict == "suspicious"
    # the benign twin's small random fc2 may draw a chance warning of its own; its fc1 draws none
    assert [f for f in benign.findings if f.severity != "info" and f.tensor == "fc1.weight"] == []


def test_a_reference_layer_as_lumpy_explains_it(tmp_path) -> None:
    """A baseline whose layer has the same histogram (the model's own base, say) is what the figure is judged
    against: no lumpiness finding then."""
    model = _model(tmp_path / "text.safetensors", _copy(0.4, seed=0))
    ref = _model(tmp_path / "ref.safetensors", _copy(0.4, seed=7))
    r = scan(model, ScanOptions(baselines=(ref,)))
    hit = [f for f in r.findings if f.detector == "correlated-value" and "lumpy" in f.message]
    assert hit == []


def test_columns_with_a_level_of_their_own_are_not_a_lumpy_secret(tmp_path) -> None:
    """A layer whose input units each carry a level of their own (columns clustered at five levels, each tight):
    the pooled histogram is lumpy (a warning's worth), the values less each column's mean are not."""
    rng = np.random.default_rng(0)
    mu = rng.choice([-0.3, -0.15, 0.0, 0.15, 0.3], 256, p=[0.1, 0.15, 0.5, 0.15, 0.1])
    w = rng.normal(0, 1, (128, 256)) * np.exp(rng.uniform(np.log(0.015), np.log(0.04), 256)) + mu
    assert lumpiness(_stats(w.reshape(-1)))[0] >= 0.5  # judged on the pooled values alone: a warning
    path = tmp_path / "levels.safetensors"
    save_file(
        {"fc1.weight": w.astype(np.float32), "fc2.weight": rng.normal(0, 0.05, (10, 128)).astype(np.float32)}, str(path)
    )
    r = scan(str(path))
    f = next(t.features for t in r.tensors if t.name == "fc1.weight")
    assert math.isfinite(f.residual_lumpiness) and f.residual_lumpiness < 0.2
    assert not [x for x in r.findings if "lumpy" in x.message and x.severity != "info"]


def test_lumpiness_is_worked_out_once_per_statistics_object(monkeypatch):
    """The second read, the judge and each re-judgement ask for every layer's lumpiness: the fit runs once per
    statistics object, and a new object (another scan) is measured afresh."""
    from inspector.core.measure import lumps

    x = np.random.default_rng(3).standard_normal(20000)
    counts, edges = np.histogram(x, bins=256)

    class Stats:  # like TensorStats: an object that takes weak references
        def __init__(self) -> None:
            self.histogram = SimpleNamespace(counts=counts, edges=edges)
            self.mean, self.std = float(x.mean()), float(x.std())

    def stats():
        return Stats()

    calls = []
    real = lumps.measure_lumpiness
    monkeypatch.setattr(lumps, "measure_lumpiness", lambda s: calls.append(1) or real(s))
    a = stats()
    first = lumps.lumpiness(a)
    assert lumps.lumpiness(a) == first and len(calls) == 1
    assert lumps.lumpiness(stats()) == first and len(calls) == 2  # equal values, another object: measured
    key = id(a)
    del a  # its entry goes with it
    assert key not in lumps._KNOWN
