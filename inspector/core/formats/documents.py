"""Structural checks of the JSON documents Model Inspector reads back: scan/1 results and baseline profiles.

A document written by hand or by a hostile party may put a string where a number belongs, a list where an
object belongs, ``Infinity`` where a finite number belongs. Each check walks the document once against a
small schema and raises one :class:`InspectorError` naming the first field that is wrong (``tensors[3].
histogram.edges[2] is text, not a number``), so nothing downstream meets a type it did not expect.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Union

from inspector.core.errors import InspectorError

# schema atoms
NUM, NUM_OR_NULL, INT, INT_OR_NULL, STR, STR_OR_NULL, BOOL, ANY = (
    "a number",
    "a number or null",
    "an integer",
    "an integer or null",
    "text",
    "text or null",
    "true or false",
    "anything",
)

Schema = Union[str, dict, list, tuple]

#: Most elements of any one list or object: far beyond a real document.
MAX_ITEMS = 10_000_000

_FINDING = {
    "detector": STR,
    "attack": STR,
    "tensor": STR_OR_NULL,
    "severity": ("info", "warning", "suspicious"),
    "score": NUM,
    "message": STR,
    "evidence": {},
}
_TENSOR = {
    "name": STR,
    "dtype": STR,
    "shape": [INT],
    "kind": STR,
    "stats": {"*": (NUM_OR_NULL, [NUM_OR_NULL])},
    "histogram": {"edges": [NUM], "counts": [INT]},
}
SCAN_SCHEMA: dict[str, Schema] = {
    "schema": STR,
    "tool": {"name": STR, "version": STR},
    "model": {
        "path": STR,
        "format": STR,
        "sha256": STR_OR_NULL,
        "tensors": INT,
        "parameters": INT,
        "bytes": INT,
        "metadata": {"*": STR},
    },
    "inputs": {},
    "verdict": STR,
    "score": NUM,
    "families": [{"family": STR, "status": STR, "score": NUM_OR_NULL}],
    "missing": [STR],
    "coverage": {"file_bytes": INT, "rows": [{}]},
    "findings": [_FINDING],
    "checked": [STR],
    "limits": [STR],
    "tensors": [_TENSOR],
    "seconds": NUM,
}
PROFILE_SCHEMA: dict[str, Schema] = {
    "schema": STR,
    "name": STR,
    "family": STR,
    "description": STR,
    "sources": [STR],
    "signature": {"*": NUM},
    "kinds": {"*": {"*": {"lo": NUM, "hi": NUM, "median": NUM, "count": INT}}},
}


def _kind(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true/false"
    if isinstance(x, (int, float)):
        return "a number" if not isinstance(x, float) or math.isfinite(x) else f"{x!r}"
    if isinstance(x, str):
        return "text"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "an object"
    return type(x).__name__


def _atom_ok(x: Any, atom: str) -> bool:
    if atom == ANY:
        return True
    if x is None:
        return atom.endswith("or null")
    if atom in (NUM, NUM_OR_NULL):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    if atom in (INT, INT_OR_NULL):
        return isinstance(x, int) and not isinstance(x, bool)
    if atom in (STR, STR_OR_NULL):
        return isinstance(x, str)
    if atom == BOOL:
        return isinstance(x, bool)
    return False


def _where(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def _check(x: Any, schema: Schema, path: str) -> Optional[str]:
    """The first problem below ``x`` (a one-line description), or ``None``."""
    stack: list[tuple[Any, Schema, str]] = [(x, schema, path)]
    while stack:
        value, spec, where = stack.pop()
        label = where or "the document"
        if isinstance(spec, str):
            if not _atom_ok(value, spec):
                return f"{label} is {_kind(value)}, not {spec}"
        elif isinstance(spec, tuple):  # alternatives: literal strings, or schemas
            if all(isinstance(s, str) and s not in _ATOMS for s in spec):
                if value not in spec:
                    return f"{label} is {_short(value)}, not one of {', '.join(spec)}"
            elif not any(_check(value, s, where) is None for s in spec):
                return f"{label} is {_kind(value)}, which is not allowed here"
        elif isinstance(spec, list):
            if not isinstance(value, list):
                return f"{label} is {_kind(value)}, not a list"
            if len(value) > MAX_ITEMS:
                return f"{label} has {len(value):,} items"
            stack.extend((item, spec[0], _where(where, i)) for i, item in enumerate(value))
        elif isinstance(spec, dict):
            if not isinstance(value, dict):
                return f"{label} is {_kind(value)}, not an object"
            if len(value) > MAX_ITEMS:
                return f"{label} has {len(value):,} keys"
            every = spec.get("*")
            for k, v in value.items():
                sub = spec.get(k, every)
                if sub is not None:
                    stack.append((v, sub, _where(where, k)))
    return None


_ATOMS = {NUM, NUM_OR_NULL, INT, INT_OR_NULL, STR, STR_OR_NULL, BOOL, ANY}


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:40] + "..."


def check_document(doc: Any, schema: dict[str, Schema], *, what: str, path: Union[str, Path, None] = None) -> None:
    """Raise :class:`InspectorError` (one line) when ``doc`` does not fit ``schema``."""
    problem = _check(doc, schema, "")
    if problem is not None:
        raise InspectorError(
            f"not a valid {what} document: {problem}",
            path=path,
            hint=f"Write it again with model-inspector; do not edit {what} documents by hand",
        )


def check_scan_document(doc: Any, path: Union[str, Path, None] = None) -> None:
    check_document(doc, SCAN_SCHEMA, what="scan", path=path)
    hist_problem = _histograms(doc)
    if hist_problem:
        raise InspectorError(f"not a valid scan document: {hist_problem}", path=path, hint="Write it again")


def _histograms(doc: dict[str, Any]) -> Optional[str]:
    for i, t in enumerate(doc.get("tensors") or ()):
        h = t.get("histogram")
        if not h:
            continue
        edges, counts = h.get("edges") or [], h.get("counts") or []
        if edges and len(counts) != len(edges) - 1:
            return f"tensors[{i}].histogram has {len(counts)} counts for {len(edges)} edges"
        if any(b < a for a, b in zip(edges, edges[1:])):
            return f"tensors[{i}].histogram.edges are not in increasing order"
        if any(c < 0 for c in counts):
            return f"tensors[{i}].histogram.counts has a negative count"
    return None


def check_profile_document(doc: Any, path: Union[str, Path, None] = None) -> None:
    check_document(doc, PROFILE_SCHEMA, what="baseline profile", path=path)
