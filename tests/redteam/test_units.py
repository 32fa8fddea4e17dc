"""In-process checks of the hardened pieces: the pickle interpreter's budgets and threats, placeholders that
cannot be changed, the atomic write, reads by descriptor, and what the CLI prints."""

from __future__ import annotations

import io
import os
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import inspector
from inspector.cli._common import _GuardedStream, safe_text
from inspector.core.errors import InspectorError, MalformedFileError, UnsafeFileError
from inspector.core.formats.atomic import atomic_file, write_atomic
from inspector.core.formats.base import read_tensor
from inspector.core.formats.torch_pickle import unpickle
from inspector.core.judge.detectors.code_execution import detect
from tests.redteam.craft import P, legacy_bytes, state_dict_pickle, system_call, tensor, zip_checkpoint, zip_of


def _run(data: bytes, storages=None):
    return unpickle(io.BytesIO(data), len(data), Path("x.pt"), "data.pkl", storages)


# ---------------------------------------------------------------------------------------------- the interpreter
def test_plain_values_unpickle_as_pickle_does() -> None:
    import pickle

    value = {"a": [1, 2.5, True, None, "é", b"\x00", (1, (2,))], "s": {1, 2}, "f": frozenset({3})}
    for proto in range(6):
        assert _run(pickle.dumps(value, protocol=proto)).obj == value


def test_a_memo_index_costs_nothing() -> None:
    assert _run(b"\x80\x02}r" + struct.pack("<I", 2**27) + b".").obj == {}


@pytest.mark.parametrize(
    "data",
    [b"\x80\x02}N" + b"\x85" * 200_000 + b"Ns.", b"\x80\x04\x8f(N" + b"\x85" * 200_000 + b"\x90."],
    ids=["tuple-key", "set-item"],
)
def test_nesting_is_refused_before_anything_hashes_it(data: bytes) -> None:
    with pytest.raises(MalformedFileError, match="deeper than 100"):
        _run(data)


def test_hashing_a_shared_tuple_tree_is_charged_by_its_expanded_size() -> None:
    data = P(2).raw(b"}N" + b"2\x86" * 90 + b"Ns").stop()  # depth 90, 2**90 leaves
    with pytest.raises(MalformedFileError, match="more work"):
        _run(data)


def test_a_dangerous_call_is_recorded_not_made_and_the_rest_is_read(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    a = {"w": np.arange(4, dtype=np.float32)}
    extra = system_call(P(None).s("evil"), "posix", "system", f"touch {marker}").b
    path = zip_checkpoint(tmp_path / "m.pt", state_dict_pickle(a, extra=bytes(extra)), {"0": a["w"].tobytes()})
    model = inspector.open_model(path)
    assert model.names == ["w"] and read_tensor(model["w"]).tolist() == [0, 1, 2, 3]
    (t,) = model.threats
    assert (t.global_name, t.call, t.where) == ("posix.system", "call", "data.pkl")
    assert t.listing[-1].endswith("REDUCE") and any("touch" in line for line in t.listing)
    assert not marker.exists()
    (f,) = detect(model.threats)
    assert (f.attack, f.severity, f.evidence["global"]) == ("code-execution", "suspicious", "posix.system")


def test_an_ordinary_class_built_without_arguments_is_read_as_data(tmp_path: Path) -> None:
    extra = P(None).s("cfg").glob("mytraining.config", "TrainConfig").raw(b")\x81}").s("lr").i(1).raw(b"sb").b
    a = {"w": np.zeros(4, np.float32)}
    path = zip_checkpoint(tmp_path / "m.pt", state_dict_pickle(a, extra=bytes(extra)), {"0": bytes(16)})
    model = inspector.open_model(path)
    assert model.names == ["w"] and [t.call for t in model.threats] == ["class-code"]
    assert model.threats[0].listing == ("mytraining.config.TrainConfig",)


def test_an_ordinary_class_called_with_arguments_is_refused_by_name(tmp_path: Path) -> None:
    extra = P(None).s("cfg").glob("mytraining.config", "TrainConfig").raw(b"(K\x01tR").b
    a = {"w": np.zeros(4, np.float32)}
    path = zip_checkpoint(tmp_path / "m.pt", state_dict_pickle(a, extra=bytes(extra)), {"0": bytes(16)})
    with pytest.raises(UnsafeFileError, match=r"'mytraining\.config\.TrainConfig'.*re-save"):
        inspector.open_model(path)


def test_build_never_changes_a_placeholder(tmp_path: Path) -> None:
    p = P(2).raw(b"}(").s("w")
    tensor(p, "0", 16, (16,), (1,))
    p.raw(b"}(").s("offset").i(-200).s("strides").tup((0,)).s("shape").tup((2**28,)).raw(b"ub")
    path = zip_checkpoint(tmp_path / "m.pt", p.raw(b"u").stop(), {"0": np.arange(16, dtype=np.float32).tobytes()})
    ref = inspector.open_model(path)["w"]
    assert ref.shape == (16,) and ref.strides is None
    assert read_tensor(ref).tolist() == list(range(16))


def test_what_torch_load_reads_is_what_is_judged(tmp_path: Path) -> None:
    evil = {"evil.weight": np.arange(4, dtype=np.float32)}
    z = zip_of(tmp_path / "z.pt", {"benign.weight": np.ones(4, np.float32)}).read_bytes()
    for name, data in (("noproto", legacy_bytes(evil)[2:] + z), ("proto", legacy_bytes(evil) + z)):
        path = tmp_path / f"{name}.pt"
        path.write_bytes(data)
        model = inspector.open_model(path)
        assert model.format == "pytorch-legacy" and model.names == ["evil.weight"]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 8 + z)
    with pytest.raises(InspectorError, match="not a recognised"):
        inspector.open_model(junk)


