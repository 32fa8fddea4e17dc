"""The module tree: the model's hierarchy from its dotted tensor names, Netron-style, with per-block summaries.

``encoder.layers.10.attn.q_proj.weight`` sits under ``encoder › layers › 10 › attn › q_proj``. Children are
in natural order (``layers.2`` before ``layers.10``); every block shows how many tensors and parameters it
holds and its worst finding, so the odd block of a deep model stands out collapsed. The search box keeps the
blocks whose names match (and their ancestors). Selecting a tensor selects it in every view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from PySide6.QtCore import QModelIndex, QObject, QRegularExpression, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTreeView, QVBoxLayout, QWidget

from inspector.core.formats import ModelFile
from inspector.core.judge import SEVERITIES, Finding
from inspector.qt.document import ModelDocument
from inspector.qt.plotting import SEVERITY_COLORS, SEVERITY_ROWS

NAME_ROLE = Qt.ItemDataRole.UserRole + 1  # the full tensor name of a leaf ("" for a block)
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key putting ``layers.2`` before ``layers.10`` (digit runs compare as numbers)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _DIGITS.split(text) if p)


def natural_sort_text(text: str) -> str:
    """The same order as a plain string (for Qt's sort role): digit runs zero-padded."""
    return _DIGITS.sub(lambda m: m.group(1).zfill(12), text.lower())


@dataclass
class Node:
    """A block (or a tensor, when ``tensor`` is set) of the hierarchy."""

    label: str
    path: str  # dotted prefix from the root ("" for the root)
    tensor: Optional[str] = None
    children: dict[str, Node] = field(default_factory=dict)
    tensors: int = 0
    params: int = 0
    worst: Optional[Finding] = None  # the most severe finding at or under this node

    def ordered(self) -> list[Node]:
        return sorted(self.children.values(), key=lambda n: natural_key(n.label))


def _worse(a: Optional[Finding], b: Optional[Finding]) -> Optional[Finding]:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b, key=lambda f: (SEVERITIES.index(f.severity), f.score))


def build_tree(tensors: list[tuple[str, int]], findings: Optional[dict[str, list[Finding]]] = None) -> Node:
    """The hierarchy of ``(name, numel)`` pairs by their dotted names, with counts and the worst finding per
    block (``findings``: tensor name → its findings). A name that is also a prefix of others (rare) keeps its
    tensor as a leaf beside the block."""
    root = Node("", "")
    findings = findings or {}
    for name, numel in tensors:
        parts = name.split(".")
        node = root
        for i, part in enumerate(parts[:-1]):
            key = part
            child = node.children.get(key)
            if child is None or child.tensor is not None:
                key = part if child is None else part + "."
                child = node.children.setdefault(key, Node(part, ".".join(parts[: i + 1])))
            node = child
        leaf_key = parts[-1] if parts[-1] not in node.children else parts[-1] + " (tensor)"
        node.children[leaf_key] = Node(parts[-1], name, tensor=name, params=int(numel))
    _summarise(root, findings)
    return root


def _summarise(node: Node, findings: dict[str, list[Finding]]) -> None:
    if node.tensor is not None:
        node.tensors = 1
        for f in findings.get(node.tensor, []):
            if f.severity != "info":
                node.worst = _worse(node.worst, f)
        return
    node.tensors, node.params, node.worst = 0, 0, None
    for c in node.children.values():
        _summarise(c, findings)
        node.tensors += c.tensors
        node.params += c.params
        node.worst = _worse(node.worst, c.worst)


class _TreeFilter(QSortFilterProxyModel):
    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)  # a match keeps its ancestors
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setSortRole(SORT_ROLE)
        self.setFilterRole(SORT_ROLE + 1)


