"""The work the GUI runs in its workers: thin calls into :mod:`inspector.core`, returning immutable results.

Each function has the worker contract ``f(inputs, *, progress, cancel, emit) -> result`` (see
:mod:`inspector.qt.workers`). None of them touches a widget or computes anything itself: they call the core and
at most arrange its results for drawing (the tiles of an image side by side). One module per topic.
"""

from __future__ import annotations

from inspector.qt.tasks.accuracy import AccuracyPair, DeviceInfo, best_device, evaluate_pair, safe_bits
from inspector.qt.tasks.contract import Emit, Progress
from inspector.qt.tasks.images import IMAGE_SOURCES, MAX_TILES, TileImage, tile_image
from inspector.qt.tasks.reporting import write_report_task
from inspector.qt.tasks.scanning import (
    HistogramData,
    Opened,
    histogram,
    open_and_scan,
    open_only,
    rejudge_result,
    scan_model,
)
from inspector.qt.tasks.scrubbing import (
    PREVIEW_ELEMENTS,
    ScrubApplied,
    ScrubPlan,
    ScrubPreview,
    apply_scrub,
    export_scrub,
    glob_escape,
    scrub_preview,
)

__all__ = [
    "IMAGE_SOURCES",
    "MAX_TILES",
    "PREVIEW_ELEMENTS",
    "AccuracyPair",
    "DeviceInfo",
    "Emit",
    "HistogramData",
    "Opened",
    "Progress",
    "ScrubApplied",
    "ScrubPlan",
    "ScrubPreview",
    "TileImage",
    "apply_scrub",
    "best_device",
    "evaluate_pair",
    "export_scrub",
    "glob_escape",
    "histogram",
    "open_and_scan",
    "open_only",
    "rejudge_result",
    "safe_bits",
    "scan_model",
    "scrub_preview",
    "tile_image",
    "write_report_task",
]
