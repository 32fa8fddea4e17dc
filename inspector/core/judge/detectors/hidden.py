"""Payloads in the bytes no tensor shows: the part of a file no weight test reads and no scrub rewrites.

``torch.save`` writes whole storages, so a tensor saved as a view of a bigger buffer carries the rest of the
buffer; ``torch.load`` reads it and nothing uses it. Archives may hold members nothing references, pickles byte
strings and long lists, safetensors headers whitespace that spells out bits, model folders files beside the
weights. Each region was measured (:mod:`inspector.core.measure.hidden`); here it is judged as the non-float
tensor detector judges a tensor no layer explains: a few hundred bytes are worth a look, kilobytes are room for
real data. Zeros carry nothing; a companion file (config, tokenizer) is judged by its encoded blobs only.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional, Sequence

from inspector.core.formats.base import TRAINING_UNREAD
from inspector.core.judge.detectors.context import finding
from inspector.core.judge.detectors.metadata import BLOB_CHARS, encoding_of
from inspector.core.judge.detectors.nonfloat import SUSPICIOUS_BYTES, WARNING_BYTES
from inspector.core.judge.findings import Finding

NAME = "hidden-bytes"

#: Odd header whitespace from this many characters is a warning, and suspicious from the second number (a bit
#: per character: 256 bytes of payload).
HEADER_WARNING = 16
HEADER_SUSPICIOUS = 2048

_WHY = {
    "storage": "torch.load reads them with the tensors, and no layer uses them",
    "member": "the checkpoint's loader never reads them, but they ship with the file",
    "pickle": "a value of the checkpoint that is not a tensor",
    "header": "each tab, carriage return or odd run can spell out a bit",
    "file": "it ships with the model folder",
    "field": "a field of the file no loader needs (a doc string, an unknown field)",
}
_NEXT = {
    "storage": "re-save the tensors with .clone() (or export through `scrub`, which writes only the tensors)",
    "member": "export through `scrub`, which writes only the tensors",
    "pickle": "look at it, and drop it from the release unless you know what it is",
    "header": "export through `scrub`, which writes a fresh header",
    "file": "look at it, and leave it out of the release unless you know what it is",
    "field": "read it, and export through `scrub`, which writes only the tensors",
}


def _described(h: Any) -> str:
    if not h.read:
        return ""
    parts = [f"{h.entropy:.2f} bits of entropy per byte"]
    if math.isfinite(h.compress):
        parts.append(f"zlib compresses it to {h.compress:.0%}")
    if h.zero_fraction > 0.01:
        parts.append(f"{h.zero_fraction:.0%} zero bytes")
    return " (" + ", ".join(parts) + ")"


_RUN = re.compile(rf"[A-Za-z0-9+/=_\-]{{{BLOB_CHARS},}}")


def _encoded(sample: str) -> tuple[Optional[str], int]:
    """The encoding and length of the longest base64/hex/base85-looking run of ``sample`` of at least
    :data:`BLOB_CHARS` characters (a blob inside JSON, or the whole text), or ``(None, 0)``."""
    best: tuple[Optional[str], int] = (None, 0)
    for m in _RUN.finditer(sample):
        enc = encoding_of(m.group())
        if enc is not None and len(m.group()) > best[1]:
            best = (enc, len(m.group()))
    return best


def _script(sample: str) -> str:
    """What a text region is: ``"ascii"`` (mostly ASCII: the encoded-run test judges it), ``"vocabulary"`` (a
    list of short distinct lines beyond ASCII: an OCR model's characters, labels in another script), or
    ``"other"`` (text beyond ASCII without that structure: prose in another script, or data packed into
    characters, as base65536-style encodings pack 2 bytes into each; no statistic of a sample tells them apart
    reliably, so it is judged as bytes and held at a warning)."""
    foreign = sum(1 for c in sample if ord(c) > 127)
    if foreign < 0.2 * max(1, len(sample)):
        return "ascii"
    lines = [ln for ln in sample.split("\n") if ln.strip()]
    if len(lines) >= 16 and len(set(lines)) >= 0.9 * len(lines) and sum(map(len, lines)) <= 16 * len(lines):
        return "vocabulary"
    return "other"


def detect(regions: Sequence[Any]) -> tuple[list[Finding], int, list[str]]:
    """Findings for the bytes no tensor shows: ``(findings, bytes checked, limits)``."""
    out: list[Finding] = []
    checked = 0
    limits: list[str] = []
    for h in regions:
        checked += h.read
        if h.role == "weights":
            limits.append(f"the {h.where} was not judged with it; open it on its own")
            continue
        if h.role == TRAINING_UNREAD and not h.read:  # past the count of training-state files read
            limits.append(f"the {h.where} ({h.nbytes:,} bytes); open it on its own")
            continue
        if h.role == "training":  # its pickle and stray bytes are regions of their own; its tensors are not scanned
            limits.append(f"{h.where} ({h.nbytes:,} bytes): not scanned with the model; open the file on its own")
            continue
        if h.read and h.zero_fraction >= 1.0:
            continue  # zeros carry nothing
        script = _script(h.sample) if h.text else ""
        text = script in ("ascii", "vocabulary")
        enc, chars = _encoded(h.sample) if text else (None, 0)
        size = h.nbytes
        ev = {"kind": h.kind, "where": h.where, "bytes": size, "read": h.read, "entropy": h.entropy}
        if enc is not None:
            excess = 1.0 + math.log2(chars / BLOB_CHARS) / 4
            what = f"{chars:,} characters of {enc}-encoded data" + (f" among {size:,} bytes" if chars < size else "")
        elif h.role in ("companion", "card") or (h.kind in ("pickle", "field") and text):
            # configuration and tokenizer files, and long strings in a checkpoint, are usually prose or JSON:
            # only an encoded blob in them is a finding (a long string is still worth a warning)
            if h.kind != "pickle" or size < SUSPICIOUS_BYTES:  # doc strings and vocabularies are text
                continue
            excess, what = 0.6, f"{size:,} characters of text"
        elif h.kind == "header":
            if size < HEADER_WARNING:
                continue
            excess = 1.0 + math.log2(size / HEADER_SUSPICIOUS) / 4 if size >= HEADER_SUSPICIOUS else 0.6
            what = f"{size:,} {'escapes' if 'escape' in h.where else 'whitespace characters'} no JSON writer emits"
        else:
            if size < WARNING_BYTES:
                continue
            excess = 1.0 + math.log2(size / SUSPICIOUS_BYTES) / 4 if size >= SUSPICIOUS_BYTES else 0.6
            what = f"{size:,} bytes" + ("" if h.read else " (not read: only their count is known)")
            if script == "other":
                what += " of text beyond ASCII (prose in another script, or data packed into characters)"
        out.append(
            finding(
                NAME,
                "non-float",
                None,
                excess,
                f"{h.where}: {what}{_described(h)} that no tensor shows; {_WHY.get(h.kind, '')}. "
                f"Low-bit scrubbing does not touch them: {_NEXT.get(h.kind, '')}",
                ev,
                # a model card embeds its pictures as base64 and anyone reading it sees them: worth a look, no more
                cap="warning" if h.role == "card" or script == "other" else None,
            )
        )
    return out, checked, limits
