"""Row and column structure of the weight tensors whose first-pass features come near a sign or period threshold.

The order tests compare a layer's storage order with what trained weights show. Two kinds of structure that
trained layers do have are invisible to the pass's sequence statistics, and both mimic a written payload:

- **rows that share one sign**: an output unit whose weights are nearly all negative (a detection head's box
  bins, a dead unit) makes neighbouring signs agree although the values, heavy-tailed, barely correlate;
- **columns with a scale or sign of their own**: the weights that read one input channel share its scale, so a
  1×1 convolution or a dense layer over hidden units repeats with every period that divides its fan-in.

This step reads only the tensors the pass flagged as near a threshold (a bounded, second read of a few, usually
small, tensors) and measures, over every element, each row's sign balance and each column's mean and sign share.
The judge then asks whether those explain what the order tests saw.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Optional, Sequence

import numpy as np

from inspector.core.dtypes import widen
from inspector.core.errors import TensorNotFoundError
from inspector.core.formats.base import ModelFile, TensorRef, iter_chunks
from inspector.core.measure.features import WEIGHT_KINDS, Features
from inspector.core.progress import CancelToken, check

#: A tensor is read again when its features come this near a threshold of the sign or period tests (about half
#: of each: anything that could reach a warning).
NEAR_SIGN_EXCESS = 0.05
NEAR_SIGN_WINDOW = 0.1
NEAR_PERIODIC = 0.12
NEAR_SIGN_PERIODIC = 0.1
#: Fan-ins above this keep no column sums (bounded memory); their row balance is still measured.
MAX_COLUMNS = 1 << 18
MIN_ELEMENTS = 256


def wanted(f: Optional[Features], shape: Sequence[int]) -> bool:
    """Whether a tensor's structure is worth a second read: a weight matrix or kernel near a sign or period
    threshold."""
    if f is None or f.kind not in WEIGHT_KINDS or len(shape) < 2 or f.nonzero < MIN_ELEMENTS:
        return False
    near = (
        (f.sign_excess, NEAR_SIGN_EXCESS),
        (f.sign_window_excess, NEAR_SIGN_WINDOW),
        (f.periodic, NEAR_PERIODIC),
        (f.sign_periodic, NEAR_SIGN_PERIODIC),
    )
    return any(math.isfinite(v) and v >= t for v, t in near)


class _Acc:
    """Row sign balance and column sums over a tensor's elements in storage order (rows of ``width``)."""

    def __init__(self, width: int) -> None:
        self.width = width
        cols = width if width <= MAX_COLUMNS else 0
        self.col_sum = np.zeros(cols)
        self.col_nz = np.zeros(cols, dtype=np.int64)
        self.col_pos = np.zeros(cols, dtype=np.int64)
        self.sum = 0.0
        self.sq = 0.0
        self.nz = 0
        self.pos = 0
        self.seen = 0
        # rows: Σ over rows of n_r·m_r² (m_r the row's mean sign among its non-zero values) and Σ n_r
        self.row_a = 0.0
        self.row_n = 0
        self.open_s = 0  # sign sum and non-zero count of the row still open
        self.open_n = 0

    def _close(self, s: np.ndarray, n: np.ndarray) -> None:
        keep = n >= 2
        if keep.any():
            s, n = s[keep].astype(np.float64), n[keep]
            self.row_a += float(np.sum(s * s / n))
            self.row_n += int(n.sum())

    def add(self, x: np.ndarray) -> None:
        x = np.where(np.isfinite(x), x, 0.0)
        w = self.width
        pos0 = self.seen % w
        m = x.size
        self.seen += m
        nz = x != 0
        self.sum += float(x.sum())
        self.sq += float(np.einsum("i,i->", x, x))
        self.nz += int(np.count_nonzero(nz))
        self.pos += int(np.count_nonzero(x > 0))
        sign = np.sign(x)
        # the open row first, then whole rows, then the tail that stays open
        head = min(m, (w - pos0) % w) if pos0 else 0
        if head:
            self.open_s += int(sign[:head].sum())
            self.open_n += int(np.count_nonzero(nz[:head]))
            if self.col_sum.size:
                self._cols(x[:head], pos0)
            if pos0 + head == w:
                self._close(np.array([self.open_s]), np.array([self.open_n]))
                self.open_s = self.open_n = 0
        rows = (m - head) // w
        if rows:
            blk = x[head : head + rows * w].reshape(rows, w)
            sblk = sign[head : head + rows * w].reshape(rows, w)
            self._close(sblk.sum(axis=1), np.count_nonzero(blk, axis=1))
            if self.col_sum.size:
                self.col_sum += blk.sum(axis=0)
                self.col_nz += np.count_nonzero(blk, axis=0)
                self.col_pos += np.count_nonzero(blk > 0, axis=0)
        tail = x[head + rows * w :]
        if tail.size:
            self.open_s += int(sign[head + rows * w :].sum())
            self.open_n += int(np.count_nonzero(tail))
            if self.col_sum.size:
                self._cols(tail, 0)

    def _cols(self, seg: np.ndarray, at: int) -> None:
        sl = slice(at, at + seg.size)
        self.col_sum[sl] += seg
        self.col_nz[sl] += seg != 0
        self.col_pos[sl] += seg > 0

    def result(self) -> dict[str, float]:
        out = {"row_sign_null": math.nan, "column_eta": math.nan, "column_sign_eta": math.nan}
        if self.open_n:
            self._close(np.array([self.open_s]), np.array([self.open_n]))
            self.open_s = self.open_n = 0
        n = self.nz
        if n < MIN_ELEMENTS:
            return out
        q = self.pos / n
        msq = (2.0 * q - 1.0) ** 2
        if self.row_n and msq < 1.0:
            # lag-1 sign autocorrelation expected if signs were independent within each row, given its balance
            out["row_sign_null"] = (self.row_a / self.row_n - msq) / (1.0 - msq)
        cols = self.col_sum.size
        if cols >= 2 and n >= 4 * cols:
            # values: over the non-zero elements (zeros add nothing to a column's sum, nor to its count)
            mean = self.sum / n
            var = self.sq / n - mean * mean
            used = self.col_nz > 0
            if var > 0 and used.sum() >= 2:
                cm = self.col_sum[used] / self.col_nz[used]
                eta2 = float(np.sum(self.col_nz[used] * (cm - mean) ** 2)) / (n * var) - (used.sum() - 1) / n
                out["column_eta"] = math.sqrt(max(0.0, eta2))
            if 0.0 < q < 1.0 and used.sum() >= 2:
                cp = self.col_pos[used] / self.col_nz[used]
                seta2 = float(np.sum(self.col_nz[used] * (cp - q) ** 2)) / (n * q * (1 - q)) - (used.sum() - 1) / n
                out["column_sign_eta"] = math.sqrt(max(0.0, seta2))
        return out


def structure_of(ref: TensorRef, cancel: Optional[CancelToken] = None) -> dict[str, float]:
    """Row sign balance and column structure of one tensor, over every element (rows: its first axis)."""
    width = int(math.prod(ref.shape[1:])) if len(ref.shape) >= 2 else 0
    if width < 2:
        return {"row_sign_null": math.nan, "column_eta": math.nan, "column_sign_eta": math.nan}
    acc = _Acc(width)
    with np.errstate(all="ignore"):
        for chunk in iter_chunks(ref, cancel=cancel):
            acc.add(widen(chunk, ref.dtype).astype(np.float64, copy=False))
    return acc.result()


def confirm(model: ModelFile, tensors: Sequence[Any], cancel: Optional[CancelToken] = None) -> tuple[Any, ...]:
    """The measured tensors, those near a sign or period threshold with their row and column structure added to
    their features (the others unchanged)."""
    out = []
    for t in tensors:
        f = getattr(t, "features", None)
        if f is not None and wanted(f, t.shape):
            check(cancel)
            try:
                ref = model[t.name]
            except TensorNotFoundError:
                out.append(t)
                continue
            out.append(replace(t, features=replace(f, **structure_of(ref, cancel))))
        else:
            out.append(t)
    return tuple(out)
