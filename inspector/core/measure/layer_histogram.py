"""One layer's histogram next to its baseline layer's, on the same bin edges.

A model and its baseline must share bin edges for an overlay to be honest (users distrust re-binned buckets):
:func:`shared_range` takes the union of the two layers' finite ranges, and :func:`layer_histogram` histograms
both tensors over it with the scan's own exact binning (:func:`~.scan.scan_tensors` with
``ScanOptions(ranges=..., bins=...)``, as :func:`~.baselines.load_reference` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from inspector.core.formats import ModelFile
from inspector.core.measure.scan import ScanOptions, TensorScan, scan_tensors
from inspector.core.progress import CancelToken, ProgressCallback, report


@dataclass(frozen=True)
class LayerHistogram:
    """One layer's histogram and, when a baseline layer is matched, the baseline's counts on the same edges."""

    name: str
    edges: np.ndarray
    counts: np.ndarray
    baseline_name: Optional[str] = None
    baseline_counts: Optional[np.ndarray] = None
    baseline_label: str = ""


def shared_range(a: TensorScan, b: Optional[TensorScan]) -> tuple[float, float]:
    """The union of two layers' finite value ranges (bins of the model and its baseline must coincide)."""
    lo, hi = a.stats.min, a.stats.max
    if b is not None and math.isfinite(b.stats.min) and math.isfinite(b.stats.max):
        lo, hi = min(lo, b.stats.min), max(hi, b.stats.max)
    return lo, hi


def only(model: ModelFile, names: list[str]) -> ModelFile:
    """The same model narrowed to some of its tensors (for scanning a few of them again)."""
    return replace(model, tensors=tuple(model[n] for n in names))


def layer_histogram(
    model: ModelFile,
    name: str,
    bins: int,
    value_range: tuple[float, float],
    baseline: Optional[ModelFile] = None,
    baseline_name: Optional[str] = None,
    baseline_label: str = "",
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> LayerHistogram:
    """Histogram layer ``name`` (and ``baseline_name`` of ``baseline``) with ``bins`` bins over ``value_range``."""
    jobs: list[tuple[ModelFile, str]] = [(model, name)]
    if baseline is not None and baseline_name is not None:
        jobs.append((baseline, baseline_name))
    total = sum(2 * m[n].numel * m[n].dtype.itemsize for m, n in jobs) or 1
    done = 0
    out: list[TensorScan] = []
    for m, n in jobs:
        opts = ScanOptions(bins=bins, ranges={n: value_range}, hash=False, detectors=False, workers=2)
        base = done

        def prog(d: int, _t: int, _m: str, base: int = base) -> None:
            report(progress, base + d, total, "histogram")

        out.append(scan_tensors(only(m, [n]), opts, progress=prog, cancel=cancel)[0])
        done += 2 * m[n].numel * m[n].dtype.itemsize
    h = out[0].stats.histogram
    assert h is not None
    bh = out[1].stats.histogram if len(out) > 1 else None
    return LayerHistogram(
        name,
        h.edges,
        h.counts,
        baseline_name if bh is not None else None,
        bh.counts if bh is not None else None,
        baseline_label,
    )


__all__ = ["LayerHistogram", "layer_histogram", "only", "shared_range"]
