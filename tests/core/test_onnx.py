"""The ONNX initializer reader: protobuf bytes built here by the wire format read back bit for bit.

The encoder below writes ModelProto / GraphProto / NodeProto / TensorProto fields by their numbers in onnx.proto;
it shares no code with the reader under test.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import MalformedFileError, UnsupportedFormatError
from inspector.core.formats import open_model, read_tensor
from inspector.core.formats.onnx import open_onnx

FLOAT, INT64, FLOAT16, DOUBLE, BFLOAT16, STRING, INT32, UINT8 = 1, 7, 10, 11, 16, 8, 6, 2


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def vfield(num: int, value: int) -> bytes:
    return varint(num << 3) + varint(value)


def lfield(num: int, payload: bytes | str) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def tensor(
    name: str,
    dims: tuple[int, ...],
    dtype: int,
    raw: bytes | None = None,
    *,
    float_data: bytes | None = None,
    external: dict[str, str] | None = None,
    int64_data: list[int] | None = None,
    int32_data: list[int] | None = None,
    unpacked_int64: list[int] | None = None,
    packed_dims: bool = False,
) -> bytes:
    out = lfield(1, b"".join(varint(d) for d in dims)) if packed_dims else b"".join(vfield(1, d) for d in dims)
    out += vfield(2, dtype) + lfield(8, name)
    if raw is not None:
        out += lfield(9, raw)
    if float_data is not None:
        out += lfield(4, float_data)
    if int64_data is not None:
        out += lfield(7, b"".join(varint(v) for v in int64_data))
    if int32_data is not None:
        out += lfield(5, b"".join(varint(v) for v in int32_data))
    if unpacked_int64 is not None:  # a tag before every element (proto2 style)
        out += b"".join(vfield(7, v) for v in unpacked_int64)
    if external is not None:
        out += b"".join(lfield(13, lfield(1, k) + lfield(2, v)) for k, v in external.items()) + vfield(14, 1)
    return out


def node(op: str, outputs: list[str], attrs: list[bytes] = (), inputs: list[str] = ()) -> bytes:
    out = b"".join(lfield(1, i) for i in inputs) + b"".join(lfield(2, o) for o in outputs) + lfield(4, op)
    return out + b"".join(lfield(5, a) for a in attrs)


def model(initializers: list[bytes], nodes: list[bytes] = (), props: dict[str, str] | None = None) -> bytes:
    graph = b"".join(lfield(1, n) for n in nodes) + lfield(2, "g") + b"".join(lfield(5, t) for t in initializers)
    out = vfield(1, 8) + lfield(2, "pytorch") + lfield(3, "2.13") + lfield(8, lfield(1, "") + vfield(2, 17))
    out += lfield(7, graph)
    for k, v in (props or {}).items():
        out += lfield(14, lfield(1, k) + lfield(2, v))
    return out


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "fc1.weight": rng.normal(0, 0.1, (6, 4)).astype("<f4"),
        "fc1.bias": rng.normal(0, 0.1, 6).astype("<f4"),
        "emb.half": rng.normal(0, 1, (3, 2)).astype("<f2"),
        "shape_const": np.array([1, -1], "<i8"),
        "packed": rng.normal(0, 1, 5).astype("<f4"),
        "dbl": rng.normal(0, 1, 2).astype("<f8"),
        "/Constant_output_0": rng.normal(0, 1, (2, 2)).astype("<f4"),
        "varints": np.array([1, -2, 2**40], "<i8"),
        "zero_point": np.array([-3, 0, 255, -(2**31)], "<i4"),
        "bytes_as_int32": np.array([0, 7, 255], "|u1"),
        "/ints_output_0": np.array([5, -1, 300], "<i8"),
        "/floats_output_0": rng.normal(0, 1, 3).astype("<f4"),
    }


def _write(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    a = _arrays()
    inits = [
        tensor("fc1.weight", (6, 4), FLOAT, a["fc1.weight"].tobytes()),
        tensor("fc1.bias", (6,), FLOAT, a["fc1.bias"].tobytes(), packed_dims=True),
        tensor("emb.half", (3, 2), FLOAT16, a["emb.half"].tobytes()),
        tensor("shape_const", (2,), INT64, a["shape_const"].tobytes()),
        tensor("packed", (5,), FLOAT, float_data=a["packed"].tobytes()),
        tensor("dbl", (2,), DOUBLE, a["dbl"].tobytes()),
        tensor("varints", (3,), INT64, int64_data=[int(v) for v in a["varints"]]),
        tensor("zero_point", (4,), INT32, int32_data=[int(v) for v in a["zero_point"]]),
        tensor("bytes_as_int32", (3,), UINT8, int32_data=[int(v) for v in a["bytes_as_int32"]]),
        tensor("unpacked", (2,), INT64, unpacked_int64=[4, 5]),
        tensor("words", (1,), STRING),
    ]
    const = lfield(1, "value") + lfield(5, tensor("", (2, 2), FLOAT, a["/Constant_output_0"].tobytes()))
    ints = lfield(1, "value_ints") + lfield(8, b"".join(varint(int(v)) for v in a["/ints_output_0"]))
    floats = lfield(1, "value_floats") + lfield(7, a["/floats_output_0"].tobytes())
    nodes = [
        node("Gemm", ["y"], inputs=["x", "fc1.weight", "fc1.bias"]),
        node("Constant", ["/Constant_output_0"], [const]),
        node("Constant", ["/ints_output_0"], [ints]),
        node("Constant", ["/floats_output_0"], [floats]),
    ]
    p = tmp_path / "m.onnx"
    p.write_bytes(model(inits, nodes, {"author": "test"}))
    return p, a


def test_initializers_and_constants_read_bit_for_bit(tmp_path):
    path, arrays = _write(tmp_path)
    mf = open_model(path)
    assert mf.format == "onnx" and mf.files == (path,)
    assert set(mf.names) == set(arrays)
    assert mf["fc1.weight"].shape == (6, 4) and mf["emb.half"].dtype.name == "F16"
    for name, a in arrays.items():
        assert read_tensor(mf[name]).tobytes() == a.tobytes(), name


def test_metadata_names_what_was_not_read(tmp_path):
    path, _ = _write(tmp_path)
    meta = open_onnx(path).metadata
    assert meta["onnx.ir_version"] == "8" and meta["onnx.producer_name"] == "pytorch"
    assert meta["onnx.opset_import"] == "ai.onnx:17"
    assert meta["onnx.metadata.author"] == "test"
    assert meta["onnx.nodes"] == "4" and meta["onnx.constant_tensors"] == "3"
    assert meta["onnx.not_read.unpacked"] == "elements stored as int64_data, not read"
    assert "not read" in meta["onnx.not_read.words"]


def test_external_data_beside_the_model(tmp_path):
    w = np.arange(12, dtype="<f4").reshape(3, 4)
    b = np.ones(4, "<f4")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16 + w.tobytes() + b.tobytes())
    inits = [
        tensor("w", (3, 4), FLOAT, external={"location": "weights.bin", "offset": "16", "length": "48"}),
        tensor("b", (4,), FLOAT, external={"location": "weights.bin", "offset": "64"}),
    ]
    path = tmp_path / "m.onnx"
    path.write_bytes(model(inits))
    mf = open_model(path)
    assert mf.files == (path, (tmp_path / "weights.bin").resolve())
    assert read_tensor(mf["w"]).tobytes() == w.tobytes() and read_tensor(mf["b"]).tobytes() == b.tobytes()
    assert mf.metadata["onnx.unreferenced_external_bytes"] == "16"


@pytest.mark.parametrize(
    ("external", "match"),
    [
        ({"location": "../outside.bin"}, "outside the model's folder"),
        ({"location": "/etc/passwd"}, "not a file name"),
        ({"location": "missing.bin"}, "missing"),
        ({"location": "weights.bin", "offset": "8"}, "does not hold"),
        ({"location": "weights.bin", "length": "4"}, "does not hold"),
        ({"location": "weights.bin", "offset": "x"}, "not a number"),
    ],
)
def test_external_data_problems_are_named(tmp_path, external, match):
    sub = tmp_path / "model"
    sub.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\0" * 64)
    (sub / "weights.bin").write_bytes(b"\0" * 16)
    path = sub / "m.onnx"
    path.write_bytes(model([tensor("w", (4,), FLOAT, external=external)]))
    with pytest.raises(MalformedFileError, match=match):
        open_model(path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (vfield(1, 8), "no ir_version or no graph"),
        (vfield(1, 8) + varint(7 << 3 | 2) + varint(1000) + b"abc", "runs past the end"),
        (vfield(1, 8) + b"\x08" + b"\xff" * 12, "varint"),
        (vfield(1, 8) + varint(5 << 3 | 3), "groups"),
        (b"\x00\x01", "field number 0"),
        (model([tensor("w", (4,), FLOAT, b"\0" * 12)]), "12 bytes stored but shape"),
        (model([tensor("w", (4,), FLOAT)]), "has no data"),
        (model([tensor("w", (1 << 30, 1 << 30, 1 << 30), FLOAT, b"")]), "beyond any real model"),
        (model([vfield(1, (1 << 64) - 1) + vfield(2, FLOAT) + lfield(8, "w")]), "negative dimension"),
    ],
)
def test_broken_files_get_one_clear_error(tmp_path, data, match):
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises((MalformedFileError, UnsupportedFormatError), match=match):
        open_model(path)


def test_duplicate_names_stay_visible(tmp_path):
    path = tmp_path / "dup.onnx"
    path.write_bytes(model([tensor("w", (1,), FLOAT, b"\0" * 4), tensor("w", (1,), FLOAT, b"\1" * 4)]))
    assert open_model(path).names == ["w", "w#2"]


def test_torch_export_reads_like_the_state_dict(tmp_path):
    """Where the onnx package is installed, a real exporter's file gives back the module's weights."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.randn(1, 4),), str(path), dynamo=False)
    mf = open_model(path)
    for name, t in net.state_dict().items():
        assert read_tensor(mf[name]).tobytes() == t.numpy().tobytes(), name


