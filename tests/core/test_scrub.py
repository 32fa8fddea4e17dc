"""Scrubbing: exact bit layouts per dtype, specials, determinism, safe export, verification, payload destruction.

Expected values come from a small pure-Python reference (bit arithmetic on Python ints; numpy only supplies
the PCG64 word stream the documented seeding scheme names), never from the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from inspector.core.dtypes import DTYPES
from inspector.core.errors import ExportError, InspectorError
from inspector.core.formats import open_model
from inspector.core.formats.safetensors import open_safetensors
from inspector.core.progress import Cancelled, CancelToken
from inspector.core.scrub.export import (
    parse_bits,
    scaled_bits,
    scrub_chunk,
    scrub_model,
)
from inspector.core.scrub.safe_bits import level_bits

# ------------------------------------------------------------------------------------- pure-Python reference


def ref_words(seed: int, name: str | None, n_bytes: int) -> bytes:
    """The documented random stream: PCG64 seeded by SeedSequence(seed, spawn_key=sha256(name) words)."""
    if name is None:
        bg = np.random.PCG64(seed)
    else:
        words = struct.unpack("<4I", hashlib.sha256(name.encode()).digest()[:16])
        bg = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=words))
    raw = bg.random_raw((n_bytes + 7) // 8)
    return b"".join(int(w).to_bytes(8, "little") for w in raw)


def ref_random(raws: list[int], itemsize: int, k: int, seed: int, name: str | None) -> list[int]:
    width = 1
    while width * 8 < k:
        width *= 2
    width = min(width, itemsize)
    stream = ref_words(seed, name, len(raws) * width)
    out = []
    for i, u in enumerate(raws):
        lane = int.from_bytes(stream[i * width : (i + 1) * width], "little") & ((1 << k) - 1)
        out.append((u & ~((1 << k) - 1)) | lane)
    return out


def ref_round(u: int, k: int) -> int:
    """Round-to-nearest-even of a finite value's raw bits at k dropped bits (carry may reach the exponent)."""
    low, base = u & ((1 << k) - 1), u >> k
    half = 1 << (k - 1)
    if low > half or (low == half and base & 1):
        base += 1
    return base << k


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f16(x: float) -> int:
    return struct.unpack("<H", struct.pack("<e", x))[0]


def f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


# raw test values per dtype (1.0, 0.1, -2.5, a small one), built with struct, not numpy
VALUES = {
    "F32": [f32(1.0), f32(0.1), f32(-2.5), f32(3e-3)],
    "F16": [f16(1.0), f16(0.1), f16(-2.5), f16(3e-3)],
    "F64": [f64(1.0), f64(0.1), f64(-2.5), f64(3e-3)],
    "BF16": [f32(1.0) >> 16, f32(0.1) >> 16, f32(-2.5) >> 16, f32(3e-3) >> 16],
    "F8_E4M3": [0x38, 0x30, 0xB8, 0x21],  # 1.0, 0.5, -1.0, a small normal
    "F8_E5M2": [0x3C, 0x38, 0xBC, 0x11],
}
CASES = [("F32", 16), ("F32", 7), ("F32", 23), ("F16", 3), ("F16", 10), ("F64", 45), ("F64", 52), ("BF16", 1)]
CASES += [("BF16", 2), ("BF16", 7), ("F8_E4M3", 1), ("F8_E4M3", 3), ("F8_E5M2", 2)]


def as_raw(name: str, raws: list[int]) -> np.ndarray:
    return np.array(raws, dtype=DTYPES[name].uint)


# --------------------------------------------------------------------------------------------- bit layout


