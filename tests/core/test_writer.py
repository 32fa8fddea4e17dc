"""The streaming safetensors writer: valid files (as the reference writes them), atomicity, refusals."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy as stnp

from inspector.core.dtypes import DTYPES
from inspector.core.errors import ExportError
from inspector.core.formats import open_model, read_tensor
from inspector.core.formats.writer import SafetensorsWriter, TensorEntry, build_header, write_safetensors
from inspector.core.progress import Cancelled, CancelToken


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_bytes_equal_the_reference_writer(tmp_path):
    """Tensors in the reference's order (alignment, then name): our bytes are the reference's bytes."""
    arrays = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.ones(3, np.float16),
        "c": np.array([True, False, True]),
    }
    ref = stnp.save(arrays, metadata={"k": "v"})  # one key: the reference keeps metadata in a HashMap
    out = write_safetensors(
        tmp_path / "o.safetensors",
        {n: (DTYPES[d], a) for (n, a), d in zip(arrays.items(), ["F32", "F16", "BOOL"], strict=True)},
        {"k": "v"},
    )
    assert out.read_bytes() == ref
    write_safetensors(out, {"t": (DTYPES["F32"], arrays["a"])}, {"ü": "ß", "k": "v"})
    from safetensors import safe_open

    with safe_open(str(out), framework="numpy") as f:
        assert f.metadata() == {"ü": "ß", "k": "v"} and np.array_equal(f.get_tensor("t"), arrays["a"])


def test_header_is_padded_and_offsets_tile_the_data(tmp_path):
    entries = [
        TensorEntry("x", DTYPES["F16"], (3,)),
        TensorEntry("y", DTYPES["F64"], (2, 2)),
        TensorEntry("z", DTYPES["U8"], (0,)),
    ]
    header, spans = build_header(entries, {"m": "1"})
    (n,) = struct.unpack("<Q", header[:8])
    body = header[8:].rstrip(b" ")
    assert n % 8 == 0 and len(header) == 8 + n and 0 <= n - len(body) < 8 and body.endswith(b"}")
    doc = json.loads(header[8:])
    assert list(doc) == ["__metadata__", "x", "y", "z"]
    assert [doc[k]["data_offsets"] for k in "xyz"] == [[0, 6], [6, 38], [38, 38]]
    assert spans["y"] == (8 + n + 6, 8 + n + 38)


@pytest.mark.parametrize("name", ["F64", "F32", "F16", "I64", "I32", "I16", "I8", "U8", "BOOL"])
def test_every_numpy_dtype_round_trips_through_the_reference_reader(tmp_path, name):
    dt = DTYPES[name]
    rng = np.random.default_rng(0)
    arr = (
        rng.integers(0, 255, size=(5, 7)).astype(dt.storage)
        if dt.kind != "float"
        else rng.standard_normal((5, 7)).astype(dt.storage)
    )
    p = write_safetensors(tmp_path / "o.safetensors", {"t": (dt, arr), "empty": (dt, arr[:0])}, {"a": "b"})
    back = stnp.load_file(str(p))
    assert back["t"].dtype == arr.dtype and np.array_equal(back["t"], arr) and back["empty"].shape == (0, 7)
    m = open_model(p)
    assert m.metadata == {"a": "b"} and np.array_equal(read_tensor(m["t"]), arr)


def test_bf16_and_fp8_load_in_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    raw16 = np.array([0x3F80, 0xC020, 0x7F80], dtype=np.uint16)  # 1.0, -2.5, inf
    raw8 = np.array([0x38, 0xB8, 0x7F], dtype=np.uint8)  # 1.0, -1.0, NaN in E4M3FN
    p = write_safetensors(tmp_path / "o.safetensors", {"h": (DTYPES["BF16"], raw16), "q": (DTYPES["F8_E4M3"], raw8)})
    t = load_file(str(p))
    assert t["h"].dtype == torch.bfloat16 and t["h"].float().tolist() == [1.0, -2.5, float("inf")]
    assert (
        t["q"].dtype == torch.float8_e4m3fn and t["q"].float()[:2].tolist() == [1.0, -1.0] and t["q"].float()[2].isnan()
    )


def test_file_mode_follows_umask_and_no_temp_remains(tmp_path):
    p = write_safetensors(tmp_path / "o.safetensors", {"t": (DTYPES["F32"], np.ones(2, np.float32))})
    assert p.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert [q.name for q in tmp_path.iterdir()] == ["o.safetensors"]


def test_reserved_metadata_is_patched_in_place(tmp_path):
    entries = [TensorEntry("t", DTYPES["F32"], (2,))]
    with SafetensorsWriter(tmp_path / "o.safetensors", entries, {"x": "y"}, reserve={"digest": 64}) as w:
        w.write(np.ones(2, np.float32))
        with pytest.raises(ExportError, match="64 plain ASCII"):
            w.set_metadata("digest", "short")
        with pytest.raises(ExportError, match="not reserved"):
            w.set_metadata("x", "z")
        w.set_metadata("digest", "ab" * 32)
        w.commit()
    assert stnp.load_file(str(tmp_path / "o.safetensors"))["t"].tolist() == [1.0, 1.0]
    assert open_model(tmp_path / "o.safetensors").metadata == {"x": "y", "digest": "ab" * 32}


def test_size_mismatches_are_errors_and_leave_nothing(tmp_path):
    entries = [TensorEntry("t", DTYPES["F32"], (2,))]
    target = tmp_path / "o.safetensors"
    with pytest.raises(ExportError, match="more tensor data"), SafetensorsWriter(target, entries) as w:
        w.write(np.ones(3, np.float32))
    with pytest.raises(ExportError, match="header declares"), SafetensorsWriter(target, entries) as w:
        w.write(np.ones(1, np.float32))
        w.commit()
    assert list(tmp_path.iterdir()) == []


def test_leaving_without_commit_removes_the_temp_file_and_keeps_the_target(tmp_path):
    target = tmp_path / "o.safetensors"
    target.write_bytes(b"old")
    entries = [TensorEntry("t", DTYPES["U8"], (1 << 20,))]
    token = CancelToken()
    with pytest.raises(Cancelled), SafetensorsWriter(target, entries, cancel=token) as w:
        assert w.temp_path is not None and w.temp_path.parent == tmp_path
        w.write(np.zeros(1 << 19, np.uint8))
        token.cancel()
        w.write(np.zeros(1 << 19, np.uint8))
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["o.safetensors"]
    with SafetensorsWriter(target, entries) as w:
        w.write(np.zeros(1 << 20, np.uint8))
        tmp = w.finish()
        assert tmp.exists() and target.read_bytes() == b"old"  # finished but not committed
    assert not tmp.exists() and target.read_bytes() == b"old"


def test_a_failed_fsync_fails_the_commit_and_keeps_the_target(tmp_path, monkeypatch):
    """finish() only starts the fsync; commit() waits for it and renames nothing when it failed."""
    from inspector.core.formats import writer

    real_fsync = os.fsync
    files: list[int] = []

    def failing_fsync(fd: int) -> None:
        if not files:  # the first fsync is the temporary file's; the folder's is the commit's last step
            files.append(fd)
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(writer.os, "fsync", failing_fsync)
    target = tmp_path / "o.safetensors"
    target.write_bytes(b"old")
    with (
        pytest.raises(ExportError, match="Input/output error"),
        SafetensorsWriter(target, [TensorEntry("t", DTYPES["U8"], (8,))]) as w,
    ):
        w.write(np.arange(8, dtype=np.uint8))
        tmp = w.finish()
        assert tmp.read_bytes()[-8:] == bytes(range(8))  # the contents are final before the fsync ends
        w.commit()
    assert files and target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["o.safetensors"]


def test_refusals(tmp_path):
    src = tmp_path / "in.safetensors"
    src.write_bytes(b"x")
    os.link(src, tmp_path / "hard.safetensors")
    os.symlink(src, tmp_path / "sym.safetensors")
    e = [TensorEntry("t", DTYPES["U8"], (1,))]
    for t in ["in.safetensors", "hard.safetensors", "sym.safetensors", "sub/../in.safetensors"]:
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ExportError, match="refusing to write over the input"):
            SafetensorsWriter(tmp_path / t, e, protect=[src])
    with pytest.raises(ExportError, match="is a folder"):
        SafetensorsWriter(tmp_path / "sub", e)
    with pytest.raises(ExportError, match="does not exist"):
        SafetensorsWriter(tmp_path / "nope" / "o.safetensors", e)
    with pytest.raises(ExportError, match="reserved or appears twice"):
        build_header([e[0], e[0]], {})
    with pytest.raises(ExportError, match="strings"):
        build_header(e, {"k": 1})  # type: ignore[dict-item]
    assert src.read_bytes() == b"x"


@pytest.mark.parametrize("length", [0x280, 0x380, 0x480, 0x580])
def test_headers_that_start_like_a_pickle_still_open(tmp_path, length):
    """A header length of 0x280..0x580 makes the file start with 80 02..80 05, a pickle protocol marker."""
    entries = [TensorEntry("t", DTYPES["F32"], (2,))]
    base = len(build_header(entries, {"pad": ""})[0]) - 8
    meta = {"pad": "x" * (length - base)}
    header, _ = build_header(entries, meta)
    assert struct.unpack("<Q", header[:8])[0] == length and header[:2] == bytes([0x80, length >> 8])
    p = write_safetensors(tmp_path / "o.safetensors", {"t": (DTYPES["F32"], np.ones(2, np.float32))}, meta)
    assert open_model(p).format == "safetensors" and read_tensor(open_model(p)["t"]).tolist() == [1.0, 1.0]


def test_rewrite_metadata_in_place_keeps_offsets_and_refuses_overflow(tmp_path):
    from inspector.core.formats.safetensors import open_safetensors

    a = np.arange(10, dtype=np.float32)
    target = tmp_path / "o.safetensors"
    with SafetensorsWriter(target, [TensorEntry("a", DTYPES["F32"], (10,))], {"k": "v"}, header_slack=64) as w:
        w.write(a)
        with pytest.raises(ExportError, match="between finish"):
            w.rewrite_metadata({"k": "early"})
        w.finish()
        with pytest.raises(ExportError, match="more than the header has room for"):
            w.rewrite_metadata({"k": "x" * 200})
        w.rewrite_metadata({"k": "v", "verdict": "clean"})
        w.commit()
    assert open_safetensors(target).metadata == {"k": "v", "verdict": "clean"}
    assert stnp.load_file(str(target))["a"].tolist() == a.tolist()
