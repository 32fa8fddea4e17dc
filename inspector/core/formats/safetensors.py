"""A safetensors reader that validates the whole header before any tensor byte is touched.

Layout: 8 bytes little-endian header length N, N bytes of JSON, then the data area. Each JSON entry gives a
tensor's dtype, shape and ``[begin, end)`` offsets relative to the data area; the optional ``__metadata__``
maps strings to strings. We check every rule the format states (and a few hostile-file cases it implies)
ourselves, with messages that name the tensor.
"""

from __future__ import annotations

import collections
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from inspector.core.dtypes import DTYPES
from inspector.core.errors import MalformedFileError
from inspector.core.formats.base import (
    HIDDEN_SAMPLE,
    MAX_TENSORS,
    Hidden,
    ModelFile,
    TensorRef,
    clean_text,
    file_identity,
    index_extras,
    open_regular,
    shape_problem,
)

#: Largest header we accept (the reference implementation's limit).
MAX_HEADER_BYTES = 100_000_000

_FIX = "Re-export the model with the `safetensors` library, or check that the download completed"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


#: Beyond this many tensors, each must hold some data on average: zero-size entries cost time, not bytes.
MANY_TENSORS = 100_000


def _check_count(count: int, data_bytes: int, path: Path) -> None:
    """Refuse a header that declares more tensors than a scan handles in bounded time or the file can hold."""
    if count > MAX_TENSORS or (count > MANY_TENSORS and count > data_bytes // 16):
        raise MalformedFileError(
            f"header declares {count:,} tensors, more than the file's {data_bytes:,} data bytes sensibly hold "
            f"or a scan can handle in bounded time (at most {MAX_TENSORS:,})",
            path=path,
            hint="Split the model into shards",
        )


def read_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """Parse and return ``(header, data_start, file_size)`` after checking sizes and JSON syntax."""
    header, data_start, size, _, _ = _read_header(path)
    return header, data_start, size


def _read_header(path: Path) -> tuple[dict[str, Any], int, int, tuple[int, int, int, int], bytes]:
    """The header, where the data starts, the file's size and identity, and the header's raw bytes."""
    with open_regular(path) as f:
        identity = file_identity(f)
        size = identity[2]  # of what was opened, not of what the path names now
        if size < 8:
            raise MalformedFileError(
                f"file is {size} bytes, too short to be safetensors (needs an 8-byte header length)",
                path=path,
                hint=_FIX,
            )
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER_BYTES:
            raise MalformedFileError(
                f"header claims {n:,} bytes, over the {MAX_HEADER_BYTES:,}-byte limit (not a safetensors file?)",
                path=path,
                hint=_FIX,
            )
        if 8 + n > size:
            raise MalformedFileError(
                f"header claims {n:,} bytes but the file has only {size - 8:,} after the length field "
                "(truncated file?)",
                path=path,
                hint=_FIX,
            )
        raw = f.read(n)
    _check_count(raw.count(b'"data_offsets"'), size - 8 - n, path)  # before parsing: 1M entries take ~1 GB
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise MalformedFileError(
            f"header is not valid JSON ({clean_text(str(e))[:200]})", path=path, hint=_FIX
        ) from None
    except RecursionError:
        raise MalformedFileError(
            "header nests JSON too deeply to be a safetensors header", path=path, hint=_FIX
        ) from None
    if not isinstance(header, dict):
        raise MalformedFileError("header is not a JSON object", path=path, hint=_FIX)
    return header, 8 + n, size, identity, raw


def _unescaped(raw: bytes) -> bytes:
    """``raw`` with its escaped backslashes written ``__``: every backslash left starts another escape. (In JSON a
    backslash occurs only in a string, as an escape; left to right, ``\\\\`` pairs are exactly the escaped
    ones.) Same length, so offsets hold."""
    return raw.replace(b"\\\\", b"__")


def _strings_blanked(raw: bytes) -> bytes:
    """``raw`` (valid JSON) with the characters inside its strings removed, each string left as ``""``:
    vectorised, in memory a few times the header's, whatever the strings hold (a regex for JSON strings keeps
    state for every character it repeats over: gigabytes for a 20 MB string)."""
    text = np.frombuffer(_unescaped(raw).replace(b'\\"', b"__"), dtype=np.uint8)
    quotes = np.flatnonzero(text == 0x22)
    marks = np.zeros(text.size + 1, dtype=np.int8)
    marks[quotes[0::2] + 1] += 1  # from the character after an opening quote ...
    marks[quotes[1::2]] -= 1  # ... to its closing quote
    inside = np.cumsum(marks[:-1], dtype=np.int8).astype(bool)
    return np.frombuffer(raw, dtype=np.uint8)[~inside].tobytes()


#: ``\uXXXX`` escapes of printable ASCII (U+0020 to U+007E) that writers do emit: ``"`` and ``+`` (.NET's
#: System.Text.Json by default), a backtick (.NET), ``<>&='`` (Gson, Newtonsoft and PHP's HTML-safe modes).
_WRITTEN = "\"+&'<=>`"
_PLAIN = np.zeros(0x10000, dtype=bool)
_PLAIN[0x20:0x7F] = True
_PLAIN[[ord(c) for c in _WRITTEN]] = False
_HEX_VALUE = np.full(256, -1, dtype=np.int32)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16)
_HEX_VALUE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16)
#: Bytes of the header read at once for its escapes (each escape found by vectorised comparisons).
_ESCAPE_BLOCK = 512 << 10


