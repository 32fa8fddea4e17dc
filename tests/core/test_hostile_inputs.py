"""Hostile and damaged inputs: every reader answers with an InspectorError (never another exception, a hang or a
huge allocation). Regression tests for what a fuzzing pass over the readers found, plus a small seeded fuzz."""

from __future__ import annotations

import json
import os
import pickle
import random
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import inspector
from inspector.core.errors import (
    DataError,
    ExportError,
    InspectorError,
    MalformedFileError,
    RecipeError,
    UnsupportedFormatError,
)
from inspector.core.formats.base import read_tensor
from inspector.core.formats.data import load_dataset
from inspector.core.pipeline import ScanOptions, scan
from tests.conftest import raw_safetensors

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def _exercise(path: Path) -> None:
    """What the CLI does with a model: open, read every tensor, scan (detectors included)."""
    model = inspector.open_model(path)
    for ref in model.tensors:
        read_tensor(ref)
    scan(model, ScanOptions(workers=1, hash=False))


# ---------------------------------------------------------------------------------------------- safetensors
@pytest.mark.parametrize(
    ("shape", "match"),
    [([0, 2**62], "beyond any real model"), ([2**21, 0, 2**21], "beyond any real model"), ([1] * 100, "dimensions")],
)
def test_absurd_shapes_are_refused_at_open(tmp_path: Path, shape, match) -> None:
    # a zero-length dimension makes the byte count 0, which used to pass the size check and crash numpy later
    p = raw_safetensors(
        tmp_path / "m.safetensors", {"x": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}}, b""
    )
    with pytest.raises(MalformedFileError, match=match):
        inspector.open_model(p)


def test_deeply_nested_header_json_is_malformed_not_a_recursion_error(tmp_path: Path) -> None:
    blob = b"[" * 100_000 + b"]" * 100_000
    p = tmp_path / "deep.safetensors"
    p.write_bytes(struct.pack("<Q", len(blob)) + blob)
    with pytest.raises(MalformedFileError, match="too deeply"):
        inspector.open_model(p)


def _index(folder: Path, text: str) -> Path:
    folder.mkdir()
    p = folder / "m.safetensors.index.json"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[" * 100_000 + "]" * 100_000, "too deeply"),
        (json.dumps({"weight_map": {"a": "x\u0000y"}}), "impossible shard"),
        (json.dumps({"weight_map": {"a": ""}}), "impossible shard"),
        (json.dumps({"weight_map": {"a": "m.safetensors.index.json"}}), "index file itself"),
    ],
)
def test_hostile_index_files(tmp_path: Path, text: str, match: str) -> None:
    p = _index(tmp_path / "model", text)
    with pytest.raises(MalformedFileError, match=match):
        inspector.open_model(p)
    with pytest.raises(MalformedFileError, match=match):
        inspector.open_model(p.parent)


def test_a_shard_that_is_a_folder(tmp_path: Path) -> None:
    p = _index(tmp_path / "model", json.dumps({"weight_map": {"a": "sub.safetensors"}}))
    (p.parent / "sub.safetensors").mkdir()
    with pytest.raises(MalformedFileError, match="missing or not a file"):
        inspector.open_model(p)


