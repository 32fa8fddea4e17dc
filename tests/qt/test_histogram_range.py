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


def test_fewer_bins_range_the_counts_again(qtbot, main_window, tiny_model):
    """Other bins, other heights: the y range follows (it kept the 256-bin peak and cut the 32-bin one)."""
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.doc.select("fc1.weight")
    qtbot.waitUntil(lambda: w.histogram.data is not None and w.histogram.data.name == "fc1.weight", timeout=10_000)
    w.histogram.bins_spin.setValue(32)
    qtbot.waitUntil(lambda: len(w.histogram.data.counts) == 32, timeout=10_000)
    peak = float(w.histogram.data.counts.max())
    qtbot.waitUntil(lambda: w.histogram.plot.getViewBox().viewRange()[1][1] >= peak, timeout=10_000)
