"""Our own safetensors reader: lazy listing, exact reads, and one clear error per kind of bad file."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector import open_model, read_tensor
from inspector.core.errors import InspectorError, MalformedFileError, UnsupportedFormatError
from inspector.core.formats import iter_chunks
from tests.conftest import raw_safetensors


def test_lists_tensors_in_storage_order_and_reads_exact_values(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "b": rng.normal(size=(3, 5)).astype(np.float32),
        "a": rng.integers(-9, 9, size=11).astype(np.int64),
        "c": rng.normal(size=4).astype(np.float16),
        "scalar": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "mask": np.array([True, False, True]),
    }
    p = tmp_path / "m.safetensors"
    save_file(arrays, str(p), metadata={"origin": "test"})
    m = open_model(p)
    assert m.format == "safetensors"
    assert m.metadata == {"origin": "test"}
    assert sorted(m.names) == sorted(arrays)
    offsets = [t.offset for t in m.tensors]
    assert offsets == sorted(offsets)
    for name, arr in arrays.items():
        got = read_tensor(m[name])
        assert got.shape == arr.shape
        assert got.tobytes() == arr.tobytes()
    assert m["scalar"].shape == () and m["scalar"].numel == 1
    assert m["empty"].numel == 0 and list(iter_chunks(m["empty"])) == []
    assert m.parameters == sum(a.size for a in arrays.values())


def test_bf16_is_read_as_raw_uint16(tmp_path):
    import torch
    from safetensors.torch import save_file as save_torch

    t = torch.tensor([1.0, -2.5, 3.140625], dtype=torch.bfloat16)
    p = tmp_path / "bf.safetensors"
    save_torch({"w": t}, str(p))
    m = open_model(p)
    raw = read_tensor(m["w"])
    assert raw.dtype == np.uint16
    assert raw.tolist() == t.view(torch.int16).numpy().view(np.uint16).tolist()


def test_chunks_cover_the_tensor_exactly(tmp_path):
    x = np.arange(1000, dtype=np.float32)
    p = tmp_path / "m.safetensors"
    save_file({"x": x}, str(p))
    ref = open_model(p)["x"]
    chunks = [c.copy() for c in iter_chunks(ref, chunk_bytes=64, reuse=True)]
    assert all(c.size <= 16 for c in chunks)
    assert np.array_equal(np.concatenate(chunks), x)


def _valid(tmp_path):
    x = np.arange(6, dtype=np.float32)
    return raw_safetensors(
        tmp_path / "ok.safetensors", {"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}, x.tobytes()
    )


def test_hand_made_valid_file_opens(tmp_path):
    assert read_tensor(open_model(_valid(tmp_path))["x"]).tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    "header, data, expected",
    [
        ({"x": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "unknown dtype 'F33'"),
        ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "needs 12"),
        ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "truncated"),
        (
            {
                "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
            "overlaps",
        ),
        (
            {"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
            b"\0" * 8,
            "gap of 4",
        ),
        ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "belong to no tensor"),
        ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "non-negative"),
        ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4, "begin <= end"),
        ({"__metadata__": {"a": 1}}, b"", "strings to strings"),
        ([1, 2], b"", "not a JSON object"),
    ],
)
def test_malformed_headers_are_refused_with_a_named_problem(tmp_path, header, data, expected):
    p = raw_safetensors(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(MalformedFileError) as e:
        open_model(p)
    msg = str(e.value)
    assert expected in msg
    assert str(p) in msg


def test_invalid_json_and_duplicate_keys(tmp_path):
    p = tmp_path / "bad.safetensors"
    blob = b'{"x": {"dtype": "F32"'
    p.write_bytes(struct.pack("<Q", len(blob)) + blob)
    with pytest.raises(MalformedFileError, match="not valid JSON"):
        open_model(p)
    blob = b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    p.write_bytes(struct.pack("<Q", len(blob)) + blob + b"\0" * 4)
    with pytest.raises(MalformedFileError, match="duplicate key"):
        open_model(p)


def test_header_longer_than_file_and_over_cap(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    with pytest.raises(MalformedFileError, match="truncated"):
        open_model(p)
    p.write_bytes(struct.pack("<Q", 200_000_000) + b"{}")
    with pytest.raises(MalformedFileError, match="limit"):
        open_model(p)


def test_empty_and_tiny_files(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(MalformedFileError, match="too short"):
        open_model(empty)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world, not a model")
    with pytest.raises(UnsupportedFormatError, match="not a recognised model file"):
        open_model(junk)


def test_truncated_data_is_found_on_read_if_header_was_fine(tmp_path):
    p = _valid(tmp_path)
    m = open_model(p)
    p.write_bytes(p.read_bytes()[:-8])  # cut after opening: the read must say so, not return garbage
    with pytest.raises(InspectorError, match="changed or was replaced since it was opened"):
        read_tensor(m["x"])


def test_missing_path_and_folder_without_model(tmp_path):
    with pytest.raises(InspectorError, match="no such file"):
        open_model(tmp_path / "nope.safetensors")
    (tmp_path / "README.md").write_text("hi")
    with pytest.raises(UnsupportedFormatError, match="no model file"):
        open_model(tmp_path)


def _shards(tmp_path):
    a = {"l1.w": np.ones((2, 2), np.float32)}
    b = {"l2.w": np.full(3, 2.0, np.float32)}
    save_file(a, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file(b, str(tmp_path / "model-00002-of-00002.safetensors"))
    index = {
        "metadata": {"total_size": 28},
        "weight_map": {"l1.w": "model-00001-of-00002.safetensors", "l2.w": "model-00002-of-00002.safetensors"},
    }
    idx = tmp_path / "model.safetensors.index.json"
    idx.write_text(json.dumps(index))
    return idx, index


def test_sharded_model_by_index_and_by_folder(tmp_path):
    idx, _ = _shards(tmp_path)
    for target in (idx, tmp_path):
        m = open_model(target)
        assert m.format == "safetensors-sharded"
        assert m.names == ["l1.w", "l2.w"]
        assert read_tensor(m["l2.w"]).tolist() == [2.0, 2.0, 2.0]
        assert len(m.files) == 3


def test_sharded_index_naming_a_missing_tensor_or_shard(tmp_path):
    idx, index = _shards(tmp_path)
    index["weight_map"]["l3.w"] = "model-00002-of-00002.safetensors"
    idx.write_text(json.dumps(index))
    with pytest.raises(MalformedFileError, match="'l3.w' is mapped to"):
        open_model(idx)
    index["weight_map"] = {"l1.w": "../outside.safetensors"}
    idx.write_text(json.dumps(index))
    with pytest.raises(MalformedFileError, match="outside the model folder"):
        open_model(idx)
    index["weight_map"] = {"l1.w": "gone.safetensors"}
    idx.write_text(json.dumps(index))
    with pytest.raises(MalformedFileError, match="missing"):
        open_model(idx)


def test_single_safetensors_in_a_folder(tmp_path):
    save_file({"w": np.zeros(2, np.float32)}, str(tmp_path / "model.safetensors"))
    assert open_model(tmp_path).names == ["w"]


@pytest.mark.parametrize("pad", [0x280, 0x380, 0x480, 0x580])
def test_header_lengths_that_look_like_pickle_markers_still_open_as_safetensors(tmp_path, pad):
    # a header of length 0x280 starts the file with bytes 80 02: the pickle protocol-2 marker
    header = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header += b" " * (pad - len(header))
    p = tmp_path / "m.bin"
    p.write_bytes(struct.pack("<Q", len(header)) + header + np.float32(1.5).tobytes())
    assert read_tensor(open_model(p)["x"]).tolist() == [1.5]


def test_read_range_reads_only_the_slice(tmp_path, monkeypatch):
    from inspector.core.formats import read_range

    x = np.arange(100, dtype=np.float32).reshape(10, 10)
    p = tmp_path / "m.safetensors"
    save_file({"x": x}, str(p))
    ref = open_model(p)["x"]
    assert read_range(ref, 13, 17).tolist() == [13.0, 14.0, 15.0, 16.0]
    assert read_range(ref, 95, 200).tolist() == [95.0, 96.0, 97.0, 98.0, 99.0]
    assert read_range(ref, 50, 50).size == 0
    import inspector.core.formats.base as base

    sizes = []
    real = base._readinto
    monkeypatch.setattr(base, "_readinto", lambda f, buf, off, r: sizes.append(buf.nbytes) or real(f, buf, off, r))
    read_range(ref, 20, 30)
    assert sizes == [40]
