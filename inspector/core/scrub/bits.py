"""Per-chunk scrubbing of low mantissa bits: the bit rules, the random streams and how many bits each dtype gets.

Bit rules (raw little-endian integer view, bit 0 = lowest mantissa bit):

* ``random`` (default): bits ``0..k-1`` become uniformly random; sign, exponent and the higher mantissa bits
  are never touched. Exact zeros stay zero (no payload can sit in a zero; this keeps sparsity and creates no
  subnormals). Inf stays the same Inf. A NaN stays NaN: if the new mantissa would be all zero (an Inf), bit 0
  is set. In fp8 E4M3FN, where the exponent 1111 is finite and only S.1111.111 is NaN, the NaN code is left
  alone and an element that would turn into it keeps its old value.
* ``round``: round to nearest, ties to even, at ``mantissa_bits - k`` bits (what a cast to bf16/fp16 does,
  e.g. fp32 ``k=16`` is the fp32→bf16→fp32 round trip). A carry may reach the exponent; a value that would
  round to Inf (or the E4M3 NaN code) is truncated instead. Inf stays Inf; NaN becomes the canonical quiet NaN
  of its sign. Zeroed low bits are a visible signature, which is why ``random`` is the default.

Integer and bool tensors, unselected tensors and dtypes with ``k = 0`` are copied bit for bit.

Randomness. Each tensor draws from its own PCG64 stream seeded by ``SeedSequence(seed,
spawn_key=<4 little-endian uint32 words of sha256(tensor name)>)``, so the output depends on the seed and the
tensor's name only, never on tensor order, chunk size or threads. Element ``i`` takes lane ``i`` of the raw
stream viewed as little-endian unsigned integers of the smallest width of 1, 2, 4 or 8 bytes that holds ``k``
bits (at most the element's width), masked to ``k`` bits.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from inspector.core.dtypes import DTYPES, DType
from inspector.core.errors import InspectorError
from inspector.core.formats import TensorRef

MODES = ("random", "round")
#: The fp32 ``k`` of ``--bits`` when none is given: 16 low bits are free in fp32 (EvilModel 2.0 overwrote them in a
#: ResNet-50 and ImageNet top-1 did not move).
DEFAULT_BITS = 16
FLOAT_DTYPES = tuple(d.name for d in DTYPES.values() if d.is_float)
_ALIASES = {
    "FP64": "F64", "FLOAT64": "F64", "DOUBLE": "F64",
    "FP32": "F32", "FLOAT32": "F32", "FLOAT": "F32",
    "FP16": "F16", "FLOAT16": "F16", "HALF": "F16",
    "BFLOAT16": "BF16",
    "E4M3": "F8_E4M3", "FP8_E4M3": "F8_E4M3", "F8_E4M3FN": "F8_E4M3",
    "E5M2": "F8_E5M2", "FP8_E5M2": "F8_E5M2",
}  # fmt: skip


# ------------------------------------------------------------------------------------------------- bits


def scaled_bits(fp32_bits: int) -> dict[str, int]:
    """Per-dtype ``k`` for ``--bits K``: fp32 gets ``K``; the others keep the same relative precision
    (fp32 keeps ``23 - K`` mantissa bits, so fp64 gets ``K + 29``, fp16 ``K - 13``, bf16 ``K - 16``), but
    fp16 and bf16 get at least 1 bit so that no float tensor is left unscrubbed. fp8 gets 0: a single bit of
    an 8-bit float is a 6-12% change; ask for it explicitly (``F8_E4M3=1``). ``K = 0`` scrubs nothing.

    ``--bits 16`` → F32 16, F64 45, F16 3, BF16 1 (mean relative change ≈ 0.2%, 0.2%, 0.2%, 0.3%)."""
    k = int(fp32_bits)
    if not 0 <= k <= 23:
        raise InspectorError(f"--bits {k}: fp32 has 23 mantissa bits; give 0..23", hint="16 is the usual choice")
    if k == 0:
        return dict.fromkeys(FLOAT_DTYPES, 0)
    out = {"F64": k + 29, "F32": k, "F16": min(10, max(1, k - 13)), "BF16": min(7, max(1, k - 16))}
    out.update({"F8_E4M3": 0, "F8_E5M2": 0})
    return out


def dtype_name(text: str) -> str:
    """A float dtype name from user text (``bf16``, ``F32``, ``fp16``, ``float32``...)."""
    key = text.strip().upper()
    key = _ALIASES.get(key, key)
    if key not in DTYPES or not DTYPES[key].is_float:
        raise InspectorError(
            f"unknown float type {text!r}", hint=f"Use one of {', '.join(FLOAT_DTYPES)} (or fp32, fp16, bf16...)"
        )
    return key


def parse_bits(text: str | int | Mapping[str, int]) -> dict[str, int]:
    """Per-dtype bits from ``--bits``: ``16`` (fp32 k, others scaled, see :func:`scaled_bits`),
    ``F32=16,BF16=2`` or ``16,bf16=2``. Without a bare number the base is the F32 value if given, else 0
    (only the named types are scrubbed). Checks every ``k`` against its type's mantissa width."""
    if isinstance(text, Mapping):
        items = [(str(k), int(v)) for k, v in text.items()]
        base: Optional[int] = None
    elif isinstance(text, int):
        items, base = [], text
    else:
        items, base = [], None
        for part in (p.strip() for p in str(text).split(",")):
            if not part:
                continue
            if re.fullmatch(r"\d+", part):
                if base is not None:
                    raise InspectorError(f"--bits {text!r}: more than one bare number")
                base = int(part)
                continue
            m = re.fullmatch(r"([A-Za-z0-9_]+)\s*=\s*(\d+)", part)
            if not m:
                raise InspectorError(f"--bits {text!r}: cannot read {part!r}", hint="Write e.g. 16 or F32=16,BF16=2")
            items.append((m.group(1), int(m.group(2))))
    named = {dtype_name(n): k for n, k in items}
    if base is None:
        base = named.get("F32", 0)
    out = scaled_bits(base)
    out.update(named)
    for name, k in out.items():
        width = DTYPES[name].mantissa_bits
        if not 0 <= k <= width:
            raise InspectorError(f"--bits {name}={k}: {name} has {width} mantissa bits; give 0..{width}")
    return out


