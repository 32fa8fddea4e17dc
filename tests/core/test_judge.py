"""The judge: a pure function of measurement and inputs; per-family status; the verdict rule; carriers outside
float mantissas (non-float tensors, metadata) judged."""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest

from inspector.core.judge import JudgeInputs, judge
from inspector.core.judge.families import Assessment, FamilyStatus, exit_code, statuses, verdict_of
from inspector.core.judge.findings import Finding
from inspector.core.pipeline import ScanOptions, rejudge, scan
from inspector.core.resources import resource_path


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "fc1.weight": rng.normal(0, 0.05, (128, 64)).astype(np.float32),
        "fc1.bias": rng.normal(0, 0.01, 128).astype(np.float32),
        "fc2.weight": rng.normal(0, 0.1, (10, 128)).astype(np.float32),
    }


def _status(result):
    return {f.family: f.status for f in result.families}


def test_verdict_rule():
    hit = Finding("x", "sign", "w", "suspicious", 0.9, "m")
    warn = Finding("x", "sign", "w", "warning", 0.6, "m")
    assessed = [Assessment("sign", "checks"), Assessment("lsb", "checks")]
    fams = statuses(assessed, [hit])
    assert [f.status for f in fams] == ["detected", "not-detected"] and verdict_of(fams, [hit]) == "suspicious"
    fams = statuses(assessed, [warn])
    assert verdict_of(fams, [warn]) == "clean"
    # the family is not detected, and says that a warning stands (the app and the report show it amber)
    assert (fams[0].status, fams[0].warning, fams[1].warning) == ("not-detected", True, False)
    assert fams[0].words == "not detected · warning 0.60" and fams[1].words == "not detected"
    assert fams[0].to_json()["warning"] is True and "warning" not in fams[1].to_json()
    assert FamilyStatus.from_json(fams[0].to_json()) == fams[0]
    from inspector.core.report.sections import family_rows

    rows = family_rows({"families": [f.to_json() for f in fams]})
    assert rows[0].status_words == "not detected · warning 0.60" and rows[1].status_words == "not detected"
    fams = statuses([*assessed, Assessment("capacity-abuse", None, needs="--data")], [warn])
    assert verdict_of(fams, [warn]) == "incomplete" and fams[-1].text == "--data"
    fams = statuses([Assessment("lsb", "bit planes", limit="encrypted payloads")], [])
    assert fams[0].status == "cannot-rule-out" and verdict_of(fams, []) == "clean"
    assert (exit_code("clean"), exit_code("suspicious"), exit_code("incomplete")) == (0, 1, 3)
    assert exit_code("incomplete", allow_incomplete=True) == 0


def test_judge_is_pure_and_rejudge_reads_no_model_file(make_model, tmp_path):
    model = make_model(_weights(0), name="m.safetensors")
    ref = make_model(_weights(1), name="ref.safetensors")
    first = scan(model)
    again = judge(first.measurement, first.inputs)
    assert again.findings == first.findings and again.verdict == first.verdict
    moved = tmp_path / "elsewhere.safetensors"
    model.rename(moved)  # the judge must not need it
    t0 = time.perf_counter()
    with_ref = rejudge(first, baselines=(str(ref),))
    assert any("matched by name" in c for c in with_ref.checked)
    t1 = time.perf_counter()
    back = rejudge(with_ref, baselines=())
    elapsed = time.perf_counter() - t1
    assert back.findings == first.findings and back.verdict == first.verdict
    assert t1 - t0 < 5 and elapsed < 1.0  # generous bounds: the point is that nothing is re-measured


def test_capacity_abuse_is_not_assessed_without_data_and_never_clean():
    cap = resource_path("demo", "mlp-cap-n10.safetensors")
    r = scan(cap)
    assert r.verdict == "incomplete" and _status(r)["capacity-abuse"] == "not-assessed"
    assert "--data" in r.missing[0]
    r = scan(cap, type(r.options)(data=str(resource_path("demo", "eval.npz"))))
    assert r.verdict == "suspicious" and _status(r)["capacity-abuse"] == "detected"


def test_u8_tensor_of_image_bytes_beside_the_weights_is_detected(make_model):
    w = _weights()
    w["extra"] = np.random.default_rng(2).integers(0, 256, 19_200, dtype=np.uint8)
    r = scan(make_model(w))
    assert r.verdict == "suspicious" and _status(r)["non-float"] == "detected"
    f = next(f for f in r.findings if f.attack == "non-float")
    assert f.tensor == "extra" and f.evidence["bytes"] == 19_200


