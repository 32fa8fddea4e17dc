"""A bounded reader of GGUF files (llama.cpp / ggml): header, key-value metadata and tensor infos.

Layout (all little-endian): the magic ``GGUF``, a u32 version (2 or 3), u64 tensor and key-value counts, the
key-value pairs (a string key, a u32 value type, the value; arrays carry an element type and a u64 count), then
one info per tensor (string name, u32 dimension count, u64 dimensions innermost first, u32 ggml type, u64 offset
into the data area), then padding to ``general.alignment`` (default 32) and the data area. Strings are a u64
byte length and UTF-8 bytes.

Every length is checked against the bytes left in the file before anything is allocated. Float and integer
tensors (F32, F16, BF16, F64, I8..I64) become ordinary :class:`~.base.TensorRef` s; quantized tensors (Q4_0,
Q8_0, K-quants, ...) are blocks of scales and packed integers that no element type describes: they are listed in
the metadata with their type, shape and byte range. Q8_0, Q4_0 and Q4_1 tensors are also listed as float32
tensor refs with ``encoding`` set: every read dequantises them block by block (:func:`decode_blocks`, bounded
memory), so the statistics see their values; other block types are listed only, and not scanned.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Optional

import numpy as np

from inspector.core.dtypes import DTYPES
from inspector.core.errors import MalformedFileError, UnsupportedFormatError
from inspector.core.formats.base import (
    HIDDEN_SAMPLE,
    MAX_NDIM,
    Hidden,
    ModelFile,
    TensorRef,
    clean_text,
    open_regular,
    shape_problem,
)
from inspector.core.progress import CancelToken, check

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
#: Generous bounds no real file reaches; each is checked before the memory it implies is used.
MAX_TENSORS = 1 << 20
MAX_KV = 1 << 20
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 64 << 20
MAX_ARRAY_DEPTH = 4
#: Most string (or nested array) elements of all arrays together: a 256 K-token vocabulary is 2**18; each costs a
#: Python-level read, so a file of empty strings must not keep the reader busy for minutes.
MAX_ARRAY_ITEMS = 1 << 24
#: Metadata entries kept (the rest are counted); long values are cut.
MAX_METADATA = 1000
MAX_VALUE_CHARS = 1000

_FIX = "The file is damaged or truncated; copy it again from its source or re-convert it with llama.cpp"

#: ggml types stored as plain elements, to our element types.
_PLAIN = {0: "F32", 1: "F16", 30: "BF16", 28: "F64", 24: "I8", 25: "I16", 26: "I32", 27: "I64"}
#: Block-quantized ggml types: name, elements per block, bytes per block (ggml's type traits).
_BLOCKS: dict[int, tuple[str, int, int]] = {
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    29: ("IQ1_M", 256, 56),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

# value types: struct format of the scalars; 7 bool, 8 string, 9 array
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_TYPE_NAMES = {
    0: "uint8",
    1: "int8",
    2: "uint16",
    3: "int16",
    4: "uint32",
    5: "int32",
    6: "float32",
    7: "bool",
    8: "string",
    9: "array",
    10: "uint64",
    11: "int64",
    12: "float64",
}


class _Reader:
    """Reads the header section from a file, refusing any length that reaches past the end of the file."""

    def __init__(self, f: BinaryIO, path: Path, size: int) -> None:
        self.f, self.path, self.size, self.pos = f, path, size, 0
        self.items = 0  # string / nested-array elements read so far

    def fail(self, what: str) -> MalformedFileError:
        return MalformedFileError(f"{what} (at byte {self.pos:,})", path=self.path, hint=_FIX)

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{what} needs {n:,} bytes but the file ends {self.size - self.pos:,} bytes later")
        data = self.f.read(n)
        if len(data) != n:
            raise self.fail(f"{what} is cut short")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{what} needs {n:,} bytes but the file ends {self.size - self.pos:,} bytes later")
        self.pos += n
        self.f.seek(self.pos)

    def scalar(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def u32(self, what: str) -> int:
        return int(self.scalar("<I", what))

    def u64(self, what: str) -> int:
        return int(self.scalar("<Q", what))

    def string(self, what: str, limit: int = MAX_STRING_BYTES, keep: int | None = None) -> str:
        """A string; with ``keep``, only its first ``keep`` bytes are read and the rest skipped."""
        n = self.u64(f"length of {what}")
        if n > limit:
            raise self.fail(f"{what} claims {n:,} bytes (over the {limit:,}-byte limit)")
        if keep is not None and n > keep:
            head = self.take(keep, what)
            self.skip(n - keep, what)
            return head.decode("utf-8", "replace") + "..."
        return self.take(n, what).decode("utf-8", "replace")


def _value(r: _Reader, vtype: int, key: str, depth: int = 0, sink: Optional[list[str]] = None) -> Any:
    """One metadata value; arrays longer than a few elements are summarised (their bytes are skipped). The
    strings of an array are appended to ``sink`` when one is given."""
    if vtype in _SCALARS:
        return r.scalar(_SCALARS[vtype], f"value of {key!r}")
    if vtype == 8:
        # an array's strings are kept longer: a token of a vocabulary may be a blob in disguise
        text = r.string(f"string value of {key!r}", keep=MAX_VALUE_CHARS if sink is None or depth == 0 else 1 << 16)
        if sink is not None:
            sink.append(text)
        return text
    if vtype == 9:
        if depth >= MAX_ARRAY_DEPTH:
            raise r.fail(f"metadata {key!r} nests arrays deeper than {MAX_ARRAY_DEPTH} levels")
        etype = r.u32(f"array type of {key!r}")
        count = r.u64(f"array length of {key!r}")
        if etype in _SCALARS:
            width = struct.calcsize(_SCALARS[etype])
            if count * width > r.size - r.pos:
                raise r.fail(f"array {key!r} claims {count:,} elements, more than the file holds")
            shown = min(count, 8)
            head = list(struct.unpack(f"<{shown}{_SCALARS[etype][1]}", r.take(shown * width, f"array {key!r}")))
            r.skip((count - shown) * width, f"array {key!r}")
        elif etype in (8, 9):
            if count > (r.size - r.pos) // 8:  # every element takes at least 8 bytes (a length or a type)
                raise r.fail(f"array {key!r} claims {count:,} elements, more than the file holds")
            r.items += count
            if r.items > MAX_ARRAY_ITEMS:
                raise r.fail(f"metadata arrays hold over {MAX_ARRAY_ITEMS:,} strings, beyond any model")
            head = []
            for i in range(count):  # strings must be walked one by one to find the end
                item = _value(r, etype, f"{key}[{i}]", depth + 1, sink)
                if i < 8:
                    head.append(item)
        else:
            raise r.fail(f"array {key!r} has unknown element type {etype}")
        more = f", ... ({count:,} {_TYPE_NAMES[etype]})" if count > len(head) else ""
        return "[" + ", ".join(map(repr, head)) + more + "]"
    raise r.fail(f"metadata {key!r} has unknown value type {vtype}")


#: Metadata values from this many bytes are judged as hidden bytes (the metadata keeps their first characters).
HIDDEN_VALUE_BYTES = 1024
#: Numeric arrays from this many bytes (and under :data:`HIDDEN_VALUE_BYTES`) are judged joined, all of a file's
#: together (a rope section list or an image mean is a few numbers).
SMALL_ARRAY_BYTES = 64
#: A BPE tokenizer's merges: pairs of tokens, ``"a b"``. When most of them look like pieces of base64, they are read
#: joined with no separator at all, so a blob cut into pieces of any length is one run again for the encoded-text
#: search; real merges hold the tokenizer's own word pieces (lower case mostly, 'Ġ' and '▁' for spaces).
MERGES = "tokenizer.ggml.merges"
#: Keys whose big numeric arrays are the tokenizer's own (scores, token types): their strings are still judged.
_TOKENIZER_ARRAYS = ("tokenizer.ggml.scores", "tokenizer.ggml.token_type")


def _pieces_of_a_blob(merges: list[str]) -> bool:
    """Whether most merges, their spaces taken out, are 16 characters or more of upper and lower case and digits
    (pieces of base64); a tokenizer's merges are word pieces, mostly lower case, and stay as they are."""

    def piece(m: str) -> bool:
        t = "".join(m.split())
        return (
            len(t) >= 16
            and t.isascii()
            and any(c.isupper() for c in t)
            and any(c.islower() for c in t)
            and any(c.isdigit() for c in t)
        )

    return len(merges) > 0 and sum(map(piece, merges)) >= 0.5 * len(merges)


