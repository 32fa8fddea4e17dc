"""The bits of tensors that hold two values only (pruning masks, attention masks, binary buffers), measured for
the judge: a mask is room for one bit an element, and its values alone say nothing of what the bits spell.

A second read of each such tensor (bounded, as the other second reads are), with the weight it masks where one of
its shape sits beside it, gives four figures. A tensor of two axes or more is read a row (a unit's weights, along
the first axis) at a time when its rows hold 16 to 4M elements; its rows all 0 or all 1 (units pruned whole) are
counted and left out of the bits, which are packed straight through the other rows. Other tensors are packed
straight through.

- ``mask_bits``: counts of the 256 values of every 8 consecutive elements taken as bits (the upper value: 1, the
  first element the highest bit, as ``np.packbits`` packs them). How pruning makes masks leaves its mark on them:
  independent draws (random pruning, magnitude pruning of trained weights) follow a coin's byte distribution, a
  causal triangle is runs of 0x00 and 0xFF, N:M sparsity puts N ones in every aligned group of M. An image's or a
  text's bits written one an element do none of these.
- ``mask_window`` (``mask_window_at``): the same counts over the window of 32,768 of those bits (windows every
  16,384) farthest from a chain of bits: a payload written into part of a mask is judged where it is.
- ``mask_rows``: rows along the first axis, how many are not all one value, and how many of those equal the one
  before them: pruning whole input channels or kernel taps repeats one row in every unit, which no chain of bits
  describes.
- ``mask_magnitudes``: for a 0/1 mask beside a weight of its shape (``X_mask`` beside ``X_orig``, as
  ``torch.nn.utils.prune`` saves them, or beside ``X``): the largest magnitude among the weights it drops and the
  smallest among those it keeps, over its rows not pruned whole. A magnitude-pruning mask drops the smallest
  weights, so the first is no larger than the second, whatever structure the weights have.
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
#: Rows are read as rows from this many elements (shorter ones, a column of an (N, 1) tensor, are not units) up to
#: this many (a read holds one row at least).
MIN_ROW = 16
MAX_ROW = 1 << 22


def levels_of(t: Any) -> Optional[tuple[float, float]]:
    """The two values of a measured tensor that holds two values only (its minimum and maximum), with enough of
    them to judge its bits; ``None`` otherwise. Integers: every value in the histogram's first or last bin, each
    a single integer (a range under 256); floats: two distinct levels."""
    dt = DTYPES.get(t.dtype)
    s = t.stats
    if dt is None or math.prod(t.shape) < MIN_MASK_ELEMENTS or s.nan or s.inf:
        return None
    lo, hi = float(s.min), float(s.max)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        return None
    if dt.is_float:
        f = getattr(t, "features", None)
        return (lo, hi) if f is not None and f.levels == 2 else None
    h = s.histogram
    if h is None or hi - lo >= h.bins:
        return None
    counts = np.asarray(h.counts)
    inner = int(counts[1:-1].sum()) if counts.size > 2 else 0
    return (lo, hi) if inner == 0 and counts[0] > 0 and counts[-1] > 0 else None


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
    """What :func:`mask_bits` measures of a two-valued tensor (see the module's text)."""

    counts: tuple[int, ...]
    rows: tuple[int, ...]  # (rows, rows not all one value, of those the ones equal to the one before), or ()
    window: tuple[int, ...]  # the counts of the window farthest from a chain of bits, or () under two windows
    window_at: int  # its first bit, counted in the bits judged
    magnitudes: tuple[float, ...]  # (largest |w| dropped, smallest |w| kept), or ()


class _Windows:
    """Windows of :data:`WINDOW_BYTES` packed bytes, every half of one, fed in pieces: the one farthest from a chain
    of bits (by :func:`divergence`)."""

    def __init__(self) -> None:
        self.half = WINDOW_BYTES // 2
        self.pending = np.zeros(0, dtype=np.uint8)
        self.last: Optional[np.ndarray] = None  # the last half window's counts
        self.done = 0
        self.best, self.best_at = -math.inf, 0
        self.best_counts = np.zeros(0, dtype=np.int64)

    def add(self, b: np.ndarray) -> None:
        data = np.concatenate([self.pending, b]) if self.pending.size else b
        k = data.size // self.half
        for i in range(k):
            h = np.bincount(data[i * self.half : (i + 1) * self.half], minlength=256)
            if self.last is not None:
                w = self.last + h
                d = divergence(w)
                if d > self.best:
                    self.best, self.best_counts, self.best_at = d, w, (self.done - 1) * self.half * 8
            self.last = h
            self.done += 1
        self.pending = data[k * self.half :].copy()

    def result(self) -> tuple[tuple[int, ...], int]:
        if self.done < 3:  # two windows or more
            return (), 0
        return tuple(int(c) for c in self.best_counts), self.best_at


def mask_bits(
    ref: TensorRef,
    low: float = 0.0,
    weight: Optional[TensorRef] = None,
    cancel: Optional[CancelToken] = None,
) -> MaskBits:
    """The figures of the module's text for a tensor whose values are ``low`` and one other (bits: value != low);
    ``weight``: a float weight of its shape, for ``magnitudes`` (``low`` must be 0)."""
    n = math.prod(ref.shape)
    row = n // ref.shape[0] if len(ref.shape) >= 2 and ref.shape[0] else 0
    by_rows = MIN_ROW <= row <= MAX_ROW
    per = max(1, _STEP // row) * row if by_rows else _STEP  # elements a read: whole rows
    ms = iter_chunks(ref, per * ref.dtype.storage.itemsize, cancel=cancel)
    ws = iter_chunks(weight, per * weight.dtype.storage.itemsize, cancel=cancel) if weight is not None else None
    counts = np.zeros(256, dtype=np.int64)
    windows = _Windows()
    carry = np.zeros(0, dtype=bool)
    prev: Optional[np.ndarray] = None
    rows = lives = alike = 0
    dropped, kept = -math.inf, math.inf
    unaligned = ragged = False
    for m in ms:
        bits = widen(m, ref.dtype).reshape(-1) != low
        a = None
        if ws is not None and weight is not None:
            a = np.abs(widen(next(ws, np.zeros(0)), weight.dtype).reshape(-1).astype(np.float64))
            if a.size != bits.size:  # reads that do not line up (a block-quantised weight): no magnitudes
                a, ws, unaligned = None, None, True
        if by_rows and bits.size % row:  # a read that is not whole rows (a block-quantised mask): no row figures
            by_rows, ragged = False, True
        if by_rows:
            block = bits.reshape(-1, row)
            ones = np.count_nonzero(block, axis=1)
            whole = (ones == 0) | (ones == row)
            rows += block.shape[0]
            live = block[~whole]
            if live.shape[0]:  # each row not pruned whole, against the one before it that was not either
                same = np.zeros(live.shape[0], dtype=bool)
                same[1:] = (live[1:] == live[:-1]).all(axis=1)
                if prev is not None:
                    same[0] = bool(np.array_equal(live[0], prev))
                prev = live[-1].copy()
                lives += live.shape[0]
                alike += int(np.count_nonzero(same))
            stream = live.reshape(-1)  # the rows kept, joined: bits packed straight through them
            if a is not None:
                a = a.reshape(-1, row)[~whole].reshape(-1)
        else:
            stream = bits
        keep = stream
        joined = np.concatenate([carry, stream]) if carry.size else stream
        cut = joined.size - joined.size % 8
        b = np.packbits(joined[:cut])
        carry = joined[cut:].copy()
        if a is not None and a.size:
            drop, held = a[~keep], a[keep]
            drop, held = drop[~np.isnan(drop)], held[~np.isnan(held)]
            if drop.size:
                dropped = max(dropped, float(drop.max()))
            if held.size:
                kept = min(kept, float(held.min()))
        counts += np.bincount(b, minlength=256)
        windows.add(b)
    window, at = windows.result()
    return MaskBits(
        tuple(int(c) for c in counts),
        (rows, lives, alike) if by_rows and not ragged else (),
        window,
        at,
        (dropped, kept) if weight is not None and not unaligned else (),
    )


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


def with_masks(
    model: ModelFile, tensors: Sequence[Any], budget: int, cancel: Optional[CancelToken] = None
) -> tuple[tuple[Any, ...], int]:
    """The tensors, those holding two values only given their ``mask_bits``, ``mask_window`` and ``mask_rows`` (and,
    for a 0/1 mask beside a weight of its shape, ``mask_magnitudes``), within ``budget`` bytes read; returns the
    tensors and the budget left."""
    by_name = {t.name: t for t in tensors}
    out = []
    for t in tensors:
        two = levels_of(t)
        if two is None:
            out.append(t)
            continue
        dt = DTYPES[t.dtype]
        size = math.prod(t.shape) * dt.itemsize
        w = partner(t, by_name) if two == (0.0, 1.0) else None  # what a 0/1 mask drops is its weight's
        wsize = math.prod(w.shape) * DTYPES[w.dtype].itemsize if w is not None else 0
        if size + wsize > budget:
            out.append(t)
            continue
        check(cancel)
        try:
            mb = mask_bits(model[t.name], two[0], model[w.name] if w is not None else None, cancel)
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
                mask_magnitudes=mb.magnitudes,
            )
        )
    return tuple(out), budget
