"""Reports for reviewers: the scan (plus scrub and accuracy results) as one self-contained HTML or PDF file.

The public surface, used by the CLI (``model-inspector report``) and the app (File ▸ Export report)::

    data = build_report(scan_result, model=model_file, scrub=..., evaluation=..., safe_bits_curve=...)
    data = data.with_signoff(SignOff(reviewer="A. Reviewer", decision="approve", notes="...", acknowledged=(1, 2)))
    write_report(data, "report.html")   # or "report.pdf"; atomic

A report renders the scan's ``model-inspector/scan/1`` document; it never recomputes statistics.
"""

from __future__ import annotations

from inspector.core.report.build import build_report, scan_document
from inspector.core.report.figures import Figure
from inspector.core.report.html import render_html
from inspector.core.report.model import (
    DECISIONS,
    CoverageRow,
    FamilyRow,
    FileRow,
    FindingView,
    ReportData,
    Row,
    Section,
    SignOff,
    TensorRow,
)
from inspector.core.report.writer import render_bytes, report_format, write_report

__all__ = [
    "DECISIONS",
    "CoverageRow",
    "FamilyRow",
    "FileRow",
    "SignOff",
    "Figure",
    "FindingView",
    "ReportData",
    "Row",
    "Section",
    "TensorRow",
    "build_report",
    "render_bytes",
    "render_html",
    "report_format",
    "scan_document",
    "write_report",
]
