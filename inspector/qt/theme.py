"""Light and dark palettes, with plots that follow the palette (background, axes, text, flagged-row tints).

``apply("dark")`` switches the application's palette (Fusion style) and re-colours the plots that exist;
plots created later read the same colours from :mod:`inspector.qt.plotting`.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from inspector.qt import plotting as P

MODES = ("light", "dark")


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 32, 36), QColor(45, 47, 52), QColor(225, 225, 225)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(40, 42, 47),
        QPalette.ColorRole.ToolTipBase: QColor(55, 57, 62),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 140),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: QColor(110, 170, 255),
        QPalette.ColorRole.Highlight: QColor(45, 110, 190),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def apply(mode: str) -> None:
    """Switch the running application to ``mode`` ("light" or "dark")."""
    if mode not in MODES:
        raise ValueError(f"unknown theme {mode!r}")
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    palette = dark_palette() if mode == "dark" else app.style().standardPalette()
    app.setPalette(palette)
    P.follow_palette(palette)
    for top in app.topLevelWidgets():
        recolor_plots(top)


def recolor_plots(root: QWidget) -> None:
    """Give the plots under ``root`` the current plot background and axis colours."""
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(P.PLOT_BACKGROUND)
        scene = view.scene()
        if scene is None:
            continue
        for item in scene.items():
            if isinstance(item, pg.AxisItem):
                item.setPen(P.PLOT_FOREGROUND)
                item.setTextPen(P.PLOT_FOREGROUND)
            elif isinstance(item, pg.TextItem) and not isinstance(item, pg.InfLineLabel):
                item.setColor(P.PLOT_FOREGROUND)
            elif isinstance(item, pg.LabelItem):
                item.setText(item.text, color=P.PLOT_FOREGROUND)