def _if_node(then_graph: bytes) -> bytes:
    return node("If", ["out"], [lfield(1, "then_branch") + lfield(6, then_graph)], inputs=["cond"])


def test_control_flow_subgraphs_are_read(tmp_path):
    """Exporters put whole decoders inside If branches: their weights are weights too."""
    w = np.arange(6, dtype="<f4")
    c = np.ones(2, "<f4")
    const = lfield(1, "value") + lfield(5, tensor("", (2,), FLOAT, c.tobytes()))
    body = lfield(1, node("Constant", ["inner_const"], [const])) + lfield(
        5, tensor("branch.w", (6,), FLOAT, w.tobytes())
    )
    path = tmp_path / "if.onnx"
    path.write_bytes(model([tensor("top", (1,), FLOAT, b"\0" * 4)], [_if_node(body)]))
    mf = open_model(path)
    assert sorted(mf.names) == ["branch.w", "inner_const", "top"]
    assert read_tensor(mf["branch.w"]).tobytes() == w.tobytes()
    assert mf.metadata["onnx.subgraphs"] == "1"


def test_subgraphs_nested_without_end_are_refused(tmp_path):
    body = lfield(5, tensor("w", (1,), FLOAT, b"\0" * 4))
    for _ in range(40):
        body = lfield(1, _if_node(body))
    path = tmp_path / "deep.onnx"
    path.write_bytes(model([], [_if_node(body)]))
    with pytest.raises(MalformedFileError, match="nest deeper"):
        open_model(path)