def test_known_integer_roles_are_not_payloads(make_model):
    w = _weights()
    w["bn.num_batches_tracked"] = np.array([1000], dtype=np.int64)
    w["embeddings.position_ids"] = np.arange(512, dtype=np.int64).reshape(1, 512)
    w["q.weight"] = np.random.default_rng(3).integers(-127, 128, (64, 64), dtype=np.int8)
    w["q.weight_scale"] = np.ones(64, dtype=np.float32)
    r = scan(make_model(w))
    assert _status(r)["non-float"] == "not-detected" and not [f for f in r.findings if f.attack == "non-float"]


def test_base64_blob_in_metadata_is_detected(make_model):
    blob = base64.b64encode(np.random.default_rng(4).integers(0, 256, 6000, dtype=np.uint8).tobytes()).decode()
    r = scan(make_model(_weights(), metadata={"format": "pt", "notes": blob}))
    assert r.verdict == "suspicious" and _status(r)["metadata"] == "detected"
    plain = scan(make_model(_weights(), name="p.safetensors", metadata={"format": "pt", "author": "me"}))
    assert _status(plain)["metadata"] == "not-detected"


@pytest.mark.parametrize("name", ["mlp-benign-s0", "mlp-benign-s1"])
def test_benign_demo_models_are_clean_when_every_family_is_assessed(name):
    opts = dict(
        data=str(resource_path("demo", "eval.npz")),
        train_sample=str(resource_path("demo", "train_sample.npz")),
    )
    from inspector.core.pipeline import ScanOptions

    r = scan(resource_path("demo", f"{name}.safetensors"), ScanOptions(**opts))
    assert r.verdict == "clean", [f.message for f in r.findings if f.severity != "info"]
    assert set(_status(r).values()) == {"not-detected"}
    rows = r.to_json()["coverage"]
    assert sum(row["bytes"] for row in rows["rows"]) == rows["file_bytes"]


def test_judge_inputs_default_is_weights_only(make_model):
    r = scan(make_model(_weights()))
    j = judge(r.measurement, JudgeInputs())
    assert j.verdict == "incomplete" and j.coverage


def test_a_saved_scan_document_is_judged_again_without_the_model(make_model, tmp_path):
    import json

    from inspector.core.measure import Measurement

    w = _weights()
    u = w["fc1.weight"].reshape(-1).view(np.uint32)
    u[:] = (u & ~np.uint32(0xFF)) | np.frombuffer((b"training rows " * 600)[: u.size], dtype=np.uint8)
    model = make_model(w)
    first = scan(model)
    doc = json.loads(json.dumps(first.to_json()))
    model.unlink()
    m = Measurement.from_scan_json(doc)
    again = judge(m, first.inputs)
    assert again.verdict == first.verdict == "suspicious"
    assert [f.to_json() for f in again.findings] == [f.to_json() for f in first.findings]


def test_low_entropy_base64_of_image_bytes_is_still_an_encoded_blob():
    from inspector.core.judge.detectors.metadata import encoding_of

    img = np.zeros(19_200, np.uint8)
    img[::7] = 255  # mostly background: its base64 repeats "AAAA" and has little character entropy
    assert encoding_of(base64.b64encode(img.tobytes()).decode()) == "base64"
    assert encoding_of(img.tobytes().hex()) == "hex"
    assert encoding_of("Trained on the digits split with Adam, 100 epochs; weight decay 1e-4. " * 20) is None
    assert encoding_of('{"layers": [64, 128, 10], "activation": "relu", "dropout": 0.1}' * 20) is None


def test_the_capacity_probe_runs_on_a_model_carrying_an_extra_integer_tensor(make_model):
    from safetensors.numpy import load_file

    from inspector.core.formats import open_model
    from inspector.core.pipeline import ScanOptions

    src = resource_path("demo", "mlp-benign-s0.safetensors")
    w = load_file(str(src))
    w["extra.images"] = np.random.default_rng(5).integers(0, 256, 19_200, dtype=np.uint8)
    w["steps"] = np.array([7], dtype=np.int64)  # an integer counter the architecture has no place for
    p = make_model(w, metadata=dict(open_model(src).metadata))
    r = scan(p, ScanOptions(data=str(resource_path("demo", "eval.npz"))))
    assert _status(r)["capacity-abuse"] == "not-detected" and _status(r)["non-float"] == "detected"


def test_a_0d_value_stored_as_shape_1_fits_as_load_state_dict_accepts():
    from inspector.core.evaluate.recipes import check_state, same_shape

    assert same_shape((1,), ()) and not same_shape((2,), ()) and not same_shape((), (1,))
    assert check_state({"bn.num_batches_tracked": ()}, {"bn.num_batches_tracked": (1,)}) == []


