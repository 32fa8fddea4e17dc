"""The GGUF reader: files written here by the spec read back bit for bit; broken and hostile headers are refused.

The writer below follows the published layout (magic, version, counts, key-value pairs, tensor infos with the
innermost dimension first, padding to the alignment, data area); it is independent of the reader under test.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import MalformedFileError, UnsupportedFormatError
from inspector.core.formats import open_model, read_tensor
from inspector.core.formats.gguf import open_gguf

F32, F16, Q4_0, Q8_0, BF16 = 0, 1, 2, 8, 30
_SIZES = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q4_0: (32, 18), Q8_0: (32, 34)}


def _s(text: str) -> bytes:
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    return _s(key) + struct.pack("<I", vtype) + payload


def write_gguf(
    path: Path,
    tensors: list[tuple[str, int, tuple[int, ...], bytes]],
    kvs: list[bytes] | None = None,
    alignment: int = 32,
    version: int = 3,
) -> Path:
    """``tensors``: (name, ggml type, numpy shape, raw bytes). Offsets are laid out in order, aligned."""
    kvs = list(kvs or [])
    infos, blobs, offset = b"", b"", 0
    for name, gtype, shape, raw in tensors:
        dims = list(reversed(shape))
        infos += _s(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        infos += struct.pack("<IQ", gtype, offset)
        pad = -len(raw) % alignment
        blobs += raw + b"\0" * pad
        offset += len(raw) + pad
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs) + infos
    head += b"\0" * (-len(head) % alignment)
    path.write_bytes(head + blobs)
    return path


def q8_0(values: np.ndarray) -> bytes:
    """Q8_0 blocks: an fp16 scale, then 32 int8 values."""
    out = b""
    for block in values.reshape(-1, 32):
        d = float(np.abs(block).max()) / 127 or 1.0
        q = np.round(block / d).astype(np.int8)
        out += np.float16(d).tobytes() + q.tobytes()
    return out


def _kvs() -> list[bytes]:
    return [
        _kv("general.architecture", 8, _s("llama")),
        _kv("general.name", 8, _s("tiny test model")),
        _kv("llama.block_count", 4, struct.pack("<I", 2)),
        _kv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)),
        _kv("general.flag", 7, b"\x01"),
        _kv("general.count64", 11, struct.pack("<q", -5)),
        _kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + _s("<s>") + _s("a") + _s("b")),
        _kv("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 20) + np.arange(20, dtype="<f4").tobytes()),
        _kv("nested", 9, struct.pack("<IQ", 9, 2) + struct.pack("<IQ", 4, 1) + b"\1\0\0\0" + struct.pack("<IQ", 8, 0)),
    ]


def _model(tmp_path: Path, alignment: int = 32) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    arrays = {
        "token_embd.weight": rng.normal(0, 0.02, (16, 8)).astype("<f4"),
        "blk.0.attn_norm.weight": np.ones(8, "<f4"),
        "blk.0.ffn_up.weight": rng.normal(0, 0.02, (12, 8)).astype("<f2"),
        "blk.0.bf16": (rng.normal(0, 1, (3, 5)).astype("<f4").view("<u4") >> 16).astype("<u2"),
    }
    quant = rng.normal(0, 0.02, (4, 64)).astype(np.float32)
    tensors = [
        ("token_embd.weight", F32, (16, 8), arrays["token_embd.weight"].tobytes()),
        ("blk.0.attn_norm.weight", F32, (8,), arrays["blk.0.attn_norm.weight"].tobytes()),
        ("blk.0.attn_q.weight", Q8_0, (4, 64), q8_0(quant)),
        ("blk.0.ffn_up.weight", F16, (12, 8), arrays["blk.0.ffn_up.weight"].tobytes()),
        ("blk.0.ffn_down.weight", Q4_0, (2, 32), bytes(range(18)) * 2),
        ("blk.0.bf16", BF16, (3, 5), arrays["blk.0.bf16"].tobytes()),
    ]
    kvs = _kvs()
    if alignment != 32:
        kvs.append(_kv("general.alignment", 4, struct.pack("<I", alignment)))
    return write_gguf(tmp_path / "m.gguf", tensors, kvs, alignment), arrays


@pytest.mark.parametrize("alignment", [32, 64])
def test_float_tensors_read_bit_for_bit(tmp_path, alignment):
    path, arrays = _model(tmp_path, alignment)
    mf = open_model(path)
    assert mf.format == "gguf"
    assert [n for n in mf.names if mf[n].encoding is None] == [
        "token_embd.weight",
        "blk.0.attn_norm.weight",
        "blk.0.ffn_up.weight",
        "blk.0.bf16",
    ]
    assert mf["blk.0.bf16"].dtype.name == "BF16" and mf["blk.0.ffn_up.weight"].shape == (12, 8)
    for name, a in arrays.items():
        assert read_tensor(mf[name]).tobytes() == a.tobytes(), name
        assert mf[name].offset % alignment == 0


def test_quantized_tensors_are_listed_with_their_byte_ranges(tmp_path):
    path, _ = _model(tmp_path)
    mf = open_gguf(path)
    q = mf.metadata["gguf.quantized.blk.0.attn_q.weight"]
    assert q.startswith("Q8_0 [4, 64] bytes ") and "dequantised to float32 for statistics" in q
    start, end = (int(x.replace(",", "")) for x in q.split("bytes ")[1].split(" ")[0].split(".."))
    assert end - start == 8 * 34
    assert mf.metadata["gguf.quantized.blk.0.ffn_down.weight"].startswith("Q4_0 [2, 32]")
    assert mf.metadata["gguf.quantized_tensors"] == "2" and mf.metadata["gguf.dequantised_tensors"] == "2"
    assert mf.metadata["gguf.quantized_bytes"] == str(8 * 34 + 2 * 18)


def test_metadata_values_are_kept_as_text(tmp_path):
    path, _ = _model(tmp_path)
    meta = open_gguf(path).metadata
    assert meta["gguf.general.architecture"] == "llama"
    assert meta["gguf.llama.block_count"] == "2"
    assert meta["gguf.llama.rope.freq_base"] == "10000.0"
    assert meta["gguf.general.flag"] == "True"
    assert meta["gguf.general.count64"] == "-5"
    assert meta["gguf.tokenizer.ggml.tokens"] == "['<s>', 'a', 'b']"
    assert meta["gguf.tokenizer.ggml.scores"].endswith("... (20 float32)]")
    assert meta["gguf.nested"] == "['[1]', '[]']"


def test_version_2_reads_and_others_are_refused(tmp_path):
    path = write_gguf(tmp_path / "v2.gguf", [("w", F32, (2,), b"\0" * 8)], version=2)
    assert open_gguf(path).names == ["w"]
    for version, match in ((1, "version 1"), (3 << 24, "big-endian")):
        path = write_gguf(tmp_path / "v.gguf", [("w", F32, (2,), b"\0" * 8)], version=version)
        with pytest.raises(UnsupportedFormatError, match=match):
            open_model(path)


def _head(n_tensors: int, n_kv: int, body: bytes = b"") -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + body


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_head(0, 1, struct.pack("<Q", 1 << 60)), "over the"),
        (_head(0, 1, _s("k") + struct.pack("<I", 8) + struct.pack("<Q", 1 << 20)), "file ends"),
        (_head(0, 1, _s("k") + struct.pack("<IIQ", 9, 6, 1 << 40)), "more than the file holds"),
        (_head(0, 1, _s("k") + struct.pack("<IIQ", 9, 8, 1 << 40)), "more than the file holds"),
        (_head(0, 1, _s("k") + struct.pack("<I", 99)), "unknown value type"),
        (_head(0, 2, _kv("k", 4, b"\0\0\0\0") * 2), "appears twice"),
        (_head(0, 1, _kv("general.alignment", 4, struct.pack("<I", 24))), "power-of-two"),
        (_head(1 << 40, 0), "beyond any model"),
        (_head(1, 0, _s("w") + struct.pack("<I", 1000)), "dimensions"),
        (_head(1, 0, _s("w") + struct.pack("<I", 12)), "file ends"),
        (_head(1, 0, _s("w") + struct.pack("<IQIQ", 1, 1 << 50, 0, 0)), "cut short|ends at|truncated"),
        (_head(1, 0, _s("w") + struct.pack("<IQIQ", 1, 4, 0, 3)), "alignment"),
        (_head(1, 0, _s("w") + struct.pack("<IQIQ", 1, 33, Q8_0, 0)), "whole blocks"),
        (_head(1, 0, _s("w") + struct.pack("<IQIQ", 1, 4, 77, 0)), "ggml type 77"),
        (_head(2, 0, (_s("w") + struct.pack("<IQIQ", 1, 4, 0, 0)) * 2), "appears twice"),
        (_head(1, 0, _s("w") + struct.pack("<I", 3) + struct.pack("<3Q", 1 << 30, 1 << 30, 1 << 30)), "beyond"),
    ],
)
def test_broken_headers_get_one_clear_error(tmp_path, data, match):
    path = tmp_path / "bad.gguf"
    path.write_bytes(data + b"\0" * 64)
    with pytest.raises((MalformedFileError, UnsupportedFormatError), match=match):
        open_model(path)


def test_overlapping_tensors_are_refused(tmp_path):
    infos = b"".join(_s(n) + struct.pack("<IQIQ", 1, 8, F32, 0) for n in ("a", "b"))
    head = _head(2, 0, infos)
    path = tmp_path / "overlap.gguf"
    path.write_bytes(head + b"\0" * (-len(head) % 32) + b"\0" * 64)
    with pytest.raises(MalformedFileError, match="overlaps"):
        open_model(path)


def test_bytes_no_tensor_covers_are_reported(tmp_path):
    path = write_gguf(tmp_path / "tail.gguf", [("w", F32, (8,), b"\0" * 32)])
    assert "gguf.unreferenced_bytes" not in open_gguf(path).metadata
    path.write_bytes(path.read_bytes() + b"hidden payload" * 100)
    assert open_gguf(path).metadata["gguf.unreferenced_bytes"] == str(1400)


def test_gguf_of_123_tensors_is_not_taken_for_safetensors(tmp_path):
    """Byte 8 of the header is the low byte of the tensor count: 123 is '{', safetensors' sniff mark."""
    tensors = [(f"t{i}", F32, (1,), b"\0\0\0\0") for i in range(123)]
    path = write_gguf(tmp_path / "many.gguf", tensors)
    assert path.read_bytes()[8:9] == b"{"
    assert len(open_model(path)) == 123