def test_node_and_tensor_counts_are_bounded(tmp_path, monkeypatch):
    import inspector.core.formats.onnx as ox

    monkeypatch.setattr(ox, "MAX_NODES", 3)
    monkeypatch.setattr(ox, "MAX_TENSORS", 3)
    path = tmp_path / "n.onnx"
    path.write_bytes(model([], [node("Relu", [f"y{i}"]) for i in range(4)]))
    with pytest.raises(MalformedFileError, match="over 3 nodes"):
        open_model(path)
    path.write_bytes(model([tensor(f"w{i}", (1,), FLOAT, b"\0" * 4) for i in range(4)]))
    with pytest.raises(MalformedFileError, match="over 3 tensors"):
        open_model(path)


def test_onnx_without_its_suffix_is_dispatched_by_content(tmp_path):
    from inspector.core.formats.onnx import looks_like_onnx

    good, arrays = _write(tmp_path)
    for name in ("model.bin", "model", "weights.pt"):
        other = tmp_path / name
        other.write_bytes(good.read_bytes())
        assert looks_like_onnx(other)
        m = open_model(other)
        assert m.format == "onnx"
        np.testing.assert_array_equal(read_tensor(m["fc1.weight"]), arrays["fc1.weight"])


@pytest.mark.parametrize(
    "data",
    [
        b"\x08\x08",  # an IR version and nothing else
        vfield(1, 8) + lfield(7, b"g" * 10)[:6],  # a graph longer than the file
        vfield(1, 999) + lfield(2, "pytorch"),  # no IR version is that large
        vfield(1, 8) + vfield(9, 1),  # field 9 is not a ModelProto field
        vfield(1, 8) + lfield(1, "x"),  # ir_version with the wrong wire type
        b"\x08\x07hello world, a text file",
    ],
)
def test_content_that_only_starts_like_onnx_is_not_taken_for_it(tmp_path, data):
    from inspector.core.errors import InspectorError
    from inspector.core.formats.onnx import looks_like_onnx

    p = tmp_path / "blob.bin"
    p.write_bytes(data)
    assert not looks_like_onnx(p)
    with pytest.raises(InspectorError) as e:
        open_model(p)
    assert "ONNX" not in str(e.value)  # not blamed as a broken ONNX model: it is just not a model we know