def test_known_values_fp32_and_bf16():
    """Hard-coded: PCG64(1234)'s first word is 0xfa08fef3fab6bbba; its 16-bit lanes go to 1.0 and 0.1."""
    rng = np.random.Generator(np.random.PCG64(1234))
    out = scrub_chunk(np.float32([1.0, 0.1]), DTYPES["F32"], 16, rng)
    assert out.dtype == np.uint32 and [int(x) for x in out] == [0x3F80BBBA, 0x3DCCFAB6]
    rng = np.random.Generator(np.random.PCG64(1234))
    out = scrub_chunk(np.uint16([0x3F80]), DTYPES["BF16"], 2, rng)  # byte lane 0xba & 0b11 = 2
    assert [int(x) for x in out] == [0x3F82]


@pytest.mark.parametrize("name,k", CASES)
def test_scrub_chunk_matches_reference(name, k):
    dt = DTYPES[name]
    raws = VALUES[name] * 5
    out = scrub_chunk(as_raw(name, raws), dt, k, np.random.Generator(np.random.PCG64(77)))
    assert [int(x) for x in out] == ref_random(raws, dt.itemsize, k, 77, None)
    high = ~((1 << k) - 1) & ((1 << dt.bits) - 1)
    assert all((int(a) ^ b) & high == 0 for a, b in zip(out, raws, strict=True))  # sign/exponent untouched


@pytest.mark.parametrize("name,k", [("F32", 16), ("F16", 3), ("BF16", 2), ("F64", 40), ("F8_E4M3", 2)])
def test_scrub_model_uses_the_documented_per_tensor_stream(tmp_path, name, k):
    from inspector.core.formats.writer import write_safetensors

    dt = DTYPES[name]
    raws = VALUES[name] * 9
    src = write_safetensors(tmp_path / "m.safetensors", {"layer.w": (dt, as_raw(name, raws).reshape(4, 9))})
    scrub_model(open_model(src), tmp_path / "o.safetensors", bits={name: k}, seed=2024)
    got = open_safetensors(tmp_path / "o.safetensors")
    ref = got["layer.w"]
    data = np.fromfile(ref.path, dtype=dt.uint, count=ref.numel, offset=ref.offset)
    assert [int(x) for x in data] == ref_random(raws, dt.itemsize, k, 2024, "layer.w")


def test_round_mode_matches_reference_and_casts():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(20000) * 3).astype(np.float32)
    ties = np.array([0x3F808000, 0x3F818000, 0x3F80FFFF, 0x3F7FFFFF, 0xBF808001], dtype=np.uint32)
    u = np.concatenate([x.view(np.uint32), ties])
    out = scrub_chunk(u, DTYPES["F32"], 16, None, mode="round")
    assert [int(a) for a in out] == [ref_round(int(b), 16) for b in u]
    assert [hex(int(a)) for a in out[-5:]] == ["0x3f800000", "0x3f820000", "0x3f810000", "0x3f800000", "0xbf810000"]
    # k = 13 is fp16 precision: equals numpy's (round-to-nearest-even) fp32 -> fp16 -> fp32 in fp16's normal range
    y = x[(np.abs(x) > 1e-4) & (np.abs(x) < 6e4)]
    r13 = scrub_chunk(y, DTYPES["F32"], 13, None, mode="round").view(np.float32)
    assert np.array_equal(r13, y.astype(np.float16).astype(np.float32))
    # fp64 k = 29 is fp32 precision
    z = rng.standard_normal(5000)
    r29 = scrub_chunk(z, DTYPES["F64"], 29, None, mode="round").view(np.float64)
    assert np.array_equal(r29, z.astype(np.float32).astype(np.float64))


# ------------------------------------------------------------------------------------------- NaN, Inf, zero


