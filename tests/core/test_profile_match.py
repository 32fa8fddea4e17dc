"""Profiles matched by architecture: signatures, scores, the choice among the built-in profiles, the pooled
fallback, and how a scan, its JSON and the command line say which profile judged the model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from inspector.core.judge import load_profile, select_profile, shipped_profiles
from inspector.core.judge.baselines import (
    MIN_MATCH_SCORE,
    Profile,
    build_profile,
    combine_signatures,
    default_profile_path,
    model_signature,
    pooled_profile,
    save_profile,
    signature_score,
)


def _t(name: str, shape: tuple[int, ...], kind: str, role: str = "weight", dtype: str = "F32") -> SimpleNamespace:
    """A TensorScan stand-in with just what signatures and matching read."""
    n = math.prod(shape)
    is_weight = kind in ("dense", "conv", "embedding")
    feats = SimpleNamespace(kind=kind, is_weight=is_weight, nonzero=n)
    return SimpleNamespace(name=name, shape=shape, kind=kind, role=role, dtype=dtype, features=feats)


def _transformer(width: int = 256, layers: int = 4) -> list[SimpleNamespace]:
    out = [_t("embeddings.word_embeddings.weight", (30000, width), "embedding")]
    for i in range(layers):
        for p in ("query", "key", "value"):
            out.append(_t(f"encoder.layer.{i}.attention.self.{p}.weight", (width, width), "dense"))
        out.append(_t(f"encoder.layer.{i}.intermediate.dense.weight", (4 * width, width), "dense"))
        out.append(_t(f"encoder.layer.{i}.output.dense.weight", (width, 4 * width), "dense"))
        out.append(_t(f"encoder.layer.{i}.output.LayerNorm.weight", (width,), "norm"))
    return out


def _convnet() -> list[SimpleNamespace]:
    out = [_t(f"layer{i}.conv.weight", (128, 128, 3, 3), "conv") for i in range(12)]
    out += [_t(f"layer{i}.bn.weight", (128,), "norm") for i in range(12)]
    return out + [_t("fc.weight", (1000, 128), "dense")]


def _digits_mlp() -> list[SimpleNamespace]:
    return [_t("fc1.weight", (128, 64), "dense"), _t("fc1.bias", (128,), "bias"), _t("fc2.weight", (10, 128), "dense")]


def test_signature_counts_parameter_shares_markers_and_size_of_weights_only():
    ts = _transformer() + [_t("optimizer.state.0.exp_avg", (1000, 1000), "dense", role="optimizer")]
    sig = model_signature(ts)
    total = 30000 * 256 + 4 * (3 * 256 * 256 + 2 * 4 * 256 * 256 + 256)
    assert sig["embedding"] == pytest.approx(30000 * 256 / total)
    assert sig["attention"] == pytest.approx(4 * 3 * 256 * 256 / total)
    assert sig["recurrent"] == 0.0
    assert sig["log10_params"] == pytest.approx(math.log10(total))  # the optimizer moment is left out
    assert sum(sig[k] for k in ("dense", "conv", "embedding", "norm", "bias", "other")) == pytest.approx(1.0)
    assert model_signature([_t("x", (3,), "dense", dtype="I64")]) == {}


def test_score_is_one_for_the_same_architecture_and_falls_with_kind_markers_and_size():
    prof = combine_signatures([model_signature(_convnet())])
    same = model_signature(_convnet())
    assert signature_score(same, prof) == pytest.approx(1.0)
    assert signature_score(model_signature(_transformer()), prof) < 0.5
    smaller = dict(same, log10_params=prof["log10_params_lo"] - 2.0)  # two decades below every profile model
    assert signature_score(smaller, prof) == pytest.approx(math.exp(-2.0))
    assert signature_score({}, prof) == 0.0


def test_built_in_profiles_ship_small_valid_and_with_signatures():
    profiles = shipped_profiles()
    names = {p.label for p in profiles}
    assert {"digits", "real-transformer", "real-convnet", "real-recurrent"} <= names
    for p in profiles:
        assert Path(p.path).stat().st_size < 200_000
        assert p.signature and p.family and p.sources
        assert p.kinds, p.label
    assert load_profile(None).label == "digits"  # the default file is still the digits profile


@pytest.mark.parametrize(
    ("tensors", "family"),
    [(_transformer(), "transformer"), (_convnet(), "convnet"), (_digits_mlp(), "digits")],
)
def test_the_profile_whose_architecture_matches_best_judges_the_model(tensors, family):
    prof = select_profile(None, tensors)
    assert prof is not None and prof.match is not None
    assert prof.family == family
    m = prof.match
    assert m.how == "matched" and m.score >= MIN_MATCH_SCORE
    assert m.candidates[0][0] == m.name and [s for _n, s in m.candidates] == sorted(
        (s for _n, s in m.candidates), reverse=True
    )
    assert m.layers == sum(1 for t in tensors if t.features.is_weight)
    assert m.layers_matched <= m.layers


def _profile(name: str, kinds: dict[str, float], tensors: list[SimpleNamespace]) -> Profile:
    from inspector.core.judge.baselines import FeatureRange

    ranges = {k: {"kurtosis": FeatureRange(3.0, hi, 3.5, 5)} for k, hi in kinds.items()}
    return Profile(
        ranges,
        (name,),
        path=f"/nowhere/{name}.json",
        name=name,
        family=name,
        signature=combine_signatures([model_signature(tensors)]),
    )


@pytest.mark.parametrize(("donor_like", "lent"), [("vit", True), ("convnet", False)])
def test_a_layer_kind_the_best_profile_lacks_is_lent_by_a_close_profile_only(monkeypatch, donor_like, lent):
    import inspector.core.judge.baselines as baselines

    # a transformer with a conv stem (ViT-style patch embedding); the best profile has no conv range
    vit = _transformer() + [_t("patch_embed.proj.weight", (256, 3, 16, 16), "conv")]
    best = _profile("plain-transformer", {"dense": 9.0, "embedding": 9.0}, _transformer())
    donor_arch = vit if donor_like == "vit" else _convnet()  # close to the model, or far from it
    donor = _profile("donor", {"conv": 50.0}, donor_arch)
    monkeypatch.setattr(baselines, "shipped_profiles", lambda: [best, donor])
    prof = select_profile(None, vit)
    m = prof.match
    assert m.name in ("plain-transformer", "donor")
    if m.name == "donor":  # the model is closer to the donor's own signature: nothing to lend
        assert prof.get("conv", "kurtosis").hi == 50.0 and not m.kinds_from
        return
    assert dict(m.candidates)["donor"] < m.score  # covering one kind, the donor does not match best
    assert (signature_score(model_signature(vit), donor.signature) >= baselines.MIN_LEND_SCORE) == lent
    assert ("conv" in m.kinds_from) == lent
    assert (prof.get("conv", "kurtosis") is not None) == lent
    assert m.layers_matched == m.layers - (0 if lent else 1)


def test_no_close_match_falls_back_to_the_envelope_of_every_profile():
    # one recurrent layer of 40 values: too small and too unlike anything shipped to narrow the prior
    ts = [_t("rnn.weight_hh_l0", (5, 8), "dense")]
    prof = select_profile(None, ts)
    m = prof.match
    assert m.name == "pooled" and m.score < MIN_MATCH_SCORE and "no built-in profile matches well" in m.note
    pooled = pooled_profile(shipped_profiles())
    for p in shipped_profiles():
        for kind, feats in p.kinds.items():
            for f, r in feats.items():
                if r.count:
                    assert pooled.kinds[kind][f].lo <= r.lo and pooled.kinds[kind][f].hi >= r.hi


def test_a_given_profile_is_used_as_given_and_scored(tmp_path):
    given = select_profile(str(default_profile_path()), _convnet())
    assert given.match.how == "given" and given.label == "digits"
    assert given.match.score < 0.5  # the digits profile is a poor fit for a convnet, and the scan says so
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(Profile({}, ("x",)).to_json()))
    unsigned = select_profile(str(bare), _convnet())
    assert math.isnan(unsigned.match.score) and unsigned.match.to_json()["score"] is None


def test_profile_build_records_name_family_signature_and_skips_training_state(make_model, tmp_path):
    rng = np.random.default_rng(0)
    path = make_model(
        {
            "fc.weight": rng.normal(0, 0.05, (64, 64)).astype(np.float32),
            "optimizer.state.0.exp_avg_sq": (rng.normal(0, 1e-3, (64, 64)) ** 2).astype(np.float32),
        },
        metadata={"format": "pt"},
    )
    prof = build_profile([path], name="tiny", family="mlp")
    out = tmp_path / "tiny.json"
    save_profile(prof, out)
    again = load_profile(str(out))
    assert (again.name, again.family) == ("tiny", "mlp")
    assert again.signature["dense"] == pytest.approx(1.0)
    assert again.signature["log10_params_lo"] == again.signature["log10_params_hi"]


def test_a_hostile_signature_is_refused_in_one_line(tmp_path):
    from inspector.core.errors import InspectorError

    doc = json.loads(default_profile_path().read_text())
    doc["signature"]["dense"] = "lots"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(InspectorError, match="signature.dense"):
        load_profile(str(p))


def test_scan_json_cli_and_report_say_which_profile_judged(make_model, tmp_path, capsys):
    from inspector.cli import main
    from inspector.core.pipeline import rejudge, scan

    rng = np.random.default_rng(1)
    path = make_model(
        {f"layer{i}.conv.weight": rng.normal(0, 0.05, (32, 32, 3, 3)).astype(np.float32) for i in range(3)}
        | {"fc.weight": rng.normal(0, 0.05, (64, 288)).astype(np.float32)}
    )
    r = scan(path)
    doc = r.to_json()
    assert doc["profile"]["name"] == r.inputs.profile.label and doc["profile"]["how"] == "matched"
    assert doc["profile"]["layers"] == 4 and 0.0 <= doc["profile"]["score"] <= 1.0
    again = rejudge(r, profile=str(default_profile_path()))
    assert again.to_json()["profile"]["how"] == "given"
    out = tmp_path / "scan.json"
    main(["scan", str(path), "--json", str(out)])
    assert f"Profile: {doc['profile']['name']} (matched" in capsys.readouterr().out
    from inspector.core.report import build_report

    rows = {row.label: row for row in build_report(r).inputs}
    assert rows["Baseline profile"].value == doc["profile"]["name"]
    assert "matched by architecture" in rows["Baseline profile"].note


def test_profile_command_builds_and_lists(make_model, tmp_path, capsys):
    from inspector.cli import main

    rng = np.random.default_rng(2)
    path = make_model({"fc.weight": rng.normal(0, 0.05, (64, 64)).astype(np.float32)})
    out = tmp_path / "p.json"
    assert main(["profile", "build", str(path), "-o", str(out), "--name", "mine", "--family", "mlp"]) == 0
    assert "wrote" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert (doc["name"], doc["family"]) == ("mine", "mlp") and doc["signature"]["dense"] == 1.0
    assert main(["profile", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(p.label in listed for p in shipped_profiles())