def odd_escapes(raw: bytes) -> tuple[bytes, int]:
    """The escapes of a JSON header's strings that no writer emits, where escaping a character or writing it as
    itself spells one bit: ``(their text, up to HIDDEN_SAMPLE bytes; how many characters can each carry a bit)``.
    They are escapes of plain printable ASCII (every writer writes a letter as itself), and, where the header
    also holds the other form, escapes of characters beyond ASCII beside raw ones (a writer escapes all of them
    or none) and hex digits in lower case beside upper case (a writer keeps to one case): twice the fewer of the
    two forms. ``(b"", 0)`` for a header with no escape (the usual one: a membership test first). Found block by
    block with numpy, in memory bounded whatever the header holds."""
    if b"\\u" not in raw:
        return b"", 0
    text = _unescaped(raw)
    n = len(text)
    plain = wide = lower = upper = 0
    shown: tuple[list[bytes], list[bytes]] = ([], [])
    for a in range(0, n, _ESCAPE_BLOCK):
        seg = np.frombuffer(text, dtype=np.uint8, count=min(_ESCAPE_BLOCK + 5, n - a), offset=a)
        at = np.flatnonzero(seg[: min(_ESCAPE_BLOCK, n - a)] == 0x5C)  # backslashes: each starts an escape
        at = at[at + 5 < seg.size]
        at = at[seg[at + 1] == ord("u")]
        digits = seg[at[:, None] + np.arange(2, 6)]
        values = _HEX_VALUE[digits]
        ok = (values >= 0).all(axis=1)
        at, digits, values = at[ok], digits[ok], values[ok]
        code = ((values[:, 0] * 16 + values[:, 1]) * 16 + values[:, 2]) * 16 + values[:, 3]
        is_plain = _PLAIN[code]
        plain += int(is_plain.sum())
        wide += int(np.count_nonzero(code >= 0x80))
        lower += int(np.count_nonzero(((digits >= ord("a")) & (digits <= ord("f"))).any(axis=1)))
        upper += int(np.count_nonzero(((digits >= ord("A")) & (digits <= ord("F"))).any(axis=1)))
        for kind, mask in ((0, is_plain), (1, code >= 0x80)):
            room = HIDDEN_SAMPLE // 6 - sum(len(x) for x in shown[kind]) // 6
            if room > 0:
                rows = seg[at[mask][:room, None] + np.arange(6)]
                shown[kind].append(rows.tobytes())
    count = plain
    if wide:  # the two forms beside each other: twice the fewer
        raw_wide = int(np.count_nonzero(np.frombuffer(raw, dtype=np.uint8) >= 0xC0))  # lead bytes of UTF-8
        count += 2 * min(wide, raw_wide) + 2 * min(lower, upper)
    if not count:
        return b"", 0
    return b"".join(shown[0] if plain else shown[1])[:HIDDEN_SAMPLE], count


