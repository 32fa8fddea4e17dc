"""Scanning tasks: open a model, scan it (yielding every tensor as it finishes), histogram one layer again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from inspector.core import measure as core_measure
from inspector.core.formats import ModelFile, open_model
from inspector.core.measure import LayerHistogram, ScanOptions
from inspector.core.pipeline import ScanResult, scan
from inspector.core.progress import CancelToken
from inspector.qt.tasks.contract import Emit, Progress

#: One layer's histogram and its baseline's on the same edges (the core's result, drawn as it is).
HistogramData = LayerHistogram


@dataclass(frozen=True)
class Opened:
    """Sent (yielded) as soon as a model's headers are read: the tensor list can be shown at once."""

    model: ModelFile


def open_only(path: str, *, progress: Progress, cancel: CancelToken, emit: Emit) -> ModelFile:
    """Read a model's headers (instant for safetensors; a restricted unpickle for PyTorch files)."""
    return open_model(path)


def scan_model(
    model: ModelFile, options: ScanOptions, *, progress: Progress, cancel: CancelToken, emit: Emit
) -> ScanResult:
    """Scan an opened model, yielding every :class:`TensorScan` as it finishes."""
    return scan(model, options, progress=progress, cancel=cancel, on_tensor=emit)


def open_and_scan(
    path: str, options: ScanOptions, *, progress: Progress, cancel: CancelToken, emit: Emit
) -> ScanResult:
    """Open ``path`` (headers only), yield :class:`Opened`, then every :class:`TensorScan` as it finishes."""
    model = open_model(path)
    emit(Opened(model))
    return scan(model, options, progress=progress, cancel=cancel, on_tensor=emit)


def rejudge_result(
    result: ScanResult,
    baselines: tuple[str, ...],
    profile: Optional[str],
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> ScanResult:
    """Judge a scanned model again against other references, from its stored measurement: the model file is not
    read again (only a new reference model is, once)."""
    from inspector.core.pipeline import rejudge

    return rejudge(result, baselines=baselines, profile=profile, cancel=cancel)


def histogram(
    model: ModelFile,
    name: str,
    bins: int,
    baseline: Optional[ModelFile],
    baseline_name: Optional[str],
    value_range: tuple[float, float],
    baseline_label: str = "",
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> HistogramData:
    """The core's ``layer_histogram`` of one layer and its baseline layer (through the facade's attribute: the
    function shares its name with its submodule)."""
    return core_measure.layer_histogram(
        model, name, bins, value_range, baseline, baseline_name, baseline_label, progress=progress, cancel=cancel
    )


__all__ = ["HistogramData", "Opened", "histogram", "open_and_scan", "open_only", "rejudge_result", "scan_model"]
