"""Looks: the dark palette reaches the plots and flagged rows; a 1024×680 window keeps its docks usable."""

from __future__ import annotations

import pyqtgraph as pg
import pytest

from inspector.qt import plotting as P
from inspector.qt import theme


@pytest.fixture
def light_afterwards():
    yield
    theme.apply("light")


def test_dark_palette_reaches_plots_rows_and_settings(qtbot, main_window, light_afterwards):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    w = main_window()
    assert not w.dark_action.isChecked() and w.prefs.theme == "light"
    w.dark_action.setChecked(True)  # View ▸ Dark palette
    assert w.prefs.theme == "dark"
    base = QApplication.palette().color(QPalette.ColorRole.Base)
    assert base.lightness() < 80 and P.PLOT_BACKGROUND == base
    views = w.findChildren(pg.GraphicsView)
    assert views and all(v.backgroundBrush().color() == base for v in views)
    text = QApplication.palette().color(QPalette.ColorRole.Text)
    for tint in P.SEVERITY_ROWS.values():  # flagged rows stay readable under the palette's text colour
        assert abs(text.lightness() - tint.lightness()) > 100
    # the menu action switches back and is remembered
    w.dark_action.setChecked(False)
    assert P.PLOT_BACKGROUND.lightness() > 200 and w.prefs.theme == "light"
    assert all(v.backgroundBrush().color().lightness() > 200 for v in views)
    w.dark_action.setChecked(True)
    w.close()
    w2 = main_window()
    assert w2.prefs.theme == "dark" and w2.dark_action.isChecked()


def test_smallest_window_keeps_docks_usable(qtbot, main_window):
    w = main_window(size=(1024, 680))
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.layers_dock.width() >= 230, timeout=3000)  # the dock layout settles after show
    assert w.findings_dock.width() >= 230
    assert w.tabs.width() >= 480  # the plots keep the rest


def test_properties_show_metadata_config_and_hash(qtbot, main_window, tmp_path):
    import json

    import numpy as np
    from safetensors.numpy import save_file

    from tests.qt.conftest import wait_scanned

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file({"w": np.ones((4, 4), np.float32)}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny", "hidden_size": 4, "note": "x" * 500}))
    w = main_window()
    w.open_path(folder / "model.safetensors")
    wait_scanned(qtbot, w)
    p = w.properties
    assert p.values("Metadata") == {"format": "pt"}
    cfg = p.values("config.json")
    assert cfg["model_type"] == "tiny" and cfg["hidden_size"] == "4" and "(500 characters)" in cfg["note"]
    import hashlib

    sha = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert p.values("File")["SHA-256"] == sha
    assert p.values("Tensors")["dtype F32"] == "1 tensors"


def test_view_menu_docks_toggle_and_reset(qtbot, main_window):
    w = main_window()
    act = w.findings_dock.toggleViewAction()
    assert act.isEnabled()  # was greyed out: the docks could not close
    act.trigger()
    assert w.findings_dock.isHidden()
    w.layers_dock.setFloating(True)
    w.reset_layout()
    assert not w.findings_dock.isHidden() and not w.layers_dock.isFloating()