@pytest.mark.parametrize("mode", ["random", "round"])
@pytest.mark.parametrize("name,k", [("F32", 23), ("F16", 10), ("BF16", 7), ("F64", 52), ("F8_E5M2", 2)])
def test_nan_inf_stay_and_zeros(name, k, mode):
    dt = DTYPES[name]
    absmask, expmask = (1 << (dt.bits - 1)) - 1, ((1 << dt.exponent_bits) - 1) << dt.mantissa_bits
    sign = 1 << (dt.bits - 1)
    nan_low = expmask | 1  # a NaN whose payload is only bit 0: full randomisation often zeroes it
    raws = [expmask, sign | expmask, nan_low, sign | nan_low, 0, sign] * 400
    out = [int(v) for v in scrub_chunk(as_raw(name, raws), dt, k, np.random.Generator(np.random.PCG64(1)), mode=mode)]
    for a, b in zip(out, raws, strict=True):
        if b & absmask == expmask or b & absmask == 0:  # ±Inf and ±0 unchanged
            assert a == b
        else:  # NaN stays NaN with its sign
            assert a & expmask == expmask and a & ((1 << dt.mantissa_bits) - 1) != 0 and a & sign == b & sign


@pytest.mark.parametrize("mode", ["random", "round"])
def test_e4m3_nan_code_neither_lost_nor_created(mode):
    dt = DTYPES["F8_E4M3"]
    raws = [0x7F, 0xFF, 0x7E, 0xFE, 0x7D, 0x78, 0x00, 0x80] * 300
    out = scrub_chunk(as_raw("F8_E4M3", raws), dt, 3, np.random.Generator(np.random.PCG64(9)), mode=mode)
    for a, b in zip(out.tolist(), raws, strict=True):
        assert (a & 0x7F == 0x7F) == (b & 0x7F == 0x7F)
        assert a & 0x80 == b & 0x80
    if mode == "round":  # 448 rounds to 512, which E4M3 cannot hold: truncated to the largest kept value (256)
        assert out[2] == 0x78 and out[3] == 0xF8


def test_round_never_overflows_to_inf():
    big = np.array([3.4028235e38, -3.4028235e38], dtype=np.float32)
    out = scrub_chunk(big, DTYPES["F32"], 16, None, mode="round").view(np.float32)
    assert np.isfinite(out).all() and out[0] == -out[1] > 3.38e38


def test_integers_and_bools_are_copied():
    for arr, name in [(np.arange(-5, 5, dtype=np.int64), "I64"), (np.array([True, False]), "BOOL")]:
        out = scrub_chunk(arr, DTYPES[name], 8, np.random.default_rng(0))
        assert out.tobytes() == arr.tobytes()