_RUN = re.compile(rb"[ \t\r\n]+")
_INDENT = re.compile(rb" |\n *")


def odd_whitespace(raw: bytes) -> bytes:
    """The whitespace of a JSON header that no writer emits: writers put nothing, one space, or a newline and
    an indent between tokens, and pad the end with spaces. Tabs, carriage returns, blank lines and mixed runs
    can spell out data (one bit per character) and are returned, run after run."""
    body = raw.rstrip(b" ")
    if b"\t" not in body and b"\r" not in body and b"\n" not in body and b"  " not in body:
        return b""  # compact JSON (what safetensors writes): single spaces at most, end padding; no string pass
    out = bytearray()
    text = _strings_blanked(raw)
    for m in _RUN.finditer(text):
        run = m.group()
        if _INDENT.fullmatch(run) or (m.end() == len(text) and not run.strip(b" ")):  # indentation, end padding
            continue
        out += run
        if len(out) >= HIDDEN_SAMPLE:
            break
    return bytes(out)


def open_safetensors(path: Path) -> ModelFile:
    """Open one ``.safetensors`` file: validate its header and list its tensors in storage order."""
    path = Path(path)
    header, data_start, size, identity, raw = _read_header(path)
    data_size = size - data_start
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise MalformedFileError("__metadata__ must map strings to strings", path=path, hint=_FIX)
    meta = {clean_text(k): clean_text(v) for k, v in meta.items()}  # lone surrogates (JSON \udcXX) escaped
    _check_count(len(header), data_size, path)

    refs: list[TensorRef] = []
    for raw_name, entry in header.items():
        name = clean_text(raw_name)
        where = f"tensor {name[:200]!r}"
        if not isinstance(entry, dict) or set(entry) - {"dtype", "shape", "data_offsets"} or len(entry) != 3:
            raise MalformedFileError(
                f"{where}: entry must have exactly dtype, shape and data_offsets", path=path, hint=_FIX
            )
        dt_name = entry["dtype"]
        if not isinstance(dt_name, str) or dt_name not in DTYPES:
            raise MalformedFileError(
                f"{where}: unknown dtype {clean_text(repr(dt_name))[:60]} (known: {', '.join(DTYPES)})",
                path=path,
                hint="This tool may be older than the file; convert the tensor to a standard dtype",
            )
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise MalformedFileError(f"{where}: shape must be a list of non-negative integers", path=path, hint=_FIX)
        bad_shape = shape_problem(shape)
        if bad_shape:
            raise MalformedFileError(f"{where}: {bad_shape}", path=path, hint=_FIX)
        offs = entry["data_offsets"]
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(type(o) is int and o >= 0 for o in offs)
            or offs[0] > offs[1]
        ):
            raise MalformedFileError(
                f"{where}: data_offsets must be [begin, end] with begin <= end", path=path, hint=_FIX
            )
        begin, end = offs
        if end > data_size:
            raise MalformedFileError(
                f"{where}: data ends at byte {end:,} but the data area has only {data_size:,} bytes (truncated file?)",
                path=path,
                hint=_FIX,
            )
        dt = DTYPES[dt_name]
        expected = math.prod(shape) * dt.itemsize
        if end - begin != expected:
            raise MalformedFileError(
                f"{where}: {end - begin:,} bytes stored but shape {tuple(shape)} of {dt_name} needs {expected:,}",
                path=path,
                hint=_FIX,
            )
        refs.append(TensorRef(name, dt, tuple(shape), path, data_start + begin, end - begin, file_id=identity))

    refs.sort(key=lambda r: (r.offset, r.nbytes))
    cursor = data_start
    for r in refs:
        if r.offset < cursor:
            raise MalformedFileError(
                f"tensor {r.name[:200]!r} overlaps the tensor before it (starts at data byte {r.offset - data_start:,}, "
                f"previous ends at {cursor - data_start:,})",
                path=path,
                hint=_FIX,
            )
        if r.offset > cursor:
            raise MalformedFileError(
                f"gap of {r.offset - cursor:,} unaccounted bytes before tensor {r.name[:200]!r}", path=path, hint=_FIX
            )
        cursor = r.offset + r.nbytes
    if cursor != size:
        raise MalformedFileError(
            f"{size - cursor:,} bytes after the last tensor belong to no tensor", path=path, hint=_FIX
        )
    if len(refs) != len(header) or len({r.name for r in refs}) != len(refs):
        raise MalformedFileError("two tensor names are the same once undecodable characters are escaped", path=path)
    # the header's bits no JSON writer spells: searched here only (read_header's callers need the header alone)
    odd = odd_whitespace(raw)
    escapes, escaped = odd_escapes(raw)
    hidden: tuple[Hidden, ...] = ()
    if odd:
        hidden += (Hidden("header", "whitespace in the header no writer emits", len(odd), path, -1, odd),)
    if escaped:  # counted as characters: one escape spells one bit, as one odd whitespace character does
        where = "escapes (\\uXXXX) in the header's strings"
        hidden += (Hidden("header", where, escaped, path, -1, escapes),)
    return ModelFile(
        path=path, format="safetensors", tensors=tuple(refs), metadata=dict(meta), files=(path,), hidden=hidden
    )


