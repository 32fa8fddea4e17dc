"""The histogram shows the selected layer's whole range after opening (the hidden side-by-side plot shares the x
axis and had set it to its placeholder's [0, 1], cutting off every negative weight)."""

from __future__ import annotations

from tests.qt.conftest import wait_scanned


def test_histogram_x_range_covers_the_layer(qtbot, main_window, tiny_model):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.doc.select("fc1.weight")
    stats = w.doc.scans["fc1.weight"].stats
    assert stats.min < -0.1 and stats.max > 0.1

    def covers() -> bool:
        x0, x1 = w.histogram.plot.getViewBox().viewRange()[0]
        return x0 <= stats.min and x1 >= stats.max and (x1 - x0) < 1.5 * (stats.max - stats.min)

    qtbot.waitUntil(covers, timeout=10_000)
