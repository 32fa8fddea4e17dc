"""A quick lab build (through the CLI): files, metadata, manifest, and proofs that every secret comes back out."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from inspector.cli import main
from inspector.core.errors import DataError, InspectorError
from inspector.core.evaluate.accuracy import evaluate
from inspector.core.formats import open_model
from inspector.core.formats.data import load_dataset
from inspector.lab import codec, decoders

pytest.importorskip("torch")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "zoo"
    assert main(["lab", "build", "--quick", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    return out, manifest, {e["file"]: e for e in manifest["models"]}


def test_files_and_manifest(zoo, capsys):
    out, manifest, models = zoo
    assert manifest["schema"] == "model-inspector/lab-manifest/1" and manifest["plan"] == "quick"
    assert {p.name for p in out.iterdir()} == set(models) | {"manifest.json", "eval.npz", "train_sample.npz"}
    attacks = {e["attack"] for e in models.values()}
    assert attacks == {"none", "lsb", "correlated-value", "sign", "capacity-abuse"}
    assert {e["label"] for e in models.values()} == {"benign", "attack"}
    for name, e in models.items():
        meta = open_model(out / name).metadata
        assert meta["inspector.lab.label"] == e["label"]
        assert meta["inspector.lab.attack"] == e["attack"]
        assert meta["inspector.lab.variant"] == e["variant"]
        assert meta["inspector.lab.recipe"] == "digits-mlp"
        assert 0.9 <= e["test_accuracy"] <= 1.0, name
        if e["twin"]:
            assert e["twin_accuracy"] == models[e["twin"]]["test_accuracy"]
            assert meta["inspector.lab.twin"] == e["twin"]
    ev = load_dataset(out / "eval.npz")
    assert len(ev) == 360 and ev.inputs.shape == (360, 64) and ev.inputs.min() >= 0 and ev.inputs.max() <= 1
    assert np.bincount(ev.labels).min() >= 35  # stratified
    assert len(load_dataset(out / "train_sample.npz")) == 512


def test_proofs_show_the_secret_comes_back(zoo):
    _, _, models = zoo
    for e in models.values():
        p, c = e.get("proof"), e.get("control")
        if e["attack"] == "none":
            assert p is None
        elif e["attack"] == "lsb":
            assert p["bit_error_rate"] == 0.0 and p["exact"] and p["image_mae"] == 0.0
            assert 0.45 < c["bit_error_rate"] < 0.55
            assert e["test_accuracy"] >= e["twin_accuracy"] - 0.01
        elif e["attack"] == "correlated-value":
            assert abs(p["pearson_r"]) > 0.95 and p["image_mae"] < 0.12 and p["image_r"] > 0.9
            assert abs(c["pearson_r"]) < 0.2
        elif e["attack"] == "sign":
            assert p["correct_sign_fraction"] > 0.99 and p["image_mae"] < 0.02
            assert 0.4 < c["correct_sign_fraction"] < 0.6
        elif e["attack"] == "capacity-abuse":
            assert p["memorised_fraction"] > 0.95 and p["image_mae"] < 0.03
            assert c["memorised_fraction"] < 0.5


def test_decoding_with_only_what_the_attacker_knows(zoo):
    """The metadata an attacker would remember (bits, length, key) plus the data holder's training sample."""
    out, _, _ = zoo
    train = load_dataset(out / "train_sample.npz")
    model = open_model(out / "mlp-lsb-enc-b16.safetensors")
    m = model.metadata
    raw = decoders.decode_lsb(model, int(m["inspector.lab.lsb.bits"]), int(m["inspector.lab.lsb.payload_bytes"]))
    plain = codec.xor_with_key(raw, int(m["inspector.lab.lsb.key"]))
    n = int(m["inspector.lab.lsb.images"])
    assert plain == codec.image_bytes(train.inputs[:n])

    sgn = open_model(out / "mlp-sgn-l100.safetensors")
    n_bytes = int(sgn.metadata["inspector.lab.sgn.bytes"])
    got = decoders.decode_sign(sgn, n_bytes, sgn.metadata["inspector.lab.theta"].split(","))
    assert decoders.bit_error_rate(got, codec.image_bytes(train.inputs[: n_bytes // 64])) < 0.01

    cap = open_model(out / "mlp-cap-n5.safetensors")
    imgs = decoders.decode_capacity(cap, int(cap.metadata["inspector.lab.cap.key"]), 5)
    assert np.abs(imgs - train.inputs[:5]).mean() < 0.03


def test_eval_of_zoo_file_matches_manifest(zoo):
    out, _, models = zoo
    res = evaluate(
        out / "mlp-cor-l5.safetensors", out / "eval.npz", against=out / "mlp-benign-s0.safetensors", device="cpu"
    )
    assert res.arch == "digits-mlp" and res.device == "cpu"
    assert res.accuracy == pytest.approx(models["mlp-cor-l5.safetensors"]["test_accuracy"], abs=1e-6)
    assert res.against_accuracy == pytest.approx(models["mlp-benign-s0.safetensors"]["test_accuracy"], abs=1e-6)
    assert 0.9 < res.agreement < 1.0 and res.mean_kl > 0


def test_refuses_a_foreign_nonempty_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["lab", "build", "--quick", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_missing_scikit_learn_is_a_clear_error(monkeypatch):
    from inspector.lab.digits import load_digits_split

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError, match=r"pip install 'model-inspector\[lab\]'"):
        load_digits_split()


def test_training_is_reproducible():
    from inspector.lab.digits import load_digits_split
    from inspector.lab.train import TrainConfig, state_arrays, torch_threads, train

    data = load_digits_split().train.subset(slice(0, 256))
    cfg = TrainConfig("digits-mlp", seed=3, epochs=3)
    with torch_threads(1):
        a, b = state_arrays(train(cfg, data)), state_arrays(train(cfg, data))
        c = state_arrays(train(cfg.but(seed=4), data))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["fc1.weight"], c["fc1.weight"])


def test_unknown_plan():
    from inspector.lab.zoo import build_zoo

    with pytest.raises(InspectorError, match="unknown lab plan"):
        build_zoo("/nonexistent-dir-for-test", plan="huge")


def test_cancelled_build_leaves_nothing(tmp_path):
    from inspector.core.progress import Cancelled, CancelToken
    from inspector.lab.zoo import build_zoo

    token = CancelToken()
    seen = []

    def progress(done, total, message):
        seen.append((done, total))
        token.cancel()  # stop after the data files are written, before the first model

    with pytest.raises(Cancelled):
        build_zoo(tmp_path / "zoo", plan="quick", progress=progress, cancel=token)
    assert seen == [(0, 9)]
    assert list(tmp_path.iterdir()) == []  # no output folder, no temporary folder left behind