# ---------------------------------------------------------------------------------------------- the file system
@needs_fifo
@pytest.mark.parametrize("name", ["fifo.safetensors", "fifo.pt", "m.safetensors.index.json", "fifo"])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    os.mkfifo(p)
    with pytest.raises(UnsupportedFormatError, match="not a regular file"):
        inspector.open_model(p)  # opening a FIFO for reading would block forever


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_device_is_refused() -> None:
    with pytest.raises(UnsupportedFormatError, match="not a regular file"):
        inspector.open_model("/dev/zero")  # zipfile.is_zipfile used to read it until memory ran out


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loops_and_dangling_links(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b.safetensors", tmp_path / "a.safetensors")
    os.symlink(tmp_path / "a.safetensors", tmp_path / "b.safetensors")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.pt")
    for name in ("a.safetensors", "dangling.pt"):
        with pytest.raises(InspectorError, match="symbolic link"):
            inspector.open_model(tmp_path / name)


def test_a_folder_named_like_a_model_file(tmp_path: Path) -> None:
    (tmp_path / "x.safetensors").mkdir()
    with pytest.raises(UnsupportedFormatError, match="no model file"):
        inspector.open_model(tmp_path / "x.safetensors")


# ---------------------------------------------------------------------------------------------- PyTorch pickles
def _tensor_pickle(shape: tuple, strides: tuple) -> bytes:
    """A protocol-2 pickle of {"w": _rebuild_tensor_v2(storage, 0, shape, strides, False, OrderedDict())}."""

    def glob(module: str, name: str) -> bytes:
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def tup(items: tuple) -> bytes:
        return (
            b"("
            + b"".join(b"J" + struct.pack("<i", i) if i < 2**31 else b"L" + str(i).encode() + b"L\n" for i in items)
            + b"t"
        )

    storage = (
        b"(X\x07\x00\x00\x00storage" + glob("torch", "FloatStorage") + b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x10tQ"
    )
    call = glob("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + b"K\x00" + tup(shape) + tup(strides)
    call += b"\x89" + glob("collections", "OrderedDict") + b")Rt" + b"R"
    return b"\x80\x02}X\x01\x00\x00\x00w" + call + b"s."


def _zip_checkpoint(path: Path, pkl: bytes, storage: bytes = bytes(64)) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/data/0", storage)
    return path


def test_the_hand_made_pickle_reads(tmp_path: Path) -> None:
    model = inspector.open_model(_zip_checkpoint(tmp_path / "ok.pt", _tensor_pickle((4, 4), (4, 1))))
    assert model["w"].shape == (4, 4)


@pytest.mark.parametrize(
    ("shape", "strides", "match"),
    [
        ((2**40, 1), (0, 0), "repeats 1 stored values"),  # 4 TB once materialised: used to hit MemoryError in scan
        ((2**20, 2**19), (0, 0), "repeats 1 stored values"),
        ((0, 2**61), (1, 1), "beyond any real model"),  # numpy refuses the shape even with no elements
    ],
)
def test_views_that_would_allocate_without_bound_are_refused(tmp_path: Path, shape, strides, match) -> None:
    p = _zip_checkpoint(tmp_path / "m.pt", _tensor_pickle(shape, strides))
    with pytest.raises(MalformedFileError, match=match):
        inspector.open_model(p)


def test_a_small_broadcast_view_still_reads(tmp_path: Path) -> None:
    p = _zip_checkpoint(tmp_path / "m.pt", _tensor_pickle((8, 16), (0, 1)))
    assert read_tensor(inspector.open_model(p)["w"]).shape == (8, 16)


def test_a_corrupt_length_field_is_named_without_allocating_it(tmp_path: Path, capfd) -> None:
    # BYTEARRAY8 claiming ~7.9e18 bytes: the C unpickler allocated it first (MemoryError, and on CPython 3.11 a
    # stray "SystemError: deallocated bytearray object has exported buffers" on stderr)
    legacy = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"\x80\x05\x96" + struct.pack("<Q", 7 << 60) + b"x."
    p = tmp_path / "legacy.pt"
    p.write_bytes(legacy)
    in_zip = _zip_checkpoint(tmp_path / "zip.pt", b"\x80\x05\x96" + struct.pack("<Q", 7 << 60) + b"x.")
    for path in (p, in_zip):
        with pytest.raises(MalformedFileError, match="remain"):
            inspector.open_model(path)
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------------------------------------- seeded fuzz
def _sources(tmp_path: Path) -> list[Path]:
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    sd = {
        "fc.weight": torch.randn(6, 4, generator=g),
        "fc.bias": torch.randn(6, generator=g),
        "t": torch.randn(3, 5).t(),
    }
    torch.save(sd, tmp_path / "zip.pt")
    torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    return [DEMO / "mlp-benign-s0.safetensors", tmp_path / "zip.pt", tmp_path / "legacy.pt"]


def test_truncated_and_bit_flipped_files_only_raise_inspector_errors(tmp_path: Path) -> None:
    rng = random.Random(1234)
    for src in _sources(tmp_path):
        data = src.read_bytes()
        variants = [
            data[:cut]
            for cut in sorted({0, 7, 8, 9, 64, len(data) // 2, len(data) - 1, *rng.sample(range(len(data)), 8)})
        ]
        for _ in range(40):
            d = bytearray(data)
            near = rng.choice([min(len(d), 600), len(d)])  # bias to the header / pickle, then anywhere
            for _ in range(rng.randint(1, 3)):
                pos = rng.randrange(near) if rng.random() < 0.7 else len(d) - 1 - rng.randrange(min(len(d), 400))
                d[pos] = rng.randrange(256)
            variants.append(bytes(d))
        for i, blob in enumerate(variants):
            p = tmp_path / f"v{i}{src.suffix}"
            p.write_bytes(blob)
            try:
                _exercise(p)
            except InspectorError as e:
                assert "\n" not in str(e) and str(p) in str(e)


# ---------------------------------------------------------------------------------------------- odd values
def test_odd_float_values_scan_without_warnings(make_model) -> None:
    p = make_model(
        {
            "big": np.array([1.7e308, -1.7e308, 5e-324, 1.0], np.float64),
            "mixed": np.array([np.inf, -np.inf, np.nan, 1.0, 3.4e38, -3.4e38, 1e-45], np.float32),
            "nan": np.full(100, np.nan, np.float32),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI would print each RuntimeWarning on stderr
        _exercise(p)


# ---------------------------------------------------------------------------------------------- data files
def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"inputs": np.array([[np.nan, 1.0]], np.float32), "labels": np.array([0])}, "NaN or infinite"),
        ({"inputs": np.array([[1e300, 1.0]]), "labels": np.array([0])}, "NaN or infinite"),  # inf as float32
        ({"inputs": np.float32(1.0), "labels": np.int64(0)}, "scalar"),
        ({"inputs": np.zeros((1, 2), np.float32), "labels": np.array([2**64 - 1], np.uint64)}, "too large"),
    ],
)
def test_bad_values_in_data_files(tmp_path: Path, arrays, match) -> None:
    with pytest.raises(DataError, match=match):
        load_dataset(_npz(tmp_path / "d.npz", **arrays))


def test_damaged_npz_files_are_named_as_such(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(300)))
    with pytest.raises(DataError, match="not a .npz"):  # not "pickled code": numpy took it for a pickle
        load_dataset(garbage)
    # an .npy member whose header claims 2**62 rows
    import io

    buf = io.BytesIO()
    np.save(buf, np.zeros((1, 4), np.float32))
    member = buf.getvalue().replace(b"(1, 4)", b"(4611686018427387904, 4)")
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(huge, "w") as z:
        z.writestr("inputs.npy", member)
        buf = io.BytesIO()
        np.save(buf, np.zeros(1, np.int64))
        z.writestr("labels.npy", buf.getvalue())
    with pytest.raises(DataError, match=r"not a readable \.npy array \(its header describes"):
        load_dataset(huge)


@needs_fifo
def test_a_fifo_data_file_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "d.npz")
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(tmp_path / "d.npz")


