"""A bounded reader of the weights of ONNX models: the graph's initializers and its Constant nodes' tensors.

An ONNX file is one protobuf ``ModelProto``. We decode only the fields that lead to tensors — ``ModelProto.graph``
(field 7), ``GraphProto.initializer`` (5) and ``node`` (1), a Constant node's ``value`` attribute — and a few
descriptive fields (IR version, producer, opsets, metadata_props). Every length is checked against the message
that holds it, nothing is executed, and no protobuf library is needed.

A ``TensorProto`` keeps its elements in ``raw_data`` (little-endian bytes, what exporters write), in a packed
``float_data``/``double_data`` run (also plain little-endian bytes), or in a file beside the model
(``data_location = EXTERNAL``, with ``location``/``offset``/``length`` entries). All three are byte ranges of a
file, so each becomes an ordinary :class:`~.base.TensorRef`. External files must lie inside the model's folder.
Tensors held as varints (``int32_data``, ``int64_data``) or strings cannot be referenced in place; they are named
in the metadata as not read, as are sparse initializers. Control-flow subgraphs (If, Loop, Scan bodies) are
read like the main graph.
"""

from __future__ import annotations

import dataclasses
import math
import mmap
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from inspector.core.dtypes import DTYPES
from inspector.core.errors import MalformedFileError, UnsupportedFormatError
from inspector.core.formats.base import HIDDEN_SAMPLE, MAX_NDIM, Hidden, ModelFile, TensorRef, shape_problem
from inspector.core.formats.names import compressed_size, examples, template_size

_FIX = "The file is damaged or is not an ONNX model; export it again (torch.onnx.export, onnx.save)"
MAX_NAME_BYTES = 1 << 16
MAX_METADATA = 1000
#: Deepest nesting of control-flow subgraphs we follow (real models nest a few levels).
MAX_GRAPH_DEPTH = 16
#: Most nodes and tensors we walk (each costs Python-level decoding); real graphs have at most ~10**5 nodes.
MAX_NODES = 1 << 22
MAX_TENSORS = 1 << 20

#: ONNX TensorProto.DataType to our element types (those stored as plain little-endian elements).
_DTYPES = {
    1: "F32",
    2: "U8",
    3: "I8",
    4: "U16",
    5: "I16",
    6: "I32",
    7: "I64",
    9: "BOOL",
    10: "F16",
    11: "F64",
    12: "U32",
    13: "U64",
    16: "BF16",
    17: "F8_E4M3",
    19: "F8_E5M2",
}


