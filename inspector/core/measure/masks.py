"""The bits of tensors that hold only 0 and 1 (pruning masks, attention masks, binary buffers), measured for the
judge: a mask is room for one bit an element, and its values alone (0/1) say nothing of what the bits spell.

Four figures, from a second read of each such tensor (bounded, as the other second reads are):

- ``mask_bits``: counts of the 256 values of every 8 consecutive elements taken as bits (non-zero: 1, the first
  element the highest bit, as ``np.packbits`` packs them), in storage order over the whole tensor. How pruning
  makes masks leaves its mark on them: independent draws (random pruning, magnitude pruning of trained weights)
  follow a coin's byte distribution, whole rows or a causal triangle are runs of 0x00 and 0xFF, N:M sparsity puts
  N ones in every aligned group of M. An image's or a text's bits written one an element do none of these.
- ``mask_window`` (``mask_window_at``): the same counts over the window of 32,768 elements (windows every
  16,384) farthest from a chain of bits: a payload written into part of a mask is judged where it is.
- ``mask_rows``: of the rows along the first axis, how many are all 0, all 1 or equal to the row before:
  pruning whole input channels or kernel taps repeats one row in every unit, which no chain of bits describes.
- ``mask_magnitudes``: where a weight of the same shape sits beside the mask (``X_mask`` beside ``X_orig``, as
  ``torch.nn.utils.prune`` saves them, or beside ``X``): the largest magnitude among the weights the mask drops
  and the smallest among those it keeps. A magnitude-pruning mask drops the smallest weights, so the first is no
  larger than the second, whatever structure the weights have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

import numpy as np

from inspector.core.dtypes import DTYPES, widen
from inspector.core.errors import TensorNotFoundError
from inspector.core.formats.base import ModelFile, TensorRef, iter_chunks
from inspector.core.progress import CancelToken, check

#: Elements a 0/1 tensor must hold to be measured (1,024 bytes of bits: below it the byte distribution of a coin
#: is too noisy to tell from anything).
MIN_MASK_ELEMENTS = 8192
#: Elements read at a time.
_STEP = 1 << 17
#: Rows longer than this (elements) are not compared with the row before (one row is held in memory).
MAX_ROW = 1 << 22


def two_valued(t: Any) -> bool:
    """Whether a measured tensor holds only the values 0 and 1 (both), with enough of them to judge its bits."""
    dt = DTYPES.get(t.dtype)
    s = t.stats
    if dt is None or math.prod(t.shape) < MIN_MASK_ELEMENTS or not (s.min == 0 and s.max == 1):
        return False
    if s.nan or s.inf:
        return False
    if not dt.is_float:
        return True
    f = getattr(t, "features", None)
    return f is not None and f.levels == 2


#: Packed bytes of a window (32,768 elements), windows every half of it: a payload in part of a mask is judged
#: where it is, not diluted by the rest.
WINDOW_BYTES = 4096

_BIT = (np.arange(256)[:, None] >> np.arange(7, -1, -1)[None, :]) & 1  # each byte's bits, the first the highest
#: per bit position j < 7 and transition (a, b): the bytes whose bits j, j + 1 are a, b (4 × 7 rows of 256)
_STEPS = np.stack([(_BIT[:, j] == a) & (_BIT[:, j + 1] == b) for a in (0, 1) for b in (0, 1) for j in range(7)])


def divergence(counts: Any) -> float:
    """How far bytes of bits (256 counts) are from a chain of bits, each drawn given the one before (which includes
    bits drawn alike and independently), fitted to the transitions inside the bytes: Kullback-Leibler divergence in
    bits a byte, less what a sample of its size reads by chance (``(255 - 3) / (2 B ln 2)``). NaN without bytes."""
    c = np.asarray(counts, dtype=np.float64)
    total = float(c.sum())
    if c.size != 256 or total <= 0:
        return math.nan
    trans = (_STEPS.astype(np.float64) @ c).reshape(2, 2, 7).sum(axis=2) + 0.5
    step = trans / trans.sum(axis=1, keepdims=True)
    first = np.array([c[_BIT[:, 0] == 0].sum(), c[_BIT[:, 0] == 1].sum()]) + 0.5
    q = (first / first.sum())[_BIT[:, 0]]
    for j in range(7):
        q = q * step[_BIT[:, j], _BIT[:, j + 1]]
    f = c / total
    seen = f > 0
    kl = float((f[seen] * np.log2(f[seen] / q[seen])).sum())
    return kl - 252 / (2 * total * math.log(2))


@dataclass(frozen=True)
class MaskBits:
    """What :func:`mask_bits` measures of a 0/1 tensor (see the module's text)."""

    counts: tuple[int, ...]
    rows: tuple[int, ...]  # (rows, rows alike), or ()
    window: tuple[int, ...]  # the counts of the window farthest from a chain of bits, or () under two windows
    window_at: int  # its first element


class _Rows:
    """Rows of ``row`` elements fed in pieces of any size: how many are constant or equal to the row before (in
    linear time: each piece is compared where it lands, against the same place of the row before)."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.prev = np.zeros(row, dtype=bool)
        self.have_prev = False
        self.pos = 0  # elements of the current row seen
        self.same = True  # the current row so far equals the row before
        self.ones = 0  # its ones so far

    def add(self, bits: np.ndarray) -> int:
        """Feed the next elements; returns how many rows they completed that are constant or repeat."""
        alike = 0
        i = 0
        while i < bits.size:
            take = min(self.row - self.pos, bits.size - i)
            part = bits[i : i + take]
            seg = slice(self.pos, self.pos + take)
            if self.same and self.have_prev:
                self.same = bool(np.array_equal(part, self.prev[seg]))
            self.prev[seg] = part  # the row before is no longer needed where this row has been seen
            self.ones += int(np.count_nonzero(part))
            self.pos += take
            i += take
            if self.pos == self.row:
                alike += int((self.same and self.have_prev) or self.ones in (0, self.row))
                self.pos, self.same, self.ones, self.have_prev = 0, True, 0, True
        return alike


def mask_bits(ref: TensorRef, cancel: Optional[CancelToken] = None) -> MaskBits:
    """Counts of the 256 values of each 8 consecutive elements of ``ref`` as bits (see the module's text; the last
    ``numel % 8`` elements are left out), the same of its window of :data:`WINDOW_BYTES` (windows every half of
    one) farthest from a chain of bits, and ``(rows, rows alike)``: of the rows along the first axis (a unit's
    weights), how many are all 0, all 1, or equal to the row before (a mask that prunes input channels, or kernel
    taps, repeats one row); ``()`` for a vector or rows longer than :data:`MAX_ROW`."""
    counts = np.zeros(256, dtype=np.int64)
    carry = np.zeros(0, dtype=bool)
    n = math.prod(ref.shape)
    row = n // ref.shape[0] if len(ref.shape) >= 2 and ref.shape[0] else 0
    rows = 0 < row <= MAX_ROW
    rows_seen = _Rows(row) if rows else None
    alike = 0
    half = WINDOW_BYTES // 2
    packed = np.zeros(0, dtype=np.uint8)  # bytes not yet in a half window
    halves: list[np.ndarray] = []  # the last half window's counts
    done = 0  # half windows counted
    best, best_counts, best_at = -math.inf, np.zeros(0, dtype=np.int64), 0
    for chunk in iter_chunks(ref, _STEP * ref.dtype.storage.itemsize, cancel=cancel):
        nz = widen(chunk, ref.dtype).reshape(-1) != 0
        bits = np.concatenate([carry, nz])
        whole = bits.size - bits.size % 8
        b = np.packbits(bits[:whole])
        counts += np.bincount(b, minlength=256)
        carry = bits[whole:]
        packed = np.concatenate([packed, b])
        while packed.size >= half:
            h = np.bincount(packed[:half], minlength=256)
            packed = packed[half:]
            if halves:
                w = halves[-1] + h
                d = divergence(w)
                if d > best:
                    best, best_counts, best_at = d, w, (done - 1) * half * 8
            halves = [h]
            done += 1
        if rows_seen is not None:
            alike += rows_seen.add(nz)
    window = tuple(int(c) for c in best_counts) if done >= 3 else ()  # two windows or more
    return MaskBits(tuple(int(c) for c in counts), (n // row, alike) if rows else (), window, best_at if window else 0)


def partner(t: Any, by_name: dict[str, Any]) -> Optional[Any]:
    """The float weight a mask ``X_mask`` (or ``X.mask``) masks: ``X_orig`` (``torch.nn.utils.prune``), else ``X``,
    of the mask's shape."""
    name = t.name
    for suffix in ("_mask", ".mask"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            for cand in (stem + "_orig", stem):
                w = by_name.get(cand)
                dt = DTYPES.get(w.dtype) if w is not None else None
                if w is not None and dt is not None and dt.is_float and tuple(w.shape) == tuple(t.shape):
                    return w
    return None


def magnitudes(mask: TensorRef, weight: TensorRef, cancel: Optional[CancelToken] = None) -> tuple[float, float]:
    """``(largest |w| the mask drops, smallest |w| it keeps)`` (-inf / inf where it drops or keeps none)."""
    dropped, kept = -math.inf, math.inf
    ms = iter_chunks(mask, _STEP * mask.dtype.storage.itemsize, cancel=cancel)
    ws = iter_chunks(weight, _STEP * weight.dtype.storage.itemsize, cancel=cancel)
    for m, w in zip(ms, ws):
        keep = widen(m, mask.dtype).reshape(-1) != 0
        a = np.abs(widen(w, weight.dtype).reshape(-1).astype(np.float64))
        if not keep.all():
            dropped = max(dropped, float(np.nanmax(a[~keep])))
        if keep.any():
            kept = min(kept, float(np.nanmin(a[keep])))
    return dropped, kept


def with_masks(
    model: ModelFile, tensors: Sequence[Any], budget: int, cancel: Optional[CancelToken] = None
) -> tuple[tuple[Any, ...], int]:
    """The tensors, those holding only 0 and 1 given their ``mask_bits`` (and ``mask_magnitudes`` where a weight
    of their shape sits beside them), within ``budget`` bytes read; returns the tensors and the budget left."""
    by_name = {t.name: t for t in tensors}
    out = []
    for t in tensors:
        if not two_valued(t):
            out.append(t)
            continue
        dt = DTYPES[t.dtype]
        size = math.prod(t.shape) * dt.itemsize
        w = partner(t, by_name)
        wsize = math.prod(w.shape) * DTYPES[w.dtype].itemsize if w is not None else 0
        if size + wsize > budget:
            out.append(t)
            continue
        check(cancel)
        try:
            ref = model[t.name]
            mb = mask_bits(ref, cancel)
            mags = magnitudes(ref, model[w.name], cancel) if w is not None else ()
        except TensorNotFoundError:
            out.append(t)
            continue
        budget -= size + wsize
        out.append(
            replace(
                t,
                mask_bits=mb.counts,
                mask_rows=mb.rows,
                mask_window=mb.window,
                mask_window_at=mb.window_at,
                mask_magnitudes=tuple(mags),
            )
        )
    return tuple(out), budget
