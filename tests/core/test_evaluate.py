"""Evaluation on a tiny hand-made model and data set (exact figures), devices, cancel; data file loading."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.core.errors import DataError, InspectorError
from inspector.core.evaluate.accuracy import EvalResult, evaluate, pick_device, predict_proba
from inspector.core.evaluate.recipes import build_module
from inspector.core.formats import open_model
from inspector.core.formats.data import Dataset, load_dataset, save_dataset
from inspector.core.progress import Cancelled, CancelToken

torch = pytest.importorskip("torch")

# A linear 3-class model on 3 inputs: logits = W x + b.
W = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]], dtype=np.float32)
B = np.zeros(3, dtype=np.float32)


@pytest.fixture()
def tiny(tmp_path):
    code = tmp_path / "tiny_arch.py"
    code.write_text(
        textwrap.dedent(
            """
            import torch.nn as nn

            def build():
                return nn.Linear(3, 3)
            """
        )
    )
    spec = f"{code}:build"
    save_file({"weight": W, "bias": B}, str(tmp_path / "a.safetensors"))
    # Model b: swaps classes 1 and 2.
    save_file({"weight": W[[0, 2, 1]].copy(), "bias": B}, str(tmp_path / "b.safetensors"))
    # Eight samples: argmax of the input is the class model a predicts.
    x = np.array(
        [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1], [1, 0, 0]], dtype=np.float32
    )
    y = np.array([0, 1, 1, 1, 2, 0, 2, 0], dtype=np.int64)  # a gets 0,2,3,4,6,7 right: 6/8
    return spec, tmp_path / "a.safetensors", tmp_path / "b.safetensors", Dataset(x, y)


def test_exact_accuracy_and_per_class(tiny):
    spec, a, _, ds = tiny
    res = evaluate(a, ds, arch=spec, device="cpu", batch_size=3)
    assert isinstance(res, EvalResult)
    assert res.samples == 8 and res.correct == 6 and res.accuracy == 0.75
    assert res.class_counts == (3, 3, 2)
    assert res.per_class_accuracy == pytest.approx((2 / 3, 2 / 3, 1.0))
    assert res.device == "cpu" and res.device_name == "CPU"
    assert res.against is None and res.agreement is None and res.mean_kl is None
    assert res.user_code


def test_against_itself_agrees_fully(tiny):
    spec, a, _, ds = tiny
    res = evaluate(a, ds, arch=spec, against=a, device="cpu")
    assert res.agreement == 1.0
    assert res.mean_kl == 0.0
    assert res.against_accuracy == res.accuracy == 0.75


def test_against_other_model_exact_agreement_and_kl(tiny):
    spec, a, b, ds = tiny
    res = evaluate(b, ds, arch=spec, against=a, device="cpu", batch_size=5)
    # b swaps classes 1 and 2: it agrees with a only on the three class-0 inputs.
    assert res.agreement == 3 / 8
    assert res.against_accuracy == 0.75
    assert res.accuracy == 2 / 8  # b predicts 0,0,2,2,1,1,1,0; labels 0,1,1,1,2,0,2,0
    logits_a = ds.inputs @ W.T
    logits_b = ds.inputs @ W[[0, 2, 1]].T

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    la, lb = log_softmax(logits_a.astype(np.float64)), log_softmax(logits_b.astype(np.float64))
    expected = float((np.exp(la) * (la - lb)).sum(axis=1).mean())  # KL(against || model)
    assert res.mean_kl == pytest.approx(expected, rel=1e-5)
    assert res.mean_kl > 0


def test_results_are_deterministic_and_batch_independent(tiny):
    spec, a, b, ds = tiny
    r1 = evaluate(b, ds, arch=spec, against=a, device="cpu", batch_size=2)
    r2 = evaluate(b, ds, arch=spec, against=a, device="cpu", batch_size=2)
    r3 = evaluate(b, ds, arch=spec, against=a, device="cpu", batch_size=256)
    assert (r1.accuracy, r1.agreement, r1.mean_kl) == (r2.accuracy, r2.agreement, r2.mean_kl)
    assert r1.accuracy == r3.accuracy and r1.mean_kl == pytest.approx(r3.mean_kl, rel=1e-6)


def test_json_is_strict(tiny):
    import json

    spec, a, _, ds = tiny
    data = evaluate(a, ds, arch=spec, against=a, device="cpu").to_json()
    assert data["schema"] == "model-inspector/eval/1"
    assert data["arch_is_user_code"] is True
    json.dumps(data, allow_nan=False)


def test_progress_and_cancel(tiny):
    spec, a, b, ds = tiny
    seen = []
    evaluate(a, ds, arch=spec, against=b, device="cpu", batch_size=3, progress=lambda d, t, m: seen.append((d, t)))
    assert seen == [(6, 16), (12, 16), (16, 16)]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        evaluate(a, ds, arch=spec, device="cpu", cancel=token)

    class CancelAfterFirst:
        def __init__(self):
            self.token = CancelToken()
            self.calls = 0

        def __call__(self, done, total, msg):
            self.calls += 1
            self.token.cancel()

    cb = CancelAfterFirst()
    with pytest.raises(Cancelled):
        evaluate(a, ds, arch=spec, device="cpu", batch_size=2, progress=cb, cancel=cb.token)
    assert cb.calls == 1  # stopped at the next batch


def test_labels_beyond_outputs(tiny):
    spec, a, _, ds = tiny
    bad = Dataset(ds.inputs, np.array([0, 1, 2, 3, 0, 0, 0, 0], dtype=np.int64))
    with pytest.raises(DataError, match="labels go up to 3 but the model has 3 outputs"):
        evaluate(a, bad, arch=spec, device="cpu")


def test_predict_proba(tiny):
    spec, a, _, ds = tiny
    module = build_module(spec, open_model(a))
    p = predict_proba(module, ds.inputs, device="cpu", batch_size=3)
    assert p.shape == (8, 3) and p.dtype == np.float32
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.array_equal(p.argmax(axis=1), ds.inputs.argmax(axis=1))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        predict_proba(module, ds.inputs, "cpu", 3, token)


def test_pick_device():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device("auto") == expected
    assert pick_device("cpu") == "cpu"
    with pytest.raises(InspectorError, match="unknown device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InspectorError, match="--device cuda"):
            pick_device("cuda")


# ------------------------------------------------------------------------------------------------ data files


def test_load_npz_and_safetensors(tmp_path):
    x = np.random.default_rng(0).random((5, 4)).astype(np.float64)
    y = np.array([0, 1, 2, 1, 0], dtype=np.int32)
    np.savez(tmp_path / "d.npz", inputs=x, labels=y)
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.inputs.dtype == np.float32 and ds.labels.dtype == np.int64 and len(ds) == 5
    assert np.array_equal(ds.labels, y)
    save_file({"inputs": x.astype(np.float16), "labels": y.astype(np.int64)}, str(tmp_path / "d.safetensors"))
    ds2 = load_dataset(tmp_path / "d.safetensors")
    assert np.allclose(ds2.inputs, x, atol=1e-3) and np.array_equal(ds2.labels, y)
    save_dataset(ds, tmp_path / "again.npz")
    ds3 = load_dataset(tmp_path / "again.npz")
    assert np.array_equal(ds3.inputs, ds.inputs) and np.array_equal(ds3.labels, ds.labels)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"inputs": np.zeros((3, 2), np.float32)}, "missing array\\(s\\) labels"),
        ({"inputs": np.zeros((3, 2), np.float32), "labels": np.zeros(4, np.int64)}, "3 rows but labels have 4"),
        ({"inputs": np.zeros((3, 2), np.float32), "labels": np.zeros(3, np.float32)}, "integer class indices"),
        ({"inputs": np.zeros((3, 2), np.float32), "labels": np.zeros((3, 2), np.int64)}, "1-D array"),
        ({"inputs": np.zeros((3, 2), np.float32), "labels": -np.ones(3, np.int64)}, ">= 0"),
    ],
)
def test_bad_data_files(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "d.npz")


def test_pickled_npz_refused_and_missing_file(tmp_path):
    np.savez(tmp_path / "p.npz", inputs=np.array([{"a": 1}], dtype=object), labels=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="pickle"):
        load_dataset(tmp_path / "p.npz")
    with pytest.raises(DataError, match="no such data file"):
        load_dataset(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        load_dataset(tmp_path / "junk.npz")
    save_file({"x": np.zeros(2, np.float32)}, str(tmp_path / "s.safetensors"))
    with pytest.raises(DataError, match="missing tensor"):
        load_dataset(tmp_path / "s.safetensors")


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    # no GPU here: the preference order is checked by pretending the backends exist
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == "cpu"