def test_another_format_named_onnx_is_read_as_what_it_is(tmp_path, make_model):
    st = make_model({"w": np.ones((4, 4), np.float32)})
    renamed = tmp_path / "really_safetensors.onnx"
    renamed.write_bytes(st.read_bytes())
    assert open_model(renamed).format == "safetensors"


def _attr_string(name: str, value: bytes) -> bytes:
    return lfield(1, name) + lfield(4, value) + vfield(20, 3)  # AttributeProto: name, s, type STRING


def _attr_strings(name: str, values: list[bytes]) -> bytes:
    return lfield(1, name) + b"".join(lfield(9, v) for v in values) + vfield(20, 8)  # strings, type STRINGS


def test_graph_strings_are_carriers_that_are_judged(tmp_path):
    """A string attribute holds any bytes (a custom op's), and node and value names are free text: a payload in
    either is found; a tree ensemble's long list of a few modes, and a torch export's names, are not."""
    from inspector.core.pipeline import scan

    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (64, 64)).astype(np.float32)
    init = [tensor("w", (64, 64), FLOAT, w.tobytes())]
    secret = bytes(rng.integers(0, 17, 19200, dtype=np.uint8) * 15)  # image-like grey levels

    def verdict(nodes, name):
        p = tmp_path / name
        p.write_bytes(model(init, nodes))
        return scan(p)

    r = verdict([node("Identity", ["y"], [_attr_string("payload", secret)], ["w"])], "attr.onnx")
    hit = [f for f in r.findings if "string attribute 'payload'" in f.message]
    assert r.verdict == "suspicious" and hit and hit[0].severity == "suspicious"
    listed = _attr_strings("blob", [secret[i : i + 100] for i in range(0, len(secret), 100)])
    r = verdict([node("Custom", ["y"], [listed], ["w"])], "list.onnx")
    assert r.verdict == "suspicious" and any("distinct items" in f.message for f in r.findings)
    modes = _attr_strings("nodes_modes", [b"BRANCH_LEQ", b"LEAF"] * 20_000)
    r = verdict([node("TreeEnsembleClassifier", ["y"], [modes], ["w"])], "tree.onnx")
    assert r.verdict != "suspicious" and not any("attribute" in f.message for f in r.findings)

    import base64

    b64 = base64.b64encode(secret).decode()
    named = [node("Identity", [f"y{i}"], inputs=["w"]) + lfield(3, b64[i : i + 256]) for i in range(0, len(b64), 256)]
    r = verdict(named, "names.onnx")
    hit = [f for f in r.findings if f.detector == "tensor-names"]
    assert hit and hit[0].severity == "suspicious" and "ONNX graph" in hit[0].message
    torch_like = [
        node("MatMul", [f"/layers.{i}/MatMul_output_0"], inputs=["w", f"/layers.{i - 1}/Relu_output_0"])
        + lfield(3, f"/layers.{i}/MatMul")
        for i in range(200)
    ]
    r = verdict(torch_like, "torch.onnx")
    assert not [f for f in r.findings if f.detector == "tensor-names"]
    assert open_onnx(tmp_path / "torch.onnx").metadata["onnx.names"] == str(3 * 200)  # "w" is a tensor name