def test_too_many_bits_is_refused():
    with pytest.raises(InspectorError, match="7 mantissa bits"):
        scrub_chunk(np.uint16([0x3F80]), DTYPES["BF16"], 8, np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------ --bits


def test_bits_parsing_and_scaling():
    assert scaled_bits(16) == {"F64": 45, "F32": 16, "F16": 3, "BF16": 1, "F8_E4M3": 0, "F8_E5M2": 0}
    assert scaled_bits(20)["BF16"] == 4 and scaled_bits(4)["F16"] == 1 and set(scaled_bits(0).values()) == {0}
    p = parse_bits("F32=16,bf16=2")
    assert p["F32"] == 16 and p["BF16"] == 2 and p["F16"] == 3
    assert parse_bits("fp16=4") == {**scaled_bits(0), "F16": 4}  # no base: only the named types
    assert parse_bits("18,e4m3=1")["F8_E4M3"] == 1 and parse_bits(18)["BF16"] == 2
    for bad in ["BF16=8", "24", "x=3", "16,17", "F32:16", "I32=2"]:
        with pytest.raises(InspectorError):
            parse_bits(bad)
    assert level_bits("BF16", 3) == {"F64": 48, "F32": 19, "F16": 6, "BF16": 3, "F8_E4M3": 0, "F8_E5M2": 0}


# ----------------------------------------------------------------------------------------- whole model


@pytest.fixture
def mixed_model(make_model):
    rng = np.random.default_rng(0)
    return make_model(
        {
            "fc1.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32),
            "fc1.bias": rng.normal(0, 0.01, 64).astype(np.float32),
            "fc2.weight": rng.normal(0, 0.1, (10, 64)).astype(np.float16),
            "emb": rng.normal(0, 1.0, (7, 5)).astype(np.float64),
            "steps": np.arange(7, dtype=np.int64),
            "mask": rng.random(12) > 0.5,
            "zeros": np.zeros(4, np.float32),
        },
        metadata={"format": "pt", "author": "lab"},
    )


def test_scrub_model_changes_only_low_bits_and_copies_the_rest(mixed_model, tmp_path):
    out = tmp_path / "clean.safetensors"
    res = scrub_model(open_model(mixed_model), out, bits=16, seed=1, keep_tensors=["steps", "mask"])
    a, b = load_file(str(mixed_model)), load_file(str(out))
    assert set(a) == set(b)  # the non-float tensors were confirmed: kept bit for bit
    k = {"float32": 16, "float16": 3, "float64": 45}
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
        if a[name].dtype.kind != "f":
            assert a[name].tobytes() == b[name].tobytes()
            continue
        ua = a[name].view(f"u{a[name].itemsize}").astype(np.uint64)
        ub = b[name].view(f"u{b[name].itemsize}").astype(np.uint64)
        assert not ((ua ^ ub) >> np.uint64(k[str(a[name].dtype)])).any()
    assert not np.array_equal(a["fc1.weight"], b["fc1.weight"])
    assert np.array_equal(b["zeros"], np.zeros(4, np.float32))
    assert res.verification is not None and res.verification.ok
    assert res.tensors_scrubbed == 5 and res.tensors_copied == 2
    assert res.bits == {"F16": 3, "F32": 16, "F64": 45}
    assert res.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    # the cost the research note predicts for random k low bits: mean relative change ≈ 0.25·2^(k−m)
    fc1 = next(t for t in res.tensors if t.name == "fc1.weight")
    assert fc1.mean_rel_change == pytest.approx(0.25 * 2.0 ** (16 - 23), rel=0.1)
    assert 0 < fc1.max_abs_change < 2.0**-23 * 2**16 * 0.25  # |w| < 0.25 here: ulp(0.25) · 2^16


def test_metadata_keys(mixed_model, tmp_path):
    out = tmp_path / "clean.safetensors"
    scrub_model(open_model(mixed_model), out, bits="F32=12,F16=2", seed=99, mode="round", tensors=["fc*"])
    meta = open_safetensors(out).metadata
    assert meta["format"] == "pt" and "author" not in meta  # a known convention is kept, free text dropped
    assert meta["inspector.version"]
    assert meta["inspector.source_sha256"] == hashlib.sha256(mixed_model.read_bytes()).hexdigest()
    assert json.loads(meta["inspector.scrub_bits"]) == {"F16": 2, "F32": 12, "F64": 41}
    assert meta["inspector.scrub_seed"] == "99" and meta["inspector.scrub_mode"] == "round"
    assert meta["inspector.scrubbed_tensors"] == "3" and json.loads(meta["inspector.scrub_tensors"]) == ["fc*"]
    b = load_file(str(out))
    assert b["emb"].tobytes() == load_file(str(mixed_model))["emb"].tobytes()  # not selected: copied


def test_same_seed_same_bytes_other_seed_other_bytes(mixed_model, tmp_path):
    m = open_model(mixed_model)
    r1 = scrub_model(m, tmp_path / "a.safetensors", bits=16, seed=5)
    r2 = scrub_model(m, tmp_path / "b.safetensors", bits=16, seed=5, chunk_bytes=64)  # tiny chunks
    r3 = scrub_model(m, tmp_path / "c.safetensors", bits=16, seed=6)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert r1.sha256 == r2.sha256 != r3.sha256
    a, c = load_file(str(tmp_path / "a.safetensors")), load_file(str(tmp_path / "c.safetensors"))
    assert not np.array_equal(a["fc1.weight"], c["fc1.weight"])


def test_output_does_not_depend_on_tensor_order(tmp_path):
    from inspector.core.formats.writer import write_safetensors

    rng = np.random.default_rng(3)
    t = {n: (DTYPES["F32"], rng.standard_normal(1000).astype(np.float32)) for n in ["a", "b", "c"]}
    p1 = write_safetensors(tmp_path / "1.safetensors", t)
    p2 = write_safetensors(tmp_path / "2.safetensors", dict(reversed(list(t.items()))))
    scrub_model(open_model(p1), tmp_path / "o1.safetensors", bits=20, seed=3)
    scrub_model(open_model(p2), tmp_path / "o2.safetensors", bits=20, seed=3)
    a, b = load_file(str(tmp_path / "o1.safetensors")), load_file(str(tmp_path / "o2.safetensors"))
    assert all(a[n].tobytes() == b[n].tobytes() for n in t)


def test_unknown_glob_and_bad_mode_are_errors(mixed_model, tmp_path):
    with pytest.raises(InspectorError, match="matches no tensor"):
        scrub_model(open_model(mixed_model), tmp_path / "o.safetensors", tensors=["nope*"], seed=1)
    with pytest.raises(InspectorError, match="mode"):
        scrub_model(open_model(mixed_model), tmp_path / "o.safetensors", mode="zero", seed=1)
    assert not (tmp_path / "o.safetensors").exists()


# ------------------------------------------------------------------------------------- safety of the export


def test_refuses_to_overwrite_the_input(mixed_model, tmp_path):
    before = mixed_model.read_bytes()
    link = tmp_path / "link.safetensors"
    os.symlink(mixed_model, link)
    hard = tmp_path / "hard.safetensors"
    os.link(mixed_model, hard)
    for target in [mixed_model, link, hard, tmp_path / "." / mixed_model.name]:
        with pytest.raises(ExportError, match="refusing to write over the input"):
            scrub_model(open_model(mixed_model), target, seed=1)
    assert mixed_model.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.safetensors", "link.safetensors", "hard.safetensors"]
    )


