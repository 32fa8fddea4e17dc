"""The committed demo zoo (resources/demo): complete, small, proven, and readable without torch or scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inspector.core.resources import resource_path

DEMO = resource_path("demo")


@pytest.fixture(scope="module")
def manifest():
    return json.loads((DEMO / "manifest.json").read_text())


def test_demo_is_complete_and_small(manifest):
    names = {e["file"] for e in manifest["models"]}
    assert {e["attack"] for e in manifest["models"]} == {"none", "lsb", "correlated-value", "sign", "capacity-abuse"}
    expected = names | {"eval.npz", "train_sample.npz", "manifest.json", "README.md"}
    assert {p.name for p in DEMO.iterdir()} == expected
    total = sum((DEMO / n).stat().st_size for n in expected)
    assert total < 400_000
    readme = (DEMO / "README.md").read_text()
    for n in expected - {"README.md"}:
        assert f"`{n}`" in readme


def test_demo_proofs(manifest):
    for e in manifest["models"]:
        p = e.get("proof")
        if e["attack"] == "lsb":
            assert p["bit_error_rate"] == 0.0
        elif e["attack"] == "correlated-value":
            assert p["pearson_r"] > 0.95
        elif e["attack"] == "sign":
            assert p["correct_sign_fraction"] > 0.99
        elif e["attack"] == "capacity-abuse":
            assert p["memorised_fraction"] > 0.95
        assert e["test_accuracy"] > 0.94


def test_demo_opens_without_torch_or_sklearn():
    code = (
        "import sys, hashlib, json\n"
        "from inspector.core.formats import open_model\n"
        "from inspector.core.formats.data import load_dataset\n"
        "from inspector.lab import decoders\n"
        f"d = {str(DEMO)!r}\n"
        "m = json.load(open(d + '/manifest.json'))\n"
        "for e in m['models']:\n"
        "    mf = open_model(d + '/' + e['file'])\n"
        "    assert mf.metadata['inspector.lab.attack'] == e['attack'] and mf.parameters == 9610\n"
        "    assert hashlib.sha256(open(d + '/' + e['file'], 'rb').read()).hexdigest() == e['sha256']\n"
        "assert len(load_dataset(d + '/eval.npz')) == 360\n"
        "lsb = open_model(d + '/mlp-lsb-raw-b16.safetensors')\n"
        "assert len(decoders.decode_lsb(lsb, 16, 64)) == 64\n"
        "print('torch' in sys.modules, 'sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_demo_eval_matches_manifest(manifest):
    pytest.importorskip("torch")
    from inspector.core.evaluate.accuracy import evaluate

    for e in manifest["models"]:
        res = evaluate(DEMO / e["file"], DEMO / "eval.npz", device="cpu")
        assert res.accuracy == pytest.approx(e["test_accuracy"], abs=1e-6), e["file"]


@pytest.mark.slow
def test_demo_rebuilds_byte_identical(tmp_path, manifest):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from inspector.lab.zoo import build_zoo

    rebuilt = build_zoo(tmp_path / "demo", plan="demo")
    assert [(e["file"], e["sha256"]) for e in rebuilt["models"]] == [
        (e["file"], e["sha256"]) for e in manifest["models"]
    ]
    assert (tmp_path / "demo" / "README.md").read_text() == (DEMO / "README.md").read_text()
