"""One layer's histogram over its baseline's, on the same bin edges, with the fitted Gaussian.

The counts come from the core (the scan's own histogram, or a re-histogram run in a worker when the bin count
changes or a baseline needs shared edges); this panel only draws. Items are created once and updated with
``setData``; a stale re-histogram is superseded by the next one.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from inspector.core.measure import TensorScan
from inspector.core.measure.layer_histogram import shared_range
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument
from inspector.qt.tasks import HistogramData, histogram
from inspector.qt.workers import TaskSlot, WorkerError


class HistogramPanel(QWidget):
    """Histogram of the selected layer; log-y, bin count, Gaussian fit, baseline overlay, zoom/pan."""

    histogram_shown = Signal(str)  # layer name, once the data for the current settings is drawn
    log_y_changed = Signal(bool)
    bins_changed = Signal(int)

    def __init__(self, doc: ModelDocument, bins: int = 256, log_y: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.slot = TaskSlot(doc.pool, self)
        self.data: Optional[HistogramData] = None

        self.log_box = QCheckBox("Log y")
        self.log_box.setChecked(log_y)
        self.fit_box = QCheckBox("Gaussian fit")
        self.fit_box.setChecked(True)
        self.base_box = QCheckBox("Baseline")
        self.base_box.setChecked(True)
        self.base_box.setToolTip("overlay the matched baseline layer, histogrammed on the same bin edges")
        self.bins_spin = QSpinBox(minimum=4, maximum=4096, value=bins, singleStep=16, suffix=" bins")
        self.bins_spin.setKeyboardTracking(False)
        self.reset_btn = QPushButton("Reset zoom")
        self.status = QLabel()
        P.mute(self.status)
        bar = QHBoxLayout()
        for w in (self.log_box, self.fit_box, self.base_box, self.bins_spin, self.reset_btn):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.status)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "weight value")
        self.plot.setLabel("left", "count")
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.model_curve = self.plot.plot(
            [0, 1], [0], stepMode="center", fillLevel=0, pen=P.MODEL_PEN, brush=P.MODEL_BRUSH, name="model"
        )
        self.base_curve = self.plot.plot(
            [0, 1], [0], stepMode="center", fillLevel=0, pen=P.BASELINE_PEN, brush=P.BASELINE_BRUSH, name="baseline"
        )
        self.fit_curve = self.plot.plot([], [], pen=P.FIT_PEN, name="Gaussian fit")
        self.stats_text = pg.TextItem(anchor=(0, 0), color=P.PLOT_FOREGROUND)
        self.stats_text.setZValue(10)
        self.plot.addItem(self.stats_text, ignoreBounds=True)
        self.base_curve.setVisible(False)
        self.base_curve.setZValue(-1)  # the model's own histogram stays in front

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)

        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self.refresh)
        self.log_box.toggled.connect(self._on_log_toggled)
        self.fit_box.toggled.connect(lambda _on: self._draw())
        self.base_box.toggled.connect(lambda _on: self.refresh())
        self.bins_spin.valueChanged.connect(self._on_bins_changed)
        self.reset_btn.clicked.connect(self._reset_zoom)
        self.plot.getViewBox().sigRangeChanged.connect(lambda *_: self._place_text())
        doc.selection_changed.connect(lambda _n: self.refresh())
        doc.tensor_scanned.connect(self._on_tensor_scanned)
        doc.scan_finished.connect(lambda _r: self.refresh())
        doc.baseline_changed.connect(self.refresh)
        doc.opened.connect(lambda _m: self.clear())
        doc.rescanning.connect(self.clear)
        self.clear()

    # ------------------------------------------------------------------------------------------------ control
    @property
    def bins(self) -> int:
        return self.bins_spin.value()

    def clear(self) -> None:
        """The empty state: no curves, no legend, a hint instead of a flat line on a meaningless axis."""
        self.slot.cancel()
        self.data = None
        self.model_curve.setData([0, 1], [0])
        self.model_curve.setVisible(False)
        self.base_curve.setVisible(False)
        self.base_curve.setZValue(-1)  # the model's own histogram stays in front
        self.fit_curve.setData([], [])
        self.legend.clear()
        self.plot.setYRange(0, 1, padding=0)
        hint = "Select a layer to see its histogram" if self.doc.model is not None else "Open a model to begin"
        self.stats_text.setText(hint)
        self._place_text()
        self.status.setText("")

    def _on_tensor_scanned(self, t: TensorScan) -> None:
        if t.name == self.doc.selected and (self.data is None or self.data.name != t.name):
            self.refresh()

    def _on_bins_changed(self, n: int) -> None:
        self.bins_changed.emit(n)
        self._debounce.start()

    def _on_log_toggled(self, on: bool) -> None:
        self._draw()
        self._reset_zoom()
        self.log_y_changed.emit(on)

    def refresh(self) -> None:
        """Show the selected layer with the current bins and baseline: at once when the scan has exactly
        that histogram, otherwise after a re-histogram in a worker."""
        name = self.doc.selected
        model = self.doc.model
        scan = self.doc.scans.get(name or "")
        if not name or model is None or scan is None or scan.stats.histogram is None:
            self.slot.cancel()
            if name and model is not None:
                self.status.setText("waiting for the scan…")
            return
        base_scan = self.doc.baseline_scan_for(name) if self.base_box.isChecked() else None
        hist = scan.stats.histogram
        if base_scan is None and hist.bins == self.bins:
            self.slot.cancel()
            self._show(HistogramData(name, hist.edges, hist.counts))
            return
        lo, hi = shared_range(scan, base_scan)
        label = self.doc.baseline.label if self.doc.baseline else ""
        self.status.setText("histogramming…")
        self.slot.start(
            histogram,
            model,
            name,
            self.bins,
            self.doc.baseline_model if base_scan is not None else None,
            self.doc.matching.get(name) if base_scan is not None else None,
            (lo, hi),
            label,
            name="histogram",
            on_returned=self._show,
            on_errored=self._on_error,
        )

    def _on_error(self, err: WorkerError) -> None:
        self.status.setText(f"could not histogram: {err.exception}")

    # ------------------------------------------------------------------------------------------------ drawing
    def _show(self, data: HistogramData) -> None:
        first = self.data is None or self.data.name != data.name
        self.data = data
        self.status.setText("")
        self._draw()
        if first:
            self._reset_zoom()
        self.histogram_shown.emit(data.name)

    def _draw(self) -> None:
        d = self.data
        if d is None:
            return
        log = self.log_box.isChecked()
        ys = P.log_counts(d.counts) if log else d.counts.astype(np.float64)
        self.model_curve.setData(d.edges, ys)
        self.model_curve.setVisible(True)
        self.plot.setLabel("left", "log₁₀(count + 1)" if log else "count")
        scan = self.doc.scans.get(d.name)
        total = int(d.counts.sum())
        if d.baseline_counts is not None:
            bc = d.baseline_counts.astype(np.float64)
            btotal = bc.sum()
            if btotal and btotal != total:  # different sizes: compare shapes, not raw counts
                bc = bc * (total / btotal)
            self.base_curve.setData(d.edges, P.log_counts(bc) if log else bc)
            self.base_curve.setVisible(True)
        else:
            self.base_curve.setVisible(False)
        self.base_curve.setZValue(-1)  # the model's own histogram stays in front
        if self.fit_box.isChecked() and scan is not None:
            x, y = P.gaussian_curve(d.edges, scan.stats.mean, scan.stats.std, total)
            self.fit_curve.setData(x, P.log_counts(y) if log else y)
        else:
            self.fit_curve.setData([], [])
        self._update_legend(d)
        self._update_text(scan, d)

    def _update_legend(self, d: HistogramData) -> None:
        self.legend.clear()
        self.legend.addItem(self.model_curve, P.short_name(d.name, 40))
        if self.base_curve.isVisible():
            other = d.baseline_name or ""
            label = f"baseline: {P.short_name(other, 28)}"  # the file is named in the toolbar; a long label
            # would run over the statistics in the top-left corner
            self.legend.addItem(self.base_curve, label)
        if self.fit_box.isChecked():
            self.legend.addItem(self.fit_curve, "Gaussian fit N(μ, σ)")

    def _update_text(self, scan: Optional[TensorScan], d: HistogramData) -> None:
        if scan is None:
            self.stats_text.setText("")
            return
        s = scan.stats
        lines = [
            f"μ {P.fmt(s.mean)}   σ {P.fmt(s.std)}",
            f"kurtosis {P.fmt(s.kurtosis, '.2f')}   skew {P.fmt(s.skewness, '.2f')}",
            f"±0.05σ {P.fmt(s.near_zero_fraction, '.1%')}   positive {P.fmt(s.positive_fraction, '.1%')}",
            f"{len(d.counts)} bins of {P.fmt(float(d.edges[1] - d.edges[0]), '.3g')}",
        ]
        b = self.doc.baseline_scan_for(d.name) if d.baseline_counts is not None else None
        if b is not None:
            bs = b.stats
            lines.append(
                f"baseline: σ {P.fmt(bs.std)}  kurt {P.fmt(bs.kurtosis, '.2f')}  ±0.05σ {P.fmt(bs.near_zero_fraction, '.1%')}"
            )
        self.stats_text.setText("\n".join(lines))
        self._place_text()

    def _place_text(self) -> None:
        (x0, _x1), (_y0, y1) = self.plot.getViewBox().viewRange()
        self.stats_text.setPos(x0, y1)

    def _reset_zoom(self) -> None:
        self.plot.enableAutoRange()
        self.plot.autoRange(padding=0.02)

    def set_log_y(self, on: bool) -> None:
        self.log_box.setChecked(on)

    def plotted(self) -> tuple[np.ndarray, np.ndarray]:
        """The model curve's data as drawn (edges, heights): what tests compare with the core."""
        return np.asarray(self.model_curve.xData), np.asarray(self.model_curve.yData)
