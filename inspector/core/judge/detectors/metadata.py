"""Metadata: the header's free-text key/value pairs and the tensors' names, carriers no weight test reads.

A safetensors ``__metadata__`` may hold any string: a base64 image set fits as easily as ``"format": "pt"``.
Known conventions (framework markers, our own provenance and lab keys) are expected; long values that look like
encoded binary (base64, base85, hex) are evidence of a payload; long values under unknown keys are reported for
a reviewer to read. Scrubbing reduces metadata to known keys.

Tensor names are free text too, in every format: ``blocks.3.<200 characters of base64>.weight`` loads like any
other name. Real names repeat their parts from layer to layer (``layers.17.self_attn.q_proj.weight``), so the
part of the names that only one name has, short indices aside, stays small: at most 407 characters over a
corpus of 359 real checkpoints (a 108-tensor ONNX export whose every name is unique, ``v357``), and at most 50 of
them in runs of 16 or more letters and digits; compressed, real names take at most 4 bytes a name, and 195 bytes
beyond that in all. A payload spread over names does not compress that way: 3.6 KB of personal records as name
parts exceed it by 1 KB, 3 KB of base64 by 3 KB. Scrubbing cannot rename tensors (the architecture loads them by
name), so an export keeps them and its re-judgement says so.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from typing import Mapping, Sequence

from inspector.core.formats.names import compressed_size, examples, template_size
from inspector.core.judge.detectors.context import WARNING_AT, finding
from inspector.core.judge.findings import Finding

NAME = "metadata-blob"

#: Keys written by common tools (exact names or prefixes) whose values are expected.
KNOWN_KEYS = ("format", "framework", "pt_version", "total_size", "modelspec.", "ss_", "sshs_", "gguf.", "general.")
KNOWN_PREFIXES = ("inspector.", "modelspec.", "ss_", "sshs_", "training.", "general.", "tokenizer.")
#: An encoded-looking value at least this long is suspicious (room for real data); half of it warns.
BLOB_CHARS = 1024
#: Encoded values each too short to judge alone but this long together are a blob cut into pieces.
SPREAD_CHARS = 2048
#: A value under an unknown key at least this long is worth a reviewer's look.
LONG_VALUE = 256

_B64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HEX_PAIRS = re.compile(r"(?:[0-9a-fA-F]{2}\s+)+[0-9a-fA-F]{2}")


def _char_entropy(v: str) -> float:
    c = Counter(v)
    n = len(v)
    return -sum(k / n * math.log2(k / n) for k in c.values()) if n else 0.0


def encoding_of(value: str) -> str | None:
    """``"base64"``, ``"hex"``, ``"base85"`` or ``"binary-like text"`` when a long string is encoded binary
    rather than text, else ``None``.

    Encoded data has no spaces and decodes strictly; prose, JSON and lists have spaces, braces or punctuation
    outside those alphabets. Line breaks (as base64 tools wrap at 76), spaces at line ends, and hex written as
    space-separated byte pairs are allowed."""
    v = value.strip()
    if len(v) < 64:
        return None
    lines = v.splitlines()
    if _HEX_PAIRS.fullmatch(v):  # a hex dump: byte pairs separated by spaces
        compact = re.sub(r"\s+", "", v)
    elif all(not re.search(r"\s", ln.strip()) for ln in lines):  # one run, or wrapped (spaces at line ends)
        compact = "".join(ln.strip() for ln in lines)
    else:
        return None
    if _HEX.match(compact) and len(compact) % 2 == 0:
        return "hex"
    if _B64.match(compact):
        alt = b"-_" if ("-" in compact or "_" in compact) else None
        body = compact.rstrip("=")
        if len(body) % 4 == 1:  # no base64 text is 4k+1 long: a character added to break the decoding
            body = body[:-1]
        try:
            base64.b64decode(body + "=" * (-len(body) % 4), altchars=alt, validate=alt is None)
            return "base64"
        except (binascii.Error, ValueError):
            pass
    try:
        base64.b85decode(compact)
        return "base85"
    except (ValueError, binascii.Error):
        pass
    printable = sum(c.isprintable() for c in compact) / len(compact)
    return "binary-like text" if printable < 0.9 or _char_entropy(compact) > 6.0 else None


_INNER_RUN = re.compile(rf"[A-Za-z0-9+/=_\-]{{{BLOB_CHARS},}}")


def _inner_blob(value: str) -> tuple[str, int] | None:
    """The longest encoded run of at least :data:`BLOB_CHARS` characters inside a text value (prose, then
    base64), as ``(encoding, characters)``."""
    best: tuple[str, int] | None = None
    for m in _INNER_RUN.finditer(value):
        enc = encoding_of(m.group())
        if enc is not None and (best is None or len(m.group()) > best[1]):
            best = (enc, len(m.group()))
    return best


def _encoded_value(key: str, enc: str, chars: int, where: str) -> Finding:
    """A metadata value holding ``chars`` characters of encoded data (suspicious from :data:`BLOB_CHARS`)."""
    excess = 1.0 + math.log2(chars / BLOB_CHARS) / 4 if chars >= BLOB_CHARS else 0.6
    return finding(
        NAME,
        "metadata",
        None,
        excess,
        f"metadata key {key!r} holds {chars:,} characters of {enc}-encoded data{where}: binary data hidden in the "
        "header, which no weight test reads; sanitizing drops unknown keys",
        {"key": key, "chars": chars, "encoding": enc},
    )


def known(key: str) -> bool:
    return key in KNOWN_KEYS or key.startswith(KNOWN_PREFIXES)


def detect(metadata: Mapping[str, str]) -> tuple[list[Finding], int]:
    """Findings for the header metadata: ``(findings, bytes checked)``."""
    out: list[Finding] = []
    total = 0
    spread: list[tuple[str, int]] = []  # encoded values too short to be evidence alone: (key, characters)
    # GGUF's own conventions: general.*, tokenizer.* and the keys of the architecture the file names
    arch = str(metadata.get("gguf.general.architecture", "")).strip()
    gguf_known = ("gguf.general.", "gguf.tokenizer.") + ((f"gguf.{arch}.",) if arch else ())
    for key, value in metadata.items():
        value = str(value)
        total += len(key.encode("utf-8", "surrogatepass")) + len(value.encode("utf-8", "surrogatepass"))
        enc = encoding_of(value)
        shown_key = key if len(key) <= 60 else key[:57] + "…"
        if enc in ("base64", "base85") and len(value) < BLOB_CHARS:  # judged together below as well (hex values
            spread.append((shown_key, len(value)))  # are hashes, mostly)
        if enc is not None and len(value) >= BLOB_CHARS // 2:
            out.append(_encoded_value(shown_key, enc, len(value), ""))
        elif enc is not None:
            continue
        elif len(value) >= BLOB_CHARS and (inner := _inner_blob(value)) is not None:  # text around a blob
            out.append(_encoded_value(shown_key, inner[0], inner[1], f" inside its {len(value):,} characters of text"))
        elif not known(key) and not key.startswith(gguf_known) and len(value) >= LONG_VALUE:
            out.append(
                finding(
                    NAME,
                    "metadata",
                    None,
                    0.5,
                    f"metadata key {shown_key!r} (not a known convention) holds {len(value):,} characters; read it "
                    "before release",
                    {"key": shown_key, "chars": len(value)},
                )
            )
    chars = sum(n for _, n in spread)
    if chars >= SPREAD_CHARS:  # a blob cut into values each below the threshold
        excess = 1.0 + math.log2(chars / SPREAD_CHARS) / 4
        keys = ", ".join(repr(k) for k, _ in spread[:3])
        out.append(
            finding(
                NAME,
                "metadata",
                None,
                excess,
                f"{len(spread)} metadata values ({keys}, …) hold {chars:,} characters of encoded data between them: "
                "a blob cut into values each too short to judge alone; sanitizing drops unknown keys",
                {"keys": len(spread), "chars": chars},
            )
        )
    return out, total


NAMES = "tensor-names"
#: Compressed bytes a tensor name may take (an index that grows from name to name, a separator).
NAME_BYTES = 4
#: The same for an ONNX graph's node and value names: a converter's fused names run long (TensorFlow's
#: ``model_1/conv/Conv2D;model_1/bn/FusedBatchNormV3``: 6.9 bytes a name over basic-pitch's 321).
GRAPH_NAME_BYTES = 12
#: Compressed bytes of the names' distinct templates (digit runs as ``#``) that a naming scheme may take,
#: whatever the count: at most 404 for the tensor names of the corpus's real files, 1,544 for an ONNX graph's
#: (an exported decoder's 372 templates).
NAME_TEMPLATE_BYTES = 512
GRAPH_TEMPLATE_BYTES = 2048
#: Compressed bytes beyond either allowance that are evidence of a payload; half of them warn.
NAME_EXCESS_BYTES = 1024
#: Where an ONNX reader put its summary of the graph's node and value names (see ``formats.onnx``).
GRAPH_NAMES, GRAPH_NAMES_BYTES, GRAPH_NAMES_TEMPLATES, GRAPH_NAMES_EXAMPLES = (
    "onnx.names",
    "onnx.names_compressed",
    "onnx.names_templates",
    "onnx.names_examples",
)


def detect_names(names: Sequence[str], metadata: Mapping[str, str] = {}, fmt: str = "") -> tuple[list[Finding], int]:
    """Findings for data carried in the tensors' names, and in an ONNX graph's node and value names (summarised
    in ``metadata`` by the ONNX reader; read for format ``onnx`` only): ``(findings, characters read)``.

    Two measures, each against its allowance: the names compressed (a payload spread over them, digits
    included, does not compress like a naming scheme), and their distinct templates compressed (digit runs as
    ``#``: a scheme has a few however many layers it names, so names added to dilute a payload do not hide it)."""
    out: list[Finding] = []
    total = sum(map(len, names))
    # (what, how many, compressed bytes, allowance a name, template bytes, template allowance, example source)
    sets: list[tuple[str, int, int, int, int, int, Sequence[str]]] = [
        (
            "tensor names",
            len(names),
            compressed_size(names),
            NAME_BYTES,
            template_size(names),
            NAME_TEMPLATE_BYTES,
            names,
        )
    ]
    if fmt == "onnx":
        try:
            count = int(metadata.get(GRAPH_NAMES, 0))
            gz, gt = int(metadata.get(GRAPH_NAMES_BYTES, 0)), int(metadata.get(GRAPH_NAMES_TEMPLATES, 0))
        except ValueError:
            count = gz = gt = 0
        if count > 0:
            given = [n for n in str(metadata.get(GRAPH_NAMES_EXAMPLES, "")).split("\n") if n]
            sets.append(
                (
                    "node and value names of the ONNX graph",
                    count,
                    gz,
                    GRAPH_NAME_BYTES,
                    gt,
                    GRAPH_TEMPLATE_BYTES,
                    given,
                )
            )
    for what, count, size, per, templates, room, source in sets:
        extra = max(size - per * count, templates - room)
        excess = extra / NAME_EXCESS_BYTES
        if excess < WARNING_AT:
            continue
        picked = examples(source) if source is names else list(source)
        shown = ", ".join(repr(n if len(n) <= 60 else n[:57] + "…") for n in picked[:3])
        out.append(
            finding(
                NAMES,
                "metadata",
                None,
                excess,
                f"the {count:,} {what} compress to {size:,} bytes ({per} a name would be a naming scheme's) and "
                f"their distinct templates to {templates:,} ({room:,} would be): {extra:,} bytes more than a naming "
                "scheme takes (the real models we read stay 300 bytes or more below where a warning starts), e.g. "
                f"{shown}: data hidden in the names, which no weight test reads and an export keeps (a loader finds "
                "tensors by name); re-save the weights under the architecture's own names",
                {
                    "compressed_bytes": size,
                    "template_bytes": templates,
                    "excess_bytes": extra,
                    "names": count,
                    "which": what,
                },
            )
        )
    return out, total