def test_the_polyglot_matches_torch_load(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"evil": torch.arange(4.0)}, tmp_path / "l.pt", _use_new_zipfile_serialization=False)
    torch.save({"benign": torch.ones(3)}, tmp_path / "z.pt")
    poly = tmp_path / "poly.pt"
    poly.write_bytes((tmp_path / "l.pt").read_bytes()[2:] + (tmp_path / "z.pt").read_bytes())
    loaded = torch.load(poly, weights_only=True)  # noqa: TID251 - weights_only on our own crafted file
    assert inspector.open_model(poly).names == list(loaded) == ["evil"]


# ---------------------------------------------------------------------------------------------- outputs
def test_the_atomic_write_never_follows_a_planted_link(tmp_path: Path, monkeypatch) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    monkeypatch.setattr("secrets.token_hex", lambda n: "0" * (2 * n))
    os.symlink(victim, tmp_path / f".out.json.{'0' * 16}.tmp")
    with pytest.raises(InspectorError, match="could not write"):
        write_atomic(tmp_path / "out.json", "{}")
    assert victim.read_text() == "precious" and not (tmp_path / "out.json").exists()


def test_the_atomic_write_refuses_an_input_and_a_pipe(tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    with pytest.raises(InspectorError, match="over the input"):
        write_atomic(tmp_path / "." / "m.safetensors", "{}", inputs=[model])
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InspectorError, match="not a regular file"):
        write_atomic(tmp_path / "fifo", "{}")
    write_atomic(tmp_path / "ok.json", "{}")
    assert (tmp_path / "ok.json").read_text() == "{}" and sorted(p.name for p in tmp_path.iterdir()) == [
        "fifo",
        "m.safetensors",
        "ok.json",
    ]


def test_a_streamed_atomic_write_that_fails_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "results.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as f:
            f.write(b"half a new fi")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]
    with atomic_file(target) as f:
        f.write(b"new\n")
    assert target.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]


def test_a_fifo_swapped_in_after_opening_does_not_hang(make_model, tmp_path: Path) -> None:
    path = make_model({"w": np.ones(8, np.float32)})
    model = inspector.open_model(path)
    path.unlink()
    os.mkfifo(path)
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(_catch(lambda: read_tensor(model["w"]))), daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive(), "reading blocked on a FIFO"
    assert isinstance(result[0], InspectorError) and "not a regular file" in str(result[0])


def _catch(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return e


def test_printed_text_is_escaped_and_cut() -> None:
    text = safe_text("\x1b[2J\nVerdict: CLEAN\x00\udc80\u202e" + "x" * 5000, 100)
    assert "\x1b" not in text and "\n" not in text and "\x00" not in text and "\u202e" not in text
    assert text.startswith("\\x1b[2J\\x0aVerdict") and text.endswith("...(5,022 chars)") and len(text) < 130
    text.encode("ascii")


def test_a_closed_pipe_ends_output_quietly() -> None:
    r, w = os.pipe()
    stream = _GuardedStream(io.TextIOWrapper(io.FileIO(w, "w"), encoding="utf-8"))
    os.close(r)
    stream.write("x" * 100_000)
    stream.flush()  # BrokenPipeError swallowed; the descriptor now points at the null device
    assert stream.broken
    stream.write("more")
    stream.flush()


def test_output_streams_escape_terminal_control(capsys) -> None:
    stream = _GuardedStream(sys.stdout)
    stream.write("name \x1b[31mred\x1b[0m\tok\n")
    stream.flush()
    assert capsys.readouterr().out == "name \\x1b[31mred\\x1b[0m\tok\n"


# ---------------------------------------------------------------------------------------------- polyglots
def _safetensors_pickle_polyglot(path: Path, tail: bytes) -> Path:
    """A valid safetensors file whose first byte is BINUNICODE: its 4-byte length comes from the header length,
    the string ends inside the JSON header, where a metadata value holds ``X`` + four spaces: a 538 MB string
    that runs into the tensor data (``tail`` follows the header)."""
    import json as _json

    entry = {"dtype": "U8", "shape": [len(tail)], "data_offsets": [0, len(tail)]}

    def blob(pad: int) -> bytes:
        return _json.dumps({"__metadata__": {"k": "X    ", "z": " " * pad}, "w": entry}).encode()

    at = blob(0).index(b"X    ") + 8  # file offset of the 'X' (after the 8-byte length)
    n = (at - 5) * 256 + 0x58  # first byte 'X'; its 4-byte length (n >> 8) ends the string just before at
    data = blob(n - len(blob(0)))
    if len(data) == n and data[at - 8 : at - 3] == b"X    ":
        path.write_bytes(struct.pack("<Q", n) + data + tail)
        return path
    raise AssertionError("no layout found")


def test_a_safetensors_file_that_is_also_a_long_pickle_is_refused(tmp_path: Path) -> None:
    from inspector.core.formats.torchzip import leading_pickle_threats

    p = _safetensors_pickle_polyglot(tmp_path / "poly.safetensors", bytes(64))
    with pytest.raises(MalformedFileError, match="reads both as safetensors and as a pickle"):
        leading_pickle_threats(p, cap=4096)
    assert inspector.open_model(p).names == ["w"]  # the full file is far from 538 MB: the pickle ends, no threat


def test_a_leading_pickle_is_judged_by_its_calls(tmp_path: Path) -> None:
    from inspector.core.formats.torchzip import leading_pickle_threats

    p = tmp_path / "x.bin"
    p.write_bytes(system_call(P(2), "posix", "system", "true").stop() + b"rest of the file")
    assert [t.global_name for t in leading_pickle_threats(p)] == ["posix.system"]
    p.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"w": 1}')
    assert leading_pickle_threats(p) == ()


