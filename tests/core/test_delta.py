"""Fine-tune audit (``--base``): W − W_base is measured in one pass over both files and judged; a sign-encoding
penalty applied while fine-tuning is found through its sign flips, a benign fine-tune is not."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inspector.cli import main  # noqa: E402
from inspector.core.formats import open_model  # noqa: E402
from inspector.core.measure.delta import DeltaMeasurement, measure_delta  # noqa: E402
from inspector.core.pipeline import ScanOptions, scan  # noqa: E402
from inspector.core.resources import resource_path  # noqa: E402

BASE = resource_path("demo", "mlp-benign-s0.safetensors")


def _finetune(tmp_path, name, penalty=None, epochs=4):
    import torch.nn.functional as F
    from safetensors.numpy import load_file, save_file

    from inspector.core.evaluate.recipes import RECIPES
    from inspector.lab.digits import load_digits_split
    from inspector.lab.train import state_arrays, theta_of

    torch.manual_seed(0)
    m = RECIPES["digits-mlp"].build()
    m.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(str(BASE)).items()})
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-4)
    data = load_digits_split().train
    x, y = torch.from_numpy(data.inputs), torch.from_numpy(data.labels)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), 64):
            idx = order[s : s + 64]
            loss = F.cross_entropy(m(x[idx]), y[idx])
            if penalty is not None:
                loss = loss + penalty(theta_of(m))
            opt.zero_grad()
            loss.backward()
            opt.step()
    out = tmp_path / name
    save_file(state_arrays(m.eval()), str(out), {"inspector.lab.recipe": "digits-mlp"})
    return out


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    from inspector.lab import attacks
    from inspector.lab.digits import load_digits_split
    from inspector.lab.train import torch_threads

    d = tmp_path_factory.mktemp("ft")
    imgs = load_digits_split().train.inputs.reshape(-1, 64)
    signs, _ = attacks.sign_secret(imgs, 128 * 64 + 10 * 128)
    with torch_threads(1):  # a tiny model: more threads only contend
        benign = _finetune(d, "benign.safetensors", epochs=2)
        attacked = _finetune(d, "sign.safetensors", attacks.sign_penalty(signs, 20), epochs=2)
    return benign, attacked


def test_delta_of_a_model_with_itself_is_zero():
    m = open_model(BASE)
    d = measure_delta(m, m)
    assert [x.name for x in d.layers] == [t.name for t in m.tensors]
    assert all(x.relative_change == 0.0 and x.flips == 0 and x.changed == 0.0 for x in d.layers)
    assert DeltaMeasurement.from_json(json.loads(json.dumps(d.to_json()))).layers[0].count == d.layers[0].count


def test_sign_encoding_while_fine_tuning_is_found_in_the_delta(tuned):
    benign, attacked = tuned
    plain = scan(attacked)
    with_base = scan(attacked, ScanOptions(base=str(BASE)))
    flips = [f for f in with_base.findings if f.detector == "delta-sign-flips"]
    assert flips and flips[0].severity == "suspicious" and flips[0].evidence["ratio"] > 1.6
    assert with_base.verdict == "suspicious" and with_base.score > plain.score
    clean = scan(benign, ScanOptions(base=str(BASE)))
    assert not [f for f in clean.findings if f.detector.startswith("delta") and f.severity != "info"]
    summary = next(f for f in clean.findings if f.detector == "fine-tune-delta")
    assert summary.evidence["layers"][0]["relative_change"] > 0


def test_cli_base_writes_the_delta(tuned, tmp_path):
    _, attacked = tuned
    out = tmp_path / "scan.json"
    assert main(["scan", str(attacked), "--base", str(BASE), "--json", str(out), "-q"]) == 1
    doc = json.loads(out.read_text())
    assert doc["inputs"]["base"] == str(BASE)
    layers = {d["name"]: d for d in doc["delta"]["layers"]}
    assert layers["fc1.weight"]["flip_mass"] > 1.6 * layers["fc1.weight"]["chance_mass"]
    assert np.isfinite(layers["fc1.weight"]["relative_change"])
