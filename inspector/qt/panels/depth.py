"""Depth: every float layer in model order, TensorBoard-style distributions over depth and strip plots of the
per-layer statistics the detectors read, to spot the odd layer of a model with hundreds.

The top plot draws, for each layer, the bands between the percentiles of its weights that a Gaussian puts at
±1σ, ±2σ and ±3σ (15.9–84.1 %, 2.3–97.7 %, 0.1–99.9 %) and the median, read from the layer's histogram (the
scan's, over every element). The strips below share its x axis: kurtosis (3 for a Gaussian; sign encoding
gives 5–6), the fraction within ±0.05σ of zero (high in sign encoding), the low byte's entropy (bits; ≈8 for
trained weights, LSB payloads change it) and the highest detector score per layer (0 benign … 1 suspicious).
Flagged layers are drawn in their severity's colour. Click a point (or a band) to select that layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspector.core.measure import TensorScan
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument
from inspector.qt.panels.module_tree import natural_key

#: percentiles of the bands, as a Gaussian's ±3σ, ±2σ, ±1σ and median (TensorBoard's distribution plot)
PERCENTILES = (0.13, 2.28, 15.87, 50.0, 84.13, 97.72, 99.87)


def histogram_percentiles(edges: np.ndarray, counts: np.ndarray, pcts=PERCENTILES) -> np.ndarray:
    """Percentiles of the values binned in ``counts`` over ``edges``, interpolating linearly inside a bin."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0 or len(edges) != len(counts) + 1:
        return np.full(len(pcts), np.nan)
    cdf = np.concatenate([[0.0], np.cumsum(counts) / total])
    return np.interp(np.asarray(pcts) / 100.0, cdf, np.asarray(edges, dtype=np.float64))


@dataclass(frozen=True)
class Strip:
    key: str
    title: str
    tooltip: str
    value: Callable[[TensorScan, float], float]  # (scan, max detector score) -> value


STRIPS = (
    Strip("kurtosis", "kurtosis", "3 for a Gaussian; sign encoding gives 5–6", lambda t, s: t.stats.kurtosis),
    Strip(
        "near_zero",
        "% in ±0.05σ",
        "per cent of weights within ±0.05σ of zero (≈4% for a Gaussian; sign encoding piles weights there)",
        lambda t, s: 100.0 * t.stats.near_zero_fraction,
    ),
    Strip(
        "low_byte_entropy",
        "low-byte entropy",
        "entropy of the lowest byte in bits (≈8 for trained weights; LSB payloads change it)",
        lambda t, s: t.stats.low_byte_entropy,
    ),
    Strip(
        "score",
        "detector score",
        "highest detector score of the layer (warning ≥ 0.45, suspicious ≥ 0.70)",
        lambda t, s: s,
    ),
)