@pytest.mark.parametrize(
    "pkl",
    [  # found by random fuzzing: a global whose name holds a newline reached two error messages unescaped
        b"}(X\t\x00\x00\x00fc.weightctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n"
        b"\\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00(K\x02K\x02t(K\x02K\x01t\x89"
        b"ccollections\nOrderedDict\n)RtRu.",
        b"\x80\x02}(X\t\x00\x00\x00fc.weightctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagec\\ntorch"
        b"\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00(K\x02K\x02t(K\x02K\x01t\x89"
        b"ccollections\nOrderedDict\n)RtRu.",
    ],
)
def test_an_error_naming_a_hostile_global_is_one_line(tmp_path: Path, pkl: bytes) -> None:
    import zipfile

    path = tmp_path / "m.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data.pkl", pkl)
        zf.writestr("m/data/0", bytes(16))
    with pytest.raises(InspectorError) as e:
        inspector.open_model(path)
    assert "\n" not in str(e.value) and "\\n" in str(e.value)


def test_a_header_length_read_as_a_line_that_never_ends_is_no_pickle(tmp_path: Path) -> None:
    """A safetensors header of 80 bytes starts the file with 'P' (PERSID, which reads a line): over one big tensor
    of 0/1 bytes no newline ever comes, so a loader fails at the end of the file and nothing runs; the file opens.
    Put a newline past the cap and the line ends where opcodes could follow: refused as before."""
    from inspector.core.formats.torchzip import leading_pickle_threats

    body = b'{"m":{"dtype":"BOOL","shape":[8192],"data_offsets":[0,8192]}}'
    header = body + b" " * (80 - len(body))
    data = bytes(np.random.default_rng(0).integers(0, 2, 8192, dtype=np.uint8))
    p = tmp_path / "mask.safetensors"
    p.write_bytes(struct.pack("<Q", 80) + header + data)
    assert p.read_bytes()[:1] == b"P"
    assert leading_pickle_threats(p, cap=1024) == ()
    assert inspector.open_model(p).names == ["m"]
    p.write_bytes(struct.pack("<Q", 80) + header + data[:-1] + b"\n")
    with pytest.raises(MalformedFileError, match="reads both as safetensors and as a pickle"):
        leading_pickle_threats(p, cap=1024)


def test_a_never_ending_line_after_other_opcodes_is_still_a_polyglot(tmp_path: Path) -> None:
    """Only the file's first opcode is excused for a line that never ends: calls made before a last such line run
    under torch.load (the line only ends the pickle), so the file stays refused."""
    from inspector.core.formats.torchzip import leading_pickle_threats

    p = tmp_path / "poly.bin"
    p.write_bytes(b"Vheader\n" + b"cos\nsystem\n(S'true'\ntR" + b"V" + bytes(5000))
    with pytest.raises(MalformedFileError, match="reads both as safetensors and as a pickle"):
        leading_pickle_threats(p, cap=1024)


def test_a_pickle_sharing_one_list_thirty_levels_deep_opens_at_once(tmp_path: Path) -> None:
    """63 bytes: a list under 30 levels of (x, x) tuples, 2^30 paths to one list. Each container is searched for
    encoded pieces once (it took 420 s)."""
    import time

    p = tmp_path / "dag.pkl"
    p.write_bytes(b"\x80\x02]" + b"2\x86" * 30 + b".")
    t = time.perf_counter()
    model = inspector.open_model(p)
    assert model.tensors == () and time.perf_counter() - t < 5