def test_scan_runs_on_gguf(tmp_path):
    from inspector.core.pipeline import ScanOptions, scan

    path, arrays = _model(tmp_path)
    res = scan(path, ScanOptions(detectors=False, hash=False, workers=1))
    assert res.model.format == "gguf" and res.model.tensors == len(arrays) + 2  # and the two dequantised ones
    t = res.tensor("token_embd.weight")
    assert t.stats.max == pytest.approx(float(arrays["token_embd.weight"].max()))


def _q4(values: np.ndarray, with_min: bool) -> tuple[bytes, np.ndarray]:
    """Q4_0 / Q4_1 blocks and the values they decode to, computed element by element from the layout."""
    out, decoded = b"", []
    for block in values.reshape(-1, 32):
        if with_min:
            m = np.float16(block.min())
            d = np.float16((block.max() - float(m)) / 15 or 1.0)
            q = np.clip(np.round((block - float(m)) / float(d)), 0, 15).astype(np.uint8)
            decoded += [float(d) * int(v) + float(m) for v in q]
            head = d.tobytes() + m.tobytes()
        else:
            d = np.float16(np.abs(block).max() / 7 or 1.0)
            q = np.clip(np.round(block / float(d)) + 8, 0, 15).astype(np.uint8)
            decoded += [float(d) * (int(v) - 8) for v in q]
            head = d.tobytes()
        out += head + bytes(int(q[j]) | int(q[j + 16]) << 4 for j in range(16))
    return out, np.array(decoded, np.float32)


