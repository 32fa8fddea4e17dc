"""Plot look and small drawing helpers shared by every view: pens and colours are module constants.

pyqtgraph is configured once (:func:`configure`), after PySide6 is imported. Views create their plot items
once and call ``setData`` afterwards.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

# Colours: the model in blue, its baseline in grey-orange, fits dashed; severities as traffic lights.
MODEL_COLOR = QColor(31, 119, 180)
MODEL_FILL = QColor(31, 119, 180, 90)
BASELINE_COLOR = QColor(230, 120, 20)
BASELINE_FILL = QColor(230, 120, 20, 50)
#: the scrubbed copy (Showing: Scrubbed, and its side of a comparison): teal, apart from model blue and baseline orange
SCRUBBED_COLOR = QColor(23, 170, 150)
SCRUBBED_FILL = QColor(23, 170, 150, 80)
#: differences (scrubbed − original, model − baseline): red above zero, blue below, on a diverging scale
DIFF_POS = QColor(214, 60, 50)
DIFF_NEG = QColor(50, 110, 220)
FIT_COLOR = QColor(40, 40, 40)
EXPECT_COLOR = QColor(120, 120, 120)
SUSPICIOUS_COLOR = QColor(200, 40, 40)
WARNING_COLOR = QColor(215, 140, 0)
CLEAN_COLOR = QColor(40, 150, 60)
SUSPICIOUS_ROW = QColor(255, 225, 225)
WARNING_ROW = QColor(255, 243, 214)

MODEL_PEN = pg.mkPen(MODEL_COLOR, width=1.5)
MODEL_BRUSH = pg.mkBrush(MODEL_FILL)
BASELINE_PEN = pg.mkPen(BASELINE_COLOR, width=1.5)
BASELINE_BRUSH = pg.mkBrush(BASELINE_FILL)
SCRUBBED_PEN = pg.mkPen(SCRUBBED_COLOR, width=1.5)
SCRUBBED_BRUSH = pg.mkBrush(SCRUBBED_FILL)
FIT_PEN = pg.mkPen(FIT_COLOR, width=1.2, style=pg.QtCore.Qt.PenStyle.DashLine)
EXPECT_PEN = pg.mkPen(EXPECT_COLOR, width=1, style=pg.QtCore.Qt.PenStyle.DashLine)

SEVERITY_COLORS = {"suspicious": SUSPICIOUS_COLOR, "warning": WARNING_COLOR, "info": EXPECT_COLOR}
SEVERITY_ROWS = {"suspicious": SUSPICIOUS_ROW, "warning": WARNING_ROW}

#: plot background and axis/text colour: follow the application's palette (:func:`follow_palette`)
PLOT_BACKGROUND = QColor(255, 255, 255)
PLOT_FOREGROUND = QColor(40, 40, 40)
_LIGHT_ROWS = {"suspicious": QColor(SUSPICIOUS_ROW), "warning": QColor(WARNING_ROW)}
_DARK_ROWS = {"suspicious": QColor(95, 35, 35), "warning": QColor(90, 68, 20)}

_configured = False


def configure() -> None:
    """Global pyqtgraph options, set once per process; colours from the application's palette if one runs."""
    global _configured
    if _configured:
        return
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is not None:
        follow_palette(QApplication.palette())
    else:
        pg.setConfigOptions(background=PLOT_BACKGROUND, foreground=PLOT_FOREGROUND)
    _configured = True


def follow_palette(palette) -> None:
    """Plot colours for ``palette``: its base colour behind the plots, its text colour for axes, and tints of
    flagged rows that stay readable under its text colour (light tints on light, dark tints on dark)."""
    global PLOT_BACKGROUND, PLOT_FOREGROUND, FIT_COLOR, FIT_PEN
    from PySide6.QtGui import QPalette

    base = palette.color(QPalette.ColorRole.Base)
    dark = base.lightness() < 128
    PLOT_BACKGROUND = QColor(base)
    PLOT_FOREGROUND = QColor(215, 215, 215) if dark else QColor(40, 40, 40)
    FIT_COLOR = QColor(200, 200, 200) if dark else QColor(40, 40, 40)
    FIT_PEN = pg.mkPen(FIT_COLOR, width=1.2, style=pg.QtCore.Qt.PenStyle.DashLine)
    rows = _DARK_ROWS if dark else _LIGHT_ROWS
    SEVERITY_ROWS.clear()  # in place: views imported the dict itself
    SEVERITY_ROWS.update({k: QColor(v) for k, v in rows.items()})
    pg.setConfigOptions(background=PLOT_BACKGROUND, foreground=PLOT_FOREGROUND)


def mute(widget) -> None:
    """Secondary text (status lines, legends) in the palette's placeholder colour: readable, and it follows a
    palette switch (a fixed grey is unreadable on a dark background)."""
    from PySide6.QtGui import QPalette

    widget.setForegroundRole(QPalette.ColorRole.PlaceholderText)


def fill(color: QColor, alpha: int = 80) -> QColor:
    """``color`` with transparency ``alpha`` (0–255): the fill under a histogram drawn in ``color``."""
    c = QColor(color)
    c.setAlpha(alpha)
    return c


def log_counts(counts: np.ndarray) -> np.ndarray:
    """Counts for a log-y plot: log10(count + 1), so empty bins sit on the axis instead of at -inf."""
    return np.log10(np.asarray(counts, dtype=np.float64) + 1.0)


def gaussian_curve(edges: np.ndarray, mean: float, std: float, count: int, points: int = 400) -> tuple:
    """The fitted normal N(mean, std) as expected counts per bin of width ``edges``, sampled for drawing."""
    if not (math.isfinite(mean) and math.isfinite(std)) or std <= 0 or len(edges) < 2:
        return np.empty(0), np.empty(0)
    width = float(edges[1] - edges[0])
    x = np.linspace(float(edges[0]), float(edges[-1]), points)
    y = count * width * np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    return x, y


def short_name(name: str, limit: int = 28) -> str:
    """A tensor name shortened from the left for small plot titles."""
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]


def fmt(v: float, spec: str = ".3g") -> str:
    return "–" if v is None or not math.isfinite(v) else format(v, spec)
