"""An ``.npz`` of weights (``np.savez``) opens as a model: stored arrays read in place, compressed ones inflated
within a bound, object arrays judged for what their pickle would call, never loaded."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import inspector
from inspector.core.errors import MalformedFileError, UnsupportedFormatError
from inspector.core.formats import read_tensor
from inspector.core.formats.base import iter_chunks
from inspector.core.formats.npz import MAX_INFLATED_BYTES
from inspector.core.pipeline import ScanOptions, scan


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "encoder/dense/kernel": rng.normal(0, 0.05, (64, 32)).astype(np.float32),
        "encoder/dense/bias": np.zeros(32, np.float32),
        "head/kernel": np.asfortranarray(rng.normal(0, 0.05, (32, 10))),  # float64, column-major
        "embed": rng.normal(0, 1, (100, 8)).astype(np.float16),
        "step": np.array(1000, np.int64),
    }


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
def test_every_array_reads_bit_for_bit(tmp_path: Path, compressed: bool) -> None:
    arrays = _arrays()
    path = tmp_path / "weights.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    model = inspector.open_model(path)
    assert model.format == "npz" and model.threats == () and model.hidden == ()
    assert [t.name for t in model.tensors] == list(arrays)
    for name, a in arrays.items():
        ref = model[name]
        assert ref.shape == a.shape
        assert np.array_equal(read_tensor(ref), a)
        assert np.array_equal(np.concatenate([c for c in iter_chunks(ref, 256)]), a.reshape(-1, order="C"))
    stored = [t for t in model.tensors if t.inline is None]
    assert (stored == []) == compressed  # stored members are read in place, never held
    assert scan(path, ScanOptions()).verdict == "incomplete"


def test_a_payload_in_an_npz_is_judged_like_any_weights(tmp_path: Path) -> None:
    w = np.random.default_rng(1).normal(0, 0.05, (256, 256)).astype(np.float32)
    u = w.reshape(-1).view(np.uint32)
    secret = (np.random.default_rng(0).integers(0, 17, 65536) * 15).astype(np.uint32)
    u[:] = (u & ~np.uint32(0xFF)) | secret
    np.savez(tmp_path / "m.npz", **{"dense/kernel": w})
    res = scan(tmp_path / "m.npz", ScanOptions())
    assert res.verdict == "suspicious" and any(f.attack == "lsb" for f in res.findings if f.severity == "suspicious")


class _RunsShell:
    def __reduce__(self):
        return (os.system, ("true",))


def test_an_object_array_is_never_loaded_and_what_its_pickle_calls_is_named(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.ones((4, 4), np.float32), meta=np.array([_RunsShell()], dtype=object))
    model = inspector.open_model(path)
    assert [t.name for t in model.tensors] == ["w"]
    assert [t.global_name for t in model.threats] == [f"{os.system.__module__}.system"]
    assert any("Python objects" in h.where for h in model.hidden)
    assert scan(path, ScanOptions()).verdict == "suspicious"


def test_arrays_of_other_element_types_are_bytes_no_tensor_shows(tmp_path: Path) -> None:
    path = tmp_path / "odd.npz"
    np.savez(path, w=np.ones((4, 4), np.float32), z=np.ones(300, np.complex64), big=np.ones(100, ">f4"))
    model = inspector.open_model(path)
    assert [t.name for t in model.tensors] == ["w"]
    assert sorted(h.nbytes for h in model.hidden) == [400, 2400]


def test_compressed_arrays_past_the_bound_are_refused_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    n = MAX_INFLATED_BYTES // 4 + 1024
    np.savez_compressed(path, w=np.zeros(n, np.float32))
    with pytest.raises(UnsupportedFormatError, match="np.savez_compressed"):
        inspector.open_model(path)


def test_a_header_that_lies_about_its_size_and_a_bomb_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones(8, np.float32))
    raw = buf.getvalue()
    lying = tmp_path / "lying.npz"
    with zipfile.ZipFile(lying, "w") as z:
        z.writestr("w.npy", raw[:-8])
    with pytest.raises(MalformedFileError, match="holds"):
        inspector.open_model(lying)
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("w.npy", b"\x00" * (100 << 20))
    with pytest.raises(MalformedFileError, match="exhaust memory"):
        inspector.open_model(bomb)


def test_a_zip_of_other_files_is_still_no_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "mixed.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", pickle.dumps(1))
        z.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedFormatError, match="without a data.pkl"):
        inspector.open_model(path)


def test_headers_numpy_would_read_slowly_or_not_at_all_are_refused_at_once(tmp_path: Path) -> None:
    """numpy falls back to tokenizing a header of Python 2 literals (seconds for a long one); a header is read with
    ``ast.literal_eval`` alone, and one longer than any numpy writes for a model's array is refused, each naming
    what is wrong."""
    import time

    def npy(header: bytes) -> bytes:
        header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
        return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header

    cases = {
        "py2.npz": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }") + bytes(8),
        "long.npz": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), " + b" " * 6000 + b"}") + bytes(8),
    }
    for name, member in cases.items():
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as z:
            for i in range(50):
                z.writestr(f"w{i}.npy", member)
        t0 = time.process_time()
        with pytest.raises(MalformedFileError, match="not a readable .npy array") as e:
            inspector.open_model(path)
        assert time.process_time() - t0 < 1.0
        assert "NUMPY" not in str(e.value) and ("header of" in str(e.value)) == (name == "long.npz")
