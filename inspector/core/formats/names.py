"""How much a list of names holds beyond a naming scheme: their compressed size, and the names with the parts no
other name has. Tensor names and an ONNX graph's node and value names are free text that every loader keeps;
real ones repeat their parts from layer to layer, a payload spread over them does not (see the judge's
``tensor-names`` check)."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from typing import Sequence

_PART = re.compile(r"[A-Za-z0-9]+")


_DIGITS = re.compile(r"\d+")
#: Names :func:`examples` looks at (it counts every part of each: a million names would take seconds).
EXAMPLE_NAMES = 20_000


def compressed_size(names: Sequence[str]) -> int:
    """Bytes of the names compressed with zlib at level 9, one name a line, in the order given."""
    return len(zlib.compress("\n".join(names).encode("utf-8", "surrogatepass"), 9))


def template_size(names: Sequence[str]) -> int:
    """Bytes of the names' distinct templates (every run of digits written ``#``) compressed as
    :func:`compressed_size` does. A naming scheme has a few templates however many layers it names, so this
    does not grow with the count: names added to dilute a payload do not hide it here."""
    return compressed_size(list(dict.fromkeys(_DIGITS.sub("#", n) for n in names)))


def examples(names: Sequence[str], k: int = 3) -> list[str]:
    """The ``k`` names holding the longest parts that no other name has (``layers.0`` and ``q_proj`` repeat; a
    payload does not), indices of up to 6 digits aside; the first names where none has such a part."""
    names = names[:EXAMPLE_NAMES]
    parts = [_PART.findall(n[:1000]) for n in names]
    seen = Counter(p for ps in parts for p in set(ps))
    own = []
    for name, ps in zip(names, parts):
        lengths = [len(p) for p in ps if seen[p] == 1 and not (p.isdigit() and len(p) <= 6)]
        if lengths:
            own.append((max(lengths), name))
    own.sort(key=lambda t: -t[0])
    return [n for _, n in own[:k]] or list(names[:k])
