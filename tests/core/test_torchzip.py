"""The restricted PyTorch checkpoint readers: real torch.save output reads bit for bit, hostile files are refused.

torch is used here only to *write* checkpoints (and, once, as a control that a hostile payload is live);
the reader under test never imports it.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import inspector
from inspector.core.errors import MalformedFileError, UnsafeFileError, UnsupportedFormatError
from inspector.core.formats import read_tensor
from inspector.core.formats.torchzip import open_torch_legacy, open_torch_zip
from inspector.core.pipeline import ScanOptions, scan

torch = pytest.importorskip("torch")

OUR_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.uint16: "U16",
    torch.bool: "BOOL",
}


def _save(obj, path: Path, legacy: bool = False) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def _raw(t) -> bytes:
    """The tensor's elements in row-major order as raw little-endian bytes (bf16/fp8 included)."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _state_dict() -> dict:
    g = torch.Generator().manual_seed(0)
    fc = torch.nn.Linear(4, 3)
    sd = collections.OrderedDict(fc.state_dict())
    w = sd["weight"]
    sd["weight_t"] = w.t()  # non-contiguous view of the same storage
    sd["row_tail"] = w[1:]  # contiguous, non-zero storage offset
    sd["column"] = w[:, 2]  # strided with an offset
    sd["expanded"] = torch.randn(1, 4, generator=g).expand(3, 4)  # stride 0
    sd["half"] = torch.randn(2, 5, generator=g).half()
    sd["bf16"] = torch.randn(7, generator=g).bfloat16()
    sd["f64"] = torch.randn(3, generator=g, dtype=torch.float64)
    sd["long"] = torch.arange(-3, 3)
    sd["int"] = torch.tensor([1, -2, 2**31 - 1], dtype=torch.int32)
    sd["short"] = torch.tensor([-7, 9], dtype=torch.int16)
    sd["char"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["byte"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["num_batches_tracked"] = torch.tensor(12)
    return sd


def _assert_same(model, sd) -> None:
    assert model.names == list(sd)
    for name, t in sd.items():
        ref = model[name]
        assert ref.shape == tuple(t.shape), name
        assert ref.dtype.name == OUR_NAMES[t.dtype], name
        assert inspector.read_tensor(ref).tobytes() == _raw(t), name
        assert b"".join(c.tobytes() for c in inspector.iter_chunks(ref, chunk_bytes=8)) == _raw(t), name


# ------------------------------------------------------------------------------------------ real torch output
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_reads_bit_identical(tmp_path: Path, legacy: bool) -> None:
    sd = _state_dict()
    model = inspector.open_model(_save(sd, tmp_path / "m.pt", legacy))

    assert model.format == ("pytorch-legacy" if legacy else "pytorch-zip")
    _assert_same(model, sd)
    assert model["weight"].strides is None
    assert model["weight_t"].strides == (1, 4)
    assert model["column"].strides == (4,)
    assert model["expanded"].strides == (0, 1)
    assert model["row_tail"].strides is None
    assert model["row_tail"].offset == model["weight"].offset + 4 * 4
    assert model.files == (tmp_path / "m.pt",)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_newer_dtypes_saved_as_untyped_storage(tmp_path: Path, legacy: bool) -> None:
    sd = {
        "f8": torch.tensor([0.5, -2.0, 448.0]).to(torch.float8_e4m3fn),
        "u16": torch.tensor([0, 1, 65535], dtype=torch.uint16),
    }
    _assert_same(inspector.open_model(_save(sd, tmp_path / "m.pt", legacy)), sd)


def test_parameters_and_shared_tensors(tmp_path: Path) -> None:
    w = torch.nn.Parameter(torch.randn(3, 2))
    sd = {"emb.weight": w, "head.weight": w, "plain": torch.ones(2)}
    model = inspector.open_model(_save(sd, tmp_path / "m.pt"))
    _assert_same(model, sd)
    assert model["emb.weight"].offset == model["head.weight"].offset


def test_storage_bytes_no_tensor_shows_are_reported(tmp_path: Path) -> None:
    # torch.save writes a view's whole storage: 98 floats no tensor shows are still in the file.
    model = inspector.open_model(_save({"x": torch.arange(100.0)[:2]}, tmp_path / "m.pt"))
    assert model["x"].shape == (2,)
    assert model.metadata["pytorch.unreferenced_storage_bytes"] == str(98 * 4)
    plain = inspector.open_model(_save({"x": torch.arange(100.0)}, tmp_path / "p.pt"))
    assert "pytorch.unreferenced_storage_bytes" not in plain.metadata


# ------------------------------------------------------------------------------------------ nesting
def test_wrapped_state_dict_is_unwrapped_and_leaves_become_metadata(tmp_path: Path) -> None:
    sd = _state_dict()
    ckpt = {"state_dict": sd, "epoch": 3, "best_acc": 0.5, "arch": "mlp", "opt": {"lr": 0.1, "betas": (0.9, 0.99)}}
    model = inspector.open_model(_save(ckpt, tmp_path / "m.pt"))

    _assert_same(model, sd)
    assert model.metadata["pytorch.wrapper"] == "state_dict"
    assert model.metadata["pytorch.epoch"] == "3"
    assert model.metadata["pytorch.best_acc"] == "0.5"
    assert model.metadata["pytorch.arch"] == "mlp"
    assert model.metadata["pytorch.opt"] == "{'lr': 0.1, 'betas': (0.9, 0.99)}"  # in file order, never sorted


def test_general_nesting_uses_dotted_paths(tmp_path: Path) -> None:
    a, b, c, d = (torch.full((2,), float(i)) for i in range(4))
    ckpt = {"model": {"fc": {"weight": a}}, "ema": {"fc.weight": b}, "hist": [c, (d,)], "step": 7}
    model = inspector.open_model(_save(ckpt, tmp_path / "m.pt"))

    assert model.names == ["model.fc.weight", "ema.fc.weight", "hist.0", "hist.1.0"]
    assert [inspector.read_tensor(t)[0] for t in model.tensors] == [0.0, 1.0, 2.0, 3.0]
    assert "pytorch.wrapper" not in model.metadata
    assert model.metadata["pytorch.step"] == "7"


def test_a_bare_tensor_and_colliding_names_stay_visible(tmp_path: Path) -> None:
    assert inspector.open_model(_save(torch.ones(3), tmp_path / "t.pt")).names == ["tensor"]
    model = inspector.open_model(_save({"a.b": torch.ones(1), "a": {"b": torch.zeros(1)}}, tmp_path / "c.pt"))
    assert model.names == ["a.b", "a.b#2"]


# ------------------------------------------------------------------------------------------ hostile files
class _RunsShell:
    """Unpickling this runs a shell command: the classic pickle payload."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_code_in_the_pickle_is_refused_by_name_and_never_runs(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "MARKER"
    ckpt = {"fc.weight": torch.ones(2), "evil": _RunsShell(f"touch {shlex.quote(str(marker))}")}
    path = _save(ckpt, tmp_path / "evil.pt", legacy)

    model = inspector.open_model(path)  # a verdict, not an error: the call is recorded, never made
    assert [t.global_name for t in model.threats] == [f"{os.system.__module__}.system"]  # 'posix.system' on Linux
    threat = model.threats[0]
    assert threat.call == "call" and threat.offset > 0 and any("REDUCE" in line for line in threat.listing)
    assert model.names == ["fc.weight"]  # what the dangerous call did not build is still read
    assert inspector.read_tensor(model["fc.weight"]).tolist() == [1.0, 1.0]
    assert not marker.exists()

    # Control: the payload is live, so the assertion above could fail.
    torch.load(path, weights_only=False)  # noqa: TID251 - our own crafted file, to prove the payload runs
    assert marker.exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickled_whole_module_is_read_as_its_state_dict(tmp_path: Path, legacy: bool) -> None:
    """``torch.save(model)`` pickles every module as an object of its class (built without arguments, then given
    its attribute dict): the weights are read under their state_dict names without importing any class, and the
    classes torch.load would import are one warning, not a refusal."""
    from inspector.core.judge.detectors.code_execution import detect

    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.LSTM(3, 4))
    path = _save(net, tmp_path / "whole.pt", legacy)
    model = inspector.open_model(path)
    assert model.names == list(net.state_dict())  # the LSTM's _flat_weights list its parameters once
    for name, value in net.state_dict().items():
        assert inspector.read_tensor(model[name]).tobytes() == value.numpy().tobytes(), name
    (t,) = model.threats
    assert t.call == "class-code" and "torch.nn.modules.container.Sequential" in t.listing
    assert "torch.nn.modules.rnn.LSTM" in t.listing and "pytorch.refused_calls" not in model.metadata
    (f,) = detect(model.threats)
    assert (f.attack, f.severity) == ("code-execution", "warning") and "whole model" in f.message
    r = inspector.scan(path)
    assert r.verdict != "suspicious" and {x.family: x.status for x in r.families}["code-execution"] == "not-detected"
    assert next(x for x in r.families if x.family == "code-execution").warning


def test_a_whole_model_whose_class_is_called_with_arguments_is_still_refused(tmp_path: Path) -> None:
    """``Class(*args)`` runs its ``__init__`` with values from the file: that needs the class's code."""
    import pickle

    class Holder:  # pickled as REDUCE(mypkg.Net, (3,)), the way a class with __reduce__ returning args is
        def __reduce__(self):
            return (_Net, (3,))

    global _Net

    class _Net:
        pass

    _Net.__module__, _Net.__qualname__ = "mypkg.models", "Net"
    import sys
    import types

    sys.modules["mypkg"] = types.ModuleType("mypkg")
    sys.modules["mypkg.models"] = mod = types.ModuleType("mypkg.models")
    mod.Net = _Net
    try:
        path = tmp_path / "called.pt"
        torch.save({"w": torch.ones(2), "net": Holder()}, path, pickle_module=pickle)
    finally:
        del sys.modules["mypkg"], sys.modules["mypkg.models"]
    with pytest.raises(UnsafeFileError, match=r"'mypkg\.models\.Net'"):
        inspector.open_model(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_weights_are_read_and_its_code_is_a_warning_not_a_verdict(tmp_path: Path) -> None:
    from inspector.core.judge.detectors.code_execution import detect

    path = tmp_path / "scripted.pt"
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    torch.jit.save(torch.jit.script(net), str(path))
    model = inspector.open_model(path)
    assert model.format == "torchscript"
    _assert_same(model, net.state_dict())
    assert [t.call for t in model.threats] == ["torchscript"]
    (finding,) = detect(model.threats)
    assert finding.severity == "warning" and finding.attack != "code-execution" and "inference" in finding.message


def test_plain_pickles_open_as_what_pickle_load_would_build(tmp_path: Path) -> None:
    """A pickle that is no torch checkpoint (``pickle.dump`` of arrays, a scikit-learn model) is read as
    ``pickle.load`` would build it: its numpy arrays are its tensors, its values judged, its calls recorded."""
    import numpy as np

    data = tmp_path / "data.pkl"
    w = np.random.default_rng(0).normal(0, 0.1, (16, 8)).astype(np.float32)
    data.write_bytes(pickle.dumps({"a": 1, "layers": [w]}, protocol=2) + b"trailing bytes pickle.load never reads")
    model = inspector.open_model(data)
    assert (
        model.format == "pickle" and model.names == ["layers.0"] and np.array_equal(read_tensor(model["layers.0"]), w)
    )
    assert model.metadata["pytorch.a"] == "1"
    assert [h.nbytes for h in model.hidden] == [len(b"trailing bytes pickle.load never reads")]
    listed = tmp_path / "list.pkl"
    listed.write_bytes(pickle.dumps([w, w * 2], protocol=4))
    assert inspector.open_model(listed).names == ["value.0", "value.1"]
    # bytes that merely parse as a protocol-0 pickle (no PROTO opcode) are no pickled model
    text = tmp_path / "notes.bin"
    text.write_text("N.a text file that starts like a pickle\n")
    with pytest.raises(UnsupportedFormatError, match="not a PyTorch checkpoint"):
        inspector.open_model(text)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_RunsShell("true"), protocol=2))
    model = inspector.open_model(evil)
    assert model.format == "pickle" and not model.tensors
    assert [t.global_name for t in model.threats] == [f"{os.system.__module__}.system"]


# ------------------------------------------------------------------------------------------ broken files
def test_a_zip_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes/readme.txt", "hello")
    with pytest.raises(UnsupportedFormatError, match="without a data.pkl"):
        inspector.open_model(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_checkpoints_are_malformed(tmp_path: Path, legacy: bool, keep: float) -> None:
    path = _save({"w": torch.randn(64, 64), "b": torch.randn(64)}, tmp_path / "m.pt", legacy)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MalformedFileError) as err:
        inspector.open_model(path)
    assert str(path) in str(err.value)


class _Storage:
    """Pickled as a persistent id, like torch's storages."""

    def __init__(self, key: str, numel: int, kind=None) -> None:
        self.key, self.numel, self.kind = key, numel, kind or torch.FloatStorage


class _Call:
    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def _tensor(storage: _Storage, offset: int, shape: tuple, strides: tuple) -> _Call:
    return _Call(torch._utils._rebuild_tensor_v2, storage, offset, shape, strides, False, collections.OrderedDict())


def _write_zip(path: Path, obj=None, storages=None, *, pkl: bytes | None = None, byteorder=b"little", deflate=False):
    buf = io.BytesIO()
    if pkl is None:
        _Pickler(buf, protocol=2).dump(obj)
        pkl = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", byteorder)
        for key, data in (storages or {}).items():
            z.writestr(f"archive/data/{key}", data, zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    return path


def test_hand_written_zip_reads(tmp_path: Path) -> None:
    st = _Storage("0", 6)
    values = torch.arange(6.0)
    path = _write_zip(tmp_path / "m.pt", {"w": _tensor(st, 1, (2, 2), (1, 2))}, {"0": _raw(values)})
    model = open_torch_zip(path)
    assert inspector.read_tensor(model["w"]).tolist() == values[1:].as_strided((2, 2), (1, 2)).tolist()


@pytest.mark.parametrize(
    ("shape", "strides", "offset"),
    [((7,), (1,), 0), ((2, 3), (3, 1), 1), ((4,), (2,), 0), ((-1,), (1,), 0), ((2,), (1, 1), 0), ((1,), (1,), 2**70)],
)
def test_tensors_outside_their_storage_are_refused(tmp_path: Path, shape, strides, offset) -> None:
    st = _Storage("0", 6)
    path = _write_zip(tmp_path / "m.pt", {"w": _tensor(st, offset, shape, strides)}, {"0": bytes(24)})
    with pytest.raises(MalformedFileError, match="data.pkl is not a valid checkpoint pickle"):
        open_torch_zip(path)


def test_storage_problems_are_named(tmp_path: Path) -> None:
    obj = {"w": _tensor(_Storage("0", 6), 0, (6,), (1,))}
    with pytest.raises(MalformedFileError, match="storage '0' is missing"):
        open_torch_zip(_write_zip(tmp_path / "a.pt", obj, {}))
    with pytest.raises(MalformedFileError, match="storage '0' holds 20 bytes but the pickle declares 24"):
        open_torch_zip(_write_zip(tmp_path / "b.pt", obj, {"0": bytes(20)}))
    with pytest.raises(MalformedFileError, match="compressed"):
        open_torch_zip(_write_zip(tmp_path / "c.pt", obj, {"0": bytes(24)}, deflate=True))
    with pytest.raises(UnsupportedFormatError, match="big-endian"):
        open_torch_zip(_write_zip(tmp_path / "d.pt", obj, {"0": bytes(24)}, byteorder=b"big"))
    with pytest.raises(UnsupportedFormatError, match="ComplexFloatStorage"):
        open_torch_zip(
            _write_zip(tmp_path / "e.pt", {"w": _tensor(_Storage("0", 1, torch.ComplexFloatStorage), 0, (1,), (1,))})
        )


def test_deep_nesting_is_refused_without_a_crash(tmp_path: Path) -> None:
    depth = 100_000
    pkl = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    with pytest.raises(MalformedFileError, match="deeper than"):
        open_torch_zip(_write_zip(tmp_path / "deep.pt", pkl=pkl))


def test_garbage_pickle_is_malformed(tmp_path: Path) -> None:
    with pytest.raises(MalformedFileError, match="not a valid checkpoint pickle"):
        open_torch_zip(_write_zip(tmp_path / "g.pt", pkl=b"\x80\x02}q\x00(X\x01"))


def test_legacy_reader_rejects_other_pickles(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(7, protocol=2))
    with pytest.raises(UnsupportedFormatError, match="unknown protocol 7"):
        open_torch_legacy(path)


def test_reading_never_imports_torch(tmp_path: Path) -> None:
    path = _save(_state_dict(), tmp_path / "m.pt")
    legacy = _save(_state_dict(), tmp_path / "l.pt", legacy=True)
    code = (
        "import sys, inspector\n"
        f"for p in ({str(path)!r}, {str(legacy)!r}):\n"
        "    m = inspector.open_model(p)\n"
        "    [inspector.read_tensor(t) for t in m.tensors]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=120)


def test_bytes_outside_every_tensor_are_reported(tmp_path: Path) -> None:
    obj = {"w": _tensor(_Storage("0", 2), 0, (2,), (1,))}
    path = _write_zip(tmp_path / "m.pt", obj, {"0": bytes(8), "7": bytes(100)})
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("archive/payload.bin", b"x" * 5)
    model = open_torch_zip(path)
    assert model.names == ["w"]
    assert model.metadata["pytorch.unreferenced_storage_bytes"] == "105"
    assert model.metadata["pytorch.unexpected_members"] == "['archive/data/7', 'archive/payload.bin']"
    assert sorted((h.kind, h.where, h.nbytes) for h in model.hidden) == [
        ("member", "archive member 'archive/data/7'", 100),
        ("member", "archive member 'archive/payload.bin'", 5),
    ]
    with open(path, "rb") as f:  # each member's bytes are located in the file, to be read
        for h in model.hidden:
            f.seek(h.offset)
            assert f.read(h.nbytes) == (bytes(100) if h.nbytes == 100 else b"x" * 5)

    legacy = _save({"w": torch.ones(2)}, tmp_path / "l.pt", legacy=True)
    with open(legacy, "ab") as f:
        f.write(b"hidden")
    assert open_torch_legacy(legacy).metadata["pytorch.unreferenced_storage_bytes"] == "6"


def test_tensors_used_as_dict_keys_are_listed(tmp_path: Path) -> None:
    key = _tensor(_Storage("0", 1), 0, (1,), (1,))
    path = _write_zip(
        tmp_path / "m.pt",
        {"w": _tensor(_Storage("1", 1), 0, (1,), (1,)), "d": {key: 1}},
        {"0": bytes(4), "1": bytes(4)},
    )
    assert open_torch_zip(path).names == ["w", "d.<key 0>"]


def test_unprintable_leaves_do_not_crash(tmp_path: Path) -> None:
    huge = 10**5000  # str() refuses ints this long
    path = _write_zip(
        tmp_path / "m.pt", {"w": _tensor(_Storage("0", 1), 0, (1,), (1,)), "n": huge, huge: 1}, {"0": bytes(4)}
    )
    model = open_torch_zip(path)
    assert model.names == ["w"]
    assert model.metadata["pytorch.n"] == "<int>"


def test_a_defaultdict_of_a_builtin_type_is_data_and_any_other_factory_is_refused(tmp_path: Path) -> None:
    """Lightning/Hydra checkpoints pickle omegaconf nodes whose ``resolver_cache`` is ``defaultdict(dict)``: data,
    not a call worth a code-execution finding. A factory that is not a plain type is refused, not run."""
    from inspector.core.pipeline import scan

    hp = collections.defaultdict(dict)
    hp["model"]["width"] = 64
    good = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {"w": torch.randn(64, 64)}, "hyper_parameters": hp}, good)
    r = scan(good)
    assert not [f for f in r.findings if f.attack == "code-execution"]
    ordered = tmp_path / "ordered.ckpt"  # LightGBM's boosters keep defaultdict(OrderedDict): data as well
    torch.save(
        {"state_dict": {"w": torch.randn(64, 64)}, "cache": collections.defaultdict(collections.OrderedDict)}, ordered
    )
    assert not [f for f in scan(ordered).findings if f.attack == "code-execution"]
    bad = tmp_path / "factory.ckpt"
    torch.save({"state_dict": {"w": torch.randn(64, 64)}, "cache": collections.defaultdict(Path)}, bad)
    # any other factory is code the file needs: named as such (an import torch.load would make), never called
    # "damaged or truncated"
    found = [f for f in scan(bad).findings if f.attack == "code-execution" and f.severity == "suspicious"]
    assert found and "pathlib.Path" in found[0].message


def test_configuration_objects_beside_the_weights_are_data(tmp_path: Path) -> None:
    """argparse namespaces that training scripts pickle into checkpoints (omegaconf nodes likewise) are rebuilt as
    attribute dicts: the checkpoint opens, nothing is called, no code-execution finding."""
    import argparse

    from inspector.core.pipeline import scan

    args = argparse.Namespace(lr=1e-3, data="/data/train", layers=[64, 64])
    ckpt = tmp_path / "train.ckpt"
    torch.save({"state_dict": {"w": torch.randn(64, 64)}, "args": args, "epoch": 3}, ckpt)
    r = scan(ckpt)
    assert any(t.name.endswith("w") and t.shape == (64, 64) for t in r.tensors)
    assert not [f for f in r.findings if f.attack == "code-execution"]


def test_weight_tests_on_optimizer_state_stop_at_a_warning(tmp_path: Path) -> None:
    """Adam's moments are not trained weights (exact repeats, values pinned near eps): the weight tests judge
    them at most as a warning, naming the tensor; the model's own weights are judged in full."""
    from inspector.core.pipeline import scan

    g = torch.Generator().manual_seed(0)
    w = torch.randn(256, 256, generator=g) * 0.05
    moment = w.clone()
    raw = moment.view(torch.int32)
    raw[:20000] = (raw[:20000] & ~0xFFFF) | 0x4141  # a constant pattern in the low 16 bits: a window test's hit
    ckpt = tmp_path / "train.ckpt"
    torch.save({"state_dict": {"w": w}, "optimizer_states": [{"state": {0: {"exp_avg": moment}}}]}, ckpt)
    r = scan(ckpt)
    on_state = [f for f in r.findings if f.tensor and "exp_avg" in f.tensor and f.detector.startswith("lsb")]
    assert on_state and all(f.severity != "suspicious" for f in on_state)
    assert "training state" in on_state[0].message
    torch.save({"state_dict": {"w": moment}}, tmp_path / "weights.ckpt")  # the same values as weights: suspicious
    assert scan(tmp_path / "weights.ckpt").verdict == "suspicious"


def test_asking_a_model_for_a_tensor_by_index_names_no_tensor(tmp_path: Path) -> None:
    from inspector.core.errors import TensorNotFoundError
    from inspector.core.formats import open_model

    torch.save({"w": torch.zeros(4)}, tmp_path / "m.pt")
    with pytest.raises(TensorNotFoundError):
        open_model(tmp_path / "m.pt")[0]  # type: ignore[index]


def test_a_checkpoint_recording_torch_version_opens(tmp_path: Path) -> None:
    """``torch.__version__`` is a TorchVersion (a str subclass): a checkpoint that records it is plain data, as
    torch's own weights-only loader agrees, not an object that needs its class's code."""
    assert type(torch.__version__).__name__ == "TorchVersion"
    sd = {"fc.weight": torch.ones(2, 2)}
    path = tmp_path / "versioned.pt"
    torch.save({"state_dict": sd, "meta": {"torch_version": torch.__version__, "epoch": 3}}, path)
    model = inspector.open_model(path)
    assert model.names == ["fc.weight"] and not model.threats
    assert "TorchVersion" in model.metadata["pytorch.meta"] and "'epoch': 3" in model.metadata["pytorch.meta"]


def test_a_compiled_regular_expression_is_its_pattern_and_calls_nothing(tmp_path: Path) -> None:
    """A tokenizer or text normaliser pickles compiled patterns as ``re._compile(pattern, flags)``: the pattern is
    kept as text, never compiled; anything else given to it is refused like any unknown call."""
    import re

    path = tmp_path / "normaliser.pt"
    torch.save({"w": torch.ones(2, 2), "rules": [re.compile(r"\b(ab+c)\b", re.I)]}, path)
    model = inspector.open_model(path)
    assert model.threats == ()
    assert any("ab+c" in v for v in model.metadata.values())


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_in_a_checkpoint_are_read_as_tensors(tmp_path: Path, protocol: int) -> None:
    """Training checkpoints keep numpy arrays beside the weights (normalisation statistics, numpy's random state,
    losses as numpy scalars): arrays of numbers are tensors, read bit for bit from the pickle without numpy's
    own unpickling; other arrays are values like any other."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {
        "obs_mean": rng.normal(0, 1, 5000).astype(np.float32),
        "proj": np.asfortranarray(rng.normal(0, 1, (6, 4))),
        "counts": np.arange(10, dtype=np.int64),
        "mask": np.array([True, False, True]),
    }
    path = tmp_path / "ckpt.pt"
    extra = {"np_rng": np.random.RandomState(3).get_state(), "loss": np.float32(0.25), "z": np.ones(4, np.complex64)}
    torch.save({"model": torch.nn.Linear(3, 2).state_dict(), **arrays, **extra}, path, pickle_protocol=protocol)
    model = inspector.open_model(path)
    assert model.threats == ()
    for name, a in arrays.items():
        assert model[name].shape == a.shape and np.array_equal(read_tensor(model[name]), a), name
    assert model["np_rng.1"].dtype.name == "U32" and model["np_rng.1"].shape == (624,)
    assert model.metadata["pytorch.loss"] == "0.25"
    assert "z" not in model
    res = scan(path, ScanOptions())
    assert res.verdict != "suspicious" and not [f for f in res.findings if f.severity != "info"]


def test_a_generator_state_that_is_not_random_is_named(tmp_path: Path) -> None:
    import numpy as np

    state = list(np.random.RandomState(3).get_state())
    secret = (np.random.default_rng(0).integers(0, 17, 2496) * 15).astype(np.uint8)
    state[1] = secret.view(np.uint32).copy()
    torch.save({"model": torch.nn.Linear(3, 2).state_dict(), "np_rng": tuple(state)}, tmp_path / "ckpt.pt")
    findings = [f for f in scan(tmp_path / "ckpt.pt", ScanOptions()).findings if f.detector == "non-float-tensor"]
    assert [f.tensor for f in findings] == ["np_rng.1"] and "not random" in findings[0].message


def test_a_pickled_scikit_learn_model_is_read_without_its_code(tmp_path: Path) -> None:
    """An MLP fitted by scikit-learn, pickled: its weights (numpy arrays), its random generator's state (numpy's
    own pickle helpers, rebuilt from numpy's fixed list of bit generators) and its classes (listed, a warning)."""
    import numpy as np

    sklearn = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = sklearn.MLPClassifier(hidden_layer_sizes=(7,), max_iter=5, random_state=0).fit(x, y)
    path = tmp_path / "mlp.pkl"
    path.write_bytes(pickle.dumps(mlp))
    model = inspector.open_model(path)
    assert np.array_equal(read_tensor(model["value.coefs_.0"]), mlp.coefs_[0])
    assert model["value._random_state.state.key"].shape == (624,)
    assert [t.call for t in model.threats] == ["class-code"]
    res = scan(path, ScanOptions())
    assert res.verdict != "suspicious"


def test_hostile_numpy_states_end_in_one_clear_refusal(tmp_path: Path) -> None:
    """A dtype whose state is set again after its array was checked, a shape of no real extent, and one buffer
    listed as hundreds of arrays (each would be a copy in memory) are refused, never read."""
    import numpy as np

    def pickled(body: bytes) -> Path:
        path = tmp_path / f"p{len(list(tmp_path.iterdir()))}.pkl"
        path.write_bytes(b"\x80\x02" + body + b".")
        return path

    dtype = b"cnumpy\ndtype\nX\x02\x00\x00\x00f8K\x00K\x01\x87R"  # numpy.dtype('f8', 0, 1)
    state = b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
    twice = pickled(
        dtype
        + state
        + b"q\x00"
        + array
        + b"(K\x01K\x02\x85h\x00\x89C\x10"
        + bytes(16)
        + b"tb"
        + b"h\x00"
        + state[:-1]
        + b"b0"
    )
    huge = pickled(
        array
        + b"(K\x01K\x03\x8a\x08"
        + (2**62 - 1).to_bytes(8, "little")
        + b"K\x00\x87"
        + dtype
        + state
        + b"\x89C\x00tb"
    )
    many = pickled(
        dtype + state + b"q\x00C\x08" + bytes(8) + b"q\x01(" + (array + b"(K\x01K\x01\x85h\x00\x89h\x01tb") * 300 + b"l"
    )
    for path, what in ((twice, "set twice"), (huge, "shape"), (many, "256 arrays")):
        with pytest.raises(MalformedFileError, match=what):
            inspector.open_model(path)
    assert np.dtype("f8").itemsize == 8


def test_numpy_values_every_protocol_spells_them_read_back(tmp_path: Path) -> None:
    """Protocol 2's empty bytes (``bytes()``), protocol 5's arrays kept in their own memory order (``_frombuffer``
    with order K and an axis order) and numpy's Generator and its bit generators all open as data."""
    import numpy as np

    cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4).transpose(2, 0, 1)
    values = {
        "empty": np.zeros(0, np.float32),
        "cube": cube,
        "gen": np.random.default_rng(0),
        "pcg": np.random.PCG64(1),
    }
    for protocol in (2, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(values, protocol=protocol))
        model = inspector.open_model(path)
        assert model.threats == ()
        assert np.array_equal(read_tensor(model["cube"]), cube) and model["empty"].shape == (0,)


