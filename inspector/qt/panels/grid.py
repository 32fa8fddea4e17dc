"""Small multiples: every layer's histogram at a glance (like Figure 6 of Song et al.), a page at a time.

A fixed number of plots is created once and reused for every page (many plot widgets are slow to build and,
with PySide6 6.12, unsafe); each shows density (count / total / bin width) so a baseline histogrammed on other
edges compares honestly. Click a plot to select its layer. While the panel is hidden (another tab is shown) the
page is only marked stale and drawn when the panel appears: opening a model and every scanned tensor then cost
the event loop nothing here.

It follows the *Showing* toggle (the scrubbed copy's histograms and flags) and the *Compare* mode: side by side,
both sides' densities in each cell (each on its own edges: densities compare honestly); difference, ``plus −
minus`` density on edges both sides share (64 bins, histogrammed again in a worker for the page shown), red
above zero and blue below, with the share of the distribution that moved in the cell's title.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from inspector.core.measure import LayerHistogram, TensorScan, shared_range
from inspector.qt import plotting as P
from inspector.qt.compare import Pair, compare_off_reason, layer_pair, model_pair
from inspector.qt.document import ModelDocument
from inspector.qt.tasks.compare import page_histograms
from inspector.qt.workers import TaskSlot, WorkerError

#: bins of the shared-edge histograms a difference page draws
DIFF_BINS = 64

COLUMNS = 5
ROWS = 4
#: the narrowest a cell may be (its axis and a 30-character title): fewer columns when the view is narrower
CELL_WIDTH = 190


def _density(edges: np.ndarray, counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    width = np.diff(edges)
    return counts / (total * width) if total else counts.astype(np.float64)


def _title_never_widens(label: pg.LabelItem) -> None:
    """A LabelItem asks for its text's width as its minimum (again on every resize), so a long title widens its
    cell and the grid runs past the view's right edge; this one keeps its height and gives up its width."""
    update = label.updateMin

    def update_min() -> None:
        update()
        label.setMinimumWidth(0)
        hints = getattr(label, "_sizeHint", None)
        if isinstance(hints, dict):
            for which in (Qt.SizeHint.MinimumSize, Qt.SizeHint.PreferredSize):
                if which in hints:
                    hints[which] = (0, hints[which][1])
        label.updateGeometry()

    label.updateMin = update_min  # type: ignore[method-assign]


class _Cell:
    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.name: Optional[str] = None
        self.base = plot.plot([0, 1], [0], stepMode="center", fillLevel=0, pen=P.BASELINE_PEN, brush=P.BASELINE_BRUSH)
        self.curve = plot.plot([0, 1], [0], stepMode="center", fillLevel=0, pen=P.MODEL_PEN, brush=P.MODEL_BRUSH)
        no_pen = pg.mkPen(None)
        self.pos = pg.BarGraphItem(x0=[0], x1=[0], height=[0], brush=pg.mkBrush(P.fill(P.DIFF_POS, 210)), pen=no_pen)
        self.neg = pg.BarGraphItem(x0=[0], x1=[0], height=[0], brush=pg.mkBrush(P.fill(P.DIFF_NEG, 210)), pen=no_pen)
        for item in (self.pos, self.neg):
            item.setVisible(False)
            plot.addItem(item)
        for ax in ("left", "bottom"):
            a = plot.getAxis(ax)
            a.setStyle(tickLength=-3, tickFont=None)
            a.setTextPen(pg.mkPen(110, 110, 110))
        plot.getAxis("left").setWidth(34)
        _title_never_widens(plot.titleLabel)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)


