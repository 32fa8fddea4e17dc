"""`model-inspector scrub`: summary, JSON, --check, --auto, exit codes and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from inspector.cli import main


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A digits MLP trained for a few epochs (~1 s) with the recipe named in its metadata, and its test set."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from inspector.core.formats.data import save_dataset
    from inspector.lab.digits import load_digits_split
    from inspector.lab.train import TrainConfig, state_arrays, torch_threads, train

    d = tmp_path_factory.mktemp("digits")
    split = load_digits_split()
    with torch_threads(1):
        module = train(TrainConfig(epochs=5), split.train)
    model = d / "mlp.safetensors"
    save_file(state_arrays(module), str(model), metadata={"inspector.lab.recipe": "digits-mlp"})
    save_dataset(split.test, d / "test.npz")
    return model, d / "test.npz"


def test_scrub_prints_summary_and_writes_json(small_model, tmp_path, capsys):
    out, doc = tmp_path / "clean.safetensors", tmp_path / "scrub.json"
    args = ["scrub", str(small_model), "--bits", "16", "--seed", "3", "-o", str(out), "--json", str(doc)]
    assert main([*args, "--keep-tensor", "steps"]) == 3  # no --data: incomplete, written
    text = capsys.readouterr().out
    assert re.search(r"verified +OK", text) and "F32 16" in text and "F16 3" in text and "seed 3" in text
    j = json.loads(doc.read_text())
    assert j["schema"] == "model-inspector/scrub/1" and j["verification"]["ok"] is True
    assert j["tensors_scrubbed"] == 4 and j["tensors_copied"] == 1 and j["bits"] == {"F16": 3, "F32": 16}
    assert load_file(str(out))["steps"].tolist() == list(range(7))


def test_per_dtype_bits_and_globs(small_model, tmp_path, capsys):
    out = tmp_path / "clean.safetensors"
    args = ["scrub", str(small_model), "--bits", "F16=5", "--tensors", "fc2.*", "--seed", "1", "-o", str(out)]
    assert main([*args, "--allow-incomplete"]) == 0
    a, b = load_file(str(small_model)), load_file(str(out))
    assert a["fc1.weight"].tobytes() == b["fc1.weight"].tobytes()
    x = a["fc2.weight"].view(np.uint16) ^ b["fc2.weight"].view(np.uint16)
    assert x.any() and not (x >> 5).any()


def test_same_output_as_input_exits_2_with_one_line(small_model):
    before = small_model.read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", "inspector", "scrub", str(small_model), "-o", str(small_model)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to write over the input" in lines[0]
    assert small_model.read_bytes() == before


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--bits", "BF16=9"], "BF16 has 7 mantissa bits"),
        (["--bits", "sixteen"], "cannot read"),
        (["--check"], "need --data"),
        (["--auto", "--bits", "8", "--data", "x.npz"], "drop --bits"),
        (["--tensors", "nothing*"], "matches no tensor"),
    ],
)
def test_bad_options_exit_2(small_model, tmp_path, capsys, extra, message):
    out = tmp_path / "o.safetensors"
    assert main(["scrub", str(small_model), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_output_is_a_usage_error(small_model, capsys):
    assert main(["scrub", str(small_model)]) == 2
    assert "--output" in capsys.readouterr().err


def test_check_reports_accuracy_agreement_kl(digits_model, tmp_path, capsys):
    model, data = digits_model
    out, doc = tmp_path / "clean.safetensors", tmp_path / "s.json"
    args = ["scrub", str(model), "--bits", "16", "--seed", "2", "-o", str(out), "--check", "--data", str(data)]
    assert main([*args, "--device", "cpu", "--json", str(doc)]) == 0
    text = capsys.readouterr().out
    assert "check     accuracy" in text and "agreement" in text and "mean KL" in text
    check = json.loads(doc.read_text())["check"]
    assert check["samples"] == 360 and check["agreement"] >= 0.99 and check["mean_kl"] < 1e-3


def test_auto_finds_a_safe_k_and_uses_it(digits_model, tmp_path, capsys):
    model, data = digits_model
    out, doc = tmp_path / "clean.safetensors", tmp_path / "s.json"
    args = ["scrub", str(model), "--auto", "--max-drop", "0.1", "--seed", "2", "-o", str(out), "--data", str(data)]
    assert main([*args, "--device", "cpu", "--json", str(doc)]) == 0
    text = capsys.readouterr().out
    j = json.loads(doc.read_text())
    auto = j["auto"]
    k = auto["bits"]
    assert 8 <= k <= 23 and "chosen: F32 k = " in text
    curve = {p["bits"]: p for p in auto["curve"]}
    assert 23 in curve and curve[k]["ok"] and len(curve) <= 7  # bisection, not a sweep
    assert all(not p["ok"] for b, p in curve.items() if b > k)
    assert j["bits"]["F32"] == k and j["verification"]["ok"]


def test_auto_without_a_safe_k_writes_nothing(small_model, tmp_path, monkeypatch, capsys):
    import inspector.core.scrub.safe_bits as scrub_mod
    from inspector.core.evaluate import recipes
    from inspector.core.formats import data as data_mod

    class R:
        name, user_code = "stub", False

    import inspector.core.evaluate as facade

    for mod in (recipes, facade):
        monkeypatch.setattr(mod, "resolve", lambda spec, model=None: R())
    monkeypatch.setattr(data_mod, "load_dataset", lambda path: object())
    monkeypatch.setattr("inspector.core.formats.load_dataset", lambda path: object())
    import inspector.core.scrub as scrub_facade

    for mod in (scrub_mod, scrub_facade):
        monkeypatch.setattr(
            mod,
            "find_safe_bits",
            lambda *a, **k: scrub_mod.AutoResult("F32", 0, scrub_mod.level_bits("F32", 0), 0.1, 0.99, ()),
        )
    out = tmp_path / "o.safetensors"
    assert main(["scrub", str(small_model), "--auto", "--data", "d.npz", "-o", str(out)]) == 1
    assert "nothing written" in capsys.readouterr().err and not out.exists()


def test_check_beyond_max_drop_exits_1(small_model, tmp_path, monkeypatch, capsys):
    from inspector.core.evaluate import accuracy as eval_mod
    from inspector.core.evaluate import recipes
    from inspector.core.formats import data as data_mod

    class R:
        name, user_code = "stub", False

    fake = eval_mod.EvalResult(
        "m", "stub", "cpu", "CPU", 100, 0.9, (), (), against="o", against_accuracy=0.95, agreement=0.9
    )
    import inspector.core.evaluate as facade
    import inspector.core.scrub.export as export_mod
    from inspector.core.scrub.rejudge import Rejudgement

    for mod in (recipes, facade):
        monkeypatch.setattr(mod, "resolve", lambda spec, model=None: R())
    monkeypatch.setattr(data_mod, "load_dataset", lambda path: object())
    monkeypatch.setattr("inspector.core.formats.load_dataset", lambda path: object())
    for mod in (eval_mod, facade):
        monkeypatch.setattr(mod, "evaluate", lambda *a, **k: fake)
    # d.npz does not exist: the re-judge (a scan with --data) is replaced by a clean verdict
    monkeypatch.setattr(export_mod, "rejudge", lambda *a, **k: Rejudgement("clean", 0.0, (), {}))
    out = tmp_path / "clean.safetensors"
    args = ["scrub", str(small_model), "--seed", "2", "-o", str(out), "--check", "--data", "d.npz", "--max-drop", "1"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "accuracy dropped 5.00 points, more than --max-drop 1" in captured.err and out.exists()
    assert "95.00% → 90.00% (-5.00 pts)" in captured.out
    assert main([*args[:-1], "6"]) == 0


def test_dry_run_prints_the_policy_and_writes_nothing(small_model, tmp_path, capsys):
    out = tmp_path / "o.safetensors"
    assert main(["scrub", str(small_model), "--dry-run", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("export policy: 4 tensors scrubbed")
    assert "drop  steps (I64, 56 bytes)" in text and "dry run: nothing written" in text and not out.exists()
    assert main(["scrub", str(small_model), "--dry-run", "--keep-tensor", "steps"]) == 0
    assert "copy  steps (I64, 56 bytes): kept" in capsys.readouterr().out


def test_still_suspicious_model_is_written_only_when_allowed(tmp_path, capsys):
    from inspector.core.resources import resource_path

    src = str(resource_path("demo", "mlp-sgn-l100.safetensors"))
    out, doc = tmp_path / "o.safetensors", tmp_path / "s.json"
    assert main(["scrub", src, "--seed", "1", "-o", str(out), "--json", str(doc)]) == 1
    err = capsys.readouterr().err
    assert "scrubbed, still suspicious: sign" in err and "nothing written" in err and not out.exists()
    j = json.loads(doc.read_text())
    assert j["rejudged"]["detected"] == ["sign"] and j["policy"]["tensors"][0]["action"] == "scrub"
    assert main(["scrub", src, "--seed", "1", "-o", str(out), "--allow-suspicious"]) == 1
    captured = capsys.readouterr()
    assert out.exists() and "written anyway" in captured.err
    assert "re-judged  scrubbed, still suspicious: sign: suspicious" in captured.out


def test_lsb_model_scrubs_to_sanitized(tmp_path, capsys):
    from inspector.core.resources import resource_path

    src = str(resource_path("demo", "mlp-lsb-raw-b16.safetensors"))
    out = tmp_path / "o.safetensors"
    demo = resource_path("demo")
    inputs = ["--data", str(demo / "eval.npz"), "--train-sample", str(demo / "train_sample.npz")]
    assert main(["scrub", src, "--seed", "1", "-o", str(out), *inputs]) == 0  # every family assessed
    text = capsys.readouterr().out
    assert "re-judged  sanitized: clean" in text and "drop  inspector.lab.secret" in text
    assert main(["scan", str(out), "-q", *inputs]) == 0
    # without the data nothing is detected, but capacity abuse is not assessed: written, exit 3, not "sanitized"
    assert main(["scrub", src, "--seed", "1", "-o", str(out)]) == 3
    captured = capsys.readouterr()
    assert "re-judged  scrubbed, incomplete" in captured.out and "not called sanitized" in captured.err
    assert main(["scrub", src, "--seed", "1", "-o", str(out), "--allow-incomplete"]) == 0
