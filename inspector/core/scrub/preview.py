"""What scrubbing would do to one layer, measured in memory before anything is written.

The preview scrubs the first elements of a tensor with the export's own stream (:func:`~.scrub.scrub_chunk`,
:func:`~.scrub.tensor_rng`: same seed, same bits, same result as :func:`~.scrub.scrub_model` for those
elements) and measures the change the way the export's read-back does (:class:`~.scrub_verify.ChangeStats`), plus the
histograms before and after on given bin edges (usually the scan's, so the preview overlays the scan exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from inspector.core.dtypes import widen
from inspector.core.formats import TensorRef, iter_chunks
from inspector.core.measure.stats import histogram_chunk
from inspector.core.progress import CancelToken, ProgressCallback, check, report
from inspector.core.scrub.bits import scrub_chunk, tensor_rng
from inspector.core.scrub.verify import VERIFY_ELEMENTS, ChangeStats

#: Elements of one layer a preview looks at (the first ones, when a layer is larger).
PREVIEW_ELEMENTS = 16 << 20


@dataclass(frozen=True)
class ScrubPreview:
    """What scrubbing ``bits`` low bits does to (the first ``elements`` of) one layer."""

    name: str
    dtype: str
    bits: int
    elements: int
    partial: bool  # the layer is larger than the preview looked at
    max_abs_change: float
    mean_rel_change: float  # over finite, normal source values, as the export reports it
    changed_fraction: float  # elements whose raw value changed
    edges: np.ndarray
    before: np.ndarray  # histogram counts on ``edges``
    after: np.ndarray
    outside: int  # scrubbed values that left the range of ``edges``


def preview_tensor(
    ref: TensorRef,
    bits: int,
    edges: np.ndarray,
    *,
    seed: int,
    mode: str = "random",
    max_elements: int = PREVIEW_ELEMENTS,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> ScrubPreview:
    """Scrub the first ``max_elements`` of ``ref`` in memory and measure the change, chunk by chunk."""
    dt = ref.dtype
    edges = np.asarray(edges)
    n = min(ref.numel, max_elements)
    step = max(1, min(n, VERIFY_ELEMENTS))
    rng = tensor_rng(seed, ref.name) if mode == "random" else None
    stats = ChangeStats(dt, step) if dt.is_float else None
    bins = len(edges) - 1
    before = np.zeros(bins, dtype=np.int64)
    after = np.zeros(bins, dtype=np.int64)
    changed = outside = done = 0
    for chunk in iter_chunks(ref, step * dt.itemsize, reuse=True, cancel=cancel):
        raw = chunk.reshape(-1)[: n - done]
        if raw.size == 0:
            break
        # one stream for the whole prefix: chunks draw consecutive words, as the export's chunks do
        out = scrub_chunk(raw, dt, bits, rng, mode=mode)
        u = raw.view(dt.uint)
        changed += int(np.count_nonzero(out != u))
        if stats is not None and bits:
            stats.add(u, out)
        b = widen(raw, dt)
        a = widen(out.view(raw.dtype), dt)
        before += histogram_chunk(b, edges)
        after += histogram_chunk(a, edges)
        fin = a[np.isfinite(a)]
        outside += int(np.count_nonzero((fin < edges[0]) | (fin > edges[-1])))
        done += raw.size
        report(progress, done, n, f"previewing {ref.name}")
        check(cancel)
        if done >= n:
            break
    return ScrubPreview(
        name=ref.name,
        dtype=dt.name,
        bits=bits,
        elements=n,
        partial=ref.numel > n,
        max_abs_change=stats.max if stats is not None else 0.0,
        mean_rel_change=stats.mean_rel if stats is not None else 0.0,
        changed_fraction=changed / n if n else 0.0,
        edges=edges,
        before=before,
        after=after,
        outside=outside,
    )


__all__ = ["PREVIEW_ELEMENTS", "ScrubPreview", "preview_tensor"]
