"""The report task: build the report from what the app holds and write it (HTML, or PDF through Qt)."""

from __future__ import annotations

from typing import Any

from inspector.core.formats import ModelFile
from inspector.core.pipeline import ScanResult
from inspector.core.progress import CancelToken
from inspector.qt.tasks.contract import Emit, Progress


def write_report_task(
    result: ScanResult,
    model: ModelFile,
    scrub_result: Any,
    evaluation: Any,
    curve: Any,
    path: str,
    signoff: Any = None,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> str:
    """Build the report from what the app holds (never recomputing statistics) and write it atomically;
    ``signoff`` (a ``SignOff``) fills its sign-off block, checked by the report's rule."""
    from inspector.core.report import build_report, write_report

    data = build_report(
        result,
        model=model,
        scrub=scrub_result,
        evaluation=evaluation,
        safe_bits_curve=curve,
        cancel=cancel,
        signoff=signoff,
    )
    from inspector.qt.report_pdf import render_pdf

    return str(write_report(data, path, render_pdf=render_pdf))


__all__ = ["write_report_task"]
