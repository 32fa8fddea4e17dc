"""torch.package archives (``PackageExporter``: silero's speech models) open without running them.

Their pickles and scripted modules are read like checkpoints, their storages from ``.data/``; the Python source
they ship is code on load when a pickle names a class of it. torch only writes the archives here.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import inspector
from inspector.core.errors import MalformedFileError
from inspector.core.judge.detectors.code_execution import detect
from inspector.core.pipeline import ScanOptions, scan

torch = pytest.importorskip("torch")
package = pytest.importorskip("torch.package")

pytestmark = pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")


def _values(model: inspector.ModelFile) -> dict[str, np.ndarray]:
    from inspector.core.formats.base import read_tensor

    return {t.name: read_tensor(t) for t in model.tensors}


def test_a_pickled_state_dict_reads_bit_for_bit_and_runs_nothing(tmp_path: Path) -> None:
    net = torch.nn.Linear(5, 3)
    path = tmp_path / "sd.pt"
    with package.PackageExporter(str(path)) as e:
        e.extern("torch.**")
        e.save_pickle("weights", "sd.pkl", net.state_dict())
    model = inspector.open_model(path)
    assert model.format == "torch-package" and model.threats == ()
    got = _values(model)
    assert set(got) == {"weights/sd.pkl.weight", "weights/sd.pkl.bias"}
    assert np.array_equal(got["weights/sd.pkl.weight"], net.weight.detach().numpy())
    assert scan(path, ScanOptions()).verdict != "suspicious"


def test_a_scripted_module_in_a_package_is_read_from_its_ts_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package.package_exporter, "_gate_torchscript_serialization", False)  # how silero writes
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    path = tmp_path / "scripted.pt"
    with package.PackageExporter(str(path)) as e:
        e.extern("torch.**")
        e.save_pickle("model", "model.pkl", torch.jit.script(net))
    model = inspector.open_model(path)
    got = _values(model)
    assert {n.split(".", 1)[1] for n in got} == set(net.state_dict())
    for name, value in net.state_dict().items():
        (match,) = [v for n, v in got.items() if n.endswith("." + name)]
        assert np.array_equal(match, value.numpy())
    assert [t for t in model.threats if not t.call.startswith("package")] == []


def test_source_a_pickle_names_is_code_on_load_and_the_weights_are_still_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "tinymodel.py").write_text(
        "import torch\n\nclass Tiny(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = torch.nn.Linear(8, 4)\n"
    )
    monkeypatch.syspath_prepend(str(src))
    import tinymodel  # type: ignore[import-not-found]

    path = tmp_path / "whole.pt"
    with package.PackageExporter(str(path)) as e:
        e.intern("tinymodel")
        e.extern("torch.**")
        e.save_pickle("model", "model.pkl", tinymodel.Tiny())
    monkeypatch.delitem(sys.modules, "tinymodel")
    model = inspector.open_model(path)
    (source,) = [t for t in model.threats if t.call.startswith("package")]
    assert source.call == "package" and source.listing == ("tinymodel.py",) and source.module == "tinymodel"
    # torch.nn's own classes are rebuilt as for a pickled whole model: a note beside it
    assert {t.call for t in model.threats} == {"package", "class-code"}
    (finding,) = [f for f in detect(model.threats) if f.evidence.get("kind") == "torch-package"]
    assert finding.severity == "suspicious" and "tinymodel.py" in finding.message
    assert any(n.endswith("fc.weight") for n in _values(model))
    res = scan(path, ScanOptions())
    assert res.verdict == "suspicious"
    assert {f.family: f.status for f in res.families}["code-execution"] == "detected"


def test_source_no_pickle_names_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "unused.pt"
    with package.PackageExporter(str(path)) as e:
        e.extern("torch.**")
        e.save_source_string("helpers", "def f():\n    return 1\n")
        e.save_pickle("weights", "w.pkl", {"w": torch.ones(4, 4)})
    model = inspector.open_model(path)
    assert [t.call for t in model.threats] == ["package-unused"]
    (finding,) = detect(model.threats)
    assert finding.severity == "warning"


def test_a_missing_storage_is_named(tmp_path: Path) -> None:
    good = tmp_path / "sd.pt"
    with package.PackageExporter(str(good)) as e:
        e.extern("torch.**")
        e.save_pickle("weights", "sd.pkl", {"w": torch.ones(3)})
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith(".storage"):
                zout.writestr(info, zin.read(info))
    with pytest.raises(MalformedFileError, match="missing from the archive"):
        inspector.open_model(bad)


def test_packaged_source_is_searched_for_encoded_data_as_a_companion_file_is(tmp_path: Path) -> None:
    import base64

    blob = base64.b64encode(np.random.default_rng(0).integers(0, 17, 6000).astype(np.uint8).tobytes() * 2).decode()
    for name, source, found in (
        ("plain.pt", "def scale(x):\n    return 2 * x\n" * 200, False),
        ("blob.pt", f"TABLE = {blob!r}\n", True),
    ):
        path = tmp_path / name
        with package.PackageExporter(str(path)) as e:
            e.extern("torch.**")
            e.save_source_string("helpers", source)
            e.save_pickle("weights", "w.pkl", {"w": torch.ones(4, 4)})
        hits = [f for f in scan(path, ScanOptions()).findings if f.detector == "hidden-bytes"]
        assert bool(hits) == found, (name, [f.message for f in hits])
        if found:
            assert "helpers.py" in hits[0].message and "base64" in hits[0].message


def test_every_resource_is_read_as_the_pickle_it_may_be(tmp_path: Path) -> None:
    """``load_pickle`` reads a pickle of any protocol: a protocol-0 one that calls ``os.system`` is found; a binary
    resource that merely starts like a pickle is bytes no tensor shows, not a refusal of the archive; bytes after a
    pickle's STOP are judged too."""
    import pickle

    path = tmp_path / "pkg.pt"
    with package.PackageExporter(str(path)) as e:
        e.extern("torch.**")
        e.save_pickle("weights", "w.pkl", {"w": torch.ones(4, 4)})
        e.save_binary("res", "evil.pkl", b"cos\nsystem\n(S'true'\ntR.")
        e.save_binary("res", "blob.bin", b"\x80" + bytes(range(256)) * 40)
        e.save_binary("res", "tail.pkl", pickle.dumps({"a": 1}, protocol=4) + b"QUFB" * 2000)
    model = inspector.open_model(path)
    assert [t.global_name for t in model.threats if t.call == "call"] == ["os.system"]
    where = " ".join(h.where for h in model.hidden)
    assert "blob.bin" in where and "bytes after the pickle 'res/tail.pkl'" in where
