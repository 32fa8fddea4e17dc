"""Carriers outside every tensor: each is found, read and judged, and its benign twin is not flagged.

torch.save writes whole storages, so a saved view keeps the rest of its buffer; archives can hold members
nothing references; checkpoints can hold byte strings; safetensors headers can hold whitespace; model folders
can hold files beside the weights. A reviewer's CLEAN must not ignore any of them.
"""

from __future__ import annotations

import base64
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import inspector  # noqa: E402
from inspector.core.formats.safetensors import odd_escapes, odd_whitespace  # noqa: E402
from inspector.core.measure.hidden import HiddenScan  # noqa: E402
from inspector.core.pipeline import ScanOptions, scan  # noqa: E402

#: Image-like payload: 19,200 bytes of 17 grey levels (digits scaled to 0..240).
SECRET = (np.random.default_rng(0).integers(0, 17, 19200) * 15).astype(np.uint8).tobytes()


def _weights() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"w": torch.randn(128, 128, generator=g) * 0.05, "b": torch.zeros(128)}


def _non_float(path: Path) -> tuple[str, list]:
    res = scan(path, ScanOptions())
    fam = {f.family: f for f in res.families}["non-float"]
    return fam.status, [f for f in res.findings if f.detector == "hidden-bytes"]


def test_storage_bytes_outside_the_view_are_judged(tmp_path: Path) -> None:
    w = _weights()["w"].flatten()
    buf = torch.cat([w, torch.from_numpy(np.frombuffer(SECRET, np.float32).copy())])
    torch.save({"w": buf[: w.numel()].view(128, 128)}, tmp_path / "tail.pt")
    torch.save({"w": w.view(128, 128).clone()}, tmp_path / "clean.pt")
    status, found = _non_float(tmp_path / "tail.pt")
    assert status == "detected" and found[0].severity == "suspicious"
    assert "19,200 bytes" in found[0].message and found[0].evidence["read"] == 19200
    assert _non_float(tmp_path / "clean.pt") == ("not-detected", [])


def test_the_elements_a_strided_view_skips_are_counted(tmp_path: Path) -> None:
    big = torch.randn(128, 256)
    torch.save({"w": big[:, ::2]}, tmp_path / "strided.pt")
    torch.save({"a": big[:, ::2], "b": big[:, 1::2], "t": big.t()}, tmp_path / "covered.pt")
    model = inspector.open_model(tmp_path / "strided.pt")
    assert sum(h.nbytes for h in model.hidden) == 128 * 128 * 4  # every other element, and nothing more
    assert _non_float(tmp_path / "strided.pt")[0] == "detected"
    assert inspector.open_model(tmp_path / "covered.pt").hidden == ()  # the two views cover the storage


def test_an_unreferenced_member_and_a_pickled_blob_are_judged(tmp_path: Path) -> None:
    torch.save(_weights(), tmp_path / "member.pt")
    with zipfile.ZipFile(tmp_path / "member.pt", "a") as z:
        z.writestr("member/data/99", SECRET)
    assert _non_float(tmp_path / "member.pt")[0] == "detected"
    torch.save({**_weights(), "blob": SECRET}, tmp_path / "bytes.pt")
    assert _non_float(tmp_path / "bytes.pt")[0] == "detected"
    torch.save({**_weights(), "notes": base64.b64encode(SECRET).decode()}, tmp_path / "b64.pt")
    status, found = _non_float(tmp_path / "b64.pt")
    assert status == "detected" and "base64" in found[0].message
    prose = " ".join(["the model was trained for ten epochs on the usual split"] * 30)  # 1.7 KB of plain text
    torch.save({**_weights(), "notes": prose, "epoch": 3, "lr": [0.1] * 3}, tmp_path / "prose.pt")
    assert _non_float(tmp_path / "prose.pt") == ("not-detected", [])


def test_odd_header_whitespace_is_judged_and_indentation_is_not(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(_weights(), str(tmp_path / "m.safetensors"))
    data = (tmp_path / "m.safetensors").read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = data[8 : 8 + n].rstrip(b" ")
    bits = np.unpackbits(np.frombuffer(SECRET[:1000], np.uint8))
    stego = header + bytes(np.where(bits, 9, 32).astype(np.uint8))
    stego += b" " * (-len(stego) % 8)
    (tmp_path / "ws.safetensors").write_bytes(struct.pack("<Q", len(stego)) + stego + data[8 + n :])
    assert _non_float(tmp_path / "ws.safetensors")[0] == "detected"
    assert _non_float(tmp_path / "m.safetensors") == ("not-detected", [])
    pretty = json.dumps({"a": {"b": [1, 2]}, "c": "tabs\tinside  strings"}, indent=2).encode() + b"   "
    assert odd_whitespace(pretty) == b"" and odd_whitespace(b'{"a":\t1}') == b"\t"


def test_escapes_of_plain_characters_in_the_header_are_judged(tmp_path: Path) -> None:
    """A metadata value that writes a character now as itself, now as a \\u escape spells a bit per character;
    escapes writers do emit (characters beyond ASCII, control characters, Gson's HTML-safe ones) are not
    evidence, and an escaped backslash before a "u" is no escape."""
    from safetensors.torch import save_file

    bits = np.unpackbits(np.frombuffer(SECRET[:1000], np.uint8))
    text = ("the quick brown fox jumps over the lazy dog " * 200)[: bits.size]
    stego = '"' + "".join(f"\\u{ord(c):04x}" if b else c for c, b in zip(text, bits)) + '"'
    # what writers emit: characters beyond ASCII and control characters escaped (json.dumps), Gson's HTML-safe
    # escapes, and an escaped backslash before a "u"
    benign = json.dumps("café <b> & ünïcödé\t" * 400 + "C:\\u0041 path")[:-1] + '\\u003c\\u003e\\u0026"'
    for name, value, flagged in (("stego", stego, True), ("benign", benign, False)):
        p = tmp_path / f"{name}.safetensors"
        save_file(_weights(), str(p), metadata={"notes": "x"})
        data = p.read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        header = data[8 : 8 + n].rstrip(b" ").replace(b'"notes":"x"', b'"notes":' + value.encode())
        header += b" " * (-len(header) % 8)
        p.write_bytes(struct.pack("<Q", len(header)) + header + data[8 + n :])
        status, found = _non_float(p)
        assert (status == "detected") == flagged, name
        assert any("escapes" in f.message for f in found) == flagged, name
    assert odd_escapes(json.dumps("\\u0041 \u00e9 \u003c \n").encode()) == (b"", 0)
    assert odd_escapes(b'{"a":"\\u0041\\\\u0042"}') == (b"\\u0041", 1)
    # .NET's System.Text.Json escapes quotes and plus signs by default: written, so no evidence
    assert odd_escapes(b'{"a":"say \\u0022hi\\u0022 1\\u002B1 \\u0060x\\u0060"}') == (b"", 0)
    # a bit a character beyond ASCII: raw or escaped (no writer mixes them), lower or upper hex (no writer mixes)
    han = "模型检查器" * 400
    bits = np.unpackbits(np.frombuffer(SECRET[:250], np.uint8))
    mixed = "".join(f"\\u{ord(c):04x}" if b else c for c, b in zip(han, bits))
    assert odd_escapes(('{"a":"' + mixed + '"}').encode())[1] >= 1500  # twice the fewer form
    cases = "".join(f"\\u{ord(c):04X}" if b else f"\\u{ord(c):04x}" for c, b in zip("é" * 2000, bits))
    assert odd_escapes(('{"a":"' + cases + '"}').encode())[1] >= 1500
    assert odd_escapes(json.dumps(han).encode()) == (b"", 0) and odd_escapes(
        json.dumps(han, ensure_ascii=False).encode()
    ) == (b"", 0)


def test_files_beside_the_model_in_its_folder(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "mlp", "hidden_size": 128}))
    (folder / "tokenizer.json").write_text(json.dumps({"vocab": {f"tok{i}": i for i in range(2000)}}))
    assert _non_float(folder) == ("not-detected", [])
    (folder / "extra.bin").write_bytes(SECRET)
    status, found = _non_float(folder)
    assert status == "detected" and "extra.bin" in found[0].message
    (folder / "extra.bin").unlink()
    (folder / "config.json").write_text(json.dumps({"model_type": "mlp", "note": base64.b64encode(SECRET).decode()}))
    assert _non_float(folder)[0] == "detected"  # an encoded blob inside a companion file