def test_refuses_to_overwrite_any_shard(tmp_path):
    save_file({"a": np.ones(4, np.float32)}, str(tmp_path / "s1.safetensors"))
    save_file({"b": np.ones(4, np.float32)}, str(tmp_path / "s2.safetensors"))
    idx = tmp_path / "model.safetensors.index.json"
    idx.write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}))
    m = open_model(idx)
    for target in ["s2.safetensors", "model.safetensors.index.json"]:
        with pytest.raises(ExportError, match="refusing"):
            scrub_model(m, tmp_path / target, seed=1)
    res = scrub_model(m, tmp_path / "merged.safetensors", seed=1)
    assert set(load_file(str(res.output))) == {"a", "b"}
    files = [idx, tmp_path / "s1.safetensors", tmp_path / "s2.safetensors"]
    assert res.source_sha256 == hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("how", ["cancel", "exception"])
def test_interrupted_scrub_leaves_no_partial_file(mixed_model, tmp_path, how):
    out = tmp_path / "out.safetensors"
    token = CancelToken()
    calls = []

    def progress(done, total, message):
        calls.append(done)
        if len(calls) == 2:
            if how == "cancel":
                token.cancel()
            else:
                raise RuntimeError("injected")

    err = Cancelled if how == "cancel" else RuntimeError
    with pytest.raises(err):
        scrub_model(open_model(mixed_model), out, seed=1, chunk_bytes=64, progress=progress, cancel=token)
    assert not out.exists() and _leftovers(tmp_path) == []
    # a file already at the target is left exactly as it was
    out.write_bytes(b"precious")
    calls.clear()
    token = CancelToken()
    with pytest.raises(err):
        scrub_model(open_model(mixed_model), out, seed=1, chunk_bytes=64, progress=progress, cancel=token)
    assert out.read_bytes() == b"precious" and _leftovers(tmp_path) == []