def test_views_that_list_the_same_bytes_over_and_over_are_refused(tmp_path: Path) -> None:
    """2,000 views of one 1 MB storage in a 1 MB file span 2 GB to read (and 20,000 of them, 21 GB: 30 s): refused
    by name. Tied weights and a few views of one storage stay far within the bound."""
    base = torch.zeros(1 << 18)
    torch.save({f"v{i}": base[:] for i in range(2000)}, tmp_path / "views.pt")
    with pytest.raises(MalformedFileError, match="times the"):
        inspector.open_model(tmp_path / "views.pt")
    emb = torch.randn(1000, 64)
    torch.save({"embed.weight": emb, "lm_head.weight": emb, "half": emb[:500]}, tmp_path / "tied.pt")
    assert len(inspector.open_model(tmp_path / "tied.pt").tensors) == 3


def test_joblib_files_are_read_as_joblib_writes_them(tmp_path: Path) -> None:
    """``joblib.dump`` (how scikit-learn models are saved) writes each numpy array's bytes into the stream right
    after its wrapper's state: read the same way, bit for bit, in either order; a cut-short file is refused by name;
    an array of Python objects is a nested pickle, run by the same interpreter (its calls recorded, never made)."""
    import numpy as np

    joblib = pytest.importorskip("joblib")
    arrays = {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f": np.asfortranarray(np.random.default_rng(0).normal(size=(4, 5))),
        "ids": np.arange(10),
    }
    joblib.dump({**arrays, "labels": np.array(["yes", "no"])}, tmp_path / "m.joblib")
    model = inspector.open_model(tmp_path / "m.joblib")
    assert model.format == "pickle" and model.names == list(arrays) and model.threats == ()
    for name, a in arrays.items():
        assert np.array_equal(read_tensor(model[name]), a), name
    raw = (tmp_path / "m.joblib").read_bytes()
    (tmp_path / "cut.joblib").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(MalformedFileError, match="cut short"):
        inspector.open_model(tmp_path / "cut.joblib")
    joblib.dump({"names": np.array(["a", 1, None], dtype=object)}, tmp_path / "objects.joblib")
    model = inspector.open_model(tmp_path / "objects.joblib")
    assert model.threats == () and model.metadata["pytorch.names"] == "['a', 1, None]"
    joblib.dump({"w": arrays["w"], "hooks": np.array([_RunsShell("true")], dtype=object)}, tmp_path / "evil.joblib")
    model = inspector.open_model(tmp_path / "evil.joblib")
    assert [t.global_name for t in model.threats] == [f"{os.system.__module__}.system"]
    assert scan(tmp_path / "evil.joblib", ScanOptions()).verdict == "suspicious"


