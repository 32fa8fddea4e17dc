"""Bit planes of the selected layer: P(bit = 1) per bit position, and the low byte's histogram.

Trained weights are near-uniform (0.5) in the low mantissa bits and Benford-biased in the top ones (the top
fp32 mantissa bit is 1 only ≈41.5% of the time); a payload in the low bits shows as a plane far from 0.5 or a
low-byte histogram far from flat. The numbers are the scan's (``TensorStats.bit_ones``, ``low_byte_counts``).

It follows the *Showing* toggle (original or scrubbed copy) and the *Compare* mode. Side by side: the two sides'
P(bit = 1) as paired bars per plane and their low-byte histograms overlaid. Difference, original vs scrubbed:
the fraction of weights whose bit changed, per plane (both files read in a worker: a random scrub of k bits
changes about half of each of the low k planes and nothing above); difference, model vs baseline: the change
of P(bit = 1) per plane (model − baseline; bits of different weights cannot be paired). The low-byte plot then
shows the count difference per byte value.
"""

from __future__ import annotations

from functools import partial
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspector.core.dtypes import DTYPES
from inspector.qt import plotting as P
from inspector.qt.compare import Pair, count_difference, layer_pair
from inspector.qt.document import ModelDocument
from inspector.qt.tasks.compare import BitChanges, bit_changes
from inspector.qt.workers import TaskSlot, WorkerError