def test_q8_0_q4_0_q4_1_dequantise_for_statistics(tmp_path):
    from inspector.core.formats.gguf import dequantize, quantized_tensors

    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.05, (3, 64)).astype(np.float32)
    q40, want40 = _q4(x, with_min=False)
    q41, want41 = _q4(x, with_min=True)
    path = write_gguf(
        tmp_path / "q.gguf",
        [("a", Q8_0, (3, 64), q8_0(x)), ("b", Q4_0, (3, 64), q40), ("c", 3, (3, 64), q41), ("f", F32, (2,), b"\0" * 8)],
    )
    qs = {q.name: q for q in quantized_tensors(path)}
    assert [qs[n].qtype for n in "abc"] == ["Q8_0", "Q4_0", "Q4_1"] and qs["a"].numel == 192
    got8 = np.concatenate(list(dequantize(qs["a"], max_blocks=2)))
    assert got8.shape == (192,) and np.abs(got8 - x.ravel()).max() <= np.abs(x).max() / 127
    np.testing.assert_allclose(np.concatenate(list(dequantize(qs["b"]))), want40, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.concatenate(list(dequantize(qs["c"]))), want41, rtol=0, atol=1e-6)


def test_other_block_types_are_listed_but_not_decoded(tmp_path):
    from inspector.core.formats.gguf import dequantize, quantized_tensors

    path = write_gguf(tmp_path / "k.gguf", [("k", 12, (1, 256), b"\0" * 144)])  # Q4_K
    (q,) = quantized_tensors(path)
    assert q.qtype == "Q4_K" and q.nbytes == 144
    with pytest.raises(UnsupportedFormatError, match="not decoded"):
        next(dequantize(q))


def test_endless_string_arrays_are_bounded(tmp_path, monkeypatch):
    import inspector.core.formats.gguf as gg

    monkeypatch.setattr(gg, "MAX_ARRAY_ITEMS", 100)
    kv = _kv("tokens", 9, struct.pack("<IQ", 8, 101) + _s("") * 101)
    path = write_gguf(tmp_path / "many.gguf", [], [kv])
    with pytest.raises(MalformedFileError, match="over 100 strings"):
        open_model(path)