def test_graph_strings_edge_cases(tmp_path, monkeypatch):
    """A known opaque blob (a compiled EP context) is named as not judged, not called a payload; a string field
    given twice is judged both times; regions past the count are gathered, not dropped; value names added to
    dilute node names do not hide them."""
    import base64

    from inspector.core.formats import onnx as onnx_reader
    from inspector.core.pipeline import scan

    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.05, (64, 64)).astype(np.float32)
    init = [tensor("w", (64, 64), FLOAT, w.tobytes())]
    secret = bytes(rng.integers(0, 17, 19200, dtype=np.uint8) * 15)

    def write(nodes, name):
        p = tmp_path / name
        p.write_bytes(model(init, nodes))
        return p

    p = write([node("EPContext", ["y"], [_attr_string("ep_cache_context", rng.bytes(20000))], ["w"])], "ep.onnx")
    r = scan(p)
    assert (
        r.verdict != "suspicious"
        and "not judged" in open_onnx(p).metadata["onnx.not_judged.EPContext.ep_cache_context"]
    )
    twice = lfield(1, "blob") + lfield(4, secret) + lfield(4, b"x") + vfield(20, 3)
    assert scan(write([node("Custom", ["y"], [twice], ["w"])], "twice.onnx")).verdict == "suspicious"
    monkeypatch.setattr(onnx_reader, "MAX_METADATA", 3)
    docs = [node("Identity", [f"d{i}"], inputs=["w"]) + lfield(6, "plain text " * 30) for i in range(5)]
    last = node("Custom", ["y"], [_attr_string("blob", secret)], ["w"])
    r = scan(write(docs + [last], "cap.onnx"))
    assert r.verdict == "suspicious" and any("more fields" in f.message for f in r.findings)
    monkeypatch.undo()
    b64 = base64.b64encode(secret[:4800]).decode()  # a graph's templates may take 2 KB (an exported decoder: 1.5)
    named = [node("Identity", [f"v{i}"], inputs=["w"]) for i in range(1000)]
    named += [node("Identity", [f"p{i}"], inputs=["w"]) + lfield(3, b64[i : i + 128]) for i in range(0, len(b64), 128)]
    hit = [f for f in scan(write(named, "diluted.onnx")).findings if f.detector == "tensor-names"]
    assert hit and hit[0].severity == "suspicious"


def _graph_with(extra_graph: bytes = b"", extra_model: bytes = b"", nodes: list[bytes] = (), name: str = "g") -> bytes:
    w = np.random.default_rng(2).normal(0, 0.05, (64, 64)).astype(np.float32)
    graph = (
        b"".join(lfield(1, n) for n in nodes) + lfield(2, name) + lfield(5, tensor("w", (64, 64), FLOAT, w.tobytes()))
    )
    out = vfield(1, 8) + lfield(2, "pytorch") + lfield(3, "2.13") + lfield(8, lfield(1, "") + vfield(2, 17))
    return out + lfield(7, graph + extra_graph) + extra_model