def test_pickles_nested_in_a_joblib_stream_stop_at_a_depth(tmp_path: Path) -> None:
    """Each joblib array of objects opens a pickle inside the stream; one built to open them without end is refused
    by name, never a recursion error."""
    s = lambda text: b"X" + len(text).to_bytes(4, "little") + text  # noqa: E731
    dtype = (
        b"cnumpy\ndtype\n"
        + s(b"O8")
        + b"K\x00K\x01\x87R(K\x03"
        + s(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"
    )
    state = b"}(" + s(b"subclass") + b"cnumpy\nndarray\n" + s(b"shape") + b"K\x01\x85" + s(b"order") + s(b"C")
    state += s(b"dtype") + dtype + b"u"
    level = b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81" + state + b"b"
    (tmp_path / "deep.joblib").write_bytes(level * 20 + b"N." + b"." * 20)
    with pytest.raises(MalformedFileError, match="deeper than"):
        inspector.open_model(tmp_path / "deep.joblib")
    (tmp_path / "two.joblib").write_bytes(level * 2 + b"N." + b"." * 2)
    assert inspector.open_model(tmp_path / "two.joblib").format == "pickle"


def test_more_tensors_than_the_file_holds_bytes_for_are_refused(tmp_path: Path, monkeypatch) -> None:
    """Each tensor costs a scan about 0.3 ms and 10 KB however small: 200,000 one-element views of one storage,
    listed by a pickle deflated to 4 MB, took 77 s and 2.6 GB. Beyond ``MANY_TENSORS`` (lowered here) a model must
    hold ``MIN_FILE_BYTES_PER_TENSOR`` bytes of files for each tensor; as many tensors with their own data open."""
    from inspector.core.formats import model_file

    monkeypatch.setattr(model_file, "MANY_TENSORS", 100)
    base = torch.zeros(1000)
    torch.save({f"t{i}": base[i : i + 1] for i in range(400)}, tmp_path / "views.pt")
    with pytest.raises(MalformedFileError, match="400 tensors in .* bytes of files, under 256 bytes for each"):
        inspector.open_model(tmp_path / "views.pt")
    torch.save({f"t{i}": torch.randn(64) for i in range(400)}, tmp_path / "real.pt")
    assert len(inspector.open_model(tmp_path / "real.pt").tensors) == 400
