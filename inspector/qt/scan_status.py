"""The status line: what is open, how far the scan is (a progress bar with a Cancel button), its summary."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QToolButton

from inspector.core.pipeline import ScanResult
from inspector.qt.document import ModelDocument


class ScanStatus(QObject):
    """Owns :attr:`label`, :attr:`progress` and :attr:`cancel_button`, placed in ``bar``; follows ``doc``."""

    def __init__(self, doc: ModelDocument, bar: QStatusBar) -> None:
        super().__init__(bar)
        self.doc = doc
        self.label = QLabel("Open a model: File ▸ Open, or drop a file here.")
        # a long line is cut at the window's edge rather than widening the window (a 1024-pixel screen)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the scan (what is scanned so far stays shown)")
        bar.addWidget(self.label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

        doc.open_started.connect(lambda p: self.label.setText(f"Opening {p}…"))
        doc.open_failed.connect(lambda _e: self.label.setText("Ready." if doc.model is None else self.summary()))
        doc.rescanning.connect(self.scan_started)
        doc.scan_progressed.connect(self._on_scan_progressed)
        doc.scan_finished.connect(self._on_scan_finished)
        doc.scan_failed.connect(lambda _e: self.label.setText("Scan failed."))
        doc.scan_cancelled.connect(self._on_scan_cancelled)
        doc.scan_slot.busy_changed.connect(self._on_busy_changed)
        self.cancel_button.clicked.connect(doc.cancel_scan)
        doc.view_changed.connect(lambda: None if doc.scanning else self.label.setText(self.summary()))

    def scan_started(self) -> None:
        self.label.setText(f"Scanning {Path(self.doc.path or '').name}…")
        self.progress.setValue(0)

    def summary(self) -> str:
        """One line about the open model and its verdict."""
        r = self.doc.result
        if r is None:
            return Path(self.doc.path or "").name
        line = (
            f"{Path(r.model.path).name}: {r.model.tensors} tensors, {r.model.parameters:,} parameters, "
            f"verdict {r.verdict.upper()} (score {r.score:.2f}), scanned in {r.seconds:.1f} s"
        )
        a = self.doc.scrubbed
        if self.doc.shows_scrubbed and a is not None:  # the views show the applied scrub (Showing: Scrubbed)
            line += f" · showing the scrubbed copy: {a.scan.verdict.upper()} ({a.scan.score:.2f})"
        return line

    def _on_busy_changed(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _on_scan_progressed(self, permille: int, _message: str) -> None:
        self.progress.setValue(permille)
        n = len(self.doc.scans)
        total = len(self.doc.model.tensors) if self.doc.model is not None else 0
        self.label.setText(f"Scanning {Path(self.doc.path or '').name}… {n} of {total} tensors")

    def _on_scan_finished(self, _result: ScanResult) -> None:
        self.label.setText(self.summary())

    def _on_scan_cancelled(self) -> None:
        n = len(self.doc.scans)
        self.label.setText(f"Scan cancelled: {n} tensors scanned, no verdict. Press F5 to scan again.")