def _carriers(b64: str, secret: bytes) -> dict[str, bytes]:
    dims = b"".join(lfield(1, lfield(2, b64[i : i + 200])) for i in range(0, len(b64), 200))
    typed = lfield(1, lfield(1, "x") + lfield(2, lfield(1, vfield(1, FLOAT) + lfield(2, dims))))
    u8 = tensor("calibration", (len(secret),), 2, secret)  # UINT8
    strings = (
        vfield(1, 400)
        + vfield(2, STRING)
        + lfield(8, "labels")
        + b"".join(lfield(6, b64[i : i + 64]) for i in range(0, 25600, 64))
    )
    custom_t = lfield(1, "weights") + lfield(5, tensor("", (len(secret),), 2, secret)) + vfield(20, 4)
    return {
        "graph name": _graph_with(name=b64),
        "producer_version": vfield(1, 8) + lfield(3, b64) + lfield(7, lfield(2, "g")),
        "attribute name 4k+1": _graph_with(
            nodes=[node("Gelu", ["y"], [lfield(1, "a" + b64) + lfield(4, "none")], ["w"])]
        ),
        "dim_param strings": _graph_with(typed),
        "training_info graph": _graph_with(extra_model=lfield(20, lfield(1, lfield(5, u8) + lfield(2, "init")))),
        "function node attribute": _graph_with(
            extra_model=lfield(25, lfield(1, "f") + lfield(7, node("Custom", ["y"], [_attr_string("blob", secret)])))
        ),
        "string tensor": _graph_with(lfield(5, strings)),
        "tensor attribute of a custom op": _graph_with(nodes=[node("MyOp", ["y"], [custom_t], ["w"])]),
        "tensor doc_string": _graph_with(lfield(5, tensor("doc", (2,), FLOAT, bytes(8)) + lfield(12, b64))),
        "metadata cut into values": _graph_with(
            extra_model=b"".join(
                lfield(14, lfield(1, f"k{i}") + lfield(2, b64[i * 250 : i * 250 + 250])) for i in range(100)
            )
        ),
    }


def test_every_string_of_the_graph_is_judged(tmp_path):
    """Fields the reader used to skip or keep 200 characters of: each holding a 19 KB secret (or its base64) is
    found, and a graph without them is not flagged."""
    import base64

    from inspector.core.pipeline import scan

    secret = bytes(np.random.default_rng(0).integers(0, 17, 19200, dtype=np.uint8) * 15)
    b64 = base64.b64encode(secret).decode()
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(_graph_with(nodes=[node("Relu", ["y"], inputs=["w"])]))
    assert scan(plain).verdict != "suspicious"
    for what, data in _carriers(b64, secret).items():
        p = tmp_path / (what.replace(" ", "_") + ".onnx")
        p.write_bytes(data)
        r = scan(p)
        assert r.verdict == "suspicious", (what, [(f.severity, f.message[:120]) for f in r.findings[:3]])


def test_varint_elements_that_do_not_match_the_shape_or_are_cut_are_refused(tmp_path):
    for name, t in (
        ("short", tensor("v", (4,), INT64, int64_data=[1, 2, 3])),
        ("cut", tensor("v", (1,), INT64) + lfield(7, b"\x80\x80")),
        ("long", tensor("v", (1,), INT64) + lfield(7, b"\xff" * 10 + b"\x01")),
    ):
        p = tmp_path / f"{name}.onnx"
        p.write_bytes(model([t]))
        with pytest.raises(MalformedFileError, match="int64_data"):
            open_model(p)