# ------------------------------------------------------------------------------------------- randomness


def tensor_seed(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of one tensor's random stream (depends on the seed and the name only)."""
    words = struct.unpack("<4I", hashlib.sha256(name.encode("utf-8")).digest()[:16])
    return np.random.SeedSequence(int(seed), spawn_key=words)


def tensor_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(tensor_seed(seed, name)))


def lane_bytes(dt: DType, bits: int) -> int:
    """Bytes of random stream each element consumes for ``bits`` random bits."""
    need = max(1, math.ceil(bits / 8))
    width = 1
    while width < need:
        width *= 2
    return min(width, dt.itemsize)


def _draw(rng: np.random.Generator, n: int, width: int, bits: int) -> np.ndarray:
    words = (n * width + 7) // 8
    raw = rng.bit_generator.random_raw(words).astype("<u8", copy=False)
    lanes = raw.view(f"<u{width}")[:n]
    lanes &= lanes.dtype.type((1 << bits) - 1)
    return lanes


# ------------------------------------------------------------------------------------------ one chunk


def _layout(dt: DType) -> tuple[int, int, int, int]:
    """(abs mask, sign bit, exponent mask, mantissa mask) of a float type's raw view."""
    nbits = dt.bits
    absmask = (1 << (nbits - 1)) - 1
    expmask = ((1 << dt.exponent_bits) - 1) << dt.mantissa_bits
    return absmask, 1 << (nbits - 1), expmask, (1 << dt.mantissa_bits) - 1


def _danger(dt: DType, bits: int, mode: str) -> int:
    """Smallest absolute raw value that may need per-element care (beside zero) in this mode."""
    _, _, expmask, _ = _layout(dt)
    if dt.name == "F8_E4M3":  # the only NaN is S.1111.111; exponent 1111 is otherwise finite
        return 0x80 - (1 << bits) if mode == "random" else 0x7F - (1 << bits)
    return expmask if mode == "random" else expmask - (1 << bits)


def _candidates(u: np.ndarray, dt: DType, bits: int, mode: str) -> Optional[np.ndarray]:
    """Flat indices of zeros and of elements at or above the danger threshold, or ``None`` (the usual case)."""
    absmask = u.dtype.type(_layout(dt)[0])
    tmp = np.bitwise_and(u, absmask)
    tmp -= u.dtype.type(1)  # zero wraps to the top, so one comparison finds zeros and large values
    thr = u.dtype.type(_danger(dt, bits, mode) - 1)
    if tmp.max() < thr:
        return None
    return np.flatnonzero(tmp >= thr)


