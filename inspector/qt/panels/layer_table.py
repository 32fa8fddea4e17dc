"""The layer table: every tensor with its key statistics and detector scores; sortable, filterable, flagged.

It follows the *Showing* toggle (the scrubbed copy's statistics, scores and flags once a scrub is applied and
shown) and the *Compare* mode: side by side, each statistic as ``left → right``; difference, ``plus − minus``
(scrubbed − original, or model − baseline), sortable, so the layers a scrub or a baseline moves most come first.
Detector scores compare original → scrubbed; the baseline has none (it is not judged on its own).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.formats import ModelFile
from inspector.core.measure import TensorScan
from inspector.core.pipeline import ScanResult
from inspector.qt import plotting as P
from inspector.qt.compare import Pair, layer_pair
from inspector.qt.document import ModelDocument
from inspector.qt.panels.module_tree import natural_sort_text
from inspector.qt.plotting import SEVERITY_COLORS, SEVERITY_ROWS, fmt

SORT_ROLE = Qt.ItemDataRole.UserRole + 1

# (header, tooltip, value getter, text formatter)
_Col = tuple[str, str, Callable[[Any], Any], Callable[[Any], str]]
_STAT_COLUMNS: list[_Col] = [
    ("mean", "mean of the finite values", lambda s: s.mean, lambda v: fmt(v)),
    ("std", "standard deviation", lambda s: s.std, lambda v: fmt(v)),
    ("kurt", "kurtosis (3 for a Gaussian; sign encoding gives 5–6)", lambda s: s.kurtosis, lambda v: fmt(v, ".2f")),
    ("skew", "skewness (correlated-value encoding skews)", lambda s: s.skewness, lambda v: fmt(v, ".2f")),
    (
        "±.05σ",
        "fraction of weights within ±0.05σ of zero (benign ≈4%)",
        lambda s: s.near_zero_fraction,
        lambda v: fmt(v, ".1%"),
    ),
    ("pos", "fraction of positive weights", lambda s: s.positive_fraction, lambda v: fmt(v, ".0%")),
    ("lowH", "entropy of the low byte in bits (benign ≈8)", lambda s: s.low_byte_entropy, lambda v: fmt(v, ".2f")),
    ("ac1", "lag-1 autocorrelation of values in storage order", lambda s: s.autocorr_value, lambda v: fmt(v, ".2f")),
]


class LayerTableModel(QAbstractTableModel):
    """Rows are tensors in storage order; detector columns appear once a scan's findings are known."""

    FIXED = ["⚑", "name", "shape", "dtype", "params"]

    def __init__(self, doc: ModelDocument, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.names: list[str] = []
        self.row_of: dict[str, int] = {}
        self.detectors: list[str] = []
        self.scores: dict[tuple[str, str], float] = {}
        #: the other state's scores (original ↔ scrubbed) when comparing them
        self.scores_scrubbed: dict[tuple[str, str], float] = {}
        self.scores_original: dict[tuple[str, str], float] = {}
        #: "off", "side" or "diff": how the statistic cells read (the document's compare mode, if it can compare)
        self.mode = "off"

    # -- feeding --------------------------------------------------------------------------------------------
    def set_model(self, model: Optional[ModelFile]) -> None:
        self.beginResetModel()
        self.names = model.names if model is not None else []
        self.row_of = {n: i for i, n in enumerate(self.names)}
        self.detectors, self.scores = [], {}
        self.endResetModel()

    def update_tensor(self, t: TensorScan) -> None:
        row = self.row_of.get(t.name)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def set_result(self, result: Optional[ScanResult]) -> None:
        """Scores and detector columns of the state shown (the document's), and the comparison's mode."""
        self.beginResetModel()
        d = self.doc
        self.scores_original = _scores(d.result)
        a = d.scrubbed
        self.scores_scrubbed = _scores(a.scan) if a is not None else {}
        self.scores = self.scores_scrubbed if d.shows_scrubbed else self.scores_original
        self.mode = d.compare_mode
        keys = set(self.scores)
        if self.mode != "off" and d.compare_target == "scrub":  # before → after: either side's detectors
            keys |= set(self.scores_original) | set(self.scores_scrubbed)
        self.detectors = sorted({det for _n, det in keys})
        self.endResetModel()

    # -- Qt model API -----------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.names)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.FIXED) + len(_STAT_COLUMNS) + len(self.detectors)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        nf, ns = len(self.FIXED), len(_STAT_COLUMNS)
        if role == Qt.ItemDataRole.DisplayRole:
            if section < nf:
                return self.FIXED[section]
            if section < nf + ns:
                head = _STAT_COLUMNS[section - nf][0]
                return {"diff": f"Δ {head}", "side": f"{head} (→)"}.get(self.mode, head)
            return self.detectors[section - nf - ns]
        if role == Qt.ItemDataRole.ToolTipRole:
            if section == 0:
                return "flag: the layer has a suspicious (red) or warning (amber) finding"
            if nf <= section < nf + ns:
                tip = _STAT_COLUMNS[section - nf][1]
                if self.mode == "side":
                    return f"{tip}\nleft side → right side of the comparison (toolbar: Compare)"
                if self.mode == "diff":
                    return f"{tip}\ndifference: scrubbed − original, or model − baseline (toolbar: Compare)"
                return tip
            if section >= nf + ns:
                det = self.detectors[section - nf - ns]
                return f"score of detector {det}: warning from 0.45, suspicious from 0.70 (F1: the guide)"
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        name = self.names[index.row()]
        col = index.column()
        model = self.doc.model
        if model is None or name not in model:
            return None
        ref = model[name]
        scan = self.doc.view_scans.get(name)
        sev = self.doc.severity_of(name)
        if role == Qt.ItemDataRole.BackgroundRole:
            c = SEVERITY_ROWS.get(sev or "")
            return QBrush(c) if c is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and col == 0 and sev:
            return QBrush(SEVERITY_COLORS[sev])
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col <= 1:
            fs = self.doc.findings_for(name)
            return "\n".join(f"[{f.severity}] {f.message}" for f in fs) or name
        if role == Qt.ItemDataRole.ToolTipRole and self.mode != "off" and col >= len(self.FIXED):
            pair = layer_pair(self.doc, name)
            return pair if isinstance(pair, str) else f"{pair.left.label} → {pair.right.label}"
        value, text = self._cell(col, name, ref, scan, sev)
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SORT_ROLE:
            if isinstance(value, float) and not math.isfinite(value):
                return -math.inf
            if col == 1:  # layers.2 before layers.10
                return natural_sort_text(name)
            return value
        return None

    def _cell(self, col: int, name: str, ref, scan: Optional[TensorScan], sev: Optional[str]) -> tuple[Any, str]:
        nf, ns = len(self.FIXED), len(_STAT_COLUMNS)
        if col == 0:
            rank = {"suspicious": 2, "warning": 1}.get(sev or "", 0)
            return rank, {"suspicious": "●", "warning": "●"}.get(sev or "", "")
        if col == 1:
            return name, name
        if col == 2:
            return ref.numel, "×".join(map(str, ref.shape)) or "scalar"
        if col == 3:
            return ref.dtype.name, ref.dtype.name
        if col == 4:
            return ref.numel, f"{ref.numel:,}"
        if col < nf + ns:
            _, _, get, form = _STAT_COLUMNS[col - nf]
            if self.mode != "off":
                pair = layer_pair(self.doc, name)
                if isinstance(pair, Pair):
                    return self._compare_cell(pair, get, form)
            if scan is None:
                return -math.inf, "…" if self.doc.view_model is None or name in self.doc.view_model else "–"
            v = get(scan.stats)
            return float(v), form(v)
        det = self.detectors[col - nf - ns]
        if self.mode != "off" and self.doc.compare_target == "scrub" and self.doc.scrubbed is not None:
            a, b = self.scores_original.get((name, det)), self.scores_scrubbed.get((name, det))
            if a is None and b is None:
                return -1.0, ""
            fa, fb = a or 0.0, b or 0.0
            if self.mode == "diff":
                return fb - fa, f"{fb - fa:+.2f}"
            return fa, f"{'–' if a is None else f'{a:.2f}'} → {'–' if b is None else f'{b:.2f}'}"
        s = self.scores.get((name, det))
        return (s if s is not None else -1.0), ("" if s is None else f"{s:.2f}")

    def _compare_cell(self, pair: Pair, get: Callable[[Any], Any], form: Callable[[Any], str]) -> tuple[Any, str]:
        ls, rs = pair.left.scan, pair.right.scan
        if ls is None or rs is None:
            return -math.inf, "…"
        lv, rv = float(get(ls.stats)), float(get(rs.stats))
        if self.mode == "side":
            return lv, f"{form(lv)} → {form(rv)}"
        pv, mv = (rv, lv) if pair.plus is pair.right else (lv, rv)
        d = pv - mv
        if not math.isfinite(d):
            return -math.inf, "–"
        text = form(d)
        return d, text if text.startswith(("-", "−", "–")) else "+" + text


def _scores(result: Optional[ScanResult]) -> dict[tuple[str, str], float]:
    """Each (layer, detector)'s highest score in ``result``."""
    out: dict[tuple[str, str], float] = {}
    for f in result.findings if result is not None else ():
        if f.tensor:
            key = (f.tensor, f.detector)
            out[key] = max(out.get(key, 0.0), f.score)
    return out


class _LayerFilter(QSortFilterProxyModel):
    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.flagged_only = False
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if self.flagged_only:
            src = self.sourceModel()
            assert isinstance(src, LayerTableModel)
            if src.doc.severity_of(src.names[row]) is None:
                return False
        return super().filterAcceptsRow(row, parent)


class FrozenNameTable(QTableView):
    """A table whose first ``frozen`` columns (flag and name) stay put when it scrolls sideways: a second view
    over the same model and selection draws them on top, scrolling only vertically (Qt's frozen-column recipe)."""

    def __init__(self, frozen: int = 2, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.frozen_count = frozen
        self.frozen = QTableView(self)
        self.frozen.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.frozen.verticalHeader().hide()
        self.frozen.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen.setStyleSheet("QTableView { border: none; }")
        self.viewport().stackUnder(self.frozen)
        self.horizontalHeader().sectionResized.connect(self._on_section_resized)
        self.verticalHeader().sectionResized.connect(lambda i, _o, size: self.frozen.setRowHeight(i, size))
        self.verticalScrollBar().valueChanged.connect(self.frozen.verticalScrollBar().setValue)
        self.frozen.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)

    def setModel(self, model) -> None:  # noqa: N802 - Qt's name
        super().setModel(model)
        self.frozen.setModel(model)
        self.frozen.setSelectionModel(self.selectionModel())
        self.frozen.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.frozen.horizontalHeader().setSortIndicatorShown(True)
        self.frozen.horizontalHeader().sectionClicked.connect(
            lambda c: self.sortByColumn(
                c,
                Qt.SortOrder.DescendingOrder
                if self.horizontalHeader().sortIndicatorSection() == c
                and self.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
                else Qt.SortOrder.AscendingOrder,
            )
        )
        self.horizontalHeader().sortIndicatorChanged.connect(self._on_sort_changed)
        self.frozen.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        model.modelReset.connect(self._sync_columns)
        model.layoutChanged.connect(self._sync_columns)
        self._sync_columns()
        self.frozen.show()

    def _on_sort_changed(self, section: int, order: Qt.SortOrder) -> None:
        self.frozen.horizontalHeader().setSortIndicator(section, order)

    def _sync_columns(self) -> None:
        model = self.model()
        for c in range(model.columnCount() if model is not None else 0):
            self.frozen.setColumnHidden(c, c >= self.frozen_count)
            if c < self.frozen_count:
                self.frozen.setColumnWidth(c, self.columnWidth(c))
        self._update_geometry()

    def _on_section_resized(self, index: int, _old: int, size: int) -> None:
        if index < self.frozen_count:
            self.frozen.setColumnWidth(index, size)
            self._update_geometry()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._update_geometry()

    def _update_geometry(self) -> None:
        width = sum(self.columnWidth(c) for c in range(self.frozen_count))
        self.frozen.setGeometry(
            self.verticalHeader().width() + self.frameWidth(),
            self.frameWidth(),
            width,
            self.viewport().height() + self.horizontalHeader().height(),
        )
        self.frozen.verticalHeader().setDefaultSectionSize(self.verticalHeader().defaultSectionSize())


class LayerTablePanel(QWidget):
    """Table + filter box; selecting a row selects the layer in the document (and so in every view)."""

    def __init__(self, doc: ModelDocument, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.doc = doc
        # children of the panel: Qt deletes them with it, never a garbage collection on some other thread
        self.model = LayerTableModel(doc, self)
        self.proxy = _LayerFilter(self)
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit(placeholderText="Filter layers (text or regex)…")
        self.filter_edit.setClearButtonEnabled(True)
        self.flagged_box = QCheckBox("Flagged only")
        self.count_label = QLabel()
        P.mute(self.count_label)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.flagged_box)
        top.addWidget(self.count_label)

        self.view = FrozenNameTable(frozen=2)  # the flag and the name stay when the table scrolls sideways
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)  # storage order until the user clicks a header
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAlternatingRowColors(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setWordWrap(False)
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(False)
        hh.setHighlightSections(False)
        hh.setResizeContentsPrecision(64)  # fit columns to the first rows, not to thousands of them

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)

        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.flagged_box.toggled.connect(self._on_flagged_toggled)
        self.view.selectionModel().currentRowChanged.connect(self._on_current_changed)
        doc.opened.connect(self._on_doc_opened)
        doc.rescanning.connect(lambda: self._on_doc_opened(self.doc.model))
        doc.tensor_scanned.connect(self.model.update_tensor)
        doc.scan_finished.connect(self._on_scan_finished)
        doc.selection_changed.connect(self._on_selection_changed)
        doc.view_changed.connect(self._on_view_changed)
        doc.scrubbed_changed.connect(self._on_view_changed)
        doc.baseline_changed.connect(self._on_view_changed)

    # -- document → view ----------------------------------------------------------------------------------------
    def _on_doc_opened(self, model: Optional[ModelFile]) -> None:
        self.model.set_model(model)
        self._fit_columns()
        self._update_count()

    def _on_scan_finished(self, result: ScanResult) -> None:
        current = self.doc.selected
        self.model.set_result(result)
        self.proxy.invalidate()
        self._fit_columns()
        self._update_count()
        if current:
            self._on_selection_changed(current)

    def _on_view_changed(self) -> None:
        """Original ↔ scrubbed, or the comparison changed: every cell reads again, columns fit what they hold."""
        if self.doc.result is not None:
            self._on_scan_finished(self.doc.result)

    def _fit_columns(self) -> None:
        """Column widths from font metrics of the names and the headers: no per-cell size hints, so a model
        with thousands of tensors opens without stalling the event loop."""
        fm = self.view.fontMetrics()
        hh = self.view.horizontalHeader()
        pad = 14
        longest = max(self.model.names, key=len, default="name")
        hh.resizeSection(0, 22)
        hh.resizeSection(1, min(max(fm.horizontalAdvance(longest) + pad, 90), 280))
        shapes = [self.model.data(self.model.index(r, 2)) or "" for r in range(min(200, self.model.rowCount()))]
        widest_shape = max(shapes, key=len, default="shape")
        hh.resizeSection(2, max(fm.horizontalAdvance(widest_shape), fm.horizontalAdvance("shape")) + pad)
        model = self.doc.model
        tensors = model.tensors if model is not None else []
        dtypes = {t.dtype.name for t in tensors} | {"dtype"}
        hh.resizeSection(3, max(fm.horizontalAdvance(d) for d in dtypes) + pad)
        most = max((t.numel for t in tensors), default=0)
        hh.resizeSection(4, max(fm.horizontalAdvance(f"{most:,}"), fm.horizontalAdvance("params")) + pad)
        sample = fm.horizontalAdvance("-0.000123 → -0.000123" if self.model.mode == "side" else "-0.000123") + pad
        for c in range(5, self.model.columnCount()):
            header = str(self.model.headerData(c, Qt.Orientation.Horizontal) or "")
            hh.resizeSection(
                c, max(sample if c < 5 + len(_STAT_COLUMNS) else 0, fm.horizontalAdvance(header) + pad, 44)
            )

    def _on_selection_changed(self, name: str) -> None:
        row = self.model.row_of.get(name)
        if row is None:
            return
        idx = self.proxy.mapFromSource(self.model.index(row, 1))
        if idx.isValid() and self.view.currentIndex().row() != idx.row():
            self.view.setCurrentIndex(idx)
            self.view.scrollTo(idx)

    # -- view → document ----------------------------------------------------------------------------------------
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            src = self.proxy.mapToSource(current)
            self.doc.select(self.model.names[src.row()])

    def _on_filter_changed(self, text: str) -> None:
        rx = QRegularExpression(text, QRegularExpression.PatternOption.CaseInsensitiveOption)
        if not rx.isValid():
            rx = QRegularExpression(QRegularExpression.escape(text))
        self.proxy.setFilterRegularExpression(rx)
        self._update_count()

    def _on_flagged_toggled(self, on: bool) -> None:
        self.proxy.flagged_only = on
        self.proxy.invalidate()
        self._update_count()

    def _update_count(self) -> None:
        self.count_label.setText(f"{self.proxy.rowCount()} / {self.model.rowCount()}")

    def selected_names(self) -> list[str]:
        """Every selected layer (for "apply to selected"), in table order."""
        rows = {self.proxy.mapToSource(i).row() for i in self.view.selectionModel().selectedRows()}
        return [self.model.names[r] for r in sorted(rows)]
