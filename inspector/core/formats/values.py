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


def value_blob(obj: Any, any_numbers: bool = True) -> Optional[tuple[bytes, int]]:
    """The bytes of a value that can carry data (a byte string, a long string, a number too big for a counter, a
    list or tuple of numbers or bits, nested or not): ``(its first HIDDEN_SAMPLE bytes, its size in bytes)``, or
    ``None`` for small or structured values (configuration with text in it). ``any_numbers=False`` keeps, of the
    lists of numbers, only those of bits or byte values (0 to 255): what a configuration file holds otherwise
    (token ids, filter banks, reference embeddings) is the configuration itself."""
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
            packed = bytearray((min(len(flat), HIDDEN_SAMPLE * 8) + 7) // 8)
            for i, v in enumerate(flat[: HIDDEN_SAMPLE * 8]):
                if v:
                    packed[i >> 3] |= 0x80 >> (i & 7)
            data, size = bytes(packed), (len(flat) + 7) // 8
        elif all(type(v) is int and 0 <= v < 256 for v in flat):
            data, size = bytes(flat[:HIDDEN_SAMPLE]), len(flat)
        elif not any_numbers:
            return None
        elif all(type(v) in (int, float, bool) and (type(v) is not int or -(2**63) <= v < 2**63) for v in flat):
            data, size = array.array("d", flat[: HIDDEN_SAMPLE // 8]).tobytes(), len(flat) * 8
        elif all(type(v) is int for v in flat):  # numbers too big for a counter among them: their bytes
            data = b"".join(v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True) for v in flat)
            data, size = data[:HIDDEN_SAMPLE], len(data)
        else:
            return None
    else:
        return None
    return (data, size) if size >= BLOB_BYTES else None


def numbers(obj: Any, depth: int = 0, budget: int = HIDDEN_SAMPLE) -> Optional[list[Any]]:
    """The numbers of a list or tuple of numbers, or of such lists nested up to 3 deep (a table of byte rows,
    pairs), in order; ``None`` when anything else is in it."""
    if depth > 3:
        return None
    out: list[Any] = []
    for v in obj:
        if type(v) in (int, float, bool):
            out.append(v)
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


def encoded_pieces(obj: Any, found: list[str], chars: int = 0, depth: int = 0) -> int:
    """Append to ``found`` the strings inside a container (keys too) that look like pieces of encoded data (64 to
    1,000 characters of one base64 alphabet, upper and lower case and digits, separators as rare as in base64, no
    space or dot): a blob cut into short strings, judged as one region from :data:`GATHER_CHARS` characters (a
    path, an identifier or a hex hash does not look like that). Returns ``chars`` plus the characters found;
    stops past :data:`HIDDEN_SAMPLE` of them."""
    if depth > MAX_DEPTH or chars >= HIDDEN_SAMPLE:
        return chars
    items = list(obj.items()) if isinstance(obj, dict) else obj
    for item in items:
        for v in item if isinstance(obj, dict) else (item,):
            if isinstance(v, str) and 64 <= len(v) <= 1000 and _PIECE.fullmatch(v):
                # base64 has a '/' or '_' in 64 characters, a path or an identifier one in ten
                seps = v.count("/") + v.count("_") + v.count("-")
                mixed = any(c.isupper() for c in v) and any(c.islower() for c in v) and any(c.isdigit() for c in v)
                if mixed and seps <= 0.06 * len(v):
                    found.append(v)
                    chars += len(v)
            elif isinstance(v, CONTAINERS):
                chars = encoded_pieces(v, found, chars, depth + 1)
    return chars