def _q8_model(tmp_path: Path, x: np.ndarray) -> Path:
    q40, _ = _q4(x, with_min=False)
    return write_gguf(
        tmp_path / "q.gguf",
        [
            ("blk.0.attn_q.weight", Q8_0, x.shape, q8_0(x)),
            ("blk.0.ffn_down.weight", Q4_0, x.shape, q40),
            ("blk.0.ffn_k.weight", 12, (1, 256), b"\0" * 144),  # Q4_K: listed, not decoded
            ("output_norm.weight", F32, (8,), np.ones(8, "<f4").tobytes()),
        ],
    )


def test_dequantised_tensors_are_read_as_float32_by_every_reader(tmp_path):
    from inspector.core.formats import iter_chunks, read_range
    from inspector.core.formats.gguf import dequantize, quantized_tensors

    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.05, (6, 96)).astype(np.float32)
    path = _q8_model(tmp_path, x)
    mf = open_model(path)
    assert mf.names == ["blk.0.attn_q.weight", "blk.0.ffn_down.weight", "output_norm.weight"]  # Q4_K left out
    ref = mf["blk.0.attn_q.weight"]
    assert ref.encoding == "Q8_0" and ref.dtype.name == "F32" and ref.shape == (6, 96) and not ref.contiguous
    want = np.concatenate(list(dequantize({q.name: q for q in quantized_tensors(path)}["blk.0.attn_q.weight"])))
    whole = read_tensor(ref)
    assert whole.shape == (6, 96) and whole.dtype == np.float32
    np.testing.assert_array_equal(whole.ravel(), want)
    chunks = list(iter_chunks(ref, chunk_bytes=300))  # 75 elements: 2 whole blocks a read, within the bound
    assert max(c.size for c in chunks) == 64 and sum(c.size for c in chunks) == x.size
    np.testing.assert_array_equal(np.concatenate(chunks), want)
    for a, b in [(0, 1), (5, 70), (31, 33), (500, 576), (100, 100)]:
        np.testing.assert_array_equal(read_range(ref, a, b), want[a:b])
    assert "not scanned" in mf.metadata["gguf.quantized.blk.0.ffn_k.weight"]


def test_scan_measures_dequantised_values_and_never_judges_their_low_bits(tmp_path):
    from inspector.core.pipeline import ScanOptions, scan

    rng = np.random.default_rng(6)
    x = rng.normal(0, 0.05, (64, 256)).astype(np.float32)
    path = _q8_model(tmp_path, x)
    res = scan(path, ScanOptions(hash=False, workers=1))
    t = res.tensor("blk.0.attn_q.weight")
    assert t.encoding == "Q8_0" and t.dtype == "F32" and t.stats.count == x.size
    assert t.stats.std == pytest.approx(float(x.std()), rel=0.02)
    doc = res.to_json()
    row = next(r for r in doc["tensors"] if r["name"] == "blk.0.attn_q.weight")
    assert row["encoding"] == "Q8_0"
    f = t.features
    # value-level features are measured; the low bits (fixed by scale x int) are not judged
    assert np.isfinite(f.sign_autocorr) and np.isfinite(f.kurtosis)
    assert f.judged == 0 and f.rounded_bits == 0 and f.gap_planes == () and np.isnan(f.plane_deviation)
    lsb = [g for g in res.findings if g.tensor == "blk.0.attn_q.weight" and g.attack == "lsb"]
    assert not lsb
    assert "encoding" not in next(r for r in doc["tensors"] if r["name"] == "output_norm.weight")
    rows = {r["class"].split(" (")[0]: r for r in doc["coverage"]["rows"]}
    assert rows["block-quantized tensors"]["bytes"] == x.size // 32 * (34 + 18)  # the Q8_0 and Q4_0 blocks
    assert "low bits not judged" in rows["block-quantized tensors"]["checks"]
    assert rows["block-quantized tensors of other types"]["bytes"] == 144  # the Q4_K blocks: listed only
    assert sum(r["bytes"] for r in doc["coverage"]["rows"]) == doc["coverage"]["file_bytes"]


def test_an_export_writes_dequantised_tensors_as_float32_without_scrubbing_them(tmp_path):
    from inspector.core.scrub import plan_policy, scrub_model

    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.05, (8, 64)).astype(np.float32)
    path = _q8_model(tmp_path, x)
    mf = open_model(path)
    actions = {d.name: (d.action, d.bits) for d in plan_policy(mf, 4).tensors}
    assert actions["blk.0.attn_q.weight"] == ("copy", 0) and actions["output_norm.weight"][0] == "scrub"
    out = tmp_path / "out.safetensors"
    scrub_model(mf, out, bits=4, seed=0)
    copy = open_model(out)
    np.testing.assert_array_equal(read_tensor(copy["blk.0.attn_q.weight"]), read_tensor(mf["blk.0.attn_q.weight"]))
