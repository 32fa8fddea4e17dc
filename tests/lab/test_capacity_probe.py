"""The capacity probe judges agreement, not the label mapping: a model that memorised a permuted-alphabet code on
continuous noise is flagged against the data surrogate and against a baseline; a benign model is not."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.formats import open_model
from inspector.core.formats.data import Dataset
from inspector.core.judge.detectors import capacity
from inspector.lab import capcodes
from inspector.lab.files import write_safetensors

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


def test_kappa_known_answers():
    a = np.array([0, 1, 2, 3] * 50)
    assert capacity.kappa(a, a, 10) == pytest.approx(1.0)
    perm = np.array([7, 2, 9, 4])[a]  # a relabelling agrees at chance whatever the classes
    # no equal labels; chance agreement comes from class 2 only: κ = (0 − 1/16) / (1 − 1/16)
    assert capacity.kappa(a, perm, 10) == pytest.approx(-1 / 15)
    rng = np.random.default_rng(0)
    assert abs(capacity.kappa(rng.integers(0, 10, 5000), rng.integers(0, 10, 5000), 10)) < 0.03


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from inspector.lab.digits import load_digits_split
    from inspector.lab.train import TrainConfig, state_arrays, torch_threads, train

    out = tmp_path_factory.mktemp("cap")
    split = load_digits_split()
    code = capcodes.CODES["cap-noise-perm"]
    values = capcodes.secret_values(code, split.train.inputs[:5])
    syn = Dataset(capcodes.queries(code, 11, values.size), capcodes.encode_labels(code, values))
    cfg = TrainConfig("digits-mlp", epochs=30, lr=3e-3)
    files = {}
    with torch_threads(1):
        for name, seed, extra in (("benign", 0, None), ("reference", 1, None), ("cap", 0, syn)):
            path = out / f"{name}.safetensors"
            write_safetensors(path, state_arrays(train(cfg.but(seed=seed), split.train, extra=extra)), {})
            files[name] = open_model(path)
    return files, split.test


def _judge(result, kinds):
    keep = [a for a in result.agreements if a.kind in kinds]
    return capacity.judge_probe(capacity.ProbeResult(result.probes, result.classes, result.behaviour, keep))[0]


@pytest.mark.slow  # trains three small MLPs (about 3 s on an idle core)
def test_probe_flags_a_permuted_alphabet_code_and_passes_a_benign_model(models):
    files, test = models
    for name, flagged in (("benign", False), ("cap", True)):
        r = capacity.run_probe(files[name], "digits-mlp", test, [("baseline reference", files["reference"])])
        assert {a.kind for a in r.agreements} == {"baseline", "surrogate"}
        assert r.to_dict()["probes"] == capacity.PROBES  # plain data
        for kinds in ({"surrogate"}, {"baseline", "surrogate"}):
            f = _judge(r, kinds)
            assert (f.severity == "suspicious") is flagged, (name, kinds, f.message)
            assert f.evidence["agreement_test"]["real_kappa"] > 0.8  # the reference explains real data
        # the alphabet test alone cannot see a code on classes 7, 2, 9, 4
        assert capacity.alphabet(r.behaviour)[0] == 0.0


@pytest.mark.slow
def test_surrogate_that_does_not_explain_the_model_is_inconclusive(models):
    files, test = models
    shuffled = Dataset(test.inputs, np.random.default_rng(0).permutation(test.labels))
    r = capacity.run_probe(files["cap"], "digits-mlp", shuffled)
    f = capacity.judge_probe(r)[0]
    assert f.evidence["agreement_test"]["real_kappa"] < capacity.MIN_REAL_KAPPA
    assert f.severity != "suspicious"
    excess, msg, _ = capacity.agreement_evidence(r.agreements[0])
    assert excess == 0.0 and "inconclusive" in msg


def test_families_answered_with_one_class_are_not_judged():
    fams = capacity.FAMILIES
    both_constant = capacity.Agreement(
        "baseline b",
        "baseline",
        dict.fromkeys(fams, 0.0),
        dict.fromkeys(fams, 0.9995),
        0.97,
        None,
        dict.fromkeys(fams, 0.9995),
    )
    excess, msg, _ = capacity.agreement_evidence(both_constant)
    assert excess == 0.0 and "inconclusive" in msg
    # one informative family at chance level is evidence again
    mixed = capacity.Agreement(
        "baseline b",
        "baseline",
        {**dict.fromkeys(fams, 0.0)},
        dict.fromkeys(fams, 0.5),
        0.97,
        None,
        {**dict.fromkeys(fams, 0.9995), "uniform noise": 0.2},
    )
    assert capacity.agreement_evidence(mixed)[0] == capacity.MAX_EXCESS