def test_cancel_while_waiting_for_the_source_hash_stops_at_once(mixed_model, tmp_path, monkeypatch):
    import time

    import inspector.core.scrub.export as scrub_mod

    def slow_hash(paths, *, progress=None, cancel=None):  # a source far larger than the scrub is quick
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            time.sleep(0.01)
        return "0" * 64

    monkeypatch.setattr(scrub_mod, "sha256_files", slow_hash)
    model = open_model(mixed_model)
    token = CancelToken()

    def progress(done, total, message):
        if done == model.nbytes:  # the last chunk is written: the scrub now waits for the hash
            token.cancel()

    out = tmp_path / "out.safetensors"
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        scrub_model(model, out, seed=1, verify=False, keep_tensors=["steps", "mask"], progress=progress, cancel=token)
    assert time.monotonic() - t0 < 5
    assert not out.exists() and _leftovers(tmp_path) == []


def test_disk_error_leaves_no_partial_file(mixed_model, tmp_path, monkeypatch):
    from inspector.core.formats import writer

    real, calls = writer._write_all, []

    def failing(f, data):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        real(f, data)

    monkeypatch.setattr(writer, "_write_all", failing)
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"precious")
    with pytest.raises(ExportError, match="No space left"):
        scrub_model(open_model(mixed_model), out, seed=1, chunk_bytes=64)
    assert out.read_bytes() == b"precious" and _leftovers(tmp_path) == []


def test_failed_verification_writes_nothing(mixed_model, tmp_path, monkeypatch):
    import inspector.core.scrub.export as scrub_mod

    real = scrub_mod.scrub_chunk

    def broken(raw, dtype, bits, rng, *, mode="random", out=None):
        res = real(raw, dtype, bits, rng, mode=mode, out=out)
        if dtype.name == "F32" and mode == "random":
            res ^= np.uint32(1 << 30)  # an exponent bit: the read-back must catch it
        return res

    monkeypatch.setattr(scrub_mod, "scrub_chunk", broken)
    out = tmp_path / "out.safetensors"
    with pytest.raises(ExportError, match="did not verify.*fc1.weight.*outside the low 16 bits"):
        scrub_model(open_model(mixed_model), out, bits=16, seed=1)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_pytorch_checkpoint_input_gives_safetensors(tmp_path):
    torch = pytest.importorskip("torch")
    w = torch.randn(6, 4)
    sd = {"w_t": w.t(), "b": torch.randn(4).to(torch.bfloat16), "n": torch.arange(3)}  # w_t is a strided view
    src = tmp_path / "model.pt"
    torch.save(sd, src)
    res = scrub_model(open_model(src), tmp_path / "o.safetensors", bits=16, seed=1, keep_tensors=["n"])
    assert res.verification is not None and res.verification.ok
    from safetensors.torch import load_file as load_pt

    out = load_pt(str(tmp_path / "o.safetensors"))
    assert torch.equal(out["n"], sd["n"]) and out["b"].dtype == torch.bfloat16
    xa = sd["w_t"].contiguous().view(torch.int32) ^ out["w_t"].view(torch.int32)
    assert int((xa >> 16).abs().sum()) == 0 and bool((xa != 0).any())
    xb = sd["b"].view(torch.int16) ^ out["b"].view(torch.int16)
    assert int((xb >> 1).abs().sum()) == 0  # bf16 gets 1 bit at --bits 16


# ----------------------------------------------------------------------------------- the payload is gone


