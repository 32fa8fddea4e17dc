"""`scan` with detectors from the command line: exit codes, the findings' JSON contract, baselines and profiles."""

from __future__ import annotations

import json

import numpy as np

from inspector.cli import main
from inspector.core.judge.findings import ATTACKS, SEVERITIES


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "fc1.weight": rng.normal(0, 0.05, (128, 64)).astype(np.float32),
        "fc1.bias": rng.normal(0, 0.01, 128).astype(np.float32),
        "fc2.weight": rng.normal(0, 0.1, (10, 128)).astype(np.float32),
        "fc2.bias": rng.normal(0, 0.01, 10).astype(np.float32),
    }


def _lsb_attacked(seed=0):
    w = _weights(seed)
    payload = np.frombuffer((b"secret training rows " * 500)[: w["fc1.weight"].size], dtype=np.uint8)
    u = w["fc1.weight"].reshape(-1).view(np.uint32)
    u[:] = (u & ~np.uint32(0xFF)) | payload
    return w


def test_suspicious_model_exits_1_and_says_why(make_model, capsys):
    p = make_model(_lsb_attacked(), name="attacked.safetensors")
    assert main(["scan", str(p)]) == 1
    out = capsys.readouterr().out
    assert "Verdict: SUSPICIOUS" in out and "[suspicious]" in out and "bits of entropy" in out
    assert "Not ruled out:" in out and "Encrypted" in out


def test_benign_weights_alone_are_incomplete_not_clean(make_model, capsys):
    assert main(["scan", str(make_model(_weights()))]) == 3  # incomplete: nothing probed capacity abuse
    assert "Verdict: INCOMPLETE" in capsys.readouterr().out


def test_quiet_and_json_to_stdout_keep_the_exit_code(make_model, capsys):
    p = make_model(_lsb_attacked(), name="attacked.safetensors")
    assert main(["scan", str(p), "-q"]) == 1
    assert capsys.readouterr().out.startswith("suspicious ")
    assert main(["scan", str(p), "--json", "-"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "suspicious" and doc["score"] >= 0.7


def test_findings_json_contract(make_model, tmp_path):
    p = make_model(_lsb_attacked(), name="attacked.safetensors")
    out = tmp_path / "scan.json"
    assert main(["scan", str(p), "--json", str(out)]) == 1
    doc = json.loads(out.read_text())
    assert doc["findings"] and isinstance(doc["checked"], list) and isinstance(doc["limits"], list)
    for f in doc["findings"]:
        assert set(f) <= {"detector", "attack", "tensor", "severity", "score", "message", "evidence"}
        assert f["attack"] in ATTACKS and f["severity"] in SEVERITIES
        assert isinstance(f["message"], str) and f["message"]
        assert f["tensor"] is None or f["tensor"] in {t["name"] for t in doc["tensors"]}
    top = doc["findings"][0]
    assert top["severity"] == "suspicious" and top["attack"] == "lsb" and top["tensor"] == "fc1.weight"
    assert top["evidence"]["low_entropy"] < 6 and "excess" in top["evidence"]


def test_baseline_build_then_scan_with_the_profile(make_model, tmp_path, capsys):
    trusted = [str(make_model(_weights(s), name=f"t{s}.safetensors")) for s in (1, 2)]
    prof = tmp_path / "profile.json"
    assert main(["baseline", "build", *trusted, "--output", str(prof), "--description", "two"]) == 0
    assert "2 trusted model(s)" in capsys.readouterr().out
    doc = json.loads(prof.read_text())
    assert doc["schema"] == "model-inspector/profile/1" and "dense" in doc["kinds"]
    assert (
        main(["scan", str(make_model(_weights(3), name="m.safetensors")), "--profile", str(prof), "--allow-incomplete"])
        == 0
    )
    assert f"profile {prof}" in capsys.readouterr().out


def test_scan_with_a_reference_shows_the_matching(make_model, capsys):
    ref = make_model(_weights(1), name="ref.safetensors")
    renamed = {k.replace("fc", "layer"): v for k, v in _weights(2).items()}
    p = make_model(renamed, name="m.safetensors")
    assert main(["scan", str(p), "--baseline", str(ref)]) == 3
    out = capsys.readouterr().out
    assert "0 layer(s) matched by name, 4 by shape and order" in out


def test_bad_profile_and_missing_baseline_exit_2_with_one_line(make_model, tmp_path, capsys):
    p = make_model(_weights())
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["scan", str(p), "--profile", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "baseline profile" in err[0]
    assert main(["scan", str(p), "--baseline", str(tmp_path / "nope.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["baseline", "build", str(tmp_path / "nope.safetensors"), "-o", str(tmp_path / "x.json")]) == 2
