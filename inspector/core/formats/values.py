"""Values of a file that are not tensors but can carry data: the rules every reader of such values shares.

A checkpoint's pickle and a configuration file's JSON both hold lists, dicts and strings beside the weights. A
list of a few hundred numbers, a number too big for any counter, or many strings that each look like a piece of
base64 are room for a payload whatever file holds them; these functions turn such values into bytes the judge
reads (:class:`~inspector.core.formats.base.Hidden` regions).
"""

from __future__ import annotations

import array
import re
from typing import Any, Optional

import numpy as np

from inspector.core.formats.base import HIDDEN_SAMPLE

#: The containers a walk of such values goes into.
CONTAINERS = (dict, list, tuple, set, frozenset)
#: Values from this many bytes are kept as hidden bytes to judge (shorter ones stay metadata only).
BLOB_BYTES = 256
#: Characters of strings that look like pieces of encoded data judged together (a few API tokens or ids stay
#: below).
GATHER_CHARS = 2048
#: How deep :func:`encoded_pieces` goes into nested containers.
MAX_DEPTH = 100

_PIECE = re.compile(r"[A-Za-z0-9+/=_\-]+")


def value_blob(obj: Any) -> Optional[tuple[bytes, int]]:
    """The bytes of a value that can carry data (a byte string, a long string, a number too big for a counter, a
    list or tuple of numbers or bits, nested or not, a dict of integers to byte values): ``(its first
    HIDDEN_SAMPLE bytes, its size in bytes)``, or ``None`` for small or structured values (configuration with
    text in it)."""
    if isinstance(obj, (bytes, bytearray)):
        data, size = bytes(obj[:HIDDEN_SAMPLE]), len(obj)
    elif isinstance(obj, str) and len(obj) > 1000:  # metadata keeps 1,000 characters; the rest is judged here
        data = obj[:HIDDEN_SAMPLE].encode("utf-8", "surrogatepass")
        size = len(obj)
    elif type(obj) is int and obj.bit_length() > 64:  # a number no counter reaches: its bytes
        data = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)[:HIDDEN_SAMPLE]
        size = len(data)
    elif isinstance(obj, (list, tuple)) and len(obj) >= 8:  # (sets and dicts of numbers: index sets, remaps)
        flat = numbers(obj)
        if flat is None:
            return None
        if all(type(v) is bool for v in flat):  # bits, packed as a payload would have been written
            data, size = _packed(np.array(flat[: HIDDEN_SAMPLE * 8], dtype=bool)), (len(flat) + 7) // 8
        elif all(type(v) is int and 0 <= v < 256 for v in flat):
            data, size = bytes(flat[:HIDDEN_SAMPLE]), len(flat)
        elif all(type(v) in (int, float, bool) and (type(v) is not int or -(2**63) <= v < 2**63) for v in flat):
            data, size = array.array("d", flat[: HIDDEN_SAMPLE // 8]).tobytes(), len(flat) * 8
        elif all(type(v) is int for v in flat):  # numbers too big for a counter among them: their bytes
            data = b"".join(v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True) for v in flat)
            data, size = data[:HIDDEN_SAMPLE], len(data)
        else:
            return None
    elif isinstance(obj, dict) and len(obj) >= BLOB_BYTES and _byte_map(obj):  # a byte for each key, in order
        data, size = bytes(v for _, v in zip(range(HIDDEN_SAMPLE), obj.values())), len(obj)
    else:
        return None
    return (data, size) if size >= BLOB_BYTES else None


def _packed(bits: np.ndarray) -> bytes:
    """Bits (non-zero: 1), eight to a byte, the first one the highest: as a payload of bits is written."""
    return np.packbits(bits.astype(bool)).tobytes()


def _byte_map(obj: dict) -> bool:
    """Whether a dict maps integers to byte values (0 to 255). A remap table of token or class ids reaches past
    a byte, and a set or dict of other numbers is configuration as often as not: those stay metadata."""
    return all(type(k) is int for k in obj) and all(type(v) is int and 0 <= v < 256 for v in obj.values())


def numbers(obj: Any, depth: int = 0, budget: int = HIDDEN_SAMPLE) -> Optional[list[Any]]:
    """The numbers of a list or tuple of numbers, or of such lists nested up to 3 deep (a table of byte rows,
    pairs), in order (a complex number as its two parts); ``None`` when anything else is in it."""
    if depth > 3:
        return None
    out: list[Any] = []
    for v in obj:
        if type(v) in (int, float, bool):
            out.append(v)
        elif type(v) is complex:  # two floats
            out += (v.real, v.imag)
        elif isinstance(v, (list, tuple)):
            inner = numbers(v, depth + 1, budget - len(out))
            if inner is None:
                return None
            out.extend(inner)
        else:
            return None
        if len(out) > budget:
            break
    return out


def encoded_pieces(obj: Any, found: list[str], chars: int = 0, depth: int = 0, seen: Optional[set[int]] = None) -> int:
    """Append to ``found`` the strings inside a container (keys too) that look like pieces of encoded data (64 to
    1,000 characters of one base64 alphabet, upper and lower case and digits, separators as rare as in base64, no
    space or dot): a blob cut into short strings, judged as one region from :data:`GATHER_CHARS` characters (a
    path, an identifier or a hex hash does not look like that). Returns ``chars`` plus the characters found;
    stops past :data:`HIDDEN_SAMPLE` of them. ``seen``: ids of the containers visited already, each walked once
    (a pickle can share one list thirty times over, two levels a time: 2^30 paths in 63 bytes)."""
    if seen is None:
        seen = set()
    if depth > MAX_DEPTH or chars >= HIDDEN_SAMPLE or id(obj) in seen:
        return chars
    seen.add(id(obj))
    items = list(obj.items()) if isinstance(obj, dict) else obj
    for item in items:
        for v in item if isinstance(obj, dict) else (item,):
            if isinstance(v, str):
                if looks_like_piece(v):
                    found.append(v)
                    chars += len(v)
            elif isinstance(v, CONTAINERS):
                chars = encoded_pieces(v, found, chars, depth + 1, seen)
    return chars


# --------------------------------------------------------------------------------------------------------------
# The same values in JSON text, found in the text itself: no parse (a parse keeps one of two equal keys, gives up
# on deep nesting, and builds every value), no limit on how deep or how many, bounded work and memory.

#: A bracketed run of integers (a list, or lists of lists): at least this many characters.
_INT_RUN = re.compile(rb"\[[0-9\s,\[\]\-]{511,}\]")
#: A bracketed run of the characters of boolean lists, nested or not (one character class: linear, with no
#: state kept a repetition, unlike a repeated group); :data:`_NOT_BOOLS` then checks its words are booleans.
_BOOL_RUN = re.compile(rb"\[[\s,\[\]truefals]{8191,}\]")
_NOT_BOOLS = re.compile(rb"[^\s,\[\]]")
#: A value beyond a byte in a run of integers: a sign, four digits or more, or 256 to 999.
_WIDE = re.compile(rb"-|[0-9]{4,}|(?<![0-9])(?:25[6-9]|2[6-9][0-9]|[3-9][0-9][0-9])(?![0-9])")
_DIGITS = re.compile(rb"[0-9]+")
#: An integer of 20 digits or more (beyond any 64-bit counter) outside a string.
_BIG_INT = re.compile(rb'(?<![\w."])-?[0-9]{20,}(?![\w."])')
#: A JSON string (or key) of 64 to 1,000 characters of a base64 alphabet.
_PIECE_STRING = re.compile(rb'"([A-Za-z0-9+/=_\-]{64,1000})"')
#: Characters of a run parsed into the region's sample (its size is counted over the whole run).
_RUN_SAMPLE = 1 << 20


def _numbers_in(run: bytes) -> int:
    """How many digit runs (numbers) a run of text holds (vectorised: a run can be megabytes)."""
    d = np.frombuffer(run, dtype=np.uint8)
    digit = (d >= 48) & (d <= 57)
    return int(digit[0]) + int(np.count_nonzero(digit[1:] & ~digit[:-1])) if d.size else 0


def looks_like_piece(v: str) -> bool:
    """Whether a string of 64 to 1,000 characters looks like a piece of base64 (upper and lower case and digits,
    separators as rare as in base64: a path or an identifier has one in ten)."""
    if not 64 <= len(v) <= 1000 or not _PIECE.fullmatch(v):
        return False
    seps = v.count("/") + v.count("_") + v.count("-")
    mixed = any(c.isupper() for c in v) and any(c.islower() for c in v) and any(c.isdigit() for c in v)
    return mixed and seps <= 0.06 * len(v)


def text_values(text: bytes) -> list[tuple[str, bytes, int]]:
    """The values of JSON text that can carry data, found in the text: ``(what, sample bytes, size in bytes)``.

    - lists (or nested lists) of byte values, 256 or more: their bytes (a "palette" of 19,200);
    - lists of booleans, 2,048 or more: their bits, packed;
    - integers of 20 digits or more (beyond a 64-bit counter): their digits, together;
    - strings (keys too) that each look like a piece of base64, from :data:`GATHER_CHARS` characters: joined.

    Lists of wider integers (token ids, shapes) and of floats (filter banks, embeddings) are the configuration
    itself and are left alone, as a checkpoint's are not. Linear in the text; samples bounded."""
    out: list[tuple[str, bytes, int]] = []
    lists, size, sample = 0, 0, bytearray()  # every list of byte values, joined: decoy lists hide nothing
    for m in _INT_RUN.finditer(text):
        run = m.group()
        if _WIDE.search(run):
            continue
        lists += 1
        size += _numbers_in(run)
        if len(sample) < HIDDEN_SAMPLE:
            digits = _DIGITS.findall(run[:_RUN_SAMPLE])
            sample += np.array(digits, dtype=np.int64).astype(np.uint8).tobytes()[: HIDDEN_SAMPLE - len(sample)]
    if size >= BLOB_BYTES:
        what = (
            f"{lists:,} lists of byte values ({size:,} values), joined"
            if lists > 1
            else f"a list of {size:,} byte values"
        )
        out.append((what, bytes(sample), size))
    runs, count, bits = 0, 0, bytearray()  # every list of booleans, joined, a byte a value (packed below)
    for m in _BOOL_RUN.finditer(text):
        run = m.group()
        if _NOT_BOOLS.search(run.replace(b"true", b"").replace(b"false", b"")):
            continue  # other words of those letters
        runs += 1
        count += run.count(b"true") + run.count(b"false")
        if len(bits) < 8 * HIDDEN_SAMPLE:  # the values in order: a "t" starts each true, an "f" each false
            letters = np.frombuffer(run[: _RUN_SAMPLE * 4], dtype=np.uint8)
            letters = letters[(letters == ord("t")) | (letters == ord("f"))]
            bits += (letters == ord("t")).astype(np.uint8).tobytes()
    if count >= 8 * BLOB_BYTES:
        packed = _packed(np.frombuffer(bytes(bits[: 8 * HIDDEN_SAMPLE]), dtype=np.uint8))
        what = f"{runs:,} lists of booleans ({count:,} values), joined" if runs > 1 else f"a list of {count:,} booleans"
        out.append((what, packed, (count + 7) // 8))
    big = [m.group() for m in _BIG_INT.finditer(text)]
    ndigits = sum(len(b) for b in big)
    if ndigits >= BLOB_BYTES:
        out.append((f"{len(big):,} integers of 20 digits or more", b"".join(big)[:HIDDEN_SAMPLE], ndigits))
    pieces: list[bytes] = []
    chars = 0
    for m in _PIECE_STRING.finditer(text):
        if chars >= HIDDEN_SAMPLE:
            break
        if looks_like_piece(m.group(1).decode("ascii")):
            pieces.append(m.group(1))
            chars += len(pieces[-1])
    if chars >= GATHER_CHARS:
        out.append((f"{len(pieces):,} strings that look encoded, joined", b"".join(pieces)[:HIDDEN_SAMPLE], chars))
    return out