def test_a_nodes_attributes_are_read_once_its_op_type_is_known(tmp_path):
    """Fields may come in any order: a Constant whose attribute precedes its op_type still names its tensor by its
    output; another op's ``value`` tensor (ConstantOfShape's) is read under the op's output name."""
    v = np.arange(4, dtype="<f4")
    attr = lfield(5, lfield(1, "value") + lfield(5, tensor("", (4,), FLOAT, v.tobytes())))
    late = attr + lfield(2, "/c") + lfield(4, "Constant")  # the attribute first, then output and op_type
    shaped = node("ConstantOfShape", ["/s"], [lfield(1, "value") + lfield(5, tensor("", (1,), FLOAT, v[:1].tobytes()))])
    graph = lfield(1, late) + lfield(1, shaped) + lfield(2, "g")
    data = vfield(1, 8) + lfield(8, lfield(1, "") + vfield(2, 17)) + lfield(7, graph)
    p = tmp_path / "m.onnx"
    p.write_bytes(data)
    mf = open_model(p)
    assert set(mf.names) == {"/c", "/s.value"}
    assert read_tensor(mf["/c"]).tobytes() == v.tobytes()


def test_a_custom_ops_number_lists_are_read_as_tensors(tmp_path):
    """A custom op's (a domain no ONNX runtime defines) list of 19,200 integers is read as the tensor ONNX would
    make of it, under the node's output and the attribute's name, and judged; a standard op's long lists (a tree
    ensemble's nodes) stay its arguments, counted in the metadata; a custom op's short list (a permutation) is
    left alone."""
    secret = np.random.default_rng(0).integers(0, 256, 19200)
    ints = lfield(1, "table") + lfield(8, b"".join(varint(int(v)) for v in secret)) + vfield(20, 7)
    custom = node("Remap", ["/h"], [ints, lfield(1, "perm") + lfield(8, bytes([0, 1, 2, 3])) + vfield(20, 7)])
    custom += lfield(7, "com.example")
    trees = node("TreeEnsembleClassifier", ["/t"], [ints]) + lfield(7, "ai.onnx.ml")
    w = np.ones((4, 4), "<f4")
    p = tmp_path / "m.onnx"
    p.write_bytes(model([tensor("w", (4, 4), FLOAT, w.tobytes())], [custom, trees]))
    mf = open_model(p)
    assert set(mf.names) == {"w", "/h.table"}
    assert read_tensor(mf["/h.table"]).tolist() == secret.tolist()
    assert mf.metadata["onnx.not_judged.number_lists"].startswith("1 ")


def test_a_custom_ops_list_written_in_pieces_is_joined(tmp_path):
    """A protobuf parser joins repeated packed runs of one list, and reads lists written a tag an element: the same
    19,200 integers so written are the same tensor; floats beside them are a tensor of their own."""
    secret = np.random.default_rng(1).integers(0, 256, 19200)
    packed = b"".join(varint(int(v)) for v in secret)
    cut = next(i for i in range(len(packed) // 2, len(packed)) if packed[i] < 0x80) + 1  # after a whole varint
    two_runs = lfield(1, "table") + lfield(8, packed[:cut]) + lfield(8, packed[cut:]) + vfield(20, 7)
    one_by_one = lfield(1, "table") + b"".join(vfield(8, int(v)) for v in secret) + vfield(20, 7)
    floats = np.linspace(0, 1, 300, dtype="<f4")
    mixed = one_by_one + lfield(7, floats.tobytes())
    w = np.ones((4, 4), "<f4")
    for attr, names in ((two_runs, {"/h.table"}), (one_by_one, {"/h.table"}), (mixed, {"/h.table", "/h.table.floats"})):
        custom = node("Remap", ["/h"], [attr]) + lfield(7, "com.example")
        p = tmp_path / "m.onnx"
        p.write_bytes(model([tensor("w", (4, 4), FLOAT, w.tobytes())], [custom]))
        mf = open_model(p)
        assert set(mf.names) == {"w"} | names
        assert read_tensor(mf["/h.table"]).tolist() == secret.tolist()
        if "/h.table.floats" in names:
            assert read_tensor(mf["/h.table.floats"]).tobytes() == floats.tobytes()