def test_tensors_too_small_to_test_are_not_called_not_detected(make_model):
    r = scan(make_model({"fc.weight": np.random.default_rng(6).normal(0, 0.1, 64).astype(np.float32)}))
    st = _status(r)
    assert st["lsb"] == st["sign"] == st["correlated-value"] == "cannot-rule-out"
    assert "enough values" in next(f.text for f in r.families if f.family == "lsb")


def test_rejudge_with_another_baseline_probes_capacity_again() -> None:
    """The capacity probe compares the model's labels with the baseline's: a new baseline must not keep the old
    baseline's probe result (nor its findings)."""
    demo = resource_path("demo")
    opts = ScanOptions(
        arch="digits-mlp",
        data=str(demo / "eval.npz"),
        baselines=(str(demo / "mlp-benign-s0.safetensors"),),
    )
    first = scan(demo / "mlp-cap-n10.safetensors", opts)
    assert first.inputs.probe is not None and "mlp-benign-s0" in (first.inputs.probe.checked or "")
    again = rejudge(first, baselines=(str(demo / "mlp-benign-s1.safetensors"),))
    assert "mlp-benign-s1" in (again.inputs.probe.checked or "")
    assert "mlp-benign-s0" not in (again.inputs.probe.checked or "")
    assert again.verdict == "suspicious"


def _named(names, rng):
    return {n: rng.normal(0, 0.05, (16, 16)).astype(np.float32) for n in names}


def test_data_in_tensor_names_is_detected(make_model):
    """Tensor names are free text in every format: a payload spread over them is found by their compressed size,
    as base64 parts or as plain records, and real naming schemes are not."""
    import random

    rng = np.random.default_rng(0)
    blob = base64.b64encode(rng.bytes(3000)).decode()
    encoded = [f"blocks.{i // 200}.{blob[i : i + 200]}.weight" for i in range(0, len(blob), 200)]
    r = scan(make_model(_named(encoded, rng), name="b64.safetensors"))
    hit = [f for f in r.findings if f.detector == "tensor-names"]
    assert hit and hit[0].severity == "suspicious" and _status(r)["metadata"] == "detected"
    assert r.verdict == "suspicious" and "blocks." in hit[0].message
    random.seed(1)  # personal records whose every field repeats in other names, numbers aside
    first, last = ["John", "Mary", "Ahmed", "Li", "Olga", "Pedro"], ["Smith", "Chen", "Okafor", "Silva", "Novak"]
    records = [
        f"encoder.layer.{i}.{random.choice(first)}_{random.choice(last)}_{random.randint(1940, 2005)}_"
        f"{random.randint(10000, 99999)}_{random.choice(['asthma', 'gout', 'anemia'])}.weight"
        for i in range(300)
    ]
    # 120 records (about 30 bits each: 450 bytes of information) warn; 300 are evidence
    for k, severity in ((120, "warning"), (300, "suspicious")):
        r = scan(make_model(_named(records[:k], rng), name=f"records{k}.safetensors"))
        assert [f.severity for f in r.findings if f.detector == "tensor-names"] == [severity]
    # names added to dilute the payload (2,000 one-element tensors) do not hide it: their templates are one
    padded = encoded + [f"blocks.{i}.attn.weight" for i in range(2000)]
    small = {n: np.zeros(1, np.float32) for n in padded}
    r = scan(make_model(small, name="padded.safetensors"))
    assert [f.severity for f in r.findings if f.detector == "tensor-names"] == ["suspicious"]
    # an ONNX reader's summary written into another format's metadata is not taken for one
    spoof = {"onnx.names": "-1000", "onnx.names_compressed": "99999", "onnx.names_templates": "99999"}
    r = scan(make_model(_weights(), name="spoof.safetensors", metadata=spoof))
    assert not [f for f in r.findings if f.detector == "tensor-names"]
    # real naming schemes: a transformer's layers, a torch ONNX export's numbered nodes, a few unique names
    hf = [f"model.layers.{i}.{p}.weight" for i in range(40) for p in ("self_attn.q_proj", "mlp.down_proj")]
    onnx = [f"onnx::MatMul_{random.randint(0, 99999)}" for _ in range(300)]
    for names in (hf + ["lm_head.weight", "model.embed_tokens.weight"], onnx, ["conv2d_395.w_0", "batch_norm2d_5.b_0"]):
        r = scan(make_model(_named(names, rng), name="benign.safetensors"))
        assert not [f for f in r.findings if f.detector == "tensor-names"], names[:2]
        assert "tensor names checked" in next(f.text for f in r.families if f.family == "metadata")
