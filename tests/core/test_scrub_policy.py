"""The export policy and the re-judge: every carrier outside float mantissas is planted and must not survive a
sanitized export unless the user confirmed it; a still-suspicious model is not written unless allowed."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from inspector.core.formats import open_model
from inspector.core.formats.safetensors import open_safetensors
from inspector.core.pipeline import ScanOptions
from inspector.core.resources import resource_path
from inspector.core.scrub.export import scrub_model
from inspector.core.scrub.policy import plan_policy, tie_groups
from inspector.core.scrub.rejudge import StillSuspicious, detected_families


def _images() -> np.ndarray:
    """300 8×8 'images' as raw bytes (19,200 bytes), like the training digits the issue planted."""
    rng = np.random.default_rng(7)
    return (rng.random((300, 64)) * 255).astype(np.uint8)


@pytest.fixture
def carrier_model(make_model):
    """Float weights plus three carriers: a U8 tensor of image bytes, a base64 blob and the lab's secret in the
    metadata."""
    rng = np.random.default_rng(0)
    blob = base64.b64encode(_images().tobytes()).decode()
    return make_model(
        {
            "fc1.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32),
            "fc1.bias": rng.normal(0, 0.01, 64).astype(np.float32),
            "images": _images(),
        },
        metadata={
            "format": "pt",
            "notes": blob,
            "inspector.lab.secret": "training images from index 0",
            "inspector.lab.recipe": "digits-mlp",
        },
    )


def test_u8_tensor_and_metadata_blob_are_dropped(carrier_model, tmp_path):
    model = open_model(carrier_model)
    policy = plan_policy(model, 16)
    actions = {t.name: t.action for t in policy.tensors}
    assert actions == {"fc1.weight": "scrub", "fc1.bias": "scrub", "images": "drop"}
    text = "\n".join(policy.lines())
    assert "drop  images (U8, 19,200 bytes)" in text and "--keep-tensor" in text
    assert "drop  notes" in text and "drop  inspector.lab.secret" in text and "keep  format" in text

    out = tmp_path / "clean.safetensors"
    res = scrub_model(model, out, bits=16, seed=1)
    assert set(load_file(str(out))) == {"fc1.weight", "fc1.bias"}
    meta = open_safetensors(out).metadata
    assert "notes" not in meta and "inspector.lab.secret" not in meta
    assert meta["format"] == "pt" and meta["inspector.lab.recipe"] == "digits-mlp"
    assert base64.b64encode(_images().tobytes()[:48]).decode() not in out.read_bytes().decode("latin-1")
    assert _images().tobytes()[:4096] not in out.read_bytes()
    note = json.loads(meta["inspector.policy"])
    assert note["tensors_dropped"] == 1 and note["tensor_bytes_dropped"] == 19200 and note["metadata_dropped"] == 2
    assert res.verification is not None and res.verification.ok
    for key in ("inspector.version", "inspector.source_sha256", "inspector.scrub_bits", "inspector.scrub_seed"):
        assert meta[key]
    assert meta["inspector.scrubbed_tensors"] == "2"


def test_a_confirmed_non_float_tensor_is_kept_bit_for_bit(carrier_model, tmp_path):
    out = tmp_path / "kept.safetensors"
    scrub_model(open_model(carrier_model), out, bits=16, seed=1, keep_tensors=["imag*"])
    assert load_file(str(out))["images"].tobytes() == _images().tobytes()
    assert json.loads(open_safetensors(out).metadata["inspector.kept_tensors"]) == ["images"]


def test_a_keep_glob_matching_nothing_is_an_error(carrier_model, tmp_path):
    from inspector.core.errors import InspectorError

    with pytest.raises(InspectorError, match="--keep-tensor 'image' matches no tensor"):
        plan_policy(open_model(carrier_model), 16, keep_tensors=["image"])


def test_known_key_with_a_payload_value_is_dropped(make_model, tmp_path):
    p = make_model(
        {"w": np.ones(8, np.float32)}, metadata={"format": "A" * 500, "inspector.lab.recipe": "not a name; x"}
    )
    policy = plan_policy(open_model(p), 16)
    assert {m.key: m.action for m in policy.metadata} == {"format": "drop", "inspector.lab.recipe": "drop"}
    assert not policy.kept_metadata


def _torch_checkpoint(tmp_path, with_optimizer: bool = False):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    wte = torch.randn(50, 16, generator=g) * 0.02
    sd = {
        "transformer.wte.weight": wte,
        "transformer.h.0.weight": torch.randn(16, 16, generator=g) * 0.1,
        "lm_head.weight": wte,  # GPT-style weight tying: one storage, two names
    }
    obj = sd
    if with_optimizer:
        obj = {
            "model": sd,
            "optimizer": {"state": {0: {"exp_avg": torch.randn(16, 16, generator=g), "step": torch.tensor(3.0)}}},
        }
    path = tmp_path / "gpt.pt"
    torch.save(obj, path)
    return path


def test_tied_tensors_stay_identical_after_scrubbing(tmp_path):
    src = _torch_checkpoint(tmp_path)
    model = open_model(src)
    assert tie_groups(model) == {"transformer.wte.weight": ("lm_head.weight",)}
    out = tmp_path / "o.safetensors"
    res = scrub_model(model, out, bits=16, seed=3)
    b = load_file(str(out))
    assert b["lm_head.weight"].tobytes() == b["transformer.wte.weight"].tobytes()
    orig = open_model(src)
    from inspector.core.formats import read_tensor

    assert b["lm_head.weight"].tobytes() != read_tensor(orig["lm_head.weight"]).tobytes()  # scrubbed, not copied
    assert json.loads(open_safetensors(out).metadata["inspector.tied"]) == {
        "transformer.wte.weight": ["lm_head.weight"]
    }
    assert res.verification is not None and res.verification.ok
    tied = next(t for t in res.policy.tensors if t.name == "lm_head.weight")
    assert tied.action == "tie" and tied.tied_to == "transformer.wte.weight"


def test_training_state_is_dropped(tmp_path):
    model = open_model(_torch_checkpoint(tmp_path, with_optimizer=True))
    actions = {t.name: t.action for t in plan_policy(model, 16).tensors}
    assert actions["optimizer.state.0.exp_avg"] == "drop" and actions["optimizer.state.0.step"] == "drop"
    assert actions["model.lm_head.weight"] == "tie" and actions["model.transformer.h.0.weight"] == "scrub"
    res = scrub_model(model, tmp_path / "o.safetensors", bits=16, seed=1)
    assert not any(n.startswith("optimizer") for n in load_file(str(res.output)))


def test_still_suspicious_sign_model_is_not_written(tmp_path):
    """Sign encoding lives in the high bits: the re-judge still detects it and nothing is written."""
    src = resource_path("demo", "mlp-sgn-l100.safetensors")
    out = tmp_path / "o.safetensors"
    with pytest.raises(StillSuspicious) as e:
        scrub_model(open_model(src), out, bits=16, seed=1, judge=ScanOptions())
    assert "sign" in e.value.rejudgement.detected and "still suspicious" in str(e.value)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []

    res = scrub_model(open_model(src), out, bits=16, seed=1, judge=ScanOptions(), allow_suspicious=True)
    assert res.sanitized is False and out.exists()
    verdict = json.loads(open_safetensors(out).metadata["inspector.rejudged_verdict"])
    assert verdict["verdict"] == "suspicious" and "sign" in verdict["detected"]
    assert res.rejudged is not None and res.rejudged.scan["model"]["sha256"] == res.sha256


def test_lsb_model_without_data_is_written_but_incomplete(tmp_path):
    """Nothing detected, but the capacity-abuse family could not be assessed without --data: written, and not
    called sanitized (the trap the issue found: a family never assessed passing as clean)."""
    src = resource_path("demo", "mlp-lsb-raw-b16.safetensors")
    out = tmp_path / "o.safetensors"
    res = scrub_model(open_model(src), out, bits=16, seed=1, judge=ScanOptions())
    assert res.rejudged is not None and out.exists()
    assert res.rejudged.status == "incomplete" and res.sanitized is False and not res.rejudged.suspicious
    assert res.rejudged.words.startswith("scrubbed, incomplete") and "capacity-abuse" in res.rejudged.words
    meta = open_safetensors(out).metadata
    verdict = json.loads(meta["inspector.rejudged_verdict"])
    assert verdict["detected"] == [] and verdict["verdict"] == "incomplete"
    assert verdict["not_assessed"] == ["capacity-abuse"]
    assert verdict["inputs"] == {"arch": None, "baselines": [], "data": None, "profile": None, "train_sample": None}
    # the provenance written is what the file holds: the read-back hash covers the rewritten header
    import hashlib

    assert res.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()


def test_detected_families_prefers_the_family_table():
    doc = {
        "verdict": "suspicious",
        "findings": [{"severity": "suspicious", "attack": "sign"}],
        "families": [
            {"family": "sign", "status": "detected", "by": "sign detector"},
            {"family": "capacity abuse", "status": "not-assessed", "needs": "--arch and --data"},
        ],
    }
    assert detected_families(doc) == ("sign",)
    assert detected_families({"verdict": "clean", "findings": [{"severity": "warning", "attack": "lsb"}]}) == ()
    assert detected_families({"verdict": "suspicious", "findings": [{"severity": "suspicious", "attack": "lsb"}]}) == (
        "LSB",
    )


def test_many_references_still_fit_the_reserved_provenance():
    from inspector.core.scrub.rejudge import PROVENANCE_ROOM, Rejudgement

    many = {"baselines": [f"reference-model-{i:04d}.safetensors" for i in range(400)], "arch": "digits-mlp"}
    text = Rejudgement("clean", 0.0, (), many).provenance()
    assert len(text.encode()) <= PROVENANCE_ROOM and json.loads(text)["inputs"]["baselines"] == "400 models"


def test_u8_training_images_verdict_export_and_report(tmp_path):
    """The issue's first carrier end to end: 300 training digits as a U8 tensor beside the demo weights are
    detected, dropped by the export (whose re-judge no longer detects them), and the report says so."""
    from safetensors.numpy import save_file

    from inspector.core.pipeline import scan
    from inspector.core.report import build_report, render_html

    demo = resource_path("demo")
    tensors = load_file(str(demo / "mlp-benign-s0.safetensors"))
    inputs = np.load(demo / "train_sample.npz")["inputs"]
    images = np.round(inputs.reshape(len(inputs), -1)[:300] * 255).astype(np.uint8)
    src = tmp_path / "carrier.safetensors"
    save_file({**tensors, "extra.images": images}, str(src), metadata={"inspector.lab.recipe": "digits-mlp"})

    before = scan(src, ScanOptions())
    assert "non-float" in detected_families(before.to_json())
    res = scrub_model(open_model(src), tmp_path / "o.safetensors", bits=16, seed=1, judge=ScanOptions())
    assert res.rejudged is not None and not res.rejudged.suspicious and "non-float" not in res.rejudged.detected
    assert "extra.images" not in load_file(str(res.output))
    html = render_html(build_report(before, scrub=res))
    assert "Tensors dropped by the export policy" in html and "1: extra.images" in html
    assert "19,200 bytes" in html


def test_a_policy_that_drops_every_tensor_writes_nothing(make_model, tmp_path):
    from inspector.core.errors import ExportError

    src = make_model({"ids": np.arange(10, dtype=np.int64)})
    out = tmp_path / "o.safetensors"
    with pytest.raises(ExportError, match="drops all 1 tensors"):
        scrub_model(open_model(src), out, seed=1)
    assert not out.exists()
    scrub_model(open_model(src), out, seed=1, keep_tensors=["ids"])  # confirmed: written
    assert load_file(str(out))["ids"].tolist() == list(range(10))


def test_a_warning_left_in_the_export_is_named_with_its_verdict() -> None:
    from inspector.core.scrub.rejudge import Rejudgement, warnings_of

    doc = {"findings": [{"severity": "warning", "attack": "lsb", "score": 0.56, "tensor": "w"}]}
    r = Rejudgement("incomplete", 0.56, (), {}, doc, ("capacity-abuse: --data",), warnings_of(doc))
    assert r.words.endswith("warnings remain: lsb 0.56 in w") and not r.suspicious
    assert r.to_json()["warnings"] == ["lsb 0.56 in w"]
