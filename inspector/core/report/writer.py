"""``write_report``: HTML or PDF chosen by the file suffix, written atomically (temporary file, then rename)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from inspector.core.errors import InspectorError
from inspector.core.report.html import render_html
from inspector.core.report.model import ReportData

FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}


def report_format(path: str | Path) -> str:
    """``"html"`` or ``"pdf"`` from the suffix; raises :class:`InspectorError` for anything else."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InspectorError("unknown report type", path=path, hint="Name the output REPORT.html or REPORT.pdf")
    return fmt


#: Renders a report as PDF bytes. The implementation is Qt's layout engine, so it lives outside the Qt-free
#: core: ``inspector.qt.report_pdf.render_pdf``; the CLI and the app pass it in.
PdfRenderer = Callable[[ReportData], bytes]


def render_bytes(data: ReportData, fmt: str, render_pdf: Optional[PdfRenderer] = None) -> bytes:
    """The report file's bytes in ``fmt`` (``"html"`` or ``"pdf"``)."""
    if fmt == "html":
        return render_html(data).encode("utf-8")
    if render_pdf is None:
        raise InspectorError(
            "PDF output needs a PDF renderer",
            hint="Pass render_pdf=inspector.qt.report_pdf.render_pdf (as the CLI and the app do), or write .html",
        )
    return render_pdf(data)


def write_report(data: ReportData, path: str | Path, *, render_pdf: Optional[PdfRenderer] = None) -> Path:
    """Write the report to ``path`` (``.html``/``.htm`` or ``.pdf``) and return the path.

    The bytes are rendered in memory first, written to a temporary file beside the target, flushed and renamed
    over it: a failure leaves any existing file untouched and no partial file behind.
    """
    target = Path(path)
    fmt = report_format(target)
    if not target.parent.exists():
        raise InspectorError("the folder does not exist", path=target.parent, hint="Create it or choose another")
    if target.exists() and not target.is_file():  # the atomic rename would replace a device, pipe or folder
        raise InspectorError("not a regular file", path=target, hint="Give a file name ending in .html or .pdf")
    payload = render_bytes(data, fmt, render_pdf)
    from inspector.core.formats.atomic import write_atomic  # random temp name, O_EXCL|O_NOFOLLOW, fsync, rename

    return write_atomic(target, payload, what="report")
