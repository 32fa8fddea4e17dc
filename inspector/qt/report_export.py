"""File ▸ Export report: ask where, then build and write the report of the current scan in a worker, with the
reviewer's recorded sign-off (the Sign-off dock) in its sign-off block."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from inspector.qt.document import ModelDocument
from inspector.qt.workers import TaskSlot, WorkerError, WorkerPool


def report_available() -> bool:
    """Whether the core ships the report builder (the action exists only then)."""
    try:
        from inspector.core.report import build_report, write_report  # noqa: F401
    except ImportError:
        return False
    return True


class ReportExporter(QObject):
    """Owns the "Export report…" action, enabled while a finished scan is shown."""

    def __init__(
        self,
        doc: ModelDocument,
        pool: WorkerPool,
        window: QWidget,
        last_dir: Callable[[], str],
        notify: Callable[[str, str], None],
        report: Callable[[WorkerError, str], None],
        signoff: Callable[[], Optional[Any]] = lambda: None,
        scrub: Optional[Callable[[], Any]] = None,
    ) -> None:
        super().__init__(window)
        self.doc = doc
        self.window = window
        self._last_dir = last_dir
        self._notify = notify
        self._report = report
        self._signoff = signoff  # the open model's recorded sign-off (a core ``SignOff``), or None
        self._scrub = scrub  # the scrub the report describes (the export once exported), or None
        self.slot = TaskSlot(pool, self)
        self.action = QAction("Export &report…", window)
        self.action.setEnabled(False)
        self.action.triggered.connect(self.choose)
        doc.scan_finished.connect(lambda _r: self.action.setEnabled(True))
        doc.opened.connect(lambda _m: self.action.setEnabled(False))
        doc.rescanning.connect(lambda: self.action.setEnabled(False))

    def add_to(self, menu: QMenu, before: QAction) -> None:
        menu.insertAction(before, self.action)

    def choose(self) -> None:
        if self.doc.result is None or self.doc.path is None:
            return
        stem = Path(self.doc.path).name.split(".")[0]
        default = str(Path(self._last_dir() or ".") / f"{stem}-report.html")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export report", default, "HTML (*.html);;PDF (*.pdf)")
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        """Write the HTML/PDF report of the current scan (with the applied scrub and accuracy, if any, and the
        recorded sign-off)."""
        from inspector.qt.tasks import write_report_task

        d = self.doc
        scrubbed = d.scrubbed
        scrub_result = self._scrub() if self._scrub is not None else (scrubbed.result if scrubbed else None)
        curve = getattr(d.safe_bits, "points", None)
        signoff = self._signoff()
        if signoff is not None:
            words = signoff.decision_words or "no decision"
            signed = f"signed off by {signoff.reviewer}: {words}"
        else:
            signed = "not signed off: the Sign-off dock records a reviewer's decision"
        self.slot.start(
            write_report_task,
            d.result,
            d.model,
            scrub_result,
            d.evaluation,
            curve,
            path,
            signoff,
            name="report",
            on_returned=lambda p: self._notify(f"Report written to {p} ({signed}).", "info"),
            on_errored=lambda e: self._report(e, "Could not write the report"),
        )