def test_coverage_accounts_for_hidden_bytes_and_scan_json_round_trips(tmp_path: Path) -> None:
    from inspector.core.judge import judge
    from inspector.core.measure.scan import Measurement

    torch.save({**_weights(), "blob": SECRET}, tmp_path / "bytes.pt")
    res = scan(tmp_path / "bytes.pt", ScanOptions())
    rows = {r.cls.split(" (")[0]: r.bytes for r in res.coverage}
    assert rows["bytes no tensor shows"] == 19200
    assert sum(rows.values()) == res.measurement.file_bytes
    doc = json.loads(json.dumps(res.to_json()))
    again = Measurement.from_scan_json(doc)
    assert [h.to_json() for h in again.hidden] == [h.to_json() for h in res.measurement.hidden]
    assert isinstance(again.hidden[0], HiddenScan)
    assert judge(again, res.inputs).verdict == res.verdict == "suspicious"


def test_a_payload_named_like_ids_or_a_counter_is_not_explained_by_its_name(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    data = torch.from_numpy(np.frombuffer(SECRET, np.uint8).astype(np.int64))
    w = _weights()
    save_file({**w, "embeddings.position_ids": data.view(1, -1)}, str(tmp_path / "ids.safetensors"))
    save_file({**w, "step": data[:4096]}, str(tmp_path / "step.safetensors"))
    save_file({**w, "rng_state": data.to(torch.uint8)}, str(tmp_path / "rng.safetensors"))
    real = {"embeddings.position_ids": torch.arange(512).view(1, -1), "embeddings.token_type_ids": torch.zeros(1, 512)}
    save_file({**w, **{k: v.long() for k, v in real.items()}}, str(tmp_path / "real.safetensors"))
    # a random generator's own state: torch's CPU one (5,056 bytes), numpy's (624 uint32), one a CUDA device
    states = {"rng_state": torch.get_rng_state(), "numpy_rng_state": torch.zeros(624, dtype=torch.int32)}
    save_file(
        {**w, **states, "cuda_rng_states": torch.zeros(8, 16, dtype=torch.uint8)}, str(tmp_path / "rs.safetensors")
    )
    for name, claim in (("ids", "position or token ids"), ("step", "a training counter"), ("rng", "generator")):
        res = scan(tmp_path / f"{name}.safetensors", ScanOptions())
        hits = [f for f in res.findings if f.detector == "non-float-tensor" and f.severity == "suspicious"]
        assert hits and claim in hits[0].message
    for name in ("real", "rs"):
        res = scan(tmp_path / f"{name}.safetensors", ScanOptions())
        assert not [f for f in res.findings if f.attack == "non-float"], name


def test_onnx_doc_strings_metadata_and_unknown_fields_are_judged(tmp_path: Path) -> None:
    from tests.core.test_onnx import FLOAT, lfield, model, tensor

    w = np.random.default_rng(0).normal(0, 0.05, (64, 64)).astype("<f4")
    b64 = base64.b64encode(SECRET).decode()
    plain = model([tensor("w", (64, 64), FLOAT, w.tobytes())])
    cases = {
        "doc": plain + lfield(6, b64),  # ModelProto.doc_string
        "props": model([tensor("w", (64, 64), FLOAT, w.tobytes())], props={"notes": b64}),
        "unknown": plain + lfield(99, SECRET),  # a field number onnx.proto does not define
    }
    (tmp_path / "clean.onnx").write_bytes(plain + lfield(6, "A small MLP exported for the docs."))
    assert _non_float(tmp_path / "clean.onnx") == ("not-detected", [])
    for name, data in cases.items():
        (tmp_path / f"{name}.onnx").write_bytes(data)
        status, found = _non_float(tmp_path / f"{name}.onnx")
        assert status == "detected", name
    (tmp_path / "weights.bin").write_bytes(SECRET + w.tobytes())  # external data with bytes nothing points at
    ext = tensor("w", (64, 64), FLOAT, external={"location": "weights.bin", "offset": str(len(SECRET))})
    (tmp_path / "ext.onnx").write_bytes(model([ext]))
    status, found = _non_float(tmp_path / "ext.onnx")
    assert status == "detected" and "weights.bin" in found[0].message


def test_values_the_pickle_builds_but_no_entry_holds_are_judged(tmp_path: Path) -> None:
    torch.save(_weights(), tmp_path / "pop.pt")
    with zipfile.ZipFile(tmp_path / "pop.pt") as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    pkl = next(n for n in members if n.endswith("/data.pkl"))
    raw = members[pkl]  # BINBYTES <payload> POP right after PROTO: pickle.load builds it and drops it
    members[pkl] = raw[:2] + b"B" + len(SECRET).to_bytes(4, "little") + SECRET + b"0" + raw[2:]
    with zipfile.ZipFile(tmp_path / "pop.pt", "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    status, found = _non_float(tmp_path / "pop.pt")
    assert status == "detected" and "byte 2 of data.pkl" in found[0].message
    torch.save({**_weights(), "arr": np.frombuffer(SECRET, np.uint8).copy()}, tmp_path / "np.pt")
    status, found = _non_float(tmp_path / "np.pt")  # a numpy array is read as the tensor it is, not as bytes
    tensors = [f for f in scan(tmp_path / "np.pt", ScanOptions()).findings if f.detector == "non-float-tensor"]
    assert status == "detected" and not found and [f.tensor for f in tensors] == ["arr"]
    torch.save({**_weights(), "mean": np.zeros(3), "names": ["a" * 300, "b" * 300]}, tmp_path / "ok.pt")
    assert _non_float(tmp_path / "ok.pt") == ("not-detected", [])


def test_gguf_bytes_between_tensors_and_in_the_padding_are_judged(tmp_path: Path) -> None:
    from tests.core.test_gguf import F32, _kv, write_gguf

    rng = np.random.default_rng(0)
    a, b = (rng.normal(0, 0.02, (64, 64)).astype("<f4") for _ in range(2))
    clean = write_gguf(tmp_path / "clean.gguf", [("a", F32, (64, 64), a.tobytes()), ("b", F32, (64, 64), b.tobytes())])
    assert _non_float(clean) == ("not-detected", [])
    # a custom alignment as big as the payload leaves room between the tensors: the writer pads with zeros,
    # a payload fills it
    big = write_gguf(
        tmp_path / "gap.gguf",
        [("a", F32, (64, 64), a.tobytes()), ("b", F32, (64, 64), b.tobytes())],
        kvs=[_kv("general.alignment", 4, (32768).to_bytes(4, "little"))],
        alignment=32768,
    )
    assert _non_float(big) == ("not-detected", [])  # zeros carry nothing
    data = bytearray(big.read_bytes())
    start = data.index(a.tobytes()) + a.nbytes
    data[start : start + 16000] = SECRET[:16000]  # within the 16 KB gap the alignment leaves
    big.write_bytes(bytes(data))
    status, found = _non_float(big)
    assert status == "detected" and "alignment padding" in found[0].message


def test_gguf_metadata_values_are_judged_whole(tmp_path: Path) -> None:
    import struct as st

    from tests.core.test_gguf import F32, _kv, _s, write_gguf

    a = np.random.default_rng(0).normal(0, 0.02, (64, 64)).astype("<f4")
    b64 = base64.b64encode(SECRET).decode()
    vocab = [f"tok{i}" for i in range(3000)]
    tokens = st.pack("<IQ", 8, len(vocab)) + b"".join(_s(t) for t in vocab)
    scores = st.pack("<IQ", 6, len(vocab)) + np.arange(len(vocab), dtype="<f4").tobytes()
    real = [_kv("general.architecture", 8, _s("llama")), _kv("tokenizer.ggml.tokens", 9, tokens)]
    real += [_kv("tokenizer.ggml.scores", 9, scores)]
    clean = write_gguf(tmp_path / "clean.gguf", [("a", F32, (64, 64), a.tobytes())], kvs=real)
    res = scan(clean, ScanOptions())
    assert not [f for f in res.findings if f.attack in ("non-float", "metadata")]
    cases = {
        "string": _kv("general.notes", 8, _s(b64)),
        "bytes": _kv("general.blob", 9, st.pack("<IQ", 0, len(SECRET)) + SECRET),
        "token": _kv("tokenizer.ggml.merges", 9, st.pack("<IQ", 8, 2) + _s("a b") + _s(b64)),
    }
    for name, kv in cases.items():
        path = write_gguf(tmp_path / f"{name}.gguf", [("a", F32, (64, 64), a.tobytes())], kvs=[*real, kv])
        assert _non_float(path)[0] == "detected", name


def test_a_sharded_index_holds_no_blob_unseen(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    w = _weights()
    for i, (k, v) in enumerate(w.items()):
        save_file({k: v}, str(tmp_path / f"model-{i}.safetensors"))
    wmap = {k: f"model-{i}.safetensors" for i, k in enumerate(w)}
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 66048}, "weight_map": wmap}))
    assert _non_float(index) == ("not-detected", [])
    for extra in (
        {"metadata": {"total_size": 66048, "note": base64.b64encode(SECRET).decode()}},
        {"training_notes": base64.b64encode(SECRET).decode()},
    ):
        index.write_text(json.dumps({"metadata": {"total_size": 66048}, "weight_map": wmap, **extra}))
        assert _non_float(index)[0] == "detected", extra.keys()


