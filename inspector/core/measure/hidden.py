"""What the bytes no tensor shows look like: read once, summarised as plain data for the judge.

Each :class:`~inspector.core.formats.base.Hidden` region (storage bytes outside every view, archive members
nothing references, pickled byte strings and long lists, odd header whitespace, files beside the model) is read
in bounded chunks, whole, and reduced to its byte histogram's entropy, the share of zero bytes, how well its
first megabyte compresses and, for text, a sample the judge can test for encoded blobs.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np

from inspector.core.formats.base import Hidden, open_regular
from inspector.core.progress import CancelToken, check

#: Bytes read per chunk.
CHUNK = 4 << 20
#: Bytes of each region compressed to judge its redundancy.
COMPRESS_BYTES = 1 << 20
#: Characters of a text region kept for the judge's encoded-blob test.
SAMPLE_CHARS = 64 << 10
#: A region is text when this share of its first chunk is printable ASCII or whitespace (or, for UTF-8 beyond
#: ASCII, of its characters).
TEXT_SHARE = 0.95
#: Bytes of a text region searched for encoded-looking runs beyond the sample (see :func:`encoded_candidates`),
#: and the characters of them added to the sample.
SCAN_TEXT_BYTES = 16 << 20
CANDIDATE_CHARS = 64 << 10
#: Runs the judge's encoded-blob test would read, written compactly: one unbroken run of a base64 or hex
#: alphabet; base64 wrapped into lines of equal length (MIME, PEM, ``base64`` output, a blob cut into list items
#: of one length), not hex digests one a line; hex written as space-separated byte pairs (a hex dump)
#: (Every pattern here is a character class or anchored at a line start: linear in the text, with no state kept
#: a repetition, whatever a hostile file holds: a repeated group costs ~100 bytes of memory an iteration.)
_PLAIN_RUN = re.compile(rb"[A-Za-z0-9+/=_\-]{1024,}")
#: A line of base64 (the last line of a block may be shorter, or end the text without a line break).
_B64_LINE = re.compile(rb"^[A-Za-z0-9+/]+={0,2}[ \t]*\r?$", re.MULTILINE)
_HEX_LINE = re.compile(rb"[0-9a-fA-F]+")
#: A stretch of hex digits and white space (a hex dump is one), split at tokens that are no byte pair.
_HEX_TEXT = re.compile(rb"[0-9a-fA-F \t\r\n]{1536,}")
_NOT_PAIR = re.compile(rb"[0-9a-fA-F]{3,}|(?<![0-9a-fA-F])[0-9a-fA-F](?![0-9a-fA-F])")
_WHITESPACE = b" \t\r\n\x0b\x0c"
#: Lines of one length a wrapped base64 block has at least (the last one aside), and their lengths.
WRAPPED_LINES = 8
WRAPPED_WIDTH = (40, 1024)

_PRINTABLE = np.zeros(256, dtype=bool)
_PRINTABLE[32:127] = True
_PRINTABLE[[9, 10, 13]] = True


@dataclass(frozen=True)
class HiddenScan:
    """One region of bytes no tensor shows, as measured. ``read`` is how many of its ``nbytes`` were read (0 when
    only their count is known: the gaps of a strided view, a compressed archive member, another weight file)."""

    kind: str
    where: str
    nbytes: int
    read: int = 0
    zero_fraction: float = math.nan
    entropy: float = math.nan
    compress: float = math.nan
    text: bool = False
    sample: str = ""
    role: str = ""  # of a file beside the model (see ``Hidden.role``)

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> Optional[float]:
            return None if not math.isfinite(x) else round(x, 6)

        return {
            "kind": self.kind,
            "where": self.where,
            "bytes": self.nbytes,
            "read": self.read,
            "zero_fraction": num(self.zero_fraction),
            "entropy": num(self.entropy),
            "compress": num(self.compress),
            "text": self.text,
            "sample": self.sample[: SAMPLE_CHARS + CANDIDATE_CHARS + 1],
            **({"role": self.role} if self.role else {}),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HiddenScan:
        def num(x: Any) -> float:
            return math.nan if x is None else float(x)

        return cls(
            kind=str(d["kind"]),
            where=str(d["where"]),
            nbytes=int(d["bytes"]),
            read=int(d.get("read") or 0),
            zero_fraction=num(d.get("zero_fraction")),
            entropy=num(d.get("entropy")),
            compress=num(d.get("compress")),
            text=bool(d.get("text")),
            sample=str(d.get("sample") or ""),
            role=str(d.get("role") or ""),
        )


def _chunks(h: Hidden, cancel: Optional[CancelToken]) -> Iterator[bytes]:
    if h.data is not None:
        for i in range(0, len(h.data), CHUNK):
            yield h.data[i : i + CHUNK]
        return
    with open_regular(h.path, expect=h.file_id) as f:
        for offset, length in h.spans or ((h.offset, h.nbytes),):
            f.seek(offset)
            left = length
            while left > 0:
                check(cancel)
                got = f.read(min(CHUNK, left))
                if not got:
                    break  # cut short: what was read is judged, and ``read`` says how much
                left -= len(got)
                yield got


def _utf8_text(b: bytes) -> bool:
    """Whether bytes are UTF-8 text beyond ASCII (a character list of an OCR model, prose in another script):
    they decode strictly (a character cut at the end aside) and nearly all their characters are printable."""
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            t = b[: len(b) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not t:
            return False
        printable = sum(1 for c in t if c.isprintable() or c in "\t\n\r")
        return printable / len(t) >= TEXT_SHARE
    return False


_CHARSMAP = re.compile(rb'"precompiled_charsmap"\s*:\s*"([A-Za-z0-9+/=]*)"')


def sentencepiece_charsmap(blob: bytes) -> bool:
    """Whether ``blob`` is a SentencePiece normaliser's precompiled character map, as a tokenizer.json carries it
    base64-encoded (T5, ALBERT, XLM-R and every SentencePiece tokenizer: 0.2-0.3 MB): a uint32 trie size (a
    multiple of 4: the trie is uint32 units), the trie, then the normalised forms as NUL-terminated UTF-8."""
    if len(blob) < 8:
        return False
    trie = int.from_bytes(blob[:4], "little")
    rest = blob[4 + trie :]
    if trie <= 0 or trie % 4 or 4 + trie >= len(blob) or not rest.endswith(b"\0"):
        return False
    try:
        rest.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _known_blobs(head: bytes) -> bytes:
    """The head of a text region with the encoded blobs a format defines, once checked, replaced by a short mark
    (the judge's encoded-blob test would otherwise take them for a payload): SentencePiece character maps."""

    def mark(m: re.Match) -> bytes:
        try:
            blob = base64.b64decode(m.group(1), validate=True)
        except (binascii.Error, ValueError):
            return m.group(0)
        if not sentencepiece_charsmap(blob):
            return m.group(0)
        return b'"precompiled_charsmap": "<a SentencePiece character map of %d bytes, checked>"' % len(blob)

    return _CHARSMAP.sub(mark, head) if b"precompiled_charsmap" in head else head


def _wrapped(body: bytes) -> list[bytes]:
    """Blocks of base64 wrapped into lines: at least :data:`WRAPPED_LINES` consecutive lines of one length (40
    to 1,024 characters), then a last line no longer, joined; a list of hex digests (one a line) is no block."""
    out: list[bytes] = []
    block: list[bytes] = []
    end = -1

    def close() -> None:
        width = len(block[0]) if block else 0
        full = block[:-1] if len(block) > 1 and len(block[-1]) < width else block
        if len(full) >= WRAPPED_LINES and not all(_HEX_LINE.fullmatch(ln) for ln in block):
            out.append(b"".join(block))

    lo, hi = WRAPPED_WIDTH
    for m in _B64_LINE.finditer(body):
        line = m.group().rstrip()
        joins = m.start() == end + 1 and block and len(block[-1]) == len(block[0]) and len(line) <= len(block[0])
        if not joins:
            close()
            block = [line] if lo <= len(line) <= hi else []
        elif block:
            block.append(line)
        end = m.end()
    close()
    return out


def encoded_candidates(body: bytes, skip: int) -> str:
    """Runs in ``body`` that could be encoded data, written without their line breaks and spaces, longest first,
    up to :data:`CANDIDATE_CHARS`: unbroken runs that start past ``skip`` (the sample holds those before), and
    wrapped base64 (its lines of one length, the last shorter) or spaced hex pairs anywhere. Prose never matches:
    its words are short and its lines unequal. The judge decides what they are."""
    found: list[bytes] = []
    for m in _PLAIN_RUN.finditer(body, skip):
        found.append(m.group())
    found += _wrapped(body)
    for m in _HEX_TEXT.finditer(body):
        for part in _NOT_PAIR.split(m.group()):
            pairs = part.translate(None, _WHITESPACE)  # (a regex substitution would keep every piece in a list)
            if len(pairs) >= 1024 and len(pairs) < len(part):  # byte pairs with space between them
                found.append(pairs)
    found.sort(key=len, reverse=True)
    out, size = [], 0
    for run in found:
        if size >= CANDIDATE_CHARS:
            break
        out.append(run[: CANDIDATE_CHARS - size].decode("ascii", "replace"))
        size += len(out[-1])
    return "\n".join(out)


def measure_region(h: Hidden, cancel: Optional[CancelToken] = None) -> HiddenScan:
    """Read one region whole (chunk by chunk) and summarise it."""
    if not h.readable or h.nbytes <= 0:
        return HiddenScan(h.kind, h.where, h.nbytes, role=h.role)
    counts = np.zeros(256, dtype=np.int64)
    head = b""
    body = bytearray()  # the first SCAN_TEXT_BYTES, searched for encoded runs if the region is text
    texty = False
    read = 0
    for chunk in _chunks(h, cancel):
        counts += np.bincount(np.frombuffer(chunk, dtype=np.uint8), minlength=256)
        if len(head) < COMPRESS_BYTES:
            head += chunk[: COMPRESS_BYTES - len(head)]
        if not read:  # kept only for what may be text (the judge's test is decided below, on the first chunk)
            texty = bool(_PRINTABLE[np.frombuffer(chunk[:CHUNK], dtype=np.uint8)].mean() >= 0.5)
        if texty and len(body) < SCAN_TEXT_BYTES:
            body += chunk[: SCAN_TEXT_BYTES - len(body)]
        read += len(chunk)
    if not read:
        return HiddenScan(h.kind, h.where, h.nbytes, role=h.role)
    p = counts[counts > 0] / read
    entropy = float(-(p * np.log2(p)).sum())
    compress = len(zlib.compress(head, 6)) / len(head)
    first = np.frombuffer(head[:CHUNK], dtype=np.uint8)
    text = bool(_PRINTABLE[first].mean() >= TEXT_SHARE) or _utf8_text(head[:CHUNK])
    if text and h.role == "companion":
        head = _known_blobs(head)
    sample = head[: SAMPLE_CHARS * 4].decode("utf-8", "replace")[:SAMPLE_CHARS] if text else ""
    if text and body:
        shown = len(sample.encode("utf-8", "surrogatepass"))  # about the bytes the sample holds
        extra = encoded_candidates(_known_blobs(bytes(body)) if h.role == "companion" else bytes(body), shown)
        if extra:
            sample += "\n" + extra
    zeros = float(counts[0] / read)
    return HiddenScan(h.kind, h.where, h.nbytes, read, zeros, entropy, compress, text, sample, h.role)


def measure_hidden(regions: Sequence[Hidden], cancel: Optional[CancelToken] = None) -> tuple[HiddenScan, ...]:
    """Every region of a model's hidden bytes, measured."""
    return tuple(measure_region(h, cancel) for h in regions)