class _Proto:
    """Protobuf wire-format decoding over a read-only buffer, every read bounded by its message's end."""

    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf, self.path = buf, path

    def fail(self, what: str, at: int) -> MalformedFileError:
        return MalformedFileError(f"not a valid ONNX model ({what} at byte {at:,})", path=self.path, hint=_FIX)

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        value, shift, start = 0, 0, pos
        while True:
            if pos >= end:
                raise self.fail("varint runs past the end of its message", start)
            b = self.buf[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value, pos
            shift += 7
            if shift >= 70:
                raise self.fail("varint longer than 10 bytes", start)

    def fields(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """``(field number, wire type, value, offset)``; for wire type 2 ``value`` is the length at ``offset``."""
        pos = start
        while pos < end:
            tag, pos = self.varint(pos, end)
            field, wire = tag >> 3, tag & 7
            if field == 0:
                raise self.fail("field number 0", pos)
            if wire == 0:
                value, pos = self.varint(pos, end)
                yield field, wire, value, pos
            elif wire == 2:
                length, pos = self.varint(pos, end)
                if pos + length > end:
                    raise self.fail(f"field {field} of {length:,} bytes runs past the end of its message", pos)
                yield field, wire, length, pos
                pos += length
            elif wire in (1, 5):
                width = 8 if wire == 1 else 4
                if pos + width > end:
                    raise self.fail(f"field {field} runs past the end of its message", pos)
                yield field, wire, int.from_bytes(self.buf[pos : pos + width], "little"), pos
                pos += width
            else:
                raise self.fail(f"unsupported wire type {wire} (groups)", pos)

    def text(self, offset: int, length: int, limit: int = MAX_NAME_BYTES) -> str:
        data = bytes(self.buf[offset : offset + min(length, limit)])
        return data.decode("utf-8", "replace") + ("..." if length > limit else "")

    def packed_varints(self, offset: int, length: int) -> list[int]:
        out, pos, end = [], offset, offset + length
        while pos < end:
            v, pos = self.varint(pos, end)
            out.append(v)
        return out


class _Tensor:
    """The fields of one TensorProto that locate its data."""

    def __init__(self) -> None:
        self.dims: list[int] = []
        self.data_type = 0
        self.name = ""
        self.raw: Optional[tuple[int, int]] = None  # (offset, length) in the model file
        self.packed: Optional[tuple[int, int, int]] = None  # (offset, length, field) of float_data/double_data
        self.varints: Optional[tuple[int, int, int]] = None  # (offset, length, field) of packed int32/int64/uint64_data
        self.unreadable = ""
        self.external: dict[str, str] = {}
        self.location = 0
        self.span = (0, 0)  # the TensorProto message in the model file
        self.texts: list[tuple[str, int, int]] = []  # doc_string and external_data values: (what, offset, length)
        self.strings: list[tuple[int, int]] = []  # string_data items (a STRING tensor's elements)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _tensor(pb: _Proto, start: int, end: int) -> _Tensor:
    t = _Tensor()
    t.span = (start, end)
    for field, wire, value, off in pb.fields(start, end):
        if field == 1:  # dims: repeated int64, packed or not
            if wire == 2:
                t.dims.extend(_signed(v) for v in pb.packed_varints(off, value))
            elif wire == 0:
                t.dims.append(_signed(value))
            if len(t.dims) > MAX_NDIM:
                raise pb.fail(f"tensor has over {MAX_NDIM} dimensions", off)
        elif field == 2 and wire == 0:
            t.data_type = value
        elif field == 8 and wire == 2:
            t.name = pb.text(off, value)
        elif field == 9 and wire == 2:
            t.raw = (off, value)
        elif field in (4, 10) and wire == 2:  # float_data / double_data, packed: plain little-endian elements
            t.packed = (off, value, field)
        elif field in (4, 10):
            t.unreadable = "unpacked float_data"
        elif field == 6 and wire == 2 and len(t.strings) < MAX_STRING_ITEMS:
            t.strings.append((off, value))
            t.unreadable = "string_data"
        elif field in (5, 7, 11) and wire == 2 and value and t.varints is None:  # packed varints: decoded
            t.varints = (off, value, field)
        elif field in (5, 6, 7, 11) and (wire == 2 and value or wire != 2):
            t.unreadable = {5: "int32_data", 6: "string_data", 7: "int64_data", 11: "uint64_data"}[field]
        elif field == 3:
            t.unreadable = "segmented tensor"
        elif field == 13 and wire == 2:
            key = val = ""
            for f2, w2, v2, o2 in pb.fields(off, off + value):
                if f2 == 1 and w2 == 2:
                    key = pb.text(o2, v2)
                elif f2 == 2 and w2 == 2:
                    val = pb.text(o2, v2)
                    t.texts.append((f"external_data value {key[:40]!r}", o2, v2))
            t.external[key] = val
        elif field == 12 and wire == 2:
            t.texts.append(("doc_string", off, value))
        elif field == 14 and wire == 0:
            t.location = value
    return t


class _Reader:
    def __init__(self, path: Path, pb: _Proto, size: int) -> None:
        self.path, self.pb, self.size = path, pb, size
        self.folder = path.parent.resolve()
        self.refs: list[TensorRef] = []
        self.skipped: dict[str, str] = {}
        self.names: set[str] = set()
        self.external_files: dict[Path, list[tuple[int, int]]] = {}
        self.constants = 0
        self.subgraphs = 0
        self.nodes = 0
        #: fields no loader needs (doc strings, unknown fields): where they lie, to be read and judged
        self.hidden: list[Hidden] = []
        #: the graph's node names and the names of its values (node inputs and outputs, graph inputs, outputs
        #: and value_info), each once, in file order: free text a payload could be spread over
        self.graph_names: dict[str, None] = {}
        self.graph_name_chars = 0
        #: fields past the count of hidden regions, gathered (see :meth:`extra`)
        self.overflow = bytearray()
        self.overflow_fields = self.overflow_bytes = 0
        #: attributes that hold a known opaque blob (a compiled EP context, a tokenizer's model): not judged
        self.opaque: dict[str, str] = {}
        #: number-list attributes (ints, floats) of 256 bytes or more: not judged
        self.number_lists = 0
        #: bytes of varint tensors decoded and held (see :meth:`add_varints`)
        self.inline_bytes = 0

    def name(self, off: int, length: int) -> None:
        if len(self.graph_names) < MAX_GRAPH_NAMES and self.graph_name_chars < MAX_GRAPH_NAME_CHARS:
            text = self.pb.text(off, length)
            if text not in self.graph_names:
                self.graph_names[text] = None
                self.graph_name_chars += len(text)

    def extra(self, what: str, off: int, length: int) -> None:
        """Record a field's bytes as hidden (doc strings of a few bytes are left alone). Past
        :data:`MAX_METADATA` regions, the rest are gathered into one region read from memory, so that a file
        cannot use up the count with plain fields and hide its payload after them."""
        if length < DOC_BYTES:
            return
        self.region(Hidden("field", what, length, self.path, off), lambda n: bytes(self.pb.buf[off : off + n]))

    def region(self, h: Hidden, head: Callable[[int], bytes]) -> None:
        """Keep a hidden region, or past :data:`MAX_METADATA` of them add its first bytes (``head(n)``) to the
        gathered one."""
        if len(self.hidden) < MAX_METADATA:
            self.hidden.append(h)
            return
        self.overflow_fields += 1
        self.overflow_bytes += h.nbytes
        room = HIDDEN_SAMPLE - len(self.overflow)
        if room > 0:
            self.overflow += head(min(h.nbytes, room))

    def add_varints(self, name: str, dt_name: str, shape: tuple[int, ...], off: int, length: int, field: int) -> None:
        """A tensor whose elements are packed varints (``int32_data``, ``int64_data``, ``uint64_data``, or a
        Constant's ``value_ints``): decoded now and held with its reference, as a loader builds it (an exporter's
        shapes and zero points; a payload written as integers is judged like any integer tensor). Types stored
        as bits in ``int32_data`` (float16, bfloat16) and tensors past :data:`MAX_INLINE_BYTES` in all are named
        as not read."""
        where = {5: "int32_data", 7: "int64_data", 11: "uint64_data", 8: "value_ints"}[field]
        dt = DTYPES[dt_name]
        if not ((field == 8 and dt_name == "I64") or (field != 8 and field == _VARINT_FIELD.get(dt_name))):
            self.skipped[name] = f"elements stored as {where} for type {dt_name}, not read"
            return
        numel = math.prod(shape)
        if self.inline_bytes + max(length, numel * dt.itemsize) > MAX_INLINE_BYTES:
            self.skipped[name] = f"elements stored as {where}, past {MAX_INLINE_BYTES >> 20} MB of such, not read"
            return
        values = decode_varints(memoryview(self.pb.buf)[off : off + length])
        if values is None or values.size != numel:
            got = "malformed varints" if values is None else f"{values.size:,} elements"
            raise MalformedFileError(
                f"tensor {name!r}: {where} holds {got}, shape {shape} needs {numel:,}", path=self.path, hint=_FIX
            )
        # int32_data holds int32/int16/int8/uint16/uint8/bool values, sign-extended to 64 bits; int64_data int64;
        # uint64_data uint32/uint64: each cast back to its type as a loader does
        data = (values.view(np.int64) if dt_name != "U64" else values).astype(dt.storage).tobytes()
        self.inline_bytes += len(data)
        self.refs.append(TensorRef(name, dt, shape, self.path, off, length, inline=data))

    def add_pieces(self, name: str, at: _Attribute) -> None:
        """A custom op's number list written in pieces (packed runs, or a tag an element): its ints and its floats
        each joined, as a protobuf parser joins them, into an inline tensor (ints as int64, floats as float32)."""
        buf = memoryview(self.pb.buf)
        has_ints = any(f == 8 for f, _, _ in at.numbers) or any(f == 8 for f, _ in at.loose_values)
        for field, dt_name in ((8, "I64"), (7, "F32")):
            runs = [buf[o : o + n] for f, o, n in at.numbers if f == field]
            loose = [v for f, v in at.loose_values if f == field]
            size = sum(len(r) for r in runs) + 8 * len(loose)
            if not size:
                continue
            if self.inline_bytes + 2 * size > MAX_INLINE_BYTES:
                self.skipped[name] = f"a custom op's list past {MAX_INLINE_BYTES >> 20} MB of such, not read"
                continue
            if field == 8:
                parts = [decode_varints(r) for r in runs]
                if any(v is None for v in parts):
                    raise MalformedFileError(f"attribute {name!r}: malformed varints", path=self.path, hint=_FIX)
                ints = [v.view(np.int64) for v in parts if v is not None] + [
                    np.array(loose, dtype=np.uint64).view(np.int64)
                ]
                data = np.concatenate(ints).astype("<i8").tobytes()
            else:
                if any(len(r) % 4 for r in runs):
                    raise MalformedFileError(f"attribute {name!r}: floats cut mid-value", path=self.path, hint=_FIX)
                data = b"".join(bytes(r) for r in runs) + np.array(loose, dtype="<u4").tobytes()
            dt = DTYPES[dt_name]
            self.inline_bytes += len(data)
            shape = (len(data) // dt.itemsize,)
            label = self.unique(name if field == 8 or not has_ints else f"{name}.floats")
            self.constants += 1
            self.refs.append(TensorRef(label, dt, shape, self.path, at.span[0], at.span[1], inline=data))

    def add_list(self, name: str, field: int, off: int, length: int) -> None:
        """A Constant's ``value_floats`` (packed little-endian float32: read in place) or ``value_ints`` (packed
        varints: decoded), as the 1-D tensor ONNX Runtime builds of it."""
        t = _Tensor()
        if field == 7:
            if length % 4:
                raise MalformedFileError(f"constant {name!r}: value_floats of {length:,} bytes", path=self.path)
            t.data_type, t.dims, t.packed = 1, [length // 4], (off, length, 4)
        elif self.inline_bytes + length > MAX_INLINE_BYTES:  # not counted: the decoder would not take it either
            self.skipped[name] = f"elements stored as value_ints, past {MAX_INLINE_BYTES >> 20} MB of such, not read"
            return
        else:
            count = int(np.count_nonzero(np.frombuffer(memoryview(self.pb.buf)[off : off + length], np.uint8) < 0x80))
            t.data_type, t.dims, t.varints = 7, [count], (off, length, 8)
        self.add(t, name)

    def unique(self, name: str) -> str:
        """``name``, or ``name#2``, ``name#3``... where it is taken (a file may repeat names); counted."""
        if len(self.names) >= MAX_TENSORS:
            raise MalformedFileError(f"model lists over {MAX_TENSORS:,} tensors, beyond any model", path=self.path)
        base, n = name, 1
        while name in self.names:
            n += 1
            name = f"{base}#{n}"
        self.names.add(name)
        return name

    def add(self, t: _Tensor, name: str) -> None:
        if any(d < 0 for d in t.dims):
            raise self.pb.fail(f"tensor {name!r} has a negative dimension {t.dims}", 0)
        shape = tuple(t.dims)
        bad = shape_problem(shape)
        if bad:
            raise MalformedFileError(f"tensor {name!r}: {bad}", path=self.path, hint=_FIX)
        name = self.unique(name)
        for what, off, length in t.texts:
            self.extra(f"the {what} of tensor {name[:100]!r}", off, length)
        dt_name = _DTYPES.get(t.data_type)
        if dt_name is None:
            self.skipped[name] = f"ONNX data type {t.data_type} is not read"
            # strings (or another type): judged as bytes, as a loader builds a tensor of them all the same; a
            # STRING tensor by its distinct elements, one a line (a label list repeats; a payload does not)
            if t.strings:
                self.string_items(f"the strings of tensor {name[:100]!r}", t.strings)
            else:
                self.extra(f"tensor {name[:100]!r} of ONNX data type {t.data_type}", t.span[0], t.span[1] - t.span[0])
            return
        dt = DTYPES[dt_name]
        nbytes = math.prod(shape) * dt.itemsize
        if t.location == 1 or t.external:
            self._external(t, name, shape, dt_name, nbytes)
            return
        if t.unreadable:
            # unpacked varints (a tag before every element), a second run of them, or strings: not read
            self.skipped[name] = f"elements stored as {t.unreadable}, not read"
            return
        if t.varints is not None:
            self.add_varints(name, dt_name, shape, *t.varints)
            return
        if t.raw is not None:
            off, length = t.raw
        elif t.packed is not None:
            off, length, field = t.packed
            if (field == 4) != (dt_name == "F32") or (field == 10) != (dt_name == "F64"):
                self.skipped[name] = f"float_data/double_data of type {dt_name}, not read"
                return
        elif nbytes == 0:
            off, length = 0, 0
        else:
            raise MalformedFileError(f"tensor {name!r} has no data", path=self.path, hint=_FIX)
        if length != nbytes:
            raise MalformedFileError(
                f"tensor {name!r}: {length:,} bytes stored but shape {shape} of {dt_name} needs {nbytes:,}",
                path=self.path,
                hint=_FIX,
            )
        self.refs.append(TensorRef(name, dt, shape, self.path, off, nbytes))

    def _external(self, t: _Tensor, name: str, shape: tuple[int, ...], dt_name: str, nbytes: int) -> None:
        where = f"tensor {name!r}"
        location = t.external.get("location", "")
        if not location or "\x00" in location or Path(location).is_absolute():
            raise MalformedFileError(
                f"{where}: external data location {location!r} is not a file name", path=self.path, hint=_FIX
            )
        target = (self.folder / location).resolve()
        if not target.is_relative_to(self.folder):
            raise MalformedFileError(
                f"{where}: external data {location!r} lies outside the model's folder",
                path=self.path,
                hint="Keep the external data files beside the .onnx file",
            )
        if not target.is_file():
            raise MalformedFileError(
                f"{where}: external data file {location!r} is missing",
                path=self.path,
                hint="Copy the data files that came with the model beside it",
            )
        try:
            offset = int(t.external.get("offset", "0") or 0)
            length = int(t.external.get("length", str(nbytes)) or nbytes)
        except ValueError:
            raise MalformedFileError(f"{where}: external offset or length is not a number", path=self.path) from None
        size = target.stat().st_size
        if offset < 0 or length != nbytes or offset + nbytes > size:
            raise MalformedFileError(
                f"{where}: external data [{offset:,}, +{length:,}) does not hold shape {shape} of {dt_name} "
                f"({nbytes:,} bytes) within {location!r} ({size:,} bytes)",
                path=self.path,
                hint=_FIX,
            )
        self.external_files.setdefault(target, []).append((offset, offset + nbytes))
        self.refs.append(TensorRef(name, DTYPES[dt_name], shape, target, offset, nbytes))

    def graph(self, start: int, end: int, meta: dict[str, str], depth: int = 0) -> None:
        """A GraphProto's initializers and nodes; control-flow subgraphs (If, Loop, Scan) are read as well."""
        if depth > MAX_GRAPH_DEPTH:
            raise self.pb.fail(f"subgraphs nest deeper than {MAX_GRAPH_DEPTH} levels", start)
        pb = self.pb
        nodes = 0
        for field, wire, value, off in pb.fields(start, end):
            if wire != 2:
                continue
            if field == 5:  # initializer
                t = _tensor(pb, off, off + value)
                self.add(t, t.name or f"initializer.{len(self.refs) + len(self.skipped)}")
            elif field == 1:
                nodes += 1
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    raise pb.fail(f"graph has over {MAX_NODES:,} nodes, beyond any model", off)
                self.node(off, off + value, meta, depth)
            elif field == 15:
                self.skipped[f"sparse_initializer.{len(self.skipped)}"] = "sparse initializer, not read"
                self.extra("a sparse initializer (not read as values)", off, value)
            elif field == 2:
                if depth == 0:
                    meta["onnx.graph_name"] = pb.text(off, value, 200)
                self.extra("the graph's name", off, value)  # the metadata keeps 200 characters
            elif field == 10:
                self.extra("the graph's doc_string", off, value)
            elif field in (11, 12, 13):  # input, output, value_info: ValueInfoProto, its name first
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 == 1 and w2 == 2:
                        self.name(o2, v2)
                    elif f2 == 2 and w2 == 2:  # its type: symbolic dimension names are names too
                        self.type_names(o2, o2 + v2, 0)
                    elif w2 == 2:  # doc_string, metadata_props
                        self.extra("a field of a graph input, output or value_info", o2, v2)
            elif field in (14, 16):
                self.extra(f"the graph's {'quantization_annotation' if field == 14 else 'metadata_props'}", off, value)
            elif field not in _GRAPH_FIELDS:
                self.extra(f"unknown field {field} of a graph", off, value)
        meta["onnx.nodes"] = str(int(meta.get("onnx.nodes", "0")) + nodes)

    def string_items(self, what: str, spans: list[tuple[int, int]]) -> None:
        """Judge a list of strings by its distinct items, one a line (a tree's node modes are two words)."""
        items: dict[bytes, None] = {}
        size = 0
        for off, length in spans:
            if size >= HIDDEN_SAMPLE:
                break
            item = bytes(self.pb.buf[off : off + min(length, HIDDEN_SAMPLE)])
            if item not in items:
                items[item] = None
                size += len(item) + 1
        if size >= DOC_BYTES:
            data = b"\n".join(items)[:HIDDEN_SAMPLE]
            self.region(
                Hidden("field", what + ", its distinct items", len(data), self.path, data=data), lambda n: data[:n]
            )

    def type_names(self, start: int, end: int, depth: int) -> None:
        """The strings of a TypeProto (``dim_param``, ``denotation``, an opaque type's names, in any nesting of
        sequence, map and optional types): names, judged with the graph's other names; anything longer as hidden
        bytes."""
        if depth > MAX_GRAPH_DEPTH:
            raise self.pb.fail("types nest too deep", start)
        pb = self.pb
        for field, wire, value, off in pb.fields(start, end):
            if wire != 2:
                continue
            if field in (1, 8):  # tensor_type, sparse_tensor_type: their shape's dimensions
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 == 2 and w2 == 2:
                        for f3, w3, v3, o3 in pb.fields(o2, o2 + v2):
                            if f3 == 1 and w3 == 2:  # a Dimension: dim_param, denotation
                                for f4, w4, v4, o4 in pb.fields(o3, o3 + v3):
                                    if f4 in (2, 3) and w4 == 2:
                                        self.type_string(o4, v4)
            elif field in (4, 9):  # sequence_type, optional_type: elem_type
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 == 1 and w2 == 2:
                        self.type_names(o2, o2 + v2, depth + 1)
            elif field == 5:  # map_type: value_type
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 == 2 and w2 == 2:
                        self.type_names(o2, o2 + v2, depth + 1)
            elif field == 6:  # denotation
                self.type_string(off, value)
            elif field == 7:  # opaque_type: domain, name
                for _, w2, v2, o2 in pb.fields(off, off + value):
                    if w2 == 2:
                        self.type_string(o2, v2)

    def type_string(self, off: int, length: int) -> None:
        self.name(off, length)  # many short strings are judged together, as names; a long one as bytes too
        self.extra("a string in a value's type", off, length)

    def node(self, start: int, end: int, meta: dict[str, str], depth: int) -> None:
        """A NodeProto: its names and strings judged, its attributes read (see :meth:`attribute`), then what they
        hold: a Constant's value as the tensor it is, any other op's tensors too, string attributes as hidden
        bytes, number lists counted, subgraphs read like the main graph."""
        pb = self.pb
        op_type, outputs, domain = "", [], ""
        attributes: list[_Attribute] = []
        for field, wire, value, off in pb.fields(start, end):
            if wire != 2:
                continue
            if field == 7:
                domain = pb.text(off, value, 200)
            if field == 4:
                op_type = pb.text(off, value, 200)
                self.extra("a node's op_type", off, value)
            elif field == 2:
                outputs.append(pb.text(off, value))
                self.name(off, value)
            elif field in (1, 3):  # an input's name, the node's own name
                self.name(off, value)
            elif field in (7, 8):  # domain, overload: short names
                self.extra(f"the {'domain' if field == 7 else 'overload'} of a node", off, value)
            elif field == 9:
                self.extra("a node's metadata_props entry", off, value)
            elif field == 6:
                self.extra("a node's doc_string", off, value)
            elif field == 5:
                attributes.append(self.attribute(off, value))
        output = outputs[0] if outputs and outputs[0] else ""
        constant = op_type == "Constant"
        for at in attributes:  # once the node's op type is known, wherever its field lies
            if constant and at.name in ("value_ints", "value_floats") and len(at.numbers) == 1:
                f2, o2, v2 = at.numbers[0]
                if f2 == (8 if at.name == "value_ints" else 7):  # the values of a Constant: a tensor ORT builds
                    self.constants += 1
                    self.add_list(output or f"constant.{self.constants}", f2, o2, v2)
                    continue
            if domain not in STANDARD_DOMAINS and sum(n for _, _, n in at.numbers) + 2 * at.loose >= DOC_BYTES:
                # a custom op's table: no runtime but the op's own knows what it is, so it is judged as the tensor
                # ONNX would make of it (as a Constant's list), named after the node's output and attribute; written
                # in pieces (packed runs, or a tag an element), joined as a protobuf parser joins them
                self.add_pieces(f"{output or op_type or 'node'}.{at.name or 'attribute'}", at)
                continue
            if any(n >= DOC_BYTES for _, _, n in at.numbers):  # an op's lists of numbers (a tree ensemble's
                self.number_lists += 1  # nodes): not judged, counted in the metadata
            for a, b in at.tensors:
                t = _tensor(pb, a, b)
                self.constants += 1
                if constant and at.name == "value":
                    self.add(t, output or t.name or f"constant.{self.constants}")
                else:  # a tensor any other op is given (a custom op's weights): read too
                    self.add(t, f"{output or op_type}.{at.name}" if at.name else t.name or "attribute")
            # a string attribute holds any bytes a runtime passes on unread (a custom op's): judged as hidden
            where = f"string attribute {at.name[:60]!r} of a node ({op_type or 'no op type'})"
            known = _OPAQUE_ATTRIBUTES.get((op_type, at.name))
            if known is not None and at.texts and len(self.opaque) < MAX_METADATA:
                size = sum(n for _, n in at.texts)
                self.opaque[f"onnx.not_judged.{op_type}.{at.name}"] = f"{size:,} bytes: {known}, not judged"
            else:
                for text in at.texts:
                    self.extra(where, *text)
            if at.items:
                self.string_items(where, at.items)
        for at in attributes:
            for a, b in at.graphs:
                self.subgraphs += 1
                self.graph(a, b, meta, depth + 1)

    def attribute(self, off: int, length: int) -> _Attribute:
        """An AttributeProto's fields: its name (judged as a short string), where its tensors, graphs, strings and
        packed number lists lie; its doc string and sparse tensors judged as hidden bytes here."""
        pb = self.pb
        at = _Attribute(span=(off, length))
        for f2, w2, v2, o2 in pb.fields(off, off + length):
            if (f2, w2) in ((8, 0), (7, 5)):  # one int or float of a list written unpacked (a tag an element)
                at.loose += 1
                if len(at.loose_values) < MAX_LOOSE:
                    at.loose_values.append((f2, v2))
                continue
            if w2 != 2:
                continue
            if f2 == 1:
                at.name = pb.text(o2, v2)
                self.extra("an attribute's name", o2, v2)
            elif f2 in (5, 10):  # t, tensors: constant tensors the op is given
                at.tensors.append((o2, o2 + v2))
            elif f2 in (7, 8):  # floats, ints (packed)
                at.numbers.append((f2, o2, v2))
            elif f2 in (13, 22, 23):  # doc_string, sparse_tensor(s)
                self.extra(f"field {f2} of attribute {at.name[:60]!r} of a node", o2, v2)
            elif f2 in (6, 11):  # g, graphs: the bodies of If / Loop / Scan
                at.graphs.append((o2, o2 + v2))
            elif f2 == 4:  # s: one string, any bytes (every occurrence: the last one wins)
                at.texts.append((o2, v2))
            elif f2 == 9 and len(at.items) < MAX_STRING_ITEMS:  # strings: a list of them (a tree's "LEAF" ×10^6)
                at.items.append((o2, v2))
        return at


@dataclasses.dataclass
class _Attribute:
    """Where one AttributeProto's values lie in the file (offset ranges, or offset and length)."""

    name: str = ""
    tensors: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    graphs: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    numbers: list[tuple[int, int, int]] = dataclasses.field(
        default_factory=list
    )  # (field 7 floats / 8 ints, offset, length)
    texts: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    items: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    span: tuple[int, int] = (0, 0)  # the attribute's own bytes (offset, length)
    loose: int = 0  # numbers written unpacked, a tag each
    loose_values: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (field, value), the first ones


#: The varint field of TensorProto each integer type is stored in (int32_data, int64_data, uint64_data).
_VARINT_FIELD = {"I32": 5, "I16": 5, "I8": 5, "U16": 5, "U8": 5, "BOOL": 5, "I64": 7, "U32": 11, "U64": 11}
#: Varint tensors decoded and held in memory, in all, counted at their encoded or decoded size whichever is larger
#: (a real model's are shapes and zero points: bytes to kilobytes).
MAX_INLINE_BYTES = 16 << 20


#: Operator domains of ONNX and of its runtimes' own operators: their number-list attributes (a tree ensemble's
#: nodes, an op's shape arguments) are the operator's arguments; any other domain's op is a custom op, whose lists
#: are read as tensors and judged.
STANDARD_DOMAINS = frozenset(
    {
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.training",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.microsoft.experimental",
        "com.ms.internal.nhwc",
        "org.pytorch.aten",
    }
)


#: Numbers of one attribute written unpacked (a tag an element) that are kept, at most.
MAX_LOOSE = 1 << 20


def decode_varints(buf: bytes | memoryview, block: int = 1 << 20) -> Optional[np.ndarray]:
    """The unsigned 64-bit values of a run of packed protobuf varints, or ``None`` when it is malformed (cut
    inside a value, or a value longer than 10 bytes). Decoded ``block`` bytes at a time (each at a value's end),
    so that the work arrays stay a few tens of MB whatever the run's length."""
    b = np.frombuffer(buf, dtype=np.uint8)
    out: list[np.ndarray] = []
    a = 0
    while a < b.size:
        seg = b[a : a + block]
        ends = np.flatnonzero(seg < 0x80)
        if ends.size == 0:
            return None  # no value ends in a whole block (or at all): longer than 10 bytes, or cut
        seg = seg[: ends[-1] + 1]
        starts = np.concatenate([[0], ends[:-1] + 1])
        if int((ends - starts).max()) >= 10:
            return None
        pos = np.arange(seg.size) - np.repeat(starts, ends - starts + 1)  # each byte's place within its value
        parts = (seg & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
        out.append(np.bitwise_or.reduceat(parts, starts))
        a += seg.size
    return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)


#: GraphProto's fields (onnx.proto): node, name, initializer, doc_string, input, output, value_info,
#: quantization_annotation, sparse_initializer, metadata_props.
_GRAPH_FIELDS = {1, 2, 5, 10, 11, 12, 13, 14, 15, 16}
#: Doc strings, string attributes and unknown fields from this many bytes are judged as hidden bytes (shorter
#: ones are names).
DOC_BYTES = 256
#: Elements of a STRING tensor kept for judging (distinct ones, at most HIDDEN_SAMPLE bytes of them).
MAX_STRING_ITEMS = 1 << 20
#: Node and value names kept for the names check (real graphs have at most ~10**5 nodes, a few names each),
#: and the characters they may take in all.
MAX_GRAPH_NAMES = 1 << 19
MAX_GRAPH_NAME_CHARS = 16 << 20
#: String attributes that hold a blob of a known kind, which a runtime or extension reads (op type, attribute):
#: listed in the metadata as not judged, not read as hidden bytes (their content is binary by design).
_OPAQUE_ATTRIBUTES = {
    ("EPContext", "ep_cache_context"): "an execution provider's compiled context (QNN, OpenVINO, TensorRT)",
    ("SentencepieceTokenizer", "model"): "a serialized SentencePiece model (onnxruntime-extensions)",
    ("SentencepieceDecoder", "model"): "a serialized SentencePiece model (onnxruntime-extensions)",
    ("BlingFireSentenceBreaker", "model"): "a BlingFire model (onnxruntime-extensions)",
}

#: ModelProto's top-level fields and their wire types (0 varint, 2 length-delimited), as onnx.proto defines them.
_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
#: Bytes :func:`looks_like_onnx` reads at most.
SNIFF_BYTES = 4096


def looks_like_onnx(path: Path) -> bool:
    """Whether a file without the ``.onnx`` suffix is an ONNX model, from its first :data:`SNIFF_BYTES` bytes.

    A protobuf has no magic number, but a ModelProto written by any exporter starts with ``ir_version`` (field 1,
    a small varint: serializers write fields in number order), and every top-level field that follows must be
    one of ModelProto's, with its wire type, and a length that fits in the file. The walk stops at the graph
    (field 7) or at the end of what was read; it needs the IR version and at least one more field."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return False
    if len(head) < 4 or head[0] != 0x08:
        return False
    pb = _Proto(head, path)
    seen = 0
    try:
        for field, wire, value, off in pb.fields(0, len(head)):
            if _MODEL_FIELDS.get(field) != wire:
                return False
            if seen == 0 and not (field == 1 and 1 <= value <= 64):
                return False
            seen += 1
            if wire == 2 and off + value > size:
                return False
            if field == 7 and seen >= 2:
                return True
    except MalformedFileError as e:
        # a length-delimited field longer than the bytes read (the graph, usually) ends the walk; check it fits
        # the file, which the error's offset cannot tell: re-walk up to it
        return seen >= 2 and "runs past the end" in str(e) and _fits(head, size)
    return seen >= 2


def _fits(head: bytes, size: int) -> bool:
    """The last field that starts in ``head`` is a known length-delimited field that ends inside the file."""
    pos = 0
    pb = _Proto(head, Path("-"))
    while pos < len(head):
        try:
            tag, p2 = pb.varint(pos, len(head))
            field, wire = tag >> 3, tag & 7
            if _MODEL_FIELDS.get(field) != wire:
                return False
            if wire == 0:
                _v, pos = pb.varint(p2, len(head))
                continue
            length, p3 = pb.varint(p2, len(head))
        except MalformedFileError:
            return False
        if p3 + length > len(head):
            return p3 + length <= size
        pos = p3 + length
    return True


def open_onnx(path: Path) -> ModelFile:
    """Open an ONNX model: list its initializers and Constant tensors as refs, without any protobuf library.

    Raises :class:`MalformedFileError` for files that do not decode as a ModelProto with a graph.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise UnsupportedFormatError("file is empty", path=path, hint="Copy the model again from its source")
    meta: dict[str, str] = {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pb = _Proto(mm, path)
        reader = _Reader(path, pb, size)
        graphs, opsets = 0, []
        for field, wire, value, off in pb.fields(0, size):
            if field == 1 and wire == 0:
                meta["onnx.ir_version"] = str(value)
            elif field == 2 and wire == 2:
                meta["onnx.producer_name"] = pb.text(off, value, 200)
                reader.extra("the producer_name", off, value)  # the metadata keeps 200 characters
            elif field == 3 and wire == 2:
                meta["onnx.producer_version"] = pb.text(off, value, 200)
                reader.extra("the producer_version", off, value)
            elif field == 4 and wire == 2:
                reader.extra("the model's domain", off, value)
            elif field == 5 and wire == 0:
                meta["onnx.model_version"] = str(value)
            elif field == 8 and wire == 2:
                domain, version = "", 0
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 == 1 and w2 == 2:
                        domain = pb.text(o2, v2, 200)
                        reader.extra("an opset_import domain", o2, v2)
                    elif f2 == 2 and w2 == 0:
                        version = v2
                opsets.append(f"{domain or 'ai.onnx'}:{version}")
            elif field == 14 and wire == 2 and len(meta) < MAX_METADATA:
                key = val = ""
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 == 1 and w2 == 2:
                        key = pb.text(o2, v2, 200)
                    elif f2 == 2 and w2 == 2:
                        val = pb.text(o2, v2, 1000)
                        if v2 > 1000:  # the metadata keeps 1,000 characters; the whole value is judged as hidden
                            reader.extra(f"metadata_props value {key!r}", o2, v2)
                meta[f"onnx.metadata.{key}"] = val
            elif field == 6 and wire == 2:
                reader.extra("the model's doc_string", off, value)
            elif field not in _MODEL_FIELDS and wire == 2:
                reader.extra(f"unknown field {field} of the model", off, value)
            elif field == 7 and wire == 2:
                graphs += 1
                reader.graph(off, off + value, meta)
            elif field == 20 and wire == 2:  # TrainingInfoProto: its initialization and algorithm graphs
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 in (1, 2) and w2 == 2:
                        reader.graph(o2, o2 + v2, meta, 1)
                    elif w2 == 2:
                        reader.extra("a binding of the training info", o2, v2)
            elif field == 25 and wire == 2:  # FunctionProto: its nodes, and its strings
                for f2, w2, v2, o2 in pb.fields(off, off + value):
                    if f2 == 7 and w2 == 2:
                        reader.node(o2, o2 + v2, meta, 1)
                    elif f2 == 11 and w2 == 2:
                        reader.extra("an attribute of a function", o2, v2)
                    elif f2 in (4, 5, 6) and w2 == 2:
                        reader.name(o2, v2)
                    elif w2 == 2:
                        reader.extra(f"field {f2} of a function", o2, v2)
        if not graphs or "onnx.ir_version" not in meta:
            raise MalformedFileError("not an ONNX model (no ir_version or no graph)", path=path, hint=_FIX)
    if opsets:
        meta["onnx.opset_import"] = ", ".join(opsets[:20])
    graph_names = [n for n in reader.graph_names if n not in reader.names]  # tensor names are judged as such
    if graph_names:  # their summary, for the judge's names check (the names themselves can run to megabytes)
        meta["onnx.names"] = str(len(graph_names))
        meta["onnx.names_compressed"] = str(compressed_size(graph_names))
        meta["onnx.names_templates"] = str(template_size(graph_names))
        meta["onnx.names_examples"] = "\n".join(n[:80] for n in examples(graph_names))  # under 256 characters
    meta.update(reader.opaque)
    if reader.number_lists:
        meta["onnx.not_judged.number_lists"] = f"{reader.number_lists} ints/floats attribute(s) of 256 bytes or more"
    if reader.overflow_fields:
        what = f"{reader.overflow_fields:,} more fields (doc strings, string attributes), gathered"
        reader.hidden.append(Hidden("field", what, reader.overflow_bytes, path, data=bytes(reader.overflow)))
    if reader.constants:
        meta["onnx.constant_tensors"] = str(reader.constants)
    if reader.subgraphs:
        meta["onnx.subgraphs"] = str(reader.subgraphs)
    for i, (name, why) in enumerate(reader.skipped.items()):
        if i >= MAX_METADATA:
            meta["onnx.not_read_omitted"] = str(len(reader.skipped) - i)
            break
        meta[f"onnx.not_read.{name}"] = why
    hidden = 0
    for target, spans in reader.external_files.items():
        end = 0
        for a, b in sorted(spans) + [(target.stat().st_size,) * 2]:
            if a > end:  # bytes of the external data file no initializer points at
                hidden += a - end
                where = f"bytes {end:,}–{a:,} of the external data file {target.name!r}"
                reader.hidden.append(Hidden("member", where, a - end, target, end))
            end = max(end, b)
    if hidden:
        meta["onnx.unreferenced_external_bytes"] = str(hidden)
    files = (path, *sorted(reader.external_files))
    return ModelFile(
        path=path,
        format="onnx",
        tensors=tuple(reader.refs),
        metadata=meta,
        files=files,
        hidden=tuple(reader.hidden),
    )