def _value_region(
    r: _Reader, f: BinaryIO, path: Path, key: str, vtype: int, start: int, sink: list[str]
) -> Optional[Hidden]:
    """A big metadata value as hidden bytes: a string read whole (up to HIDDEN_SAMPLE), an array's strings
    joined by newlines, or a numeric array where it lies in the file."""
    where = f"metadata value {clean_text(key)[:200]!r}"
    n = r.pos - start
    if vtype == 8:  # the metadata keeps MAX_VALUE_CHARS of it: read the whole string again, bounded
        f.seek(start + 8)
        data = f.read(min(n - 8, HIDDEN_SAMPLE))
        f.seek(r.pos)
        return Hidden("field", where, n - 8, path, -1, data)
    if sink:  # an array of strings (a vocabulary): its text
        if key == MERGES and _pieces_of_a_blob(sink):  # read joined, with no separator: the pieces are one run again
            text = "".join("".join(m.split()) for m in sink)
            return Hidden(
                "field", where + " (joined)", n, path, -1, text.encode("utf-8", "surrogatepass")[:HIDDEN_SAMPLE]
            )
        return Hidden("field", where, n, path, -1, "\n".join(sink).encode("utf-8", "surrogatepass")[:HIDDEN_SAMPLE])
    if key in _TOKENIZER_ARRAYS and _tokenizer_numbers(f, key, start, r.pos):
        return None  # the tokenizer's own numbers, and they look it
    return Hidden("field", where, n - 12, path, start + 12)  # element type and count, then the elements