class LayerGridPanel(QWidget):
    """A page of ``COLUMNS × ROWS`` histograms; flagged layers get a red title."""

    page_drawn = Signal(int)

    def __init__(self, doc: ModelDocument, parent=None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.slot = TaskSlot(doc.pool, self)
        self.page = 0
        self.names: list[str] = []
        #: difference mode: each cell's two sides on shared edges (from the worker), by layer name
        self.shared: dict[str, LayerHistogram] = {}
        self.pairs: dict[str, Pair] = {}
        self._stale = False  # the page changed while hidden: draw it when shown
        self.prev_btn = QPushButton("◀ Previous")
        self.next_btn = QPushButton("Next ▶")
        self.flagged_box = QCheckBox("Flagged layers first")
        self.flagged_box.setChecked(True)
        self.page_label = QLabel()
        self.legend = QLabel(
            f"<span style='color:{P.MODEL_COLOR.name()}'>■</span> model &nbsp; "
            f"<span style='color:{P.BASELINE_COLOR.name()}'>■</span> baseline"
        )
        self.legend.setToolTip("densities (area 1) of the layer and its matched baseline layer; click a cell to select")
        P.mute(self.legend)
        # secondary: cut at the panel's edge rather than widen the window (its meaning is in the tooltip)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self.note.setStyleSheet(f"color: {P.WARNING_COLOR.name()}")
        bar = QHBoxLayout()
        for w in (self.prev_btn, self.page_label, self.next_btn, self.flagged_box):
            bar.addWidget(w)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.legend, 1)  # all the spare width, right-aligned

        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setSpacing(4)
        self.cells: list[_Cell] = []
        for i in range(COLUMNS * ROWS):
            r, c = divmod(i, COLUMNS)
            self.cells.append(_Cell(self.view.addPlot(row=r, col=c)))
        self._columns = COLUMNS
        self._shown = COLUMNS * ROWS
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.note)
        lay.addWidget(self.view, 1)

        self.prev_btn.clicked.connect(lambda: self.show_page(self.page - 1))
        self.next_btn.clicked.connect(lambda: self.show_page(self.page + 1))
        self.flagged_box.toggled.connect(lambda _on: self._reorder())
        self.view.scene().sigMouseClicked.connect(self._on_clicked)
        doc.opened.connect(lambda _m: self._reorder())
        doc.rescanning.connect(self._reorder)
        doc.tensor_scanned.connect(self._on_tensor_scanned)
        doc.scan_finished.connect(lambda _r: self._reorder())
        doc.baseline_changed.connect(lambda: self.show_page(self.page))
        doc.selection_changed.connect(lambda _n: self._mark_selected())
        doc.view_changed.connect(self._reorder)
        doc.scrubbed_changed.connect(self._reorder)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.names) / len(self.cells)))

    def _reorder(self) -> None:
        model = self.doc.model
        names = model.names if model is not None else []
        if self.flagged_box.isChecked():
            rank = {"suspicious": 0, "warning": 1}
            names = sorted(names, key=lambda n: rank.get(self.doc.severity_of(n) or "", 2))
        self.names = names
        self.show_page(0)

    def _arrange(self, n: int) -> None:
        """Lay the first ``n`` plots out in a near-square grid (the same plot items, moved, never rebuilt)."""
        fit = max(2, self.view.width() // CELL_WIDTH)  # no more columns than the view's width holds
        cols = min(COLUMNS, fit, max(1, math.ceil(math.sqrt(n))))
        if (cols, n) == (self._columns, self._shown):
            return
        layout = self.view.ci
        for cell in self.cells:
            if cell.plot in layout.items:
                layout.removeItem(cell.plot)
        for i, cell in enumerate(self.cells[: max(n, 1)]):
            r, c = divmod(i, cols)
            layout.addItem(cell.plot, row=r, col=c)
        for cell in self.cells[max(n, 1) :]:
            cell.plot.setVisible(False)
        self._columns, self._shown = cols, n

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        n = self._shown
        fit = max(2, self.view.width() // CELL_WIDTH)
        if min(COLUMNS, fit, max(1, math.ceil(math.sqrt(n)))) != self._columns and not self._stale:
            self._arrange(n)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.show_page(self.page)

    def show_page(self, page: int) -> None:
        self.page = max(0, min(page, self.pages - 1))
        self.page_label.setText(f"page {self.page + 1} of {self.pages} · {len(self.names)} layers")
        self.prev_btn.setEnabled(self.page > 0)
        self.next_btn.setEnabled(self.page < self.pages - 1)
        self._update_legend()
        if not self.isVisible():
            self._stale = True
            return
        self._draw_page()

    def _draw_page(self) -> None:
        self._stale = False
        start = self.page * len(self.cells)
        self._arrange(min(len(self.cells), max(0, len(self.names) - start)))
        for i, cell in enumerate(self.cells):
            k = start + i
            cell.name = self.names[k] if k < len(self.names) else None
        self._update_legend()
        self.pairs, self.shared = {}, {}
        if self.doc.compare_mode == "diff" and self._compare_page():
            return  # drawn when the worker has the shared-edge histograms
        for cell in self.cells:
            self._draw_cell(cell)
        self._mark_selected()
        self.page_drawn.emit(self.page)

    def _update_legend(self) -> None:
        d = self.doc
        why = compare_off_reason(d) if d.compare_mode != "off" else None
        mp = model_pair(d) if d.compare_mode != "off" and why is None else None
        pair = mp if isinstance(mp, Pair) else None
        self.legend.setToolTip("densities (area 1) of each layer and its other side; click a cell to select")
        if pair is not None and d.compare_mode == "side":
            self.legend.setText(
                f"<span style='color:{pair.left.color.name()}'>■</span> {pair.left.label} &nbsp; "
                f"<span style='color:{pair.right.color.name()}'>■</span> {pair.right.label}"
            )
        elif pair is not None:
            self.legend.setText(
                f"Δ density: <span style='color:{P.DIFF_POS.name()}'>■</span> more in {pair.plus.label} &nbsp; "
                f"<span style='color:{P.DIFF_NEG.name()}'>■</span> more in {pair.minus.label}"
            )
            self.legend.setToolTip(
                f"{pair.diff_label}: density per bin on edges both sides share ({DIFF_BINS} bins); a cell's "
                "title gives the share of its distribution that changed bin"
            )
        else:
            color = P.SCRUBBED_COLOR if d.shows_scrubbed else P.MODEL_COLOR
            self.legend.setText(
                f"<span style='color:{color.name()}'>■</span> {d.view_label} &nbsp; "
                f"<span style='color:{P.BASELINE_COLOR.name()}'>■</span> baseline"
            )
        self.note.setText(f"{why} Showing the {d.view_label} layers alone." if why else "")
        self.note.setVisible(bool(why))

    def _compare_page(self) -> bool:
        """Start the worker that histograms each cell's two sides on shared edges; ``False`` if none compares."""
        jobs = []
        for cell in self.cells:
            if cell.name is None:
                continue
            pair = layer_pair(self.doc, cell.name)
            if not isinstance(pair, Pair) or pair.left.scan is None or pair.right.scan is None:
                continue
            if pair.left.scan.stats.histogram is None or pair.right.scan.stats.histogram is None:
                continue
            self.pairs[cell.name] = pair
            rng = shared_range(pair.left.scan, pair.right.scan)
            jobs.append((cell.name, pair.left.model, pair.left.name, pair.right.model, pair.right.name, rng))
        if not jobs:
            self.slot.cancel()
            return False
        self.slot.start(
            page_histograms,
            jobs,
            DIFF_BINS,
            name="grid-compare",
            on_returned=self._on_shared,
            on_errored=self._on_error,
        )
        return True

    def _on_error(self, err: WorkerError) -> None:
        self.note.setText(f"Could not histogram the page: {err.exception}")
        self.note.setVisible(True)

    def _on_shared(self, shared: dict[str, LayerHistogram]) -> None:
        self.shared = shared
        for cell in self.cells:
            self._draw_cell(cell)
        self._mark_selected()
        self.page_drawn.emit(self.page)

    def _on_tensor_scanned(self, t: TensorScan) -> None:
        if self._stale or not self.isVisible():
            self._stale = True
            return
        for cell in self.cells:
            if cell.name == t.name:
                self._draw_cell(cell)

    def _draw_cell(self, cell: _Cell) -> None:
        name = cell.name
        cell.plot.setVisible(name is not None)
        if name is None:
            return
        scan = self.doc.view_scans.get(name)
        sev = self.doc.severity_of(name)
        color = P.SEVERITY_COLORS[sev].name() if sev else P.PLOT_FOREGROUND.name()
        mark = "● " if sev else ""
        self._title(cell, f"{mark}{P.short_name(name, self._title_chars())}", color)
        cell.pos.setVisible(False)
        cell.neg.setVisible(False)
        cell.curve.setVisible(True)
        cell.plot.setToolTip("")
        mode = self.doc.compare_mode
        pair = layer_pair(self.doc, name) if mode != "off" else None
        if isinstance(pair, Pair) and mode == "diff" and name in self.shared:
            self._draw_diff(cell, pair, self.shared[name], color, mark)
            return
        if isinstance(pair, Pair) and mode == "side" and pair.left.scan is not None and pair.right.scan is not None:
            lh, rh = pair.left.scan.stats.histogram, pair.right.scan.stats.histogram
            if lh is not None and rh is not None:
                cell.curve.setData(lh.edges, _density(lh.edges, lh.counts))
                cell.curve.setPen(pg.mkPen(pair.left.color, width=1.5))
                cell.curve.setBrush(pg.mkBrush(P.fill(pair.left.color)))
                cell.base.setData(rh.edges, _density(rh.edges, rh.counts))
                cell.base.setPen(pg.mkPen(pair.right.color, width=1.2))
                cell.base.setBrush(None)  # an outline over the left side's filled histogram: both stay visible
                cell.base.setZValue(1)
                cell.base.setVisible(True)
                cell.plot.enableAutoRange()
                return
        if isinstance(pair, str) and compare_off_reason(self.doc) is None:  # this layer has no other side
            self._title(cell, f"{mark}{P.short_name(name, self._title_chars() - 14)} · not compared", color)
            cell.plot.setToolTip(pair)
        scrubbed = self.doc.shows_scrubbed
        cell.curve.setPen(P.SCRUBBED_PEN if scrubbed else P.MODEL_PEN)
        cell.curve.setBrush(P.SCRUBBED_BRUSH if scrubbed else P.MODEL_BRUSH)
        cell.base.setPen(P.BASELINE_PEN)
        cell.base.setBrush(P.BASELINE_BRUSH)
        cell.base.setZValue(-1)
        if scan is None or scan.stats.histogram is None:
            cell.curve.setData([0, 1], [0])
            cell.base.setVisible(False)
            return
        h = scan.stats.histogram
        cell.curve.setData(h.edges, _density(h.edges, h.counts))
        b = self.doc.baseline_scan_for(name)
        if b is not None and b.stats.histogram is not None:
            bh = b.stats.histogram
            cell.base.setData(bh.edges, _density(bh.edges, bh.counts))
            cell.base.setVisible(True)
        else:
            cell.base.setVisible(False)
        cell.plot.enableAutoRange()

    def _draw_diff(self, cell: _Cell, pair: Pair, h: LayerHistogram, color: str, mark: str) -> None:
        """``plus − minus`` density on the shared edges, red above zero, blue below."""
        right = h.baseline_counts if h.baseline_counts is not None else np.zeros_like(h.counts)
        plus, minus = (right, h.counts) if pair.plus is pair.right else (h.counts, right)
        delta = _density(h.edges, plus) - _density(h.edges, minus)
        x0, x1 = h.edges[:-1], h.edges[1:]
        pos, neg = delta > 0, delta < 0
        cell.pos.setOpts(x0=x0[pos], x1=x1[pos], height=delta[pos])
        cell.neg.setOpts(x0=x0[neg], x1=x1[neg], height=delta[neg])
        cell.pos.setVisible(True)
        cell.neg.setVisible(True)
        cell.curve.setVisible(False)
        cell.base.setVisible(False)
        moved = 0.5 * float(np.abs(delta * np.diff(h.edges)).sum())  # share of the distribution that moved
        self._title(cell, f"{mark}{P.short_name(cell.name or '', self._title_chars() - 7)} · {moved:.1%}", color)
        lim = max(float(np.abs(delta).max()), 1e-12) * 1.1
        cell.plot.setXRange(float(h.edges[0]), float(h.edges[-1]), padding=0.02)
        cell.plot.setYRange(-lim, lim, padding=0)

    def _title_chars(self) -> int:
        """How many characters of a title fit a cell of the current width (a title must not widen its cell)."""
        cell = self.view.width() // max(1, self._columns)
        return max(14, min(40, (cell - 44) // 6))

    @staticmethod
    def _title(cell: _Cell, text: str, color: str) -> None:
        cell.plot.setTitle(f"<span style='color:{color};font-size:8pt'>{text}</span>")

    def _mark_selected(self) -> None:
        if self._stale:
            return
        for cell in self.cells:
            sel = cell.name is not None and cell.name == self.doc.selected
            cell.plot.getViewBox().setBorder(pg.mkPen(P.MODEL_COLOR, width=2) if sel else None)

    def _on_clicked(self, ev) -> None:
        pos = ev.scenePos()
        for cell in self.cells:
            if cell.name and cell.plot.isVisible() and cell.plot.sceneBoundingRect().contains(pos):
                self.doc.select(cell.name)
                return

    def cell_data(self, name: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """(edges, density) drawn for a layer on the current page, or ``None`` (for tests)."""
        if self._stale:
            self._draw_page()
        for cell in self.cells:
            if cell.name == name:
                return np.asarray(cell.curve.xData), np.asarray(cell.curve.yData)
        return None

    def cell_difference(self, name: str) -> Optional[np.ndarray]:
        """The density difference drawn for a layer in difference mode (per shared bin), or ``None``."""
        for cell in self.cells:
            if cell.name == name and cell.pos.isVisible():
                h = self.shared[name]
                delta = np.zeros(len(h.counts))
                for item in (cell.pos, cell.neg):
                    x0 = np.asarray(item.opts["x0"])
                    idx = np.searchsorted(h.edges[:-1], x0)
                    delta[idx] = np.asarray(item.opts["height"])
                return delta
        return None
