"""Bit planes of the selected layer: P(bit = 1) per bit position, and the low byte's histogram.

Trained weights are near-uniform (0.5) in the low mantissa bits and Benford-biased in the top ones (the top
fp32 mantissa bit is 1 only ≈41.5% of the time); a payload in the low bits shows as a plane far from 0.5 or a
low-byte histogram far from flat. The numbers are the scan's (``TensorStats.bit_ones``, ``low_byte_counts``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspector.core.dtypes import DTYPES
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument


class BitPlanesPanel(QWidget):
    def __init__(self, doc: ModelDocument, parent=None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.title = QLabel()
        self.title.setWordWrap(True)
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
        self.base_marks = self.bits_plot.plot(
            [], [], pen=None, symbol="d", symbolSize=9, symbolBrush=P.BASELINE_COLOR, symbolPen=None
        )
        self.half = pg.InfiniteLine(0.5, angle=0, pen=P.EXPECT_PEN)
        self.bits_plot.addItem(self.half)
        self.byte_curve = self.bytes_plot.plot(
            np.arange(257), np.zeros(256), stepMode="center", fillLevel=0, pen=P.MODEL_PEN, brush=P.MODEL_BRUSH
        )
        self.flat = pg.InfiniteLine(0, angle=0, pen=P.EXPECT_PEN)
        self.bytes_plot.addItem(self.flat)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        legend = QLabel(
            f"<span style='color:{P.MODEL_COLOR.name()}'>■</span> this layer &nbsp; "
            f"<span style='color:{P.BASELINE_COLOR.name()}'>◆</span> baseline layer &nbsp; ┈ 0.5 / flat expectation"
        )
        P.mute(legend)
        top.addWidget(legend)
        lay.addLayout(top)
        lay.addWidget(self.layout_, 1)

        doc.selection_changed.connect(lambda _n: self.refresh())
        doc.tensor_scanned.connect(lambda t: self.refresh() if t.name == doc.selected else None)
        doc.scan_finished.connect(lambda _r: self.refresh())
        doc.baseline_changed.connect(self.refresh)

    def refresh(self) -> None:
        name = self.doc.selected
        scan = self.doc.scans.get(name or "")
        if scan is None:
            self.title.setText("Select a layer." if not name else f"<b>{name}</b> — waiting for the scan…")
            self._clear_plots()
            return
        s = scan.stats
        if not s.bit_ones:
            self.title.setText(f"<b>{name}</b> ({scan.dtype}): bit planes apply to float tensors only.")
            self._clear_plots()
            return
        bits = np.asarray(s.bit_ones)
        x = np.arange(len(bits))
        self.bars.setOpts(x=x, height=bits, width=0.8)
        self._place_regions(scan.dtype, len(bits))
        base = self.doc.baseline_scan_for(scan.name)
        if base is not None and len(base.stats.bit_ones) == len(bits):
            self.base_marks.setData(x, np.asarray(base.stats.bit_ones))
        else:
            self.base_marks.setData([], [])
        self.bits_plot.setXRange(-1, len(bits), padding=0)
        lb = np.asarray(s.low_byte_counts, dtype=np.float64)
        self.byte_curve.setData(np.arange(257), lb)
        self.flat.setValue(lb.sum() / 256 if lb.size else 0)
        low = bits[: min(8, len(bits))]
        self.title.setText(
            f"<b>{name}</b> · {scan.dtype} · low-byte entropy {P.fmt(s.low_byte_entropy, '.3f')} bits "
            f"(8 = uniform) · lowest 8 planes P(1) {low.min():.3f}–{low.max():.3f}"
        )

    def _clear_plots(self) -> None:
        self.bars.setOpts(x=[0], height=[0])
        self.base_marks.setData([], [])
        self.byte_curve.setData(np.arange(257), np.zeros(256))

    def _place_regions(self, dtype_name: str, nbits: int) -> None:
        dt = DTYPES.get(dtype_name)
        m = dt.mantissa_bits if dt is not None else nbits - 1
        e = dt.exponent_bits if dt is not None else 0
        spans = [(-0.5, m - 0.5), (m - 0.5, m + e - 0.5), (m + e - 0.5, nbits - 0.5)]
        for region, label, (a, b) in zip(self.regions, self.region_labels, spans):
            region.setRegion((a, b))
            label.setPos((a + b) / 2, 1.0)

    def plotted(self) -> Optional[np.ndarray]:
        """Bar heights as drawn (for tests)."""
        h = self.bars.opts.get("height")
        return None if h is None else np.asarray(h)
