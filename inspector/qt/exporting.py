"""Export what a view shows: any figure as PNG or SVG, any table (or tree) as CSV or JSON, a finding as text.

Figures are the view as drawn (PNG: the widget's pixels; SVG: the same drawing through Qt's SVG paint device,
lines and text as vectors). Tables are written as the view shows them (its filter and sort order), with the header's column names;
a tree adds a ``path`` column (its ancestors' labels joined by dots).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from PySide6.QtWidgets import QWidget

from inspector.core.errors import InspectorError
from inspector.core.judge import Finding

FIGURE_FILTER = "PNG image (*.png);;SVG vector image (*.svg)"
TABLE_FILTER = "CSV (*.csv);;JSON (*.json)"


def plot_widgets(root: QWidget) -> list[pg.GraphicsView]:
    """The visible plot canvases under ``root`` (a view may hold several)."""
    return [v for v in root.findChildren(pg.GraphicsView) if v.isVisible()]


def export_figure(root: QWidget, path: str | Path) -> Path:
    """Write the view ``root`` (plots, axes, labels) to ``path`` as .png (pixels) or .svg (vectors)."""
    out = Path(path)
    suffix = out.suffix.lower()
    views = plot_widgets(root)
    if not views:
        raise InspectorError("this view has no figure to export", hint="Choose a tab with a plot")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        if not root.grab().save(str(out), "PNG"):
            raise InspectorError(f"could not write {out}", hint="Check the folder is writable")
    elif suffix == ".svg":  # Qt's SVG paint device: the whole tab (plots, axes, labels) as vectors
        from PySide6.QtCore import QPoint
        from PySide6.QtGui import QPainter
        from PySide6.QtSvg import QSvgGenerator

        gen = QSvgGenerator()
        gen.setFileName(str(out))
        gen.setSize(root.size())
        gen.setViewBox(root.rect())
        gen.setTitle(root.windowTitle() or "Model Inspector figure")
        painter = QPainter(gen)
        try:
            root.render(painter, QPoint(0, 0))
        finally:
            painter.end()
        if not out.is_file():
            raise InspectorError(f"could not write {out}", hint="Check the folder is writable")
    else:
        raise InspectorError(f"{out.name}: figures are written as .png or .svg", hint="Name the file .png or .svg")
    return out


def table_rows(model: QAbstractItemModel) -> tuple[list[str], list[list[Any]]]:
    """Header names and the rows of ``model`` as shown (display text), depth first for a tree."""
    cols = model.columnCount()
    header = [str(model.headerData(c, Qt.Orientation.Horizontal) or f"column {c}") for c in range(cols)]
    rows: list[list[Any]] = []
    tree = False

    def walk(parent: QModelIndex, prefix: str) -> None:
        nonlocal tree
        for r in range(model.rowCount(parent)):
            idx = model.index(r, 0, parent)
            cells = [model.index(r, c, parent).data() for c in range(cols)]
            label = str(cells[0] or "").split("  ")[0]
            path = f"{prefix}.{label}" if prefix else label
            rows.append([path, *cells])
            if model.hasChildren(idx):
                tree = True
                walk(idx, path)

    walk(QModelIndex(), "")
    if not tree:
        return header, [r[1:] for r in rows]
    return ["path", *header], rows


def export_table(model: QAbstractItemModel, path: str | Path) -> Path:
    """Write ``model`` (a view's model: its sort and filter apply) as CSV or JSON."""
    out = Path(path)
    header, rows = table_rows(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        with out.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows([["" if v is None else v for v in r] for r in rows])
    elif suffix == ".json":
        out.write_text(json.dumps([dict(zip(header, r)) for r in rows], indent=1, ensure_ascii=False), "utf-8")
    else:
        raise InspectorError(f"{out.name}: tables are written as .csv or .json", hint="Name the file .csv or .json")
    return out


def finding_text(f: Finding) -> str:
    """A finding as one paragraph to paste into a review."""
    where = f.tensor or "the whole model"
    return f"[{f.severity}, score {f.score:.2f}] {f.detector} ({f.attack}) on {where}: {f.message}"