class DepthPanel(QWidget):
    """Distributions over depth and per-layer strips; ``layer_clicked`` after a click selected a layer."""

    drawn = Signal(int)  # number of layers drawn

    def __init__(self, doc: ModelDocument, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.names: list[str] = []
        self.bands = np.empty((0, len(PERCENTILES)))
        self.strip_values: dict[str, np.ndarray] = {}

        self.info = QLabel("Open a model: its float layers appear here in model order once scanned.")
        self.info.setWordWrap(True)
        self.scope = QComboBox()
        self.scope.addItem("weight matrices", "theta")
        self.scope.addItem("all float tensors", "floats")
        self.scope.setToolTip(
            "weight matrices and kernels (2+ dimensions) share a scale; norms and biases would dwarf them"
        )
        self.scope.currentIndexChanged.connect(lambda _i: self.refresh())
        self.view = pg.GraphicsLayoutWidget()
        self.view.setToolTip(__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "")
        self.dist = self.view.addPlot(row=0, col=0)
        self.dist.setMenuEnabled(False)
        self.dist.setTitle("weight distribution per layer (bands: ±1σ, ±2σ, ±3σ percentiles; line: median)")
        self.dist.setLabel("left", "weight value")
        self.dist.showGrid(x=True, y=True, alpha=0.15)
        self._band_items: list[pg.GraphicsObject] = []
        self.median = self.dist.plot([], [], pen=P.MODEL_PEN)
        # the matched baseline layers, W&B-style on the same axes: median and ±1σ percentiles (orange)
        self.base_bands = np.empty((0, len(PERCENTILES)))
        dashed = pg.mkPen(P.BASELINE_COLOR, width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
        self.base_median = self.dist.plot([], [], pen=pg.mkPen(P.BASELINE_COLOR, width=1.5), connect="finite")
        self.base_lo = self.dist.plot([], [], pen=dashed, connect="finite")
        self.base_hi = self.dist.plot([], [], pen=dashed, connect="finite")
        for item in (self.base_median, self.base_lo, self.base_hi):
            item.setZValue(11)
        self.strips: dict[str, pg.PlotItem] = {}
        self.scatters: dict[str, pg.ScatterPlotItem] = {}
        self.cursors: list[pg.InfiniteLine] = []
        for i, strip in enumerate(STRIPS, start=1):
            plot = self.view.addPlot(row=i, col=0)
            plot.setMenuEnabled(False)
            plot.setMaximumHeight(110)
            plot.setLabel("left", strip.title)
            plot.getAxis("left").setToolTip(strip.tooltip)
            plot.getAxis("left").setWidth(62)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setXLink(self.dist)
            scatter = pg.ScatterPlotItem(size=7, pen=None, hoverable=True, tip=None)
            scatter.sigClicked.connect(self._on_points_clicked)
            plot.addItem(scatter)
            self.strips[strip.key] = plot
            self.scatters[strip.key] = scatter
        self.dist.getAxis("left").setWidth(62)
        self.strips[STRIPS[-1].key].setLabel("bottom", "layer (model order)")
        for plot in (self.dist, *self.strips.values()):
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(P.BASELINE_COLOR, width=1.5))
            line.setVisible(False)
            plot.addItem(line)
            self.cursors.append(line)
        self.dist.scene().sigMouseClicked.connect(self._on_scene_clicked)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Layers:"))
        top.addWidget(self.scope)
        top.addWidget(self.info, 1)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)

        doc.opened.connect(lambda _m: self.refresh())
        doc.rescanning.connect(self.refresh)
        doc.scan_finished.connect(lambda _r: self.refresh())
        doc.baseline_changed.connect(self.refresh)
        doc.selection_changed.connect(self._on_selection_changed)
        doc.view_changed.connect(self.refresh)  # Showing: Original | Scrubbed

    # -- drawing ------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        scans = [
            t
            for t in self.doc.view_scans.values()  # the original or the scrubbed copy, as shown
            if t.stats.histogram is not None and t.dtype.startswith(("F", "BF")) and t.stats.count > 1
        ]
        if self.scope.currentData() == "theta":
            scans = [t for t in scans if len(t.shape) >= 2]
        scans.sort(key=lambda t: natural_key(t.name))
        self.names = [t.name for t in scans]
        n = len(scans)
        x = np.arange(n, dtype=np.float64)
        self.bands = np.array(
            [histogram_percentiles(t.stats.histogram.edges, t.stats.histogram.counts) for t in scans]  # type: ignore[union-attr]
        ).reshape(n, len(PERCENTILES))
        for item in self._band_items:
            self.dist.removeItem(item)
        self._band_items = []
        if n:
            alphas = (45, 70, 110)  # outer to inner band
            for k, alpha in enumerate(alphas):
                lo = pg.PlotCurveItem(x, self.bands[:, k], pen=pg.mkPen(None))
                hi = pg.PlotCurveItem(x, self.bands[:, -1 - k], pen=pg.mkPen(None))
                color = QColor(P.MODEL_COLOR)
                color.setAlpha(alpha)
                fill = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(color))
                for item in (lo, hi, fill):
                    self.dist.addItem(item)
                    self._band_items.append(item)
        self.median.setData(x, self.bands[:, 3] if n else [])
        self._draw_baseline(x)
        self.median.setZValue(10)

        max_score = {name: max((f.score for f in self.doc.findings_for(name)), default=0.0) for name in self.names}
        brushes = [pg.mkBrush(self._color(name)) for name in self.names]
        self.strip_values = {}
        for strip in STRIPS:
            ys = np.array([strip.value(t, max_score[t.name]) for t in scans], dtype=np.float64)
            self.strip_values[strip.key] = ys
            ok = np.isfinite(ys)
            self.scatters[strip.key].setData(
                x=x[ok], y=ys[ok], brush=[b for b, keep in zip(brushes, ok) if keep], data=np.flatnonzero(ok)
            )
        if n:
            self.dist.setXRange(-0.5, n - 0.5, padding=0.01)
            lo, hi = np.nanmin(self.bands[:, 0]), np.nanmax(self.bands[:, -1])
            if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                self.dist.setYRange(lo, hi, padding=0.05)
        self._set_ticks(n)
        flagged = sum(1 for name in self.names if self.doc.severity_of(name))
        if n:
            self.info.setText(
                f"{n} layers in model order; {flagged} flagged (red/amber points). Click a point or a band to "
                "select its layer."
                + (
                    f" Compare is not drawn here: this view shows the {self.doc.view_label} model with its "
                    "baseline's median and ±1σ overlaid (Ctrl+T: original ↔ scrubbed)."
                    if self.doc.compare_mode != "off"
                    else ""
                )
            )
        else:
            self.info.setText("Open a model: its float layers appear here in model order once scanned.")
        self._on_selection_changed(self.doc.selected or "")
        self.drawn.emit(n)

    def _draw_baseline(self, x: np.ndarray) -> None:
        """The baseline layer matched to each layer (NaN where none): its median and ±1σ percentiles."""
        rows = []
        for name in self.names:
            b = self.doc.baseline_scan_for(name)
            h = b.stats.histogram if b is not None else None
            rows.append(
                histogram_percentiles(h.edges, h.counts) if h is not None else np.full(len(PERCENTILES), np.nan)
            )
        self.base_bands = np.array(rows).reshape(len(self.names), len(PERCENTILES))
        shown = bool(len(x)) and bool(np.isfinite(self.base_bands[:, 3]).any())
        for item, k in ((self.base_median, 3), (self.base_lo, 2), (self.base_hi, 4)):
            if shown:
                item.setData(x, self.base_bands[:, k])
            else:
                item.setData([], [])
            item.setVisible(shown)

    def _set_ticks(self, n: int) -> None:
        """Whole layer numbers on the x axes; a few layers are named (their last two name parts)."""
        axes = [self.dist.getAxis("bottom")] + [p.getAxis("bottom") for p in self.strips.values()]
        if 0 < n <= 12:
            ticks = [[(i, ".".join(name.split(".")[-2:])) for i, name in enumerate(self.names)]]
            for axis in axes:
                axis.setTicks(ticks)
            return
        step = next((s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if n / s <= 12), 2000)
        for axis in axes:
            axis.setTicks(None)
            axis.setTickSpacing(step, step)

    def _color(self, name: str):
        sev = self.doc.severity_of(name)
        return P.SEVERITY_COLORS.get(sev, P.MODEL_COLOR) if sev else P.MODEL_COLOR

    # -- selection ------------------------------------------------------------------------------------------------
    def select_index(self, i: int) -> None:
        if 0 <= i < len(self.names):
            self.doc.select(self.names[i])

    def _on_points_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.select_index(int(points[0].data()))

    def _on_scene_clicked(self, event) -> None:
        vb = self.dist.getViewBox()
        if not self.names or not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        x = vb.mapSceneToView(event.scenePos()).x()
        if math.isfinite(x):
            self.select_index(int(round(x)))

    def _on_selection_changed(self, name: str) -> None:
        i = self.names.index(name) if name in self.names else -1
        for line in self.cursors:
            line.setVisible(i >= 0)
            if i >= 0:
                line.setValue(i)
        if i >= 0:
            b = self.bands[i]
            self.dist.setTitle(
                f"{P.short_name(name, 48)}: median {P.fmt(b[3])}, ±1σ band {P.fmt(b[2])} … {P.fmt(b[4])}"
            )