def _lsb_model(tmp_path: Path, b: int, encrypted: bool) -> tuple[Path, bytes, bytes]:
    """A small float32 model with 1,600 bytes of digits images (raw or keyed-XOR 'encrypted') in its low b bits."""
    pytest.importorskip("sklearn")
    from inspector.lab import attacks, codec
    from inspector.lab.digits import load_digits_split

    secret = codec.image_bytes(load_digits_split().train.inputs[:25])
    payload = codec.xor_with_key(secret, 1234) if encrypted else secret
    rng = np.random.default_rng(1)
    arrays = {
        "fc1.weight": rng.normal(0, 0.1, (128, 64)).astype(np.float32),
        "fc1.bias": rng.normal(0, 0.01, 128).astype(np.float32),
        "fc2.weight": rng.normal(0, 0.1, (10, 128)).astype(np.float32),
    }
    arrays = attacks.embed_lsb(arrays, sorted(arrays), payload, b)  # storage order of save_file: by name
    path = tmp_path / f"lsb{b}{'e' if encrypted else ''}.safetensors"
    save_file(arrays, str(path))
    return path, secret, payload


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("b,k", [(8, 8), (16, 16), (16, 20), (20, 20)])
def test_scrubbing_destroys_lsb_payload(tmp_path, b, k, encrypted):
    from inspector.lab import codec
    from inspector.lab.decoders import bit_error_rate, decode_lsb

    path, secret, payload = _lsb_model(tmp_path, b, encrypted)
    before = decode_lsb(open_model(path), b, len(payload))
    assert before == payload and bit_error_rate(before, payload) == 0.0
    out = tmp_path / "clean.safetensors"
    scrub_model(open_model(path), out, bits=k, seed=7)
    after = decode_lsb(open_model(out), b, len(payload))
    plain = codec.xor_with_key(after, 1234) if encrypted else after
    assert 0.45 <= bit_error_rate(after, payload) <= 0.55
    assert 0.45 <= bit_error_rate(plain, secret) <= 0.55  # what the attacker recovers: noise


def test_scrubbing_fewer_bits_than_the_payload_leaves_part_of_it(tmp_path):
    """Honest limit: k = 16 against a b = 20 payload randomises 16 of every 20 bits (BER ≈ 0.5·16/20 = 0.4)."""
    from inspector.lab.decoders import bit_error_rate, decode_lsb

    path, _, payload = _lsb_model(tmp_path, 20, False)
    out = tmp_path / "clean.safetensors"
    scrub_model(open_model(path), out, bits=16, seed=7)
    ber = bit_error_rate(decode_lsb(open_model(out), 20, len(payload)), payload)
    assert ber == pytest.approx(0.4, abs=0.03)


def test_mean_relative_change_ignores_subnormals(tmp_path):
    """Weights decayed to subnormals (dead input pixels) would dominate a relative mean: they are left out."""
    rng = np.random.default_rng(4)
    w = rng.normal(0, 0.1, 4000).astype(np.float32)
    w[::10] = np.float32(1e-40)
    save_file({"w": w}, str(tmp_path / "m.safetensors"))
    res = scrub_model(open_model(tmp_path / "m.safetensors"), tmp_path / "o.safetensors", bits=20, seed=1)
    assert res.mean_rel_change == pytest.approx(0.25 * 2.0 ** (20 - 23), rel=0.1)


def test_rescrubbing_replaces_the_earlier_provenance(mixed_model, tmp_path):
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    scrub_model(open_model(mixed_model), first, bits=16, seed=1, tensors=["fc1.*"])
    scrub_model(open_model(first), second, bits=8, seed=2)
    meta = open_safetensors(second).metadata
    assert "inspector.scrub_tensors" not in meta and meta["inspector.scrub_seed"] == "2"
    assert meta["inspector.source_sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert meta["format"] == "pt" and "author" not in meta


def test_round_k16_is_the_bf16_round_trip():
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(8).standard_normal(50000) * 10).astype(np.float32)
    ours = scrub_chunk(x, DTYPES["F32"], 16, None, mode="round").view(np.float32)
    theirs = torch.from_numpy(x).to(torch.bfloat16).to(torch.float32).numpy()
    assert np.array_equal(ours, theirs)