def _fix_random(out: np.ndarray, orig: np.ndarray, idx: np.ndarray, dt: DType) -> None:
    absmask, _, expmask, manmask = _layout(dt)
    t = out.dtype.type
    new = out[idx]
    a = orig & t(absmask)
    keep_old = a == 0
    if dt.name == "F8_E4M3":
        keep_old |= (a == 0x7F) | ((new & t(absmask)) == 0x7F)
    else:
        keep_old |= a == expmask  # Inf keeps its zero mantissa
        nan = (a > expmask) & ((new & t(manmask)) == 0)
        new[nan] |= t(1)
    new[keep_old] = orig[keep_old]
    out[idx] = new


def _fix_round(out: np.ndarray, orig: np.ndarray, idx: np.ndarray, dt: DType, bits: int) -> None:
    absmask, sign, expmask, _ = _layout(dt)
    t = out.dtype.type
    keep = t(~((1 << bits) - 1) & ((1 << dt.bits) - 1))
    a = orig & t(absmask)
    s = orig & t(sign)
    r = (a + ((a >> t(bits)) & t(1)) + t((1 << (bits - 1)) - 1)) & keep  # exact on |x|: no carry into sign
    if dt.name == "F8_E4M3":
        over = r >= 0x7F
        r[over] = t(0x7E) & keep
        res = s | r
        nan = a == 0x7F
        res[nan] = orig[nan]
    else:
        over = (r >= expmask) & (a < expmask)
        r[over] = t(expmask - 1) & keep  # the largest finite value with zero low bits
        res = s | r
        inf = a == expmask
        res[inf] = orig[inf]
        nan = a > expmask
        res[nan] = s[nan] | t(expmask | (1 << (dt.mantissa_bits - 1)))
    out[idx] = res


def scrub_chunk(
    raw: np.ndarray,
    dtype: DType,
    bits: int,
    rng: Optional[np.random.Generator],
    *,
    mode: str = "random",
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Scrub the ``bits`` low mantissa bits of a chunk of raw storage (any shape; native floats or the raw
    unsigned view) and return it in the raw unsigned view (``dtype.uint``), same shape.

    ``out`` may be ``raw`` itself (in place). In ``random`` mode the chunk draws ``ceil(n·w/8)`` words from
    ``rng.bit_generator.random_raw`` (``w`` = :func:`lane_bytes`). Non-float dtypes and ``bits = 0`` copy."""
    u = np.ascontiguousarray(raw).view(dtype.uint)
    if out is None:
        out = np.empty_like(u)
    else:
        out = out.view(dtype.uint)
        if out.shape != u.shape:
            raise ValueError(f"out has shape {out.shape}, the chunk {u.shape}")
    if not dtype.is_float or bits == 0 or u.size == 0:
        if out is not u:
            np.copyto(out, u)
        return out
    if not 0 < bits <= dtype.mantissa_bits:
        raise InspectorError(f"{dtype.name} has {dtype.mantissa_bits} mantissa bits; cannot scrub {bits}")
    if mode not in MODES:
        raise InspectorError(f"unknown scrub mode {mode!r}", hint=f"Use one of {', '.join(MODES)}")
    flat_u, flat_out = u.reshape(-1), out.reshape(-1)
    t = u.dtype.type
    idx = _candidates(flat_u, dtype, bits, mode)
    orig = flat_u[idx] if idx is not None else None  # a copy (fancy indexing): survives an in-place scrub
    keep = t(~((1 << bits) - 1) & ((1 << dtype.bits) - 1))
    if mode == "random":
        if rng is None:
            raise ValueError("random mode needs a numpy Generator")
        lanes = _draw(rng, flat_u.size, lane_bytes(dtype, bits), bits)
        np.bitwise_and(flat_u, keep, out=flat_out)
        np.bitwise_or(flat_out, lanes, out=flat_out)
        if idx is not None:
            assert orig is not None
            _fix_random(flat_out, orig, idx, dtype)
    else:
        step = flat_u >> t(bits)
        step &= t(1)
        step += t((1 << (bits - 1)) - 1)
        np.add(flat_u, step, out=flat_out)
        flat_out &= keep
        if idx is not None:
            assert orig is not None
            _fix_round(flat_out, orig, idx, dtype, bits)
    return out


# ------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class TensorPlan:
    ref: TensorRef
    bits: int  # 0: copied
    tie: Optional[str] = None  # written as an identical copy of this (earlier) tensor: same random stream

    @property
    def scrubbed(self) -> bool:
        return self.bits > 0


def aligned_chunk_bytes(dt: DType, chunk_bytes: int) -> int:
    unit = 8 * dt.itemsize  # whole random words per chunk: the stream does not depend on the chunk size
    return max(unit, chunk_bytes // unit * unit)
