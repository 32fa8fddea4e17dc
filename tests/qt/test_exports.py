"""Export any figure (PNG/SVG) and table (CSV/JSON) as shown; copy a finding's text."""

from __future__ import annotations

import csv
import json

from tests.qt.conftest import wait_scanned


def test_export_figure_png_and_svg(qtbot, main_window, tiny_model, tmp_path):
    from PySide6.QtGui import QImage

    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    qtbot.waitUntil(lambda: w.histogram.data is not None, timeout=10_000)
    w.export_figure(str(tmp_path / "h.png"))
    img = QImage(str(tmp_path / "h.png"))
    assert img.width() == w.histogram.width() and img.height() > 300  # the whole tab, as drawn
    w.export_figure(str(tmp_path / "h.svg"))
    svg = (tmp_path / "h.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "path" in svg
    w.export_figure(str(tmp_path / "h.gif"))
    assert w.message_bar.level == "error" and ".png or .svg" in w.message_bar.text


def test_export_tables_as_shown(qtbot, main_window, tiny_model, tmp_path):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.layer_views.setCurrentWidget(w.layers)
    w.layers.filter_edit.setText("fc1")
    w.export_table(str(tmp_path / "t.csv"))
    rows = list(csv.reader((tmp_path / "t.csv").open()))
    assert rows[0][:5] == ["⚑", "name", "shape", "dtype", "params"]
    assert sorted(r[1] for r in rows[1:]) == ["fc1.bias", "fc1.weight"]  # the filter applies
    w.layer_views.setCurrentWidget(w.tree)
    w.export_table(str(tmp_path / "tree.json"))
    data = json.loads((tmp_path / "tree.json").read_text())
    paths = [r["path"] for r in data]
    assert "fc1" in paths and "fc1.weight" in paths and "steps" in paths
    block = next(r for r in data if r["path"] == "fc1")
    assert block["tensors"] == "2" and block["params"] == f"{128 * 64 + 128:,}"


def test_copy_a_finding(qtbot, main_window):
    from PySide6.QtWidgets import QApplication

    from inspector.core.resources import resource_path

    w = main_window()
    w.open_path(str(resource_path("demo", "mlp-sgn-l100.safetensors")))
    result = wait_scanned(qtbot, w)
    top = next(f for f in result.findings if f.tensor)
    w.findings.select_finding(top)
    w.copy_finding()
    text = QApplication.clipboard().text()
    assert text.startswith(f"[{top.severity}, score {top.score:.2f}] {top.detector}") and top.message in text