# ---------------------------------------------------------------------------------------------- outputs, models
@needs_fifo
def test_the_writer_never_renames_over_a_device_or_pipe(tmp_path: Path, small_model: Path) -> None:
    from inspector.core.scrub.export import scrub_model

    target = tmp_path / "pipe.safetensors"
    os.mkfifo(target)
    with pytest.raises(ExportError, match="device or pipe"):
        scrub_model(inspector.open_model(small_model), target, bits=8, seed=0)
    assert target.is_fifo()


def test_inputs_the_architecture_cannot_take_are_a_recipe_error(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from inspector.core.evaluate.accuracy import evaluate

    data = _npz(tmp_path / "d.npz", inputs=np.zeros((4, 5), np.float32), labels=np.zeros(4, np.int64))
    with pytest.raises(RecipeError, match=r"cannot run on inputs of shape \(5,\)"):
        evaluate(DEMO / "mlp-benign-s0.safetensors", data, device="cpu")


def test_sharded_index_with_an_empty_weight_map_is_refused(tmp_path):
    import json as _json

    from inspector.core.errors import MalformedFileError
    from inspector.core.formats import open_model as _open

    idx = tmp_path / "model.safetensors.index.json"
    idx.write_text(_json.dumps({"weight_map": {}}))
    with pytest.raises(MalformedFileError, match="maps no tensors"):
        _open(idx)


def test_report_writer_refuses_a_device(tmp_path):
    from inspector.core.errors import InspectorError
    from inspector.core.report import writer as report_writer

    fifo = tmp_path / "r.html"
    os.mkfifo(fifo)
    with pytest.raises(InspectorError, match="not a regular file"):
        report_writer.write_report(object(), fifo)  # refused before anything is rendered