def open_sharded(index_path: Path) -> ModelFile:
    """Open a sharded model from its ``*.safetensors.index.json``; every mapped tensor must be in its shard."""
    index_path = Path(index_path)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MalformedFileError(f"index is not valid JSON ({e})", path=index_path, hint=_FIX) from None
    except RecursionError:
        raise MalformedFileError("index nests JSON too deeply", path=index_path, hint=_FIX) from None
    except OSError as e:
        raise MalformedFileError(
            f"cannot read the index ({e.strerror or type(e).__name__})", path=index_path, hint="Check the path"
        ) from None
    wmap = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wmap, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wmap.items()):
        raise MalformedFileError("index has no weight_map of tensor name to shard file", path=index_path, hint=_FIX)
    folder = index_path.parent.resolve()
    shards: dict[str, ModelFile] = {}
    for shard in dict.fromkeys(wmap.values()):
        if not shard or "\x00" in shard:
            raise MalformedFileError(
                f"weight_map names an impossible shard file {shard!r}", path=index_path, hint="Fix the index file"
            )
        target = (folder / shard).resolve()
        if target.parent != folder:
            raise MalformedFileError(
                f"weight_map points outside the model folder ({shard!r})",
                path=index_path,
                hint="Shards must sit beside the index file",
            )
        if target == index_path.resolve():
            raise MalformedFileError(
                f"weight_map names the index file itself as a shard ({shard!r})", path=index_path, hint=_FIX
            )
        if not target.is_file():
            raise MalformedFileError(
                f"shard {shard!r} named in weight_map is missing or not a file",
                path=index_path,
                hint="Download the missing shard",
            )
        shards[shard] = open_safetensors(target)
    for name, shard in wmap.items():
        if clean_text(name) not in shards[shard]:
            raise MalformedFileError(
                f"tensor {name!r} is mapped to {shard!r} but that shard does not contain it",
                path=index_path,
                hint=_FIX,
            )
    if not wmap:
        raise MalformedFileError("weight_map maps no tensors", path=index_path, hint="Check that the index is complete")
    refs = [t for mf in shards.values() for t in mf.tensors]
    names = collections.Counter(t.name for t in refs)  # linear: a list.count per name was quadratic
    if len(names) != len(refs):
        dup = sorted(n for n, c in names.items() if c > 1)[:3]
        raise MalformedFileError(
            f"tensor names appear in several shards: {', '.join(d[:100] for d in dup)}", path=index_path
        )
    meta: dict[str, str] = {}
    for mf in shards.values():
        meta.update(mf.metadata)
    idx_meta = index.get("metadata")
    if isinstance(idx_meta, dict):
        meta.update({clean_text(f"index.{k}"): clean_text(str(v))[:1000] for k, v in list(idx_meta.items())[:1000]})
    files = (index_path, *(mf.path for mf in shards.values()))
    hidden = index_extras(index, index_path) + tuple(h for mf in shards.values() for h in mf.hidden)
    return ModelFile(
        path=index_path, format="safetensors-sharded", tensors=tuple(refs), metadata=meta, files=files, hidden=hidden
    )