class BitPlanesPanel(QWidget):
    def __init__(self, doc: ModelDocument, parent=None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.slot = TaskSlot(doc.pool, self)
        #: what the bars show: "P(1)" (one state or side by side), "changed" (fraction of bits changed) or "ΔP(1)"
        self.measure = "P(1)"
        self.changes: Optional[BitChanges] = None
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self.note.setStyleSheet(f"color: {P.WARNING_COLOR.name()}")
        self.layout_ = pg.GraphicsLayoutWidget()
        self.bits_plot = self.layout_.addPlot(row=0, col=0)
        self.bytes_plot = self.layout_.addPlot(row=1, col=0)
        for p in (self.bits_plot, self.bytes_plot):
            p.setMenuEnabled(False)
            p.showGrid(y=True, alpha=0.15)
        self.bits_plot.setTitle("P(bit = 1) per bit position (bit 0 = lowest mantissa bit)")
        self.bits_plot.setLabel("bottom", "bit")
        self.bits_plot.setLabel("left", "P(bit = 1)")
        self.bits_plot.setYRange(0, 1, padding=0.02)
        self.bits_plot.setMouseEnabled(y=False)
        self.bytes_plot.setTitle("low-byte histogram (flat for benign float weights)")
        self.bytes_plot.setLabel("bottom", "low byte value")
        self.bytes_plot.setLabel("left", "count")

        # regions (mantissa / exponent / sign), created once, placed per dtype
        self.regions = []
        for color in ((31, 119, 180, 22), (120, 120, 120, 22), (200, 40, 40, 22)):
            r = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(*color), pen=pg.mkPen(None))
            r.setZValue(-10)
            self.bits_plot.addItem(r)
            self.regions.append(r)
        self.region_labels = [
            pg.TextItem(t, color=P.PLOT_FOREGROUND, anchor=(0.5, 0)) for t in ("mantissa", "exp", "sign")
        ]
        for t in self.region_labels:
            self.bits_plot.addItem(t)
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, brush=P.MODEL_BRUSH, pen=P.MODEL_PEN)
        self.bits_plot.addItem(self.bars)
        self.bars_right = pg.BarGraphItem(x=[0], height=[0], width=0.4, brush=P.SCRUBBED_BRUSH, pen=P.SCRUBBED_PEN)
        self.bars_right.setVisible(False)
        self.bits_plot.addItem(self.bars_right)
        self.base_marks = self.bits_plot.plot(
            [], [], pen=None, symbol="d", symbolSize=9, symbolBrush=P.BASELINE_COLOR, symbolPen=None
        )
        self.half = pg.InfiniteLine(0.5, angle=0, pen=P.EXPECT_PEN)
        self.bits_plot.addItem(self.half)
        self.byte_curve = self.bytes_plot.plot(
            np.arange(257), np.zeros(256), stepMode="center", fillLevel=0, pen=P.MODEL_PEN, brush=P.MODEL_BRUSH
        )
        self.byte_curve_right = self.bytes_plot.plot(
            np.arange(257), np.zeros(256), stepMode="center", pen=P.SCRUBBED_PEN
        )
        self.byte_curve_right.setVisible(False)
        self.byte_pos = pg.BarGraphItem(
            x0=[0], x1=[0], height=[0], brush=pg.mkBrush(P.fill(P.DIFF_POS, 200)), pen=pg.mkPen(None)
        )
        self.byte_neg = pg.BarGraphItem(
            x0=[0], x1=[0], height=[0], brush=pg.mkBrush(P.fill(P.DIFF_NEG, 200)), pen=pg.mkPen(None)
        )
        for item in (self.byte_pos, self.byte_neg):
            item.setVisible(False)
            self.bytes_plot.addItem(item)
        self.flat = pg.InfiniteLine(0, angle=0, pen=P.EXPECT_PEN)
        self.bytes_plot.addItem(self.flat)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        self.legend = QLabel()
        self.legend.setToolTip("┈ the expectation for trained float weights: P(1) = 0.5, a flat low-byte histogram")
        P.mute(self.legend)
        top.addWidget(self.legend)
        lay.addLayout(top)
        lay.addWidget(self.note)
        lay.addWidget(self.layout_, 1)

        doc.selection_changed.connect(lambda _n: self.refresh())
        doc.tensor_scanned.connect(lambda t: self.refresh() if t.name == doc.selected else None)
        doc.scan_finished.connect(lambda _r: self.refresh())
        doc.baseline_changed.connect(self.refresh)
        doc.view_changed.connect(self.refresh)
        self._set_legend(None)

    def _set_legend(self, pair: Optional[Pair]) -> None:
        if pair is None:
            color = P.SCRUBBED_COLOR if self.doc.shows_scrubbed else P.MODEL_COLOR
            self.legend.setText(
                f"<span style='color:{color.name()}'>■</span> {self.doc.view_label} &nbsp; "
                f"<span style='color:{P.BASELINE_COLOR.name()}'>◆</span> baseline &nbsp; ┈ expected"
            )
        elif self.doc.compare_mode == "side":
            self.legend.setText(
                f"<span style='color:{pair.left.color.name()}'>■</span> {pair.left.label} &nbsp; "
                f"<span style='color:{pair.right.color.name()}'>■</span> {pair.right.label} &nbsp; ┈ expected"
            )
        else:
            self.legend.setText(
                f"<span style='color:{P.DIFF_POS.name()}'>■</span> more in {pair.plus.label} &nbsp; "
                f"<span style='color:{P.DIFF_NEG.name()}'>■</span> more in {pair.minus.label}"
            )

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def refresh(self) -> None:
        name = self.doc.selected
        if self.doc.compare_mode != "off" and name and self.doc.model is not None:
            pair = layer_pair(self.doc, name)
            if isinstance(pair, Pair):
                self._say("")
                self._refresh_pair(pair)
                return
            self._say(pair + f" Showing the {self.doc.view_label} layer alone.")
        else:
            self._say("")
        self.slot.cancel()
        self._single(name)

    def _single(self, name: Optional[str]) -> None:
        self._set_legend(None)
        self._set_mode("P(1)")
        model = self.doc.view_model
        if name and model is not None and name not in model:
            self.title.setText(f"<b>{name}</b> is not in the scrubbed copy (the export policy left it out).")
            self._clear_plots()
            return
        scan = self.doc.view_scans.get(name or "")
        if scan is None:
            self.title.setText("Select a layer." if not name else f"<b>{name}</b> — waiting for the scan…")
            self._clear_plots()
            return
        s = scan.stats
        if not s.bit_ones:
            self.title.setText(f"<b>{name}</b> ({scan.dtype}): bit planes apply to float tensors only.")
            self._clear_plots()
            return
        scrubbed = self.doc.shows_scrubbed
        bits = np.asarray(s.bit_ones)
        x = np.arange(len(bits))
        self.bars.setOpts(
            x=x,
            height=bits,
            width=0.8,
            brushes=None,
            brush=P.SCRUBBED_BRUSH if scrubbed else P.MODEL_BRUSH,
            pen=P.SCRUBBED_PEN if scrubbed else P.MODEL_PEN,
        )
        self._place_regions(scan.dtype, len(bits))
        base = self.doc.baseline_scan_for(scan.name)
        if base is not None and len(base.stats.bit_ones) == len(bits):
            self.base_marks.setData(x, np.asarray(base.stats.bit_ones))
        else:
            self.base_marks.setData([], [])
        self.bits_plot.setXRange(-1, len(bits), padding=0)
        lb = np.asarray(s.low_byte_counts, dtype=np.float64)
        self.byte_curve.setData(np.arange(257), lb)
        self.byte_curve.setPen(P.SCRUBBED_PEN if scrubbed else P.MODEL_PEN)
        self.byte_curve.setBrush(P.SCRUBBED_BRUSH if scrubbed else P.MODEL_BRUSH)
        self.flat.setValue(lb.sum() / 256 if lb.size else 0)
        low = bits[: min(8, len(bits))]
        state = " · <b>scrubbed copy</b>" if scrubbed else ""
        self.title.setText(
            f"<b>{name}</b> · {scan.dtype}{state} · low-byte entropy {P.fmt(s.low_byte_entropy, '.3f')} bits "
            f"(8 = uniform) · lowest 8 planes P(1) {low.min():.3f}–{low.max():.3f}"
        )

    def _set_mode(self, measure: str) -> None:
        """Titles, ranges and which items show for ``measure``: P(1), changed (fraction) or ΔP(1)."""
        self.measure = measure
        side = self.doc.compare_mode == "side" and measure == "P(1)"
        diff = measure != "P(1)"
        self.bars_right.setVisible(side)
        self.byte_curve_right.setVisible(side)
        self.byte_curve.setVisible(not diff)
        for item in (self.byte_pos, self.byte_neg):
            item.setVisible(diff)
        self.base_marks.setVisible(not side and not diff)
        self.half.setVisible(measure == "P(1)")
        self.flat.setVisible(not diff)
        if measure == "changed":
            self.bits_plot.setTitle("fraction of weights whose bit changed, per bit position (bit 0 = lowest)")
            self.bits_plot.setLabel("left", "changed")
            self.bits_plot.setYRange(0, 1, padding=0.02)
        elif measure == "ΔP(1)":
            self.bits_plot.setTitle("change of P(bit = 1) per bit position (model − baseline)")
            self.bits_plot.setLabel("left", "ΔP(bit = 1)")
        else:
            self.bits_plot.setTitle("P(bit = 1) per bit position (bit 0 = lowest mantissa bit)")
            self.bits_plot.setLabel("left", "P(bit = 1)")
            self.bits_plot.setYRange(0, 1, padding=0.02)
        self.bytes_plot.setTitle(
            "low-byte histogram: count difference per byte value"
            if diff
            else "low-byte histogram (flat for benign float weights)"
        )
        self.bytes_plot.setLabel("left", "Δ count" if diff else "count")

    def _refresh_pair(self, pair: Pair) -> None:
        self._set_legend(pair)
        a, b = pair.left.scan, pair.right.scan
        if a is None or b is None:
            self.slot.cancel()
            self.title.setText(f"<b>{pair.left.name}</b> — waiting for the scan…")
            self._clear_plots()
            return
        if not a.stats.bit_ones or len(a.stats.bit_ones) != len(b.stats.bit_ones):
            self.slot.cancel()
            what = "apply to float tensors only" if not a.stats.bit_ones else "differ in width between the two sides"
            self._say(f"Cannot compare bit planes: they {what} ({a.dtype} vs {b.dtype}).")
            self._single(pair.left.name if pair.left.label != "original" or not self.doc.shows_scrubbed else None)
            return
        nbits = len(a.stats.bit_ones)
        self._place_regions(a.dtype, nbits)
        self.bits_plot.setXRange(-1, nbits, padding=0)
        if self.doc.compare_mode == "side":
            self.slot.cancel()
            self._draw_side(pair)
        elif pair.target == "scrub":
            self.title.setText(f"<b>{pair.left.name}</b> — comparing the bits of both files…")
            self.slot.start(
                bit_changes,
                pair.minus.model,
                pair.minus.name,
                pair.plus.model,
                pair.plus.name,
                name="bit-changes",
                on_returned=partial(self._draw_changes, pair),
                on_errored=self._on_error,
            )
        else:
            self.slot.cancel()
            self._draw_delta(pair)

    def _on_error(self, err: WorkerError) -> None:
        self._say(f"Could not compare the bits: {err.exception}")

    def _draw_side(self, pair: Pair) -> None:
        self._set_mode("P(1)")
        a, b = pair.left.scan, pair.right.scan
        assert a is not None and b is not None
        pa, pb = np.asarray(a.stats.bit_ones), np.asarray(b.stats.bit_ones)
        x = np.arange(len(pa))
        self.bars.setOpts(
            x=x - 0.2,
            height=pa,
            width=0.4,
            brushes=None,
            brush=pg.mkBrush(P.fill(pair.left.color, 150)),
            pen=pg.mkPen(pair.left.color),
        )
        self.bars_right.setOpts(
            x=x + 0.2,
            height=pb,
            width=0.4,
            brush=pg.mkBrush(P.fill(pair.right.color, 150)),
            pen=pg.mkPen(pair.right.color),
        )
        la = np.asarray(a.stats.low_byte_counts, dtype=np.float64)
        lb = np.asarray(b.stats.low_byte_counts, dtype=np.float64)
        self.byte_curve.setData(np.arange(257), la)
        self.byte_curve.setPen(pg.mkPen(pair.left.color, width=1.5))
        self.byte_curve.setBrush(pg.mkBrush(P.fill(pair.left.color, 60)))
        self.byte_curve_right.setData(np.arange(257), lb)
        self.byte_curve_right.setPen(pg.mkPen(pair.right.color, width=1.5))
        self.flat.setValue(la.sum() / 256 if la.size else 0)
        moved = np.abs(pa - pb)
        self.title.setText(
            f"<b>{pair.left.name}</b> · {a.dtype} · low-byte entropy {pair.left.label} "
            f"{P.fmt(a.stats.low_byte_entropy, '.3f')} → {pair.right.label} {P.fmt(b.stats.low_byte_entropy, '.3f')} "
            f"bits · largest |ΔP(1)| {moved.max():.3f} (bit {int(moved.argmax())})"
        )

    def _draw_byte_difference(self, pair: Pair) -> str:
        a, b = pair.plus.scan, pair.minus.scan
        assert a is not None and b is not None
        diff = count_difference(
            np.arange(257), np.asarray(a.stats.low_byte_counts), np.asarray(b.stats.low_byte_counts)
        )
        x0 = np.arange(256)
        pos, neg = diff.delta > 0, diff.delta < 0
        self.byte_pos.setOpts(x0=x0[pos], x1=x0[pos] + 1, height=diff.delta[pos])
        self.byte_neg.setOpts(x0=x0[neg], x1=x0[neg] + 1, height=diff.delta[neg])
        scaled = f" ({pair.minus.label} rescaled ×{diff.scale:.3g})" if diff.scale != 1.0 else ""
        return f"low byte: Σ|Δ count| {np.abs(diff.delta).sum():,.0f}{scaled}"

    def _draw_changes(self, pair: Pair, ch: BitChanges) -> None:
        """Original vs scrubbed: the fraction of weights whose bit changed, per plane."""
        self.changes = ch
        self._set_mode("changed")
        x = np.arange(len(ch.changed))
        self.bars.setOpts(
            x=x,
            height=ch.changed,
            width=0.8,
            brushes=None,
            brush=pg.mkBrush(P.fill(P.DIFF_POS, 180)),
            pen=pg.mkPen(None),
        )
        top = np.flatnonzero(ch.changed > 0)
        planes = f"planes {top.min()}–{top.max()} changed" if top.size else "no bit changed"
        bytes_text = self._draw_byte_difference(pair)
        self.title.setText(
            f"<b>{ch.name}</b> · {pair.diff_label} · {planes} · {ch.elements_changed:,} of {ch.elements:,} weights "
            f"changed ({ch.elements_changed / max(ch.elements, 1):.1%}) · {bytes_text}"
        )

    def _draw_delta(self, pair: Pair) -> None:
        """Model vs baseline: P(1) of the model minus P(1) of the baseline, per plane."""
        self._set_mode("ΔP(1)")
        a, b = pair.plus.scan, pair.minus.scan
        assert a is not None and b is not None
        d = np.asarray(a.stats.bit_ones) - np.asarray(b.stats.bit_ones)
        x = np.arange(len(d))
        brushes = [pg.mkBrush(P.fill(P.DIFF_POS if v >= 0 else P.DIFF_NEG, 200)) for v in d]
        self.bars.setOpts(x=x, height=d, width=0.8, brushes=brushes, brush=None, pen=pg.mkPen(None))
        lim = max(0.05, float(np.abs(d).max()) * 1.15)
        self.bits_plot.setYRange(-lim, lim, padding=0)
        for label in self.region_labels:
            label.setPos(label.pos().x(), lim)
        bytes_text = self._draw_byte_difference(pair)
        self.title.setText(
            f"<b>{pair.plus.name}</b> · {pair.diff_label} · largest |ΔP(1)| {np.abs(d).max():.3f} "
            f"(bit {int(np.abs(d).argmax())}) · {bytes_text}"
        )

    def _clear_plots(self) -> None:
        self.bars.setOpts(x=[0], height=[0], brushes=None)
        self.bars_right.setOpts(x=[0], height=[0])
        self.base_marks.setData([], [])
        self.byte_curve.setData(np.arange(257), np.zeros(256))
        self.byte_curve_right.setData(np.arange(257), np.zeros(256))
        for item in (self.byte_pos, self.byte_neg):
            item.setOpts(x0=[0], x1=[0], height=[0])

    def _place_regions(self, dtype_name: str, nbits: int) -> None:
        dt = DTYPES.get(dtype_name)
        m = dt.mantissa_bits if dt is not None else nbits - 1
        e = dt.exponent_bits if dt is not None else 0
        spans = [(-0.5, m - 0.5), (m - 0.5, m + e - 0.5), (m + e - 0.5, nbits - 0.5)]
        for region, label, (a, b) in zip(self.regions, self.region_labels, spans):
            region.setRegion((a, b))
            label.setPos((a + b) / 2, 1.0)

    def plotted(self) -> Optional[np.ndarray]:
        """Bar heights as drawn (for tests): P(1), the changed fraction or ΔP(1), per :attr:`measure`."""
        h = self.bars.opts.get("height")
        return None if h is None else np.asarray(h)

    def plotted_right(self) -> Optional[np.ndarray]:
        """The right side's bar heights in side-by-side mode."""
        h = self.bars_right.opts.get("height")
        return None if h is None else np.asarray(h)
