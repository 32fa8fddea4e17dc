"""One layer's histogram over its baseline's, on the same bin edges, with the fitted Gaussian.

The counts come from the core (the scan's own histogram, or a re-histogram run in a worker when the bin count
changes or a baseline needs shared edges); this panel only draws. Items are created once and updated with
``setData``; a stale re-histogram is superseded by the next one.

It follows the document's *Showing* toggle (the original or the scrubbed copy) and its *Compare* mode: side by
side, two plots over the same bin edges (x linked; y linked when both sides hold as many elements); difference,
``plus − minus`` counts per bin on those shared edges, red above zero and blue below (a baseline of another size
is rescaled to the model's element count first, and the plot says so).
"""

from __future__ import annotations

from functools import partial
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from inspector.core.measure import LayerHistogram, TensorScan, shared_range
from inspector.qt import plotting as P
from inspector.qt.compare import CountDifference, Pair, count_difference, layer_pair
from inspector.qt.document import ModelDocument
from inspector.qt.tasks import HistogramData, histogram
from inspector.qt.tasks.compare import pair_histogram
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
        #: the comparison drawn (side by side or difference): its two sides and their counts on shared edges
        self.pair: Optional[Pair] = None
        self.pair_data: Optional[LayerHistogram] = None
        self.difference: Optional[CountDifference] = None
        self._shown_key: tuple[str, str, int] = ("", "", 0)

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

        self.note = QLabel()  # why a comparison cannot be drawn, in the view itself
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self.note.setStyleSheet(f"color: {P.WARNING_COLOR.name()}")
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
        # difference: red bars above zero, blue below, on the shared edges
        self.diff_pos = pg.BarGraphItem(
            x0=[0], x1=[0], height=[0], brush=pg.mkBrush(P.fill(P.DIFF_POS, 200)), pen=pg.mkPen(None)
        )
        self.diff_neg = pg.BarGraphItem(
            x0=[0], x1=[0], height=[0], brush=pg.mkBrush(P.fill(P.DIFF_NEG, 200)), pen=pg.mkPen(None)
        )
        self.zero_line = pg.InfiniteLine(0, angle=0, pen=P.EXPECT_PEN)
        for item in (self.diff_pos, self.diff_neg, self.zero_line):
            item.setVisible(False)
            self.plot.addItem(item)
        # side by side: the right-hand plot, x linked to the left one
        self.right_plot = pg.PlotWidget()
        self.right_plot.setMenuEnabled(False)
        self.right_plot.showGrid(x=True, y=True, alpha=0.15)
        self.right_plot.setLabel("bottom", "weight value")
        self.right_curve = self.right_plot.plot([0, 1], [0], stepMode="center", fillLevel=0)
        self.right_text = pg.TextItem(anchor=(0, 0), color=P.PLOT_FOREGROUND)
        self.right_text.setZValue(10)
        self.right_plot.addItem(self.right_text, ignoreBounds=True)
        self.right_plot.getViewBox().sigRangeChanged.connect(lambda *_: self._place_text())
        self.right_plot.setVisible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.note)
        plots = QHBoxLayout()
        plots.addWidget(self.plot, 1)
        plots.addWidget(self.right_plot, 1)
        lay.addLayout(plots, 1)

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
        doc.view_changed.connect(self.refresh)
        self.clear()

    # ------------------------------------------------------------------------------------------------ control
    @property
    def bins(self) -> int:
        return self.bins_spin.value()

    def clear(self) -> None:
        """The empty state: no curves, no legend, a hint instead of a flat line on a meaningless axis."""
        self.slot.cancel()
        self.data = None
        self.pair, self.pair_data, self.difference = None, None, None
        self._set_layout("off")
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
        """Show the selected layer in the state shown (original or scrubbed), or the chosen comparison, with
        the current bins: at once when the scan has exactly that histogram, otherwise after a re-histogram in
        a worker on edges both sides share."""
        name = self.doc.selected
        model = self.doc.view_model
        scans = self.doc.view_scans
        scan = scans.get(name or "")
        if self.doc.compare_mode != "off" and name and self.doc.model is not None:
            pair = layer_pair(self.doc, name)
            if isinstance(pair, Pair):
                self._refresh_pair(pair)
                return
            self._say(pair + " Showing the " + self.doc.view_label + " layer alone.")
        else:
            self._say("")
        self.pair, self.pair_data, self.difference = None, None, None
        if self.data is not None and self._layout != "off":
            self.data = None  # the single plot is drawn afresh (zoom included)
        self._set_layout("off")
        if name and model is not None and name not in model:
            self.slot.cancel()
            self._say(f"{name} is not in the scrubbed copy: the export policy left it out.")
            return
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

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _refresh_pair(self, pair: Pair) -> None:
        left, right = pair.left, pair.right
        if left.scan is None or right.scan is None:
            self.slot.cancel()
            self.status.setText("waiting for the scan…")
            return
        self._say("")
        lo, hi = shared_range(left.scan, right.scan)
        self.status.setText("histogramming both sides…")
        self.slot.start(
            pair_histogram,
            left.model,
            left.name,
            right.model,
            right.name,
            self.bins,
            (lo, hi),
            name="histogram",
            on_returned=partial(self._show_pair, pair),
            on_errored=self._on_error,
        )

    def _set_layout(self, mode: str) -> None:
        """Which items are shown: one plot (``off``), two plots (``side``) or the difference bars (``diff``)."""
        self._layout = mode
        self.right_plot.setVisible(mode == "side")
        # a hidden plot must hold neither axis of the one shown: linked only while side by side
        self.right_plot.setXLink(self.plot if mode == "side" else None)
        if mode != "side":
            self.right_plot.setYLink(None)
        for item in (self.diff_pos, self.diff_neg, self.zero_line):
            item.setVisible(mode == "diff")
        if mode == "diff":
            self.model_curve.setVisible(False)
            self.base_curve.setVisible(False)
            self.fit_curve.setData([], [])
        if mode != "side":
            self.plot.setTitle(None)
        for box in (self.fit_box, self.base_box):
            box.setEnabled(mode == "off")
        self.log_box.setEnabled(mode != "diff")

    def _show_pair(self, pair: Pair, data: LayerHistogram) -> None:
        first = self.pair_data is None or self.pair_data.name != data.name or self._layout != self.doc.compare_mode
        self.pair, self.pair_data, self.data, self.difference = pair, data, None, None
        self.status.setText("")
        self._set_layout(self.doc.compare_mode)
        self._draw()
        if first and self._layout != "diff":
            self._reset_zoom()
        self.histogram_shown.emit(data.name)

    def _on_error(self, err: WorkerError) -> None:
        self.status.setText(f"could not histogram: {err.exception}")

    # ------------------------------------------------------------------------------------------------ drawing
    def _show(self, data: HistogramData) -> None:
        key = (data.name, self.doc.view_label, len(data.counts))  # other bins: other heights, range again
        first = self.data is None or self._shown_key != key
        self._shown_key = key
        self.data = data
        self.pair, self.pair_data, self.difference = None, None, None
        self._set_layout("off")
        self.status.setText("")
        self._draw()
        if first:
            self._reset_zoom()
        self.histogram_shown.emit(data.name)

    def _draw(self) -> None:
        if self.pair is not None and self.pair_data is not None:
            if self._layout == "diff":
                self._draw_difference(self.pair, self.pair_data)
            else:
                self._draw_side(self.pair, self.pair_data)
            return
        d = self.data
        if d is None:
            return
        log = self.log_box.isChecked()
        ys = P.log_counts(d.counts) if log else d.counts.astype(np.float64)
        scrubbed = self.doc.shows_scrubbed
        self.model_curve.setData(d.edges, ys)
        self.model_curve.setPen(P.SCRUBBED_PEN if scrubbed else P.MODEL_PEN)
        self.model_curve.setBrush(P.SCRUBBED_BRUSH if scrubbed else P.MODEL_BRUSH)
        self.model_curve.setVisible(True)
        self.plot.setLabel("left", "log₁₀(count + 1)" if log else "count")
        scan = self.doc.view_scans.get(d.name)
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

    def _draw_side(self, pair: Pair, d: LayerHistogram) -> None:
        """Two plots over the same edges: left side on the left, right side on the right."""
        log = self.log_box.isChecked()
        right_counts = d.baseline_counts if d.baseline_counts is not None else np.zeros_like(d.counts)
        for curve, counts, side in (
            (self.model_curve, d.counts, pair.left),
            (self.right_curve, right_counts, pair.right),
        ):
            ys = P.log_counts(counts) if log else counts.astype(np.float64)
            curve.setData(d.edges, ys)
            curve.setPen(pg.mkPen(side.color, width=1.5))
            curve.setBrush(pg.mkBrush(P.fill(side.color)))
            curve.setVisible(True)
        self.base_curve.setVisible(False)
        self.fit_curve.setData([], [])
        ylabel = "log₁₀(count + 1)" if log else "count"
        for plot, side, counts in ((self.plot, pair.left, d.counts), (self.right_plot, pair.right, right_counts)):
            plot.setLabel("left", ylabel)
            plot.setTitle(
                f"<span style='color:{side.color.name()}'>■</span> {side.label} · {int(counts.sum()):,} values",
                size="10pt",
            )
        self.status.setText(P.short_name(pair.left.name, 48))
        same = int(d.counts.sum()) == int(right_counts.sum())
        self.right_plot.setYLink(self.plot if same else None)
        self.legend.clear()
        self.stats_text.setText(self._stats_lines(pair.left.scan, d))
        self.right_text.setText(self._stats_lines(pair.right.scan, d))
        self._place_text()

    def _draw_difference(self, pair: Pair, d: LayerHistogram) -> None:
        """``plus − minus`` counts per bin on the shared edges."""
        right = d.baseline_counts if d.baseline_counts is not None else np.zeros_like(d.counts)
        plus, minus = (right, d.counts) if pair.plus is pair.right else (d.counts, right)
        diff = count_difference(d.edges, plus, minus)
        self.difference = diff
        x0, x1 = d.edges[:-1], d.edges[1:]
        pos, neg = diff.delta > 0, diff.delta < 0
        self.diff_pos.setOpts(x0=x0[pos], x1=x1[pos], height=diff.delta[pos], y0=0)
        self.diff_neg.setOpts(x0=x0[neg], x1=x1[neg], height=diff.delta[neg], y0=0)
        self.plot.setLabel("left", f"Δ count ({pair.diff_label})")
        lim = max(1.0, float(np.abs(diff.delta).max()) * 1.15)
        self.plot.setXRange(float(d.edges[0]), float(d.edges[-1]), padding=0.02)
        self.plot.setYRange(-lim, lim, padding=0)  # symmetric: as much room for losses as for gains
        self.legend.clear()
        total = max(diff.plus_total, 1)
        lines = [
            f"{pair.diff_label}: counts per bin of {P.short_name(d.name, 36)}",
            f"{len(d.counts)} shared bins of {P.fmt(float(d.edges[1] - d.edges[0]), '.3g')}",
            f"<span style='color:{P.DIFF_POS.name()}'>■</span> more in {pair.plus.label}   "
            f"<span style='color:{P.DIFF_NEG.name()}'>■</span> more in {pair.minus.label}",
        ]
        if diff.scale != 1.0:
            lines.append(f"{pair.minus.label} rescaled ×{diff.scale:.3g} to {diff.plus_total:,} values")
        if not diff.delta.any():
            lines.append("no bin changed: Δ = 0 everywhere")
        elif pair.target == "scrub":  # the same weights before and after: each move is one value
            lines.append(f"values that changed bin ≥ {diff.moved:,.0f} ({diff.moved / total:.2%})")
        else:  # different weights: how much of one distribution must move to make the other
            lines.append(f"distributions differ by {diff.moved / total:.1%} of the values (total variation)")
        self.stats_text.setHtml(f"<div style='color:{P.PLOT_FOREGROUND.name()}'>" + "<br>".join(lines) + "</div>")
        self._place_text()

    def _stats_lines(self, scan: Optional[TensorScan], d: LayerHistogram) -> str:
        if scan is None:
            return ""
        s = scan.stats
        return "\n".join(
            [
                f"μ {P.fmt(s.mean)}   σ {P.fmt(s.std)}",
                f"kurtosis {P.fmt(s.kurtosis, '.2f')}   skew {P.fmt(s.skewness, '.2f')}",
                f"±0.05σ {P.fmt(s.near_zero_fraction, '.1%')}   lowH {P.fmt(s.low_byte_entropy, '.2f')}",
                f"{len(d.counts)} shared bins of {P.fmt(float(d.edges[1] - d.edges[0]), '.3g')}",
            ]
        )

    def _update_legend(self, d: HistogramData) -> None:
        self.legend.clear()
        state = " (scrubbed)" if self.doc.shows_scrubbed else ""
        self.legend.addItem(self.model_curve, P.short_name(d.name, 40) + state)
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
        (x0, _x1), (_y0, y1) = self.right_plot.getViewBox().viewRange()
        self.right_text.setPos(x0, y1)

    def _reset_zoom(self) -> None:
        # the hidden right plot shares the x axis: ranged last on its placeholder data, it set x to [0, 1]
        for plot in (self.plot, self.right_plot) if self._layout == "side" else (self.plot,):
            plot.enableAutoRange()
            plot.autoRange(padding=0.02)

    def set_log_y(self, on: bool) -> None:
        self.log_box.setChecked(on)

    def plotted(self) -> tuple[np.ndarray, np.ndarray]:
        """The model curve's data as drawn (edges, heights): what tests compare with the core."""
        return np.asarray(self.model_curve.xData), np.asarray(self.model_curve.yData)

    def plotted_right(self) -> tuple[np.ndarray, np.ndarray]:
        """The right-hand plot's data as drawn in side-by-side mode (edges, heights)."""
        return np.asarray(self.right_curve.xData), np.asarray(self.right_curve.yData)