def _array_count(f: BinaryIO, start: int, end: int) -> int:
    """The element count of the array value that starts at ``start`` (its type, then its count: a uint64)."""
    f.seek(start + 4)
    count = int.from_bytes(f.read(8), "little")
    f.seek(end)
    return count


#: What a tokenizer's own arrays hold: llama.cpp's token types (normal, unknown, control, user-defined, unused,
#: byte; 0 for undefined) and scores (log probabilities, or minus a merge rank, or zeros).
TOKEN_TYPES = range(0, 7)
MAX_SCORE = 1e7


def _tokenizer_numbers(f: BinaryIO, key: str, start: int, end: int) -> bool:
    """Whether ``tokenizer.ggml.token_type`` holds token types and ``tokenizer.ggml.scores`` finite scores of a
    plausible size (read again, whole, bounded); bytes of a payload stored in either are not explained by the
    key (a byte per token takes values up to 255; bits read as float32 give huge, tiny or non-finite numbers)."""
    f.seek(start)
    head = f.read(12)
    f.seek(end)
    if len(head) < 12:
        return False
    etype, count = struct.unpack("<IQ", head)
    fmt = _SCALARS.get(etype)
    if fmt is None or count * struct.calcsize(fmt) > HIDDEN_SAMPLE * 16:
        return False
    f.seek(start + 12)
    data = f.read(count * struct.calcsize(fmt))
    f.seek(end)
    values = np.frombuffer(data, dtype=np.dtype(fmt))
    if values.size != count:
        return False
    if key == "tokenizer.ggml.token_type":
        return bool(values.size == 0 or (values.min() >= TOKEN_TYPES.start and values.max() < TOKEN_TYPES.stop))
    v = values.astype(np.float64)
    return bool(np.isfinite(v).all() and (np.abs(v) <= MAX_SCORE).all())


def _text(v: Any) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= MAX_VALUE_CHARS else s[:MAX_VALUE_CHARS] + "..."


@dataclass(frozen=True)
class QuantizedTensor:
    """A block-quantized tensor of a GGUF file: its ggml type, shape (outermost first) and byte range."""

    name: str
    qtype: str
    shape: tuple[int, ...]
    path: Path
    offset: int
    nbytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def open_gguf(path: Path) -> ModelFile:
    """Open a GGUF file: validate header, metadata and tensor infos; list float tensors as refs.

    Quantized tensors are listed in ``metadata["gguf.quantized.<name>"]`` (type, shape, byte range), and their
    byte total in ``metadata["gguf.quantized_bytes"]``; :func:`quantized_tensors` returns them as records that
    :func:`dequantize` reads. Raises :class:`MalformedFileError` for broken files and
    :class:`UnsupportedFormatError` for versions or layouts this reader does not know.
    """
    return _read(Path(path))[0]