def test_a_model_card_with_an_embedded_picture_only_warns(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    picture = base64.b64encode(SECRET).decode()
    (folder / "README.md").write_text(f"# A model\n\n![loss curve](data:image/png;base64,{picture})\n")
    res = scan(folder, ScanOptions())
    found = [f for f in res.findings if f.detector == "hidden-bytes"]
    assert found and found[0].severity == "warning" and "README.md" in found[0].message


def test_a_payload_named_like_a_model_card_is_not_one(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    (folder / "README.bin").write_bytes(SECRET)  # a name is no role: only *.md and README are model cards
    status, found = _non_float(folder)
    assert status == "detected" and found[0].severity == "suspicious"


def _packed_in_characters(data: bytes) -> str:
    """Data packed two bytes per character into a 32,768-character block (what base65536-style encodings do)."""
    a = np.frombuffer(data + b"\0" * (len(data) % 2), dtype="<u2") & 0x7FFF
    return "".join(chr(0x4E00 + int(v) % 20000) for v in a)


def test_a_character_list_beyond_ascii_is_text_and_data_packed_into_characters_is_not(tmp_path: Path) -> None:
    """An OCR model keeps its 6,623 characters in an ONNX metadata value, one per line: a vocabulary, not a
    payload. The same field holding 19,200 image bytes packed into CJK characters is judged as bytes; text beyond
    ASCII cannot be told from prose by a statistic, so it is held at a warning."""
    from tests.core.test_onnx import FLOAT, model, tensor

    w = np.random.default_rng(0).normal(0, 0.05, (64, 64)).astype("<f4")
    chars = "\n".join(chr(0x4E00 + i) for i in range(6000)) + "\n0\n1\n2\n-\n,\n，"
    (tmp_path / "ocr.onnx").write_bytes(model([tensor("w", (64, 64), FLOAT, w.tobytes())], props={"character": chars}))
    assert _non_float(tmp_path / "ocr.onnx") == ("not-detected", [])
    packed = _packed_in_characters(SECRET)
    (tmp_path / "packed.onnx").write_bytes(
        model([tensor("w", (64, 64), FLOAT, w.tobytes())], props={"character": packed})
    )
    status, found = _non_float(tmp_path / "packed.onnx")
    assert found and found[0].severity == "warning" and "packed into characters" in found[0].message


def test_onnx_runtime_quantised_weights_beside_their_scales_have_a_role(tmp_path: Path) -> None:
    """ONNX Runtime's dynamic quantiser names a weight X_quantized beside X_scale and X_zero_point."""
    from tests.core.test_onnx import FLOAT, model, tensor

    q = np.random.default_rng(1).normal(128, 20, (256, 256)).clip(0, 255).astype(np.uint8)
    scale = np.array([0.01], dtype="<f4")
    U8 = 2  # onnx TensorProto.UINT8
    files = {
        "q.onnx": [tensor("w_quantized", (256, 256), U8, q.tobytes()), tensor("w_scale", (1,), FLOAT, scale.tobytes())],
        "bare.onnx": [tensor("w_quantized", (256, 256), U8, q.tobytes())],
    }
    for name, inits in files.items():
        (tmp_path / name).write_bytes(model(inits))
    res = scan(tmp_path / "q.onnx", ScanOptions())
    assert not [f for f in res.findings if f.detector == "non-float-tensor" and f.severity != "info"]
    res = scan(tmp_path / "bare.onnx", ScanOptions())
    assert [f for f in res.findings if f.detector == "non-float-tensor" and f.severity == "suspicious"]


def test_onnx_runtime_int32_biases_beside_their_scales_have_a_role_while_they_fit_24_bits(tmp_path: Path) -> None:
    from tests.core.test_onnx import FLOAT, model, tensor

    I32 = 6  # onnx TensorProto.INT32
    scale = np.array([1e-5], dtype="<f4").tobytes()
    small = np.random.default_rng(2).integers(-(2**17), 2**17, 2048).astype("<i4")
    wide = np.random.default_rng(3).integers(-(2**31), 2**31 - 1, 2048).astype("<i4")
    for name, values, flagged in (("bias.onnx", small, False), ("wide.onnx", wide, True)):
        inits = [tensor("b_quantized", (2048,), I32, values.tobytes()), tensor("b_quantized_scale", (1,), FLOAT, scale)]
        (tmp_path / name).write_bytes(model(inits))
        res = scan(tmp_path / name, ScanOptions())
        found = [f for f in res.findings if f.detector == "non-float-tensor" and f.severity == "suspicious"]
        assert bool(found) == flagged, name


def test_a_computed_index_table_is_no_payload_and_integer_data_is(tmp_path: Path) -> None:
    """An ONNX export's ScatterElements indices (a band: each row a run of columns, strictly increasing) have a
    handful of distinct steps and compress to almost nothing: computed. The same number of payload bytes stored
    as int32 keep their entropy in their differences."""
    from tests.core.test_onnx import FLOAT, model, tensor

    I32 = 6
    rows = np.repeat(np.arange(128), 16) * 128 + np.tile(np.arange(16), 128) + np.repeat(np.arange(128) // 2, 16)
    w = np.random.default_rng(0).normal(0, 0.05, (64, 64)).astype("<f4").tobytes()
    payload = np.frombuffer(SECRET[:2048], np.uint8).astype("<i4")
    for name, values, flagged in (("band.onnx", rows.astype("<i4"), False), ("data.onnx", payload, True)):
        inits = [tensor("w", (64, 64), FLOAT, w), tensor("v241", (values.size,), I32, values.tobytes())]
        (tmp_path / name).write_bytes(model(inits))
        res = scan(tmp_path / name, ScanOptions())
        found = [f for f in res.findings if f.detector == "non-float-tensor" and f.severity == "suspicious"]
        assert bool(found) == flagged, name


def test_an_integer_vector_that_indexes_a_tables_rows_is_ids(tmp_path: Path) -> None:
    """A static embedding model's ``mapping``: every vocabulary token's row in a 1,000-row table (values 0..999).
    Image bytes stored as integers beside the same table, or indices that do not span it, are still reported."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(5)
    table = rng.normal(0, 0.05, (1000, 64)).astype(np.float32)
    rows = rng.permutation(np.resize(np.arange(1000), 30000)).astype(np.int64)
    image = np.frombuffer(SECRET, np.uint8).astype(np.int64)

    def non_float_findings(name: str, mapping: np.ndarray) -> list:
        save_file({"embeddings": table, "mapping": mapping}, str(tmp_path / name))
        res = scan(tmp_path / name, ScanOptions(hash=False))
        return [f for f in res.findings if f.detector == "non-float-tensor" and f.severity != "info"]

    assert non_float_findings("ids.safetensors", rows) == []
    assert non_float_findings("image.safetensors", image)[0].severity == "suspicious"
    assert non_float_findings("short.safetensors", rows % 999)[0].severity == "suspicious"


def test_an_int8_table_of_quantised_weights_is_a_warning_and_bytes_stored_as_int8_are_not(tmp_path: Path) -> None:
    """A static embedding model's int8 table with no scale stored (normalised after lookup): zero-centred, smooth,
    bell-shaped over most of the int8 range: a warning that says so. An image's bytes, a text's, or random bytes
    stored as the same int8 table are still suspicious."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(9)
    table = np.clip(np.round(rng.normal(0, 19, (2000, 64))), -127, 127).astype(np.int8)
    image = np.resize(np.frombuffer(SECRET, np.uint8), 2000 * 64).view(np.int8).reshape(2000, 64)
    text = np.frombuffer((b"it was the best of times, it was the worst of times " * 3000)[: 2000 * 64], np.int8)
    noise = rng.integers(-128, 128, (2000, 64)).astype(np.int8)

    def severity(name: str, values: np.ndarray) -> str:
        save_file({"embeddings": values.reshape(2000, 64)}, str(tmp_path / name))
        res = scan(tmp_path / name, ScanOptions(hash=False))
        found = [f for f in res.findings if f.detector == "non-float-tensor"]
        return max((f.severity for f in found), key=["info", "warning", "suspicious"].index, default="none")

    assert severity("table.safetensors", table) == "warning"
    for name, values in (("image", image), ("text", text), ("noise", noise)):
        assert severity(f"{name}.safetensors", values) == "suspicious", name


def test_a_sentencepiece_character_map_in_a_tokenizer_is_checked_and_known(tmp_path: Path) -> None:
    """Every SentencePiece tokenizer.json (T5, ALBERT, XLM-R) carries its normaliser's character map base64-encoded
    (0.2-0.3 MB): once it decodes to that map's layout (a trie of uint32 units, then NUL-terminated UTF-8 forms) it
    is no payload. A secret stored under the same key, or a map whose tail is not text, is still found."""
    from safetensors.torch import save_file

    rng = np.random.default_rng(3)
    trie = rng.integers(0, 2**32, 4000, dtype=np.uint64).astype("<u4").tobytes()
    forms = "".join(f"{c}\u0301\0" for c in "aeiou" * 400).encode("utf-8")
    charsmap = struct.pack("<I", len(trie)) + trie + forms
    folder = tmp_path / "t5"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))

    def tokenizer(blob: bytes) -> str:
        (folder / "tokenizer.json").write_text(
            json.dumps({"normalizer": {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(blob).decode()}})
        )
        return _non_float(folder)[0]

    assert tokenizer(charsmap) == "not-detected"
    assert tokenizer(SECRET) == "detected"
    assert tokenizer(struct.pack("<I", len(trie)) + trie + SECRET) == "detected"  # the forms are no text


def test_encoded_text_that_is_wrapped_spaced_or_far_into_a_region_is_found() -> None:
    """Base64 wrapped into lines (MIME), hex written as spaced byte pairs, and a blob past the first 64K
    characters of prose are all read as encoded data; long prose, a word list and a table of numbers are not."""
    import textwrap

    from inspector.core.formats.base import Hidden
    from inspector.core.judge.detectors import hidden as hidden_detector
    from inspector.core.judge.detectors.metadata import encoding_of
    from inspector.core.measure.hidden import measure_region

    b64 = base64.b64encode(SECRET).decode()
    prose = ("The model was trained for three epochs with a cosine schedule and early stopping. " * 1200).encode()

    def judged(data: bytes) -> list:
        h = measure_region(Hidden("pickle", "checkpoint entry 'notes'", len(data), Path("x"), data=data))
        return [f.severity for f in hidden_detector.detect([h])[0]]

    assert judged("\n".join(textwrap.wrap(b64, 76)).encode()) == ["suspicious"]
    assert judged(" ".join(SECRET[i : i + 1].hex() for i in range(len(SECRET))).encode()) == ["suspicious"]
    assert judged(prose + b64.encode() + prose[:1000]) == ["suspicious"]
    assert "suspicious" not in judged(prose) and "suspicious" not in judged(
        "\n".join(f"word{i}" for i in range(9000)).encode()
    )
    table = "\n".join(" ".join(f"{v:.4f}" for v in row) for row in np.random.default_rng(0).normal(size=(800, 8)))
    assert "suspicious" not in judged(table.encode())
    # header metadata: wrapped with a space before each line break, or spaced hex
    assert encoding_of(" \n".join(textwrap.wrap(b64, 76))) == "base64"
    assert encoding_of(" ".join(f"{b:02x}" for b in SECRET[:600])) == "hex"
    assert encoding_of("a plain sentence about training, with spaces and commas " * 20) is None


def test_numbers_and_bits_pickled_as_python_values_are_judged(tmp_path: Path) -> None:
    """A checkpoint entry that is a Python number too big for a counter, a table of byte rows, a list of pairs or
    of bits carries the secret as well as a byte string does; a model's small configuration lists do not."""
    rows = [list(SECRET[i : i + 16]) for i in range(0, len(SECRET), 16)]
    pairs = [tuple(SECRET[i : i + 2]) for i in range(0, len(SECRET), 2)]
    bits = [bool(b >> k & 1) for b in SECRET[:8000] for k in range(8)]
    carriers = {
        "seed": int.from_bytes(SECRET, "little"),
        "palette": rows,
        "edges": pairs,
        "active_units": bits,
        "rng_state": [int.from_bytes(SECRET[i : i + 100], "little") for i in range(0, len(SECRET), 100)],
    }
    for key, value in carriers.items():
        p = tmp_path / f"{key}.pt"
        torch.save({"state_dict": _weights(), key: value}, p)
        status, hits = _non_float(p)
        assert status == "detected" and hits and hits[0].severity == "suspicious", key
    p = tmp_path / "config.pt"
    config = {"layers": [64, 64, 32], "anchors": [[10, 13], [16, 30], [33, 23]], "flags": [True, False] * 3}
    torch.save({"state_dict": _weights(), "config": config, "sizes": [768] * 12}, p)
    assert _non_float(p)[0] != "detected"


def test_a_blob_cut_into_short_strings_is_judged_whole(tmp_path: Path) -> None:
    """Base64 pieces as a list's items, a dict's keys or an OrderedDict's values (each under the 1,000 characters
    a metadata value keeps) are joined and judged; paths, hex hashes and ordinary words are not gathered."""
    import collections
    import hashlib

    b64 = base64.b64encode(SECRET).decode()
    pieces = [b64[i : i + 250] for i in range(0, len(b64), 250)]
    carriers = {
        "list": pieces,
        "keys": {p: i for i, p in enumerate(pieces)},
        "odict": collections.OrderedDict((f"calib_{i}", p) for i, p in enumerate(pieces)),
    }
    for key, value in carriers.items():
        p = tmp_path / f"{key}.pt"
        torch.save({"state_dict": _weights(), "extra": value}, p)
        status, hits = _non_float(p)
        assert status == "detected" and any("look encoded" in f.message for f in hits), key
    benign = {
        "paths": [
            f"/Data/Experiments/Run{i:04d}/Checkpoints/Epoch{i:03d}Step{i * 1000:08d}/Weights" for i in range(200)
        ],
        "names": [f"Encoder_Layer_{i}_SelfAttention_Query_Key_Value_Projection_Weight_V2" for i in range(200)],
        "hashes": [hashlib.sha256(bytes([i])).hexdigest() for i in range(200)],
        "vocab": {f"token_{i}_word": i for i in range(2000)},
    }
    p = tmp_path / "benign.pt"
    torch.save({"state_dict": _weights(), **benign}, p)
    assert _non_float(p)[0] != "detected"


def test_a_blob_cut_into_equal_items_of_a_list_is_found_and_digests_are_not() -> None:
    """A string array whose items are a blob cut into pieces of one length (GGUF metadata, a vocabulary of
    encoded "tokens") is joined and judged; a list of hex digests, one a line, is not one blob."""
    import hashlib

    from inspector.core.formats.base import Hidden
    from inspector.core.judge.detectors import hidden as hidden_detector
    from inspector.core.measure.hidden import measure_region

    b64 = base64.b64encode(SECRET).decode()

    def judged(text: str) -> list:
        data = text.encode()
        h = measure_region(Hidden("field", "metadata value 'general.notes'", len(data), Path("x"), data=data))
        return [f.severity for f in hidden_detector.detect([h])[0]]

    assert judged("\n".join(b64[i : i + 1000] for i in range(0, len(b64), 1000))) == ["suspicious"]
    assert judged("\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))) == ["suspicious"]
    digests = "\n".join(hashlib.sha256(bytes([i % 256, i // 256])).hexdigest() for i in range(600))
    assert judged(digests) == []


def test_a_blob_inside_a_metadata_text_and_an_archive_comment_are_found(tmp_path: Path) -> None:
    """Prose followed by base64 under a known metadata key, and bytes in a torch archive's zip comment, are
    judged; prose alone under that key, and an archive without a comment, are not flagged."""
    import zipfile

    from inspector.core.judge.detectors.metadata import detect as metadata_detect

    b64 = base64.b64encode(SECRET).decode()
    prose = "A small convolutional network for digits, trained with Adam. " * 20
    (hit,) = metadata_detect({"modelspec.description": prose + b64})[0]
    assert hit.severity == "suspicious" and "inside its" in hit.message
    assert metadata_detect({"modelspec.description": prose})[0] == []
    p = tmp_path / "commented.pt"
    torch.save({"state_dict": _weights()}, p)
    assert _non_float(p)[0] != "detected"
    with zipfile.ZipFile(p, "a") as zf:
        zf.comment = SECRET[:8000]
    status, hits = _non_float(p)
    assert status == "detected" and any("comment" in f.message for f in hits)


def test_bytes_of_an_image_named_like_quantised_weights_are_not_explained_by_the_name(tmp_path: Path) -> None:
    """A U8 or I8 tensor beside a scale is quantised weights only if its values fill the levels of their middle,
    as rounded weights do; an image's grey levels (17 of them, 15 apart) or a text's letters leave them empty."""
    from tests.core.test_onnx import FLOAT, model, tensor

    rng = np.random.default_rng(5)
    text = np.frombuffer((b"the quick brown fox jumps over the lazy dog " * 1600)[:65536], dtype=np.uint8)
    cases = {
        "rounded.onnx": (rng.normal(128, 20, 65536).round().clip(0, 255).astype(np.uint8), False),
        "int4.onnx": (rng.normal(8, 2.5, 65536).round().clip(0, 15).astype(np.uint8), False),
        "image.onnx": (np.frombuffer(SECRET * 4, dtype=np.uint8)[:65536].copy(), True),
        "text.onnx": (text.copy(), True),
    }
    for name, (q, payload) in cases.items():
        inits = [tensor("w_quantized", (256, 256), 2, q.tobytes()), tensor("w_scale", (1,), FLOAT, b"\x0a\xd7\x23\x3c")]
        (tmp_path / name).write_bytes(model(inits))
        hits = [f for f in scan(tmp_path / name, ScanOptions()).findings if f.detector == "non-float-tensor"]
        assert bool([f for f in hits if f.severity == "suspicious"]) == payload, (name, [f.message for f in hits])


def test_a_gguf_tokenizers_own_arrays_must_look_like_it(tmp_path: Path) -> None:
    """``tokenizer.ggml.token_type`` holds token types (0-6) and ``tokenizer.ggml.scores`` finite scores: those are
    not judged as bytes; a byte per token, or payload bits read as float32, under the same keys are."""
    import struct as st

    from tests.core.test_gguf import F32, _kv, _s, write_gguf

    a = np.random.default_rng(0).normal(0, 0.02, (64, 64)).astype("<f4")
    n = len(SECRET)
    vocab = st.pack("<IQ", 8, n) + b"".join(_s(f"t{i}") for i in range(n))
    base = [_kv("general.architecture", 8, _s("llama")), _kv("tokenizer.ggml.tokens", 9, vocab)]
    types = np.random.default_rng(1).choice([1, 1, 1, 3, 6], n).astype("<i4")
    scores = -np.sort(np.random.default_rng(2).exponential(5.0, n)).astype("<f4")
    cases = {
        "real": ([types.tobytes(), scores.tobytes()], False),
        "types": ([np.frombuffer(SECRET, np.uint8).astype("<i4").tobytes(), scores.tobytes()], True),
        "scores": ([types.tobytes(), (SECRET * 4)[: 4 * n]], True),
    }
    for name, ((t, sc), payload) in cases.items():
        kvs = [
            *base,
            _kv("tokenizer.ggml.token_type", 9, st.pack("<IQ", 5, n) + t),
            _kv("tokenizer.ggml.scores", 9, st.pack("<IQ", 6, n) + sc),
        ]
        path = write_gguf(tmp_path / f"{name}.gguf", [("a", F32, (64, 64), a.tobytes())], kvs=kvs)
        assert (_non_float(path)[0] == "detected") == payload, name


def test_a_blob_cut_into_many_small_files_beside_the_model_is_judged_joined(tmp_path: Path) -> None:
    """Files too small to judge one by one (under 256 bytes) of no known role are joined; a folder's usual small
    files (a package marker, a lock, a version note) are not evidence."""
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    (folder / "__init__.py").write_text("from .model import Net\n")
    (folder / "VERSION").write_text("1.2.0\n")
    (folder / ".lock").write_bytes(b"")
    assert _non_float(folder)[0] == "not-detected"
    for i in range(80):
        (folder / f"part_{i:02d}.bin").write_bytes(SECRET[i * 240 : (i + 1) * 240])
    status, found = _non_float(folder)
    assert status == "detected" and any("small files" in f.message for f in found)


def test_a_training_state_file_that_is_no_checkpoint_is_judged(tmp_path: Path) -> None:
    """``optimizer.pt`` beside the model is read as the checkpoint it is (see the next tests); bytes under that
    name that are no checkpoint at all are judged like any file beside the model."""
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    torch.save({"state": {0: {"exp_avg": torch.zeros(4)}}, "param_groups": [{"lr": 0.001}]}, folder / "optimizer.pt")
    assert _non_float(folder)[0] == "cannot-rule-out"  # its tensor is not scanned with the model
    (folder / "optimizer.pt").write_bytes(SECRET)
    status, found = _non_float(folder)
    assert status == "detected" and any("optimizer.pt" in f.message for f in found)


def _trainer_folder(tmp_path: Path) -> Path:
    """A Hugging Face Trainer checkpoint: the model, its configuration and the training state written beside it."""
    import random

    from safetensors.torch import save_file

    folder = tmp_path / "checkpoint-10"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"model_type": "bert"}')
    p = torch.nn.Parameter(torch.randn(32, 32))
    opt = torch.optim.AdamW([p])
    (p**2).sum().backward()
    opt.step()
    torch.save(opt.state_dict(), folder / "optimizer.pt")
    rs = random.Random(3)
    state = {"python": rs.getstate(), "numpy": np.random.RandomState(3).get_state(), "cpu": torch.get_rng_state()}
    torch.save(state, folder / "rng_state.pth")
    torch.save({"last_epoch": 10, "_step_count": 11, "base_lrs": [5e-5]}, folder / "scheduler.pt")
    return folder


def test_training_state_beside_the_model_is_read_for_what_it_carries_besides_tensors(tmp_path: Path) -> None:
    """A Trainer checkpoint's ``rng_state.pth``, ``optimizer.pt`` and ``scheduler.pt`` ship with the folder and are
    ``torch.load``ed on resume: each is read by the same code-free reader, its byte strings and long lists judged
    as a checkpoint's are. A real one (generator states, Adam moments) raises nothing; a payload in the RNG state's
    ``python`` entry is found and named with its file. Their tensors are not scanned with the model, and the family
    says so rather than NOT-DETECTED."""
    folder = _trainer_folder(tmp_path)
    res = scan(folder, ScanOptions())
    fam = {f.family: f for f in res.families}["non-float"]
    assert not [f for f in res.findings if f.severity == "suspicious"]
    assert fam.status == "cannot-rule-out"
    assert "tensors of the training-state file 'optimizer.pt' beside the model" in fam.text
    assert "training-state file 'rng_state.pth'" in fam.text
    state = torch.load(folder / "rng_state.pth", weights_only=False)
    torch.save({**state, "python": SECRET}, folder / "rng_state.pth")
    res = scan(folder, ScanOptions())
    hits = [f for f in res.findings if f.detector == "hidden-bytes" and f.severity == "suspicious"]
    assert hits and "training-state file 'rng_state.pth' beside the model: checkpoint entry 'python'" in hits[0].message


class _Hook:
    def __reduce__(self):
        import os

        return (os.system, ("true",))


def test_calls_and_classes_a_training_state_file_would_load_are_named_with_it(tmp_path: Path, monkeypatch) -> None:
    """A scheduler state whose pickle calls ``os.system`` is code on load (suspicious) where the model itself is
    clean; training arguments pickled as an object of an installed package's class are a warning that names the
    file, not the model. A training-state file the reader refuses (cut short) is judged whole, as bytes."""
    import importlib

    (tmp_path / "mi_trainer_args.py").write_text(
        "class TrainingArguments:\n    def __init__(self):\n        self.lr = 5e-5\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    args = importlib.import_module("mi_trainer_args").TrainingArguments
    folder = _trainer_folder(tmp_path)
    torch.save({"last_epoch": 10, "hook": _Hook()}, folder / "scheduler.pt")
    res = scan(folder, ScanOptions())
    calls = [f for f in res.findings if f.detector == "code-execution" and f.severity == "suspicious"]
    assert calls and "scheduler.pt" in calls[0].message and "os" in calls[0].message
    torch.save({"last_epoch": 10}, folder / "scheduler.pt")
    torch.save(args(), folder / "training_args.bin")
    res = scan(folder, ScanOptions())
    classes = [f for f in res.findings if f.evidence.get("kind") == "class-code"]
    assert len(classes) == 1 and classes[0].severity == "warning"
    assert classes[0].message.startswith("training-state file 'training_args.bin' beside the model: pickled objects")
    (folder / "training_args.bin").unlink()
    data = (folder / "optimizer.pt").read_bytes()
    (folder / "optimizer.pt").write_bytes(data[: len(data) // 2])
    res = scan(folder, ScanOptions())
    fam = {f.family: f for f in res.families}["non-float"]
    assert "optimizer.pt" in fam.text or any(
        "optimizer.pt' beside the model (refused" in f.message for f in res.findings
    )
    assert "refused by the reader" in " ".join(h.where for h in res.measurement.hidden)


def test_values_of_a_configuration_file_that_carry_data_are_judged(tmp_path: Path) -> None:
    """A config.json reads as plain JSON text, yet a list of 19,200 byte values in it, or a blob cut into 400
    labels, is a payload; a configuration's own lists (token ids, filter banks, a short palette) and ordinary
    labels are not."""
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    rng = np.random.default_rng(1)
    plain = {
        "architectures": ["Net"],
        "id2label": {str(i): f"class_{i}" for i in range(1000)},
        "suppress_tokens": [int(t) for t in rng.integers(256, 50_000, 400)],
        "mel_filters": rng.random((80, 201)).round(6).tolist(),
        "palette": list(range(16)),
        "use_cache": True,
    }
    (folder / "config.json").write_text(json.dumps(plain, indent=2))
    (folder / "preprocessor_config.json").write_text(json.dumps({"mel_filters": rng.normal(size=(80, 201)).tolist()}))
    assert _non_float(folder)[0] == "not-detected"
    labels = base64.b64encode(SECRET).decode()
    for name, value in (
        ("palette", list(SECRET)),
        ("mask", [bool(b >> k & 1) for b in SECRET for k in range(8)]),
        ("id2label", {str(i): labels[i * 64 : (i + 1) * 64] for i in range(len(labels) // 64)}),
    ):
        (folder / "config.json").write_text(json.dumps({**plain, name: value}, indent=2))
        status, found = _non_float(folder)
        assert status == "detected", name
        assert any("config.json" in f.message and f.severity == "suspicious" for f in found), name


def test_integers_an_onnx_file_stores_as_varints_are_read_and_judged(tmp_path: Path) -> None:
    """A tensor of ``int64_data``/``int32_data`` varints, or a Constant's ``value_ints``, is the tensor ONNX
    Runtime builds: a payload stored so is judged like any integer tensor, position ids and shapes are not."""
    from tests.core.test_onnx import FLOAT, INT32, INT64, lfield, model, node, tensor, varint

    w = np.random.default_rng(0).normal(0, 0.05, (64, 64)).astype("<f4")
    secret = list(SECRET)

    def write(name: str, inits: list, nodes: list = ()) -> Path:
        p = tmp_path / f"{name}.onnx"
        p.write_bytes(model([tensor("w", (64, 64), FLOAT, w.tobytes()), *inits], list(nodes)))
        return p

    ints = lfield(1, "value_ints") + lfield(8, b"".join(varint(v) for v in secret))
    for p in (
        write("i64", [tensor("bucket_ids", (len(secret),), INT64, int64_data=secret)]),
        write("i32", [tensor("position_ids", (1, len(secret)), INT32, int32_data=secret)]),
        write("const", [], [node("Constant", ["/ids"], [ints])]),
    ):
        res = scan(p, ScanOptions())
        assert any(f.detector == "non-float-tensor" and f.severity == "suspicious" for f in res.findings), p.name
    benign = write(
        "benign",
        [
            tensor("position_ids", (1, 512), INT64, int64_data=list(range(512))),
            tensor("shape", (2,), INT64, int64_data=[1, -1]),
            tensor("x_zero_point", (64,), INT32, int32_data=[0] * 64),
        ],
    )
    res = scan(benign, ScanOptions())
    assert not [f for f in res.findings if f.attack == "non-float"]


def test_searching_hostile_text_takes_memory_bounded_by_the_text() -> None:
    """The searches for encoded runs, JSON values and header escapes keep no state per repetition (a repeated
    regex group keeps ~100 bytes an iteration: megabytes of ``aa aa …`` cost hundreds of MB before)."""
    import tracemalloc

    from inspector.core.formats.safetensors import odd_whitespace
    from inspector.core.formats.values import text_values
    from inspector.core.measure.hidden import encoded_candidates

    n = 4 << 20
    cases = [
        (encoded_candidates, (b"aa " * (n // 3), 0)),  # a hex dump
        (encoded_candidates, ((b"QUJD" * 19 + b"\n") * (n // 77), 0)),  # wrapped base64
        (text_values, (b"[" + b"true," * (n // 5) + b"true]",)),  # booleans
        (text_values, (b"[" + b"[]," * (n // 3) + b"[]]",)),  # empty lists
        (odd_whitespace, (b'{"a":\t"' + b"x" * n + b'"}',)),  # one long string
        (odd_escapes, (b'{"a":"' + b"\\u0041" * (n // 6) + b'"}',)),  # escapes
    ]
    for fn, args in cases:
        tracemalloc.start()
        fn(*args)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 4 * n, (fn.__name__, peak)


def test_module_names_of_a_state_dicts_metadata_are_judged(tmp_path: Path) -> None:
    """``state_dict()._metadata`` (each module's version) is dropped by the reader, but its keys are free text a
    loader keeps: a blob cut into 400 of them is found; a real model's module names are not."""
    net = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()) for _ in range(40)])
    sd = net.state_dict()
    torch.save(sd, tmp_path / "benign.pt")
    assert _non_float(tmp_path / "benign.pt")[0] == "not-detected"
    blob = base64.b64encode(SECRET).decode()
    for i in range(len(blob) // 64):
        sd._metadata[f"blocks.{blob[i * 64 : (i + 1) * 64]}"] = {"version": 1}
    torch.save(sd, tmp_path / "keys.pt")
    status, found = _non_float(tmp_path / "keys.pt")
    assert status == "detected" and any("look encoded" in f.message for f in found)


def test_small_gguf_arrays_are_judged_joined_and_per_layer_ones_are_not(tmp_path: Path) -> None:
    """Numeric metadata arrays under the 1,024 bytes judged alone are judged together: 20 arrays of 960 bytes are
    found; arrays of one value a layer (a model whose layers differ in heads or widths) are the architecture."""
    import struct as st

    from tests.core.test_gguf import F32, _kv, _s, write_gguf

    a = np.random.default_rng(0).normal(0, 0.02, (64, 64)).astype("<f4")
    layers = 80
    base = [_kv("general.architecture", 8, _s("openelm")), _kv("openelm.block_count", 4, st.pack("<I", layers))]
    per_layer = [
        _kv(f"openelm.{k}", 9, st.pack("<IQ", 5, layers) + np.arange(layers, dtype="<i4").tobytes())
        for k in ("attention.head_count", "attention.head_count_kv", "feed_forward_length")
    ]
    rope = [_kv("rope.sections", 9, st.pack("<IQ", 5, 20) + np.arange(20, dtype="<i4").tobytes())]
    chunks = [
        _kv(f"general.palette_{i}", 9, st.pack("<IQ", 0, 960) + SECRET[i * 960 : (i + 1) * 960]) for i in range(20)
    ]
    for name, kvs, payload in (("layers", base + per_layer + rope, False), ("chunks", base + chunks, True)):
        path = write_gguf(tmp_path / f"{name}.gguf", [("a", F32, (64, 64), a.tobytes())], kvs=kvs)
        status, found = _non_float(path)
        assert (status == "detected") == payload, name
        assert any("numeric metadata arrays" in f.message for f in found) == payload, name


def test_complex_numbers_pickled_as_python_values_are_judged(tmp_path: Path) -> None:
    """``complex(x, y)`` in a pickle is rebuilt as the number it is (never called as code): a list of them is
    a list of floats, judged as bytes; a few of them (a filter's poles) are not worth a finding."""
    f = np.frombuffer(SECRET, "<f8")
    w = _weights()
    torch.save({**w, "poles": [complex(x, y) for x, y in zip(f[::2], f[1::2])]}, tmp_path / "poles.pt")
    torch.save({**w, "poles": [1j, 2 + 0j, complex("3-1j")]}, tmp_path / "few.pt")
    assert _non_float(tmp_path / "poles.pt")[0] == "detected"
    assert _non_float(tmp_path / "few.pt") == ("not-detected", [])


def test_a_dict_of_byte_values_is_judged_and_a_remap_table_is_not(tmp_path: Path) -> None:
    """A dict of integers to byte values spells its values in order (19,200 of them are found); a remap table of
    token or class ids reaches past a byte and stays configuration."""
    w = _weights()
    torch.save({**w, "token_remap": dict(enumerate(SECRET))}, tmp_path / "bytes.pt")
    ids = np.random.default_rng(0).permutation(30_000)
    torch.save({**w, "token_remap": {i: int(v) for i, v in enumerate(ids)}}, tmp_path / "remap.pt")
    assert _non_float(tmp_path / "bytes.pt")[0] == "detected"
    assert _non_float(tmp_path / "remap.pt") == ("not-detected", [])


def test_a_file_named_like_other_weights_is_one_only_by_its_bytes(tmp_path: Path) -> None:
    """Another copy of the weights (flax, Keras, TFLite) is named as not judged with the model; a payload under
    such a name, without the format's signature, is judged like any file beside the model."""
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_weights(), str(folder / "model.safetensors"))
    real = {
        "flax_model.msgpack": b"\x81\xa6params\x81\xa5dense" + SECRET,
        "tf_model.h5": b"\x89HDF\r\n\x1a\n" + SECRET,
        "model.tflite": b"\x1c\x00\x00\x00TFL3" + SECRET,
    }
    for name, data in real.items():
        (folder / name).write_bytes(data)
    res = scan(folder, ScanOptions())
    assert not [f for f in res.findings if f.detector == "hidden-bytes"]
    fam = {f.family: f for f in res.families}["non-float"]
    assert fam.status == "cannot-rule-out" and all(f"{n}' beside the model was not judged" in fam.text for n in real)
    for name in real:
        (folder / name).write_bytes(SECRET)
        status, found = _non_float(folder)
        assert status == "detected" and any(name in f.message for f in found), name
        (folder / name).write_bytes(real[name])


def _gptq(q: np.ndarray, bits: int = 4) -> np.ndarray:
    """Rounded weights ``q`` [inputs, outputs] packed as GPTQ packs them: 32 // bits neighbouring inputs a word."""
    per = 32 // bits
    packed = np.zeros((q.shape[0] // per, q.shape[1]), np.uint32)
    for j in range(per):
        packed |= q[j::per].astype(np.uint32) << (bits * j)
    return packed.view("<i4")


def test_packed_4bit_weights_are_judged_by_the_halves_of_their_bytes(tmp_path: Path) -> None:
    """A GPTQ ``qweight`` is eight 4-bit weights a word. Heavy-tailed weights with outlier inputs rounded per
    group onto an asymmetric grid tie neighbouring halves together (up to 1.6 bits inside a byte), but across
    bytes just as much; an image's or a text's bytes tie only the halves of each byte. An 8-bit packing (told by
    ``qzeros`` against ``scales``) is not judged by halves at all."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(7)
    w = rng.standard_t(2, size=(1024, 256))
    w[rng.integers(0, 1024, 10)] *= 20  # outlier input features
    g = w.reshape(8, 128, 256)
    lo, hi = g.min(axis=1, keepdims=True), g.max(axis=1, keepdims=True)
    q = np.clip(np.round((g - lo) / (hi - lo) * 15), 0, 15).reshape(1024, 256).astype(np.uint8)
    text = np.frombuffer((b"the quick brown fox jumps over the lazy dog. " * 3000)[: 128 * 256 * 4], np.uint8)
    q8 = np.clip(np.round(rng.normal(128, 20, (512, 256))), 0, 255).astype(np.uint8)
    cases = {
        "rounded": (_gptq(q), 4, False),
        "image": (np.frombuffer((SECRET * 7)[: 128 * 256 * 4], "<i4").reshape(128, 256), 4, True),
        "text": (text.view("<i4").reshape(128, 256), 4, True),
        "8-bit": (_gptq(q8, 8), 8, False),
    }
    for name, (qweight, bits, payload) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(
            {
                "layer.qweight": qweight,
                "layer.scales": np.full((8, 256), 0.01, np.float16),
                "layer.qzeros": np.full((8, 256 * bits // 32), 0x77777777 if bits == 4 else 0x7F7F7F7F, np.uint32).view(
                    "<i4"
                ),
            },
            str(path),
        )
        hits = [f for f in scan(path, ScanOptions()).findings if f.detector == "non-float-tensor"]
        assert bool([f for f in hits if f.severity == "suspicious"]) == payload, (name, [f.message for f in hits])
        if payload:
            assert "halves" in hits[0].message
    # a packing said to be 8-bit is judged by its bytes' levels, and one whose zero points are missing as 4-bit
    image = np.frombuffer((SECRET * 7)[: 128 * 256 * 4], "<i4").reshape(128, 256)
    for name, extra, payload in (
        ("image-8bit", {"layer.qzeros": np.zeros((8, 64), "<i4")}, True),
        ("rounded-8bit", {"layer.qzeros": np.zeros((8, 64), "<i4")}, False),
        ("text-no-zeros", {}, True),
    ):
        qweight = _gptq(q8, 8)[:128] if name == "rounded-8bit" else text.view("<i4").reshape(128, 256)
        qweight = image if name == "image-8bit" else qweight
        path = tmp_path / f"{name}.safetensors"
        save_file({"layer.qweight": qweight, "layer.scales": np.full((8, 256), 0.01, np.float16), **extra}, str(path))
        hits = [f for f in scan(path, ScanOptions()).findings if f.detector == "non-float-tensor"]
        assert bool([f for f in hits if f.severity == "suspicious"]) == payload, (name, [f.message for f in hits])


def test_the_halves_of_an_integer_tensors_bytes_are_counted_over_every_chunk_and_survive_json(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    from inspector.core.measure.scan import Measurement
    from inspector.core.measure.stats import nibble_pair_counts

    a = np.random.default_rng(3).integers(-(2**31), 2**31 - 1, 300_001, dtype=np.int64).astype("<i4")
    save_file({"ids": a}, str(tmp_path / "m.safetensors"))
    res = scan(tmp_path / "m.safetensors", ScanOptions(chunk_bytes=1 << 16, workers=2))
    pairs = res.measurement.tensor("ids").stats.nibble_pairs
    assert np.array_equal(np.asarray(pairs), nibble_pair_counts(a.view(np.uint8).reshape(-1, 4)))
    assert len(pairs) == 7 and all(sum(r) == a.size for r in pairs)
    again = Measurement.from_scan_json(json.loads(json.dumps(res.to_json())))
    assert again.tensor("ids").stats.nibble_pairs == pairs


def test_int8_weights_take_the_scale_their_parent_module_keeps(tmp_path: Path) -> None:
    """A quantised TorchScript module keeps one scale and zero point for all its int8 weights
    (``bert.scale`` beside ``bert.embeddings.word_embeddings.weight``): those weights have a role; the same bytes
    with no scale anywhere above them do not."""
    from safetensors.numpy import save_file

    q = np.clip(np.round(np.random.default_rng(4).normal(0, 12, (512, 64))), -128, 127).astype(np.int8)
    for name, scale, explained in (
        ("parent.safetensors", "bert.scale", True),
        ("elsewhere.safetensors", "other.scale", False),
    ):
        save_file(
            {"bert.embeddings.word_embeddings.weight": q, scale: np.array(0.02, np.float32)}, str(tmp_path / name)
        )
        hits = [f for f in scan(tmp_path / name, ScanOptions()).findings if f.detector == "non-float-tensor"]
        assert (not [f for f in hits if f.severity == "suspicious"]) == explained, (name, [f.message for f in hits])


def test_a_json_map_of_the_models_own_tensors_is_configuration_and_records_are_not(tmp_path: Path) -> None:
    """A quantisation manifest beside the weights (its strings the model's tensor names, with a few suffixes) is
    configuration; training records written as JSON, or payload pieces hung behind tensor names (a suffix each),
    are judged by their size as any unknown file is."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    names = [f"blocks.{i}.{p}.weight" for i in range(12) for p in ("q", "k", "v", "o")]
    cases = {
        "manifest": {n: {"qweight": f"{n}.qweight", "scale": f"{n}.scale", "scheme": "symmetric"} for n in names},
        "records": [
            {"age": int(a), "income": float(b), "label": "yes" if a > 40 else "no"}
            for a, b in zip(rng.integers(18, 90, 400), rng.normal(5e4, 1e4, 400))
        ],
        "pieces": {
            f"{names[i % len(names)]}.{base64.b64encode(SECRET[i * 6 : i * 6 + 6]).decode()}": i for i in range(800)
        },
    }
    for name, doc in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        save_file(
            {n: rng.normal(0, 0.02, (16, 16)).astype(np.float32) for n in names}, str(folder / "model.safetensors")
        )
        (folder / "config.json").write_text("{}")
        (folder / "w8_manifest.json").write_text(json.dumps(doc, indent=2))
        hits = [
            f for f in scan(folder, ScanOptions()).findings if f.detector == "hidden-bytes" and f.severity != "info"
        ]
        assert bool(hits) == (name != "manifest"), (name, [f.message for f in hits])


def test_a_training_state_file_the_reader_refuses_leaves_code_on_load_open(tmp_path: Path) -> None:
    """A scheduler state holding a sparse tensor (which the reader refuses) before a call: what torch.load would run
    is unknown, so the code-on-load family cannot rule it out, naming the file; the file is judged as bytes."""
    folder = _trainer_folder(tmp_path)
    sparse = torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (4,))
    torch.save({"last_epoch": 1, "a": sparse, "hook": _Hook()}, folder / "scheduler.pt")
    res = scan(folder, ScanOptions())
    code = {f.family: f for f in res.families}["code-execution"]
    assert code.status == "cannot-rule-out" and "training-state file 'scheduler.pt'" in code.text


def test_training_arguments_with_enumerations_read_as_a_warning(tmp_path: Path, monkeypatch) -> None:
    """``training_args.bin`` pickles ``TrainingArguments`` with enumeration members (``IntervalStrategy('steps')``:
    the class called with the value). A framework's enumerations are rebuilt as their values and listed with the
    classes: one warning naming the file, no refusal (it was judged whole as bytes, on every Trainer folder)."""
    import importlib
    import sys

    pkg = tmp_path / "fake" / "transformers"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "trainer_utils.py").write_text("import enum\nclass IntervalStrategy(enum.Enum):\n    STEPS = 'steps'\n")
    (pkg / "training_args.py").write_text(
        "from .trainer_utils import IntervalStrategy\n"
        "class TrainingArguments:\n    def __init__(self):\n        self.save_strategy = IntervalStrategy.STEPS\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    for m in ("transformers", "transformers.trainer_utils", "transformers.training_args"):
        monkeypatch.delitem(sys.modules, m, raising=False)
    args = importlib.import_module("transformers.training_args").TrainingArguments
    folder = _trainer_folder(tmp_path)
    torch.save(args(), folder / "training_args.bin")
    res = scan(folder, ScanOptions())
    classes = [f for f in res.findings if f.evidence.get("kind") == "class-code"]
    assert len(classes) == 1 and "training_args.bin" in classes[0].message
    assert "transformers.trainer_utils.IntervalStrategy" in classes[0].evidence["classes"]
    assert not [f for f in res.findings if f.detector == "hidden-bytes"]
    assert {f.family: f for f in res.families}["code-execution"].status != "cannot-rule-out"


def test_training_state_files_are_read_once_and_at_most_so_many(tmp_path: Path, monkeypatch) -> None:
    """Hard links to one training-state file are read once; past ``MAX_TRAINING_FILES`` the rest are counted, not
    read, and the code-on-load family cannot rule them out."""
    import os

    from inspector.core.formats import folders

    folder = _trainer_folder(tmp_path)
    for i in range(3):
        os.link(folder / "scheduler.pt", folder / f"scheduler_{i}.pt")
    assert not [f for f in scan(folder, ScanOptions()).findings if f.severity != "info"]
    monkeypatch.setattr(folders, "MAX_TRAINING_FILES", 2)
    for i in range(3):
        torch.save({"step": i}, folder / f"random_states_{i}.pkl")
    res = scan(folder, ScanOptions())
    code = {f.family: f for f in res.families}["code-execution"]
    assert code.status == "cannot-rule-out" and "over 2 such files" in code.text
    assert not [f for f in res.findings if f.severity == "suspicious"]


def test_gguf_merges_are_read_merged(tmp_path: Path) -> None:
    """A BPE tokenizer's merges are ``"a b"`` pairs: read joined with no separator, base64 cut into halves (or
    pieces of any length) is one run again, with or without a vocabulary. Real merges (word pieces of every length,
    with or without 'Ġ' for a space) are not a blob."""
    import struct as st

    from tests.core.test_gguf import F32, _kv, _s, write_gguf

    a = np.random.default_rng(0).normal(0, 0.02, (64, 64)).astype("<f4")
    b64 = base64.b64encode(SECRET).decode()
    halves = [f"{b64[i : i + 16]} {b64[i + 16 : i + 32]}" for i in range(0, len(b64), 32)]
    rng = np.random.default_rng(3)
    letters = np.array(list("etaoinshrdlucmfwypvbgkqjxz"))
    pieces = ["".join(rng.choice(letters, rng.integers(1, 7))) for _ in range(2 * len(halves))]
    real = [f"\u0120{pieces[2 * i]} {pieces[2 * i + 1]}" for i in range(len(halves))]
    vocab = [_kv("tokenizer.ggml.tokens", 9, st.pack("<IQ", 8, 3) + _s("a") + _s("b") + _s("ab"))]
    plain = [m[1:] for m in real]  # ASCII word pieces only
    uneven = [f"{b64[i : i + 9]} {b64[i + 9 : i + 30]}" for i in range(0, len(b64), 30)]
    cases = ((halves, [], True), (halves, vocab, True), (uneven, vocab, True), (real, vocab, False), (plain, [], False))
    for merges, vocabulary, payload in cases:
        kv = _kv("tokenizer.ggml.merges", 9, st.pack("<IQ", 8, len(merges)) + b"".join(_s(m) for m in merges))
        kvs = [_kv("general.architecture", 8, _s("llama")), *vocabulary, kv]
        path = write_gguf(tmp_path / "m.gguf", [("a", F32, (64, 64), a.tobytes())], kvs=kvs)
        assert (_non_float(path)[0] == "detected") == payload, (merges[0], len(vocabulary))


def _rezip(src: Path, dst: Path, comment: bytes = b"", central: bytes = b"") -> Path:
    """``src`` (a zip) written again, its first member given a comment and an extra field (zipfile writes the
    extra field into the local header too)."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as o:
        for i, info in enumerate(z.infolist()):
            new = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            if i == 0:
                new.comment, new.extra = comment, central
            o.writestr(new, z.read(info))
    return dst


def test_zip_member_comments_and_extra_fields_are_judged(tmp_path: Path) -> None:
    """Every zip tool keeps a member's comment and extra fields; no model loader reads them. Bytes there that no zip
    writer's metadata explains (zip64 sizes, timestamps, owners, PyTorch's 'Z' padding) are judged, joined: 19,200
    payload bytes in a member's comment or an extra field of an unknown id are found; torch.save's archives, and
    numpy's (zip64 extras), carry none."""
    import struct as st

    torch.save(_weights(), tmp_path / "m.pt")
    np.savez(tmp_path / "m.npz", w=np.ones((64, 64), np.float32))
    for clean in (tmp_path / "m.pt", tmp_path / "m.npz"):
        model = inspector.open_model(clean)
        assert not [h for h in model.hidden if "extra fields" in h.where], clean
    cases = {
        "comment": {"comment": SECRET},
        "extra": {"central": st.pack("<HH", 0xCAFF, len(SECRET)) + SECRET},
        "padding": {"central": st.pack("<HH", 0x4246, len(SECRET)) + SECRET},
    }
    for name, kw in cases.items():
        path = _rezip(tmp_path / "m.pt", tmp_path / f"{name}.pt", **kw)
        status, found = _non_float(path)
        assert status == "detected" and any("extra fields" in f.message for f in found), name
    padded = _rezip(tmp_path / "m.pt", tmp_path / "padded.pt", central=st.pack("<HH", 0x4246, 40) + b"Z" * 40)
    assert _non_float(padded)[0] != "detected"


def test_zip_extra_fields_known_ids_are_held_to_what_writers_write(tmp_path: Path) -> None:
    """A known id is a writer's once a block and within its size; repeated 1,500 times it is judged. Info-ZIP's
    Unicode path (version 1, the CRC-32 of the header's name, the name) and zipalign's zero padding are writers'
    own. A local-header offset past any file ends in a model, not an error."""
    import struct as st
    import zlib

    torch.save(_weights(), tmp_path / "m.pt")
    with zipfile.ZipFile(tmp_path / "m.pt") as z:
        name = z.infolist()[0].filename.encode()
    unicode_path = st.pack("<HHB", 0x7075, 5 + len(name), 1) + st.pack("<I", zlib.crc32(name)) + name
    align = st.pack("<HH", 0xD935, 6) + st.pack("<H", 4) + bytes(4)
    for extra in (unicode_path, align, st.pack("<HH", 0x5455, 5) + bytes(5)):
        model = inspector.open_model(_rezip(tmp_path / "m.pt", tmp_path / "w.pt", central=extra))
        assert not [h for h in model.hidden if "extra fields" in h.where]
    repeated = (st.pack("<HH", 0x5455, 13) + SECRET[:13]) * 1500
    path = _rezip(tmp_path / "m.pt", tmp_path / "r.pt", central=repeated[:65000])
    assert _non_float(path)[0] == "detected"
    data = bytearray((tmp_path / "m.pt").read_bytes())
    at = data.rfind(b"PK\x01\x02")  # the last central entry: its local-header offset far past the file
    st.pack_into("<I", data, at + 42, 0xFFFFFFF0)
    (tmp_path / "far.pt").write_bytes(bytes(data))
    try:
        inspector.open_model(tmp_path / "far.pt")
    except inspector.InspectorError:
        pass
