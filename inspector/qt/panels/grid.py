"""Small multiples: every layer's histogram at a glance (like Figure 6 of Song et al.), a page at a time.

A fixed number of plots is created once and reused for every page (many plot widgets are slow to build and,
with PySide6 6.12, unsafe); each shows density (count / total / bin width) so a baseline histogrammed on other
edges compares honestly. Click a plot to select its layer. While the panel is hidden (another tab is shown) the
page is only marked stale and drawn when the panel appears: opening a model and every scanned tensor then cost
the event loop nothing here.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from inspector.core.measure import TensorScan
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument

COLUMNS = 5
ROWS = 4


def _density(edges: np.ndarray, counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    width = np.diff(edges)
    return counts / (total * width) if total else counts.astype(np.float64)


class _Cell:
    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.name: Optional[str] = None
        self.base = plot.plot([0, 1], [0], stepMode="center", fillLevel=0, pen=P.BASELINE_PEN, brush=P.BASELINE_BRUSH)
        self.curve = plot.plot([0, 1], [0], stepMode="center", fillLevel=0, pen=P.MODEL_PEN, brush=P.MODEL_BRUSH)
        for ax in ("left", "bottom"):
            a = plot.getAxis(ax)
            a.setStyle(tickLength=-3, tickFont=None)
            a.setTextPen(pg.mkPen(110, 110, 110))
        plot.getAxis("left").setWidth(34)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)


class LayerGridPanel(QWidget):
    """A page of ``COLUMNS × ROWS`` histograms; flagged layers get a red title."""

    page_drawn = Signal(int)

    def __init__(self, doc: ModelDocument, parent=None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.page = 0
        self.names: list[str] = []
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
        bar = QHBoxLayout()
        for w in (self.prev_btn, self.page_label, self.next_btn, self.flagged_box):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.legend)

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
        cols = min(COLUMNS, max(1, math.ceil(math.sqrt(n))))
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

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.show_page(self.page)

    def show_page(self, page: int) -> None:
        self.page = max(0, min(page, self.pages - 1))
        self.page_label.setText(f"page {self.page + 1} of {self.pages} · {len(self.names)} layers")
        self.prev_btn.setEnabled(self.page > 0)
        self.next_btn.setEnabled(self.page < self.pages - 1)
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
        scan = self.doc.scans.get(name)
        sev = self.doc.severity_of(name)
        color = P.SEVERITY_COLORS[sev].name() if sev else "#333"
        mark = "● " if sev else ""
        cell.plot.setTitle(f"<span style='color:{color};font-size:8pt'>{mark}{P.short_name(name, 30)}</span>")
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