def quantized_tensors(path: Path) -> tuple[QuantizedTensor, ...]:
    """The block-quantized tensors of a GGUF file, in file order (validated as :func:`open_gguf` does)."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[ModelFile, tuple[QuantizedTensor, ...]]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        r = _Reader(f, path, size)
        if r.take(4, "magic") != MAGIC:
            raise UnsupportedFormatError("not a GGUF file (no GGUF magic)", path=path, hint="Open a .gguf file")
        version = r.u32("version")
        if version not in (2, 3):
            if version & 0xFFFF == 0 and version >> 16:
                raise UnsupportedFormatError(
                    "is a big-endian GGUF file", path=path, hint="Convert it on a little-endian machine"
                )
            raise UnsupportedFormatError(
                f"GGUF version {version} (this reader knows versions 2 and 3)",
                path=path,
                hint="Re-convert the model with a current llama.cpp",
            )
        n_tensors, n_kv = r.u64("tensor count"), r.u64("metadata count")
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            raise r.fail(f"header claims {n_tensors:,} tensors and {n_kv:,} metadata entries, beyond any model")
        meta: dict[str, str] = {"gguf.version": str(version)}
        omitted = 0
        alignment = DEFAULT_ALIGNMENT
        keys: set[str] = set()
        hidden: list[Hidden] = []
        small: list[tuple[int, int, int]] = []  # numeric arrays too small to judge alone: (offset, length, count)
        for _ in range(n_kv):
            key = r.string("metadata key", limit=MAX_KEY_BYTES)
            if key in keys:
                raise r.fail(f"metadata key {key!r} appears twice")
            keys.add(key)
            vtype = r.u32(f"value type of {key!r}")
            start = r.pos
            sink: list[str] = []
            value = _value(r, vtype, key, sink=sink)
            if r.pos - start >= HIDDEN_VALUE_BYTES and len(hidden) < MAX_METADATA:
                region = _value_region(r, f, path, key, vtype, start, sink)
                if region is not None:
                    hidden.append(region)
            elif vtype == 9 and not sink and r.pos - start - 12 >= SMALL_ARRAY_BYTES and len(small) < MAX_METADATA:
                small.append((start + 12, r.pos - start - 12, _array_count(f, start, r.pos)))  # its elements
            if key == "general.alignment":
                if vtype != 4 or value == 0 or value & (value - 1):
                    raise r.fail(f"general.alignment must be a power-of-two uint32, not {value!r}")
                alignment = int(value)
            if len(meta) < MAX_METADATA:
                meta[f"gguf.{key}"] = _text(value)
            else:
                omitted += 1

        # a blob cut into arrays each under the size judged alone is judged joined; an array of one value a
        # layer (heads, feed-forward widths, sliding windows of a model whose layers differ) is the architecture
        layers = {v for k, v in meta.items() if k.endswith(".block_count") and v.isdigit()}
        pieces = tuple((a, n) for a, n, count in small if str(count) not in layers)
        if len(pieces) >= 2:
            what = f"{len(pieces):,} numeric metadata arrays of {SMALL_ARRAY_BYTES}–{HIDDEN_VALUE_BYTES - 1:,} bytes, joined"
            hidden.append(Hidden("field", what, sum(n for _, n in pieces), path, -1, spans=pieces))
        infos: list[tuple[str, list[int], int, int]] = []
        names: set[str] = set()
        for i in range(n_tensors):
            name = r.string(f"name of tensor {i}", limit=MAX_KEY_BYTES)
            if name in names:
                raise r.fail(f"tensor name {name!r} appears twice")
            names.add(name)
            n_dims = r.u32(f"dimension count of {name!r}")
            if n_dims > MAX_NDIM:
                raise r.fail(f"tensor {name!r} claims {n_dims:,} dimensions")
            dims = [r.u64(f"dimensions of {name!r}") for _ in range(n_dims)]
            gtype = r.u32(f"type of {name!r}")
            offset = r.u64(f"offset of {name!r}")
            infos.append((name, dims, gtype, offset))
        data_start = -(-r.pos // alignment) * alignment

    refs: list[TensorRef] = []
    quantized: list[QuantizedTensor] = []
    spans: list[tuple[int, int, str]] = []
    quant_bytes = 0
    dequantised = 0
    for name, dims, gtype, offset in infos:
        shape = tuple(reversed(dims))  # ggml lists the innermost dimension first
        bad = shape_problem(shape)
        if bad:
            raise MalformedFileError(f"tensor {name!r}: {bad}", path=path, hint=_FIX)
        numel = math.prod(shape)
        if offset % alignment:
            raise MalformedFileError(
                f"tensor {name!r} starts at data byte {offset:,}, not a multiple of the alignment {alignment}",
                path=path,
                hint=_FIX,
            )
        if gtype in _PLAIN:
            dt = DTYPES[_PLAIN[gtype]]
            nbytes = numel * dt.itemsize
        elif gtype in _BLOCKS:
            qname, block, block_bytes = _BLOCKS[gtype]
            if dims and dims[0] % block:
                raise MalformedFileError(
                    f"tensor {name!r} of type {qname} has rows of {dims[0]:,} elements, not whole blocks of {block}",
                    path=path,
                    hint=_FIX,
                )
            nbytes = numel // block * block_bytes
        else:
            raise UnsupportedFormatError(
                f"tensor {name!r} has ggml type {gtype}, which this reader does not know",
                path=path,
                hint="Convert the model to F16 or a common quantization with a current llama.cpp",
            )
        start = data_start + offset
        if start + nbytes > size:
            raise MalformedFileError(
                f"tensor {name!r} ends at byte {start + nbytes:,} but the file has {size:,} (truncated file?)",
                path=path,
                hint=_FIX,
            )
        spans.append((start, start + nbytes, name))
        if gtype in _PLAIN:
            refs.append(TensorRef(name, DTYPES[_PLAIN[gtype]], shape, path, start, nbytes))
        else:
            qname = _BLOCKS[gtype][0]
            quant_bytes += nbytes
            quantized.append(QuantizedTensor(name, qname, shape, path, start, nbytes))
            if qname in _DECODABLE:  # dequantised to float32 for statistics, block by block, when read
                refs.append(TensorRef(name, DTYPES["F32"], shape, path, start, nbytes, encoding=qname))
                dequantised += 1
            how = "dequantised to float32 for statistics" if qname in _DECODABLE else "blocks, not scanned"
            if len(meta) < MAX_METADATA:
                meta[f"gguf.quantized.{name}"] = f"{qname} {list(shape)} bytes {start:,}..{start + nbytes:,} ({how})"
            else:
                omitted += 1
    spans.sort()
    covered, cursor = 0, data_start
    gaps: list[tuple[int, int]] = []
    for a, b, name in spans:
        if a < cursor:
            raise MalformedFileError(f"tensor {name!r} overlaps the tensor before it", path=path, hint=_FIX)
        if a > cursor:
            gaps.append((cursor, a - cursor))
        covered += b - a
        cursor = b
    if size > cursor and infos:
        gaps.append((cursor, size - cursor))
    if data_start > size and infos:
        raise MalformedFileError("file ends before its data area", path=path, hint=_FIX)
    # padding between tensors is at most alignment - 1 bytes each; more, or trailing bytes, hold data no scan sees
    slack = max(0, size - data_start) - covered
    if slack >= alignment * (len(spans) + 1):
        meta["gguf.unreferenced_bytes"] = str(slack)
    if quant_bytes:
        meta["gguf.quantized_bytes"] = str(quant_bytes)
        meta["gguf.quantized_tensors"] = str(len(quantized))
        meta["gguf.dequantised_tensors"] = str(dequantised)
    if omitted:
        meta["gguf.metadata_omitted"] = str(omitted)
    refs.sort(key=lambda t: t.offset)
    quantized.sort(key=lambda q: q.offset)
    # bytes between and after the tensors: alignment padding (zeros) or data no tensor shows; read and judged
    padding = tuple(g for g in gaps if g[1] < alignment)
    hidden += [
        Hidden("member", f"bytes {a:,}–{a + n:,} between the tensors of the data area", n, path, a)
        for a, n in gaps
        if n >= alignment
    ]
    if padding and len(padding) <= MAX_PADDING_SPANS:
        n = sum(g[1] for g in padding)
        hidden.append(
            Hidden("member", "the alignment padding between and after the tensors", n, path, -1, None, None, padding)
        )
    mf = ModelFile(path=path, format="gguf", tensors=tuple(refs), metadata=meta, files=(path,), hidden=tuple(hidden))
    return mf, tuple(quantized)


#: Padding pieces read and judged together (one per tensor; a model of more tensors is judged on its big gaps).
MAX_PADDING_SPANS = 100_000

#: Block layouts :func:`dequantize` decodes: fp16 scale ``d`` (and minimum ``m``), then packed quants.
_DECODABLE = {
    "Q8_0": np.dtype([("d", "<f2"), ("qs", "i1", 32)]),
    "Q4_0": np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
    "Q4_1": np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)]),
}
DEQUANTIZABLE = tuple(_DECODABLE)


def encoded_bytes(encoding: str, numel: int) -> int:
    """File bytes of ``numel`` values stored as blocks of a decodable type (``TensorRef.encoding``)."""
    return numel // _BLOCK_ELEMS * _DECODABLE[encoding].itemsize


#: Elements per block of every decodable type.
_BLOCK_ELEMS = 32


def _decode(qtype: str, raw: bytes) -> np.ndarray:
    """The float32 values of whole blocks of one decodable type."""
    b = np.frombuffer(raw, dtype=_DECODABLE[qtype])
    d = b["d"].astype(np.float32)[:, None]
    if qtype == "Q8_0":
        return (d * b["qs"].astype(np.float32)).reshape(-1)
    nib = np.concatenate([b["qs"] & 0x0F, b["qs"] >> 4], axis=1).astype(np.float32)
    if qtype == "Q4_0":
        return (d * (nib - 8)).reshape(-1)
    return (d * nib + b["m"].astype(np.float32)[:, None]).reshape(-1)


def _undecodable(name: str, qtype: str, path: Path) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"tensor {name!r}: {qtype} blocks are listed but not decoded (decoded: {', '.join(_DECODABLE)})", path=path
    )


def dequantize(q: QuantizedTensor, max_blocks: int = 1 << 16) -> Iterator[np.ndarray]:
    """The values of a Q8_0, Q4_0 or Q4_1 tensor as float32, in storage order, ``32 * max_blocks`` at a time.

    Q8_0: ``d * q`` for 32 int8 ``q``; Q4_0: ``d * (q - 8)`` for 32 4-bit ``q`` (low nibbles are elements 0-15,
    high nibbles 16-31); Q4_1: ``d * q + m``. Other types raise :class:`UnsupportedFormatError`. Memory stays
    bounded by ``max_blocks``.
    """
    layout = _DECODABLE.get(q.qtype)
    if layout is None:
        raise _undecodable(q.name, q.qtype, q.path)
    blocks = q.nbytes // layout.itemsize
    with open(q.path, "rb") as f:
        f.seek(q.offset)
        for start in range(0, blocks, max_blocks):
            n = min(max_blocks, blocks - start)
            raw = f.read(n * layout.itemsize)
            if len(raw) != n * layout.itemsize:
                raise MalformedFileError(f"tensor {q.name!r} is cut short", path=q.path, hint=_FIX)
            yield _decode(q.qtype, raw)


def decode_blocks(
    ref: TensorRef, start: int, stop: int, chunk_elems: int, cancel: Optional[CancelToken] = None
) -> Iterator[np.ndarray]:
    """Elements ``start:stop`` (storage order) of a block-quantized tensor ref (``ref.encoding``), dequantised to
    float32, ``chunk_elems`` (whole blocks, at least one) decoded at a time: only the blocks that hold
    the range are read, and memory stays bounded by the chunk. Checks ``cancel`` before each read."""
    qtype = ref.encoding or ""
    layout = _DECODABLE.get(qtype)
    if layout is None:
        raise _undecodable(ref.name, qtype, ref.path)
    block, size = _BLOCK_ELEMS, layout.itemsize
    start, stop = max(0, start), min(stop, ref.numel)
    if stop <= start:
        return
    per = max(1, chunk_elems // block)
    first, last = start // block, -(-stop // block)
    if last * size > ref.nbytes:
        raise MalformedFileError(f"tensor {ref.name!r} is cut short", path=ref.path, hint=_FIX)
    with open_regular(ref.path, expect=ref.file_id) as f:
        for b0 in range(first, last, per):
            check(cancel)
            n = min(per, last - b0)
            f.seek(ref.offset + b0 * size)
            raw = f.read(n * size)
            if len(raw) != n * size:
                raise MalformedFileError(f"tensor {ref.name!r} is cut short", path=ref.path, hint=_FIX)
            values = _decode(qtype, raw)
            lo = max(start - b0 * block, 0)
            hi = min(stop - b0 * block, values.size)
            yield values[lo:hi] if (lo, hi) != (0, values.size) else values