class ModuleTreePanel(QWidget):
    """Search box over a tree of blocks and tensors; columns: tensors, parameters, worst finding."""

    HEADERS = ["module / tensor", "tensors", "params", "worst", "finding"]

    def __init__(self, doc: ModelDocument, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.root: Optional[Node] = None
        self.items: dict[str, QStandardItem] = {}  # tensor name -> its leaf item
        self.model = QStandardItemModel(0, len(self.HEADERS), self)
        self.model.setHorizontalHeaderLabels(self.HEADERS)
        self.proxy = _TreeFilter(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit(placeholderText="Search modules (text or regex)…")
        self.search.setClearButtonEnabled(True)
        self.count_label = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.count_label)
        self.view = QTreeView()
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        hh = self.view.header()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)

        self.search.textChanged.connect(self._on_search)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        doc.opened.connect(lambda _m: self.rebuild())
        doc.rescanning.connect(self.rebuild)
        doc.scan_finished.connect(lambda _r: self.rebuild())
        doc.selection_changed.connect(self._on_selection_changed)
        doc.view_changed.connect(self.rebuild)  # Showing: Original | Scrubbed (findings_for follows it)

    # -- building ---------------------------------------------------------------------------------------------
    def rebuild(self) -> None:
        model: Optional[ModelFile] = self.doc.model
        self.model.removeRows(0, self.model.rowCount())
        self.items = {}
        if model is None:
            self.root = None
            self._update_count()
            return
        findings = {t.name: self.doc.findings_for(t.name) for t in model.tensors}
        self.root = build_tree([(t.name, t.numel) for t in model.tensors], findings)
        self._fill(self.model.invisibleRootItem(), self.root, {t.name: t for t in model.tensors})
        w = self.view.fontMetrics().horizontalAdvance
        self.view.setColumnWidth(0, max(200, min(340, w("post_attention_layernorm  64×64 F32") + 60)))
        for c, text in ((1, "tensors"), (2, "12,345,678"), (3, "worst")):
            self.view.setColumnWidth(c, w(text) + 18)
        self.view.expandToDepth(0 if self.root.tensors > 40 else 2)
        self._update_count()
        if self.doc.selected:
            self._on_selection_changed(self.doc.selected)

    def _fill(self, parent: QStandardItem, node: Node, refs: dict[str, Any]) -> None:
        for child in node.ordered():
            row = self._row(child)
            parent.appendRow(row)
            if child.tensor is not None:
                ref = refs[child.tensor]
                row[0].setText(f"{child.label}  {'×'.join(map(str, ref.shape)) or 'scalar'} {ref.dtype.name}")
                self.items[child.tensor] = row[0]
            else:
                self._fill(row[0], child, refs)

    def _row(self, node: Node) -> list[QStandardItem]:
        cells = [QStandardItem(node.label) for _ in self.HEADERS]
        name, tensors, params, worst, finding = cells
        name.setData(node.tensor or "", NAME_ROLE)
        name.setData(natural_sort_text(node.label), SORT_ROLE)
        name.setData(node.path, SORT_ROLE + 1)  # the search matches the dotted path
        name.setToolTip(node.path)
        tensors.setText("" if node.tensor else str(node.tensors))
        tensors.setData(node.tensors, SORT_ROLE)
        params.setText(f"{node.params:,}")
        params.setData(node.params, SORT_ROLE)
        f = node.worst
        worst.setText(f"● {f.score:.2f}" if f else "")
        worst.setData(f"{SEVERITIES.index(f.severity) + 1 if f else 0}{f.score if f else 0:.3f}", SORT_ROLE)
        finding.setText(f"{f.detector}: {f.message}" if f else "")
        if f is not None:
            worst.setForeground(QBrush(SEVERITY_COLORS[f.severity]))
            finding.setToolTip(f"[{f.severity}] {f.tensor}: {f.message}")
            if node.tensor is not None and f.severity in SEVERITY_ROWS:
                for c in cells:
                    c.setBackground(QBrush(SEVERITY_ROWS[f.severity]))
        for c in (tensors, params, worst):
            c.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for c in cells:
            c.setEditable(False)
        return cells

    # -- view ↔ document ----------------------------------------------------------------------------------------
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            name = self.proxy.data(current.siblingAtColumn(0), NAME_ROLE)
            if name:
                self.doc.select(name)

    def _on_selection_changed(self, name: str) -> None:
        item = self.items.get(name)
        if item is None:
            return
        idx = self.proxy.mapFromSource(item.index())
        if idx.isValid() and self.view.currentIndex() != idx:
            self.view.setCurrentIndex(idx)
            self.view.scrollTo(idx)

    def _on_search(self, text: str) -> None:
        rx = QRegularExpression(text, QRegularExpression.PatternOption.CaseInsensitiveOption)
        if not rx.isValid():  # a half-typed regex searches for the text as it is (and says so)
            rx = QRegularExpression(
                QRegularExpression.escape(text), QRegularExpression.PatternOption.CaseInsensitiveOption
            )
            self.search.setToolTip("not a valid regular expression: searching for the text as typed")
        else:
            self.search.setToolTip("")
        self.proxy.setFilterRegularExpression(rx)
        if text:
            self.view.expandAll()
        self._update_count()

    def _update_count(self) -> None:
        shown = sum(1 for item in self.items.values() if self.proxy.mapFromSource(item.index()).isValid())
        self.count_label.setText(f"{shown} / {len(self.items)}")

    # -- for tests and exports --------------------------------------------------------------------------------------
    def top_level_labels(self) -> list[str]:
        return [self.model.item(r, 0).text() for r in range(self.model.rowCount())]

    def child_labels(self, path: str) -> list[str]:
        """Labels of the children of the block at dotted ``path``, in the tree's order."""
        item = self._find_block(path)
        if item is None:
            return []
        return [item.child(r, 0).text() for r in range(item.rowCount())]

    def block_row(self, path: str) -> Optional[list[str]]:
        item = self._find_block(path)
        if item is None:
            return None
        parent = item.parent() or self.model.invisibleRootItem()
        return [parent.child(item.row(), c).text() for c in range(len(self.HEADERS))]

    def _find_block(self, path: str) -> Optional[QStandardItem]:
        found = self.model.match(
            self.model.index(0, 0), SORT_ROLE + 1, path, 1, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive
        )
        return self.model.itemFromIndex(found[0]) if found else None
