"""Showing: Original | Scrubbed, and Compare (side by side, difference) in every view.

The demo's raw-LSB model carries its payload in the low 16 bits of every fp32 weight; a 16-bit scrub replaces
exactly those bits. Each test checks what a view draws against the core's own numbers for both files.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.qt.conftest import wait_scanned

pytest.importorskip("inspector.core.scrub.export")

LSB = ("demo", "mlp-lsb-raw-b16.safetensors")
LAYER = "fc1.weight"


def _demo(name: str) -> str:
    from inspector.core.resources import resource_path

    return str(resource_path("demo", name))


def _applied(qtbot, main_window, bits: int = 16):
    """The raw-LSB demo, scanned, with a ``bits``-bit scrub applied and fc1.weight selected."""
    w = main_window()
    w.open_path(_demo(LSB[1]))
    wait_scanned(qtbot, w)
    scrub = w.views["scrub"]
    scrub.slider.setValue(bits)
    with qtbot.waitSignal(scrub.applied, timeout=30_000):
        scrub.apply()
    qtbot.waitUntil(lambda: not scrub.apply_slot.busy, timeout=5000)
    w.doc.select(LAYER)
    return w


def _flat(model, name: str) -> np.ndarray:
    from inspector.core.formats import read_tensor

    return read_tensor(model[name]).reshape(-1)


# ------------------------------------------------------------------------------------------------ pure helpers
def test_count_difference_is_zero_for_equal_histograms_and_rescales_unequal_totals():
    from inspector.qt.compare import count_difference

    edges = np.linspace(-1, 1, 9)
    counts = np.array([0, 1, 5, 9, 9, 5, 1, 0])
    same = count_difference(edges, counts, counts)
    assert not same.delta.any() and same.moved == 0 and same.scale == 1.0
    moved = count_difference(edges, np.array([0, 1, 5, 8, 10, 5, 1, 0]), counts)
    assert moved.delta.sum() == 0 and moved.moved == 1.0
    half = count_difference(edges, counts, counts * 2)  # a baseline twice the size: shapes compared
    assert half.scale == 0.5 and np.allclose(half.delta, 0)
    with pytest.raises(ValueError):
        count_difference(edges, counts, counts[:-1])


def test_finding_changes_match_by_layer_detector_and_attack():
    from inspector.core.judge import Finding
    from inspector.qt.compare import finding_changes

    def f(tensor, detector, score):
        return Finding(detector=detector, attack="lsb", severity="suspicious", score=score, message="m", tensor=tensor)

    before = (f("a", "lsb-bitplanes", 0.9), f("b", "lsb-bitplanes", 0.8), f("a", "numeric", 0.1))
    after = (f("a", "numeric", 0.2), f("c", "lsb-bitplanes", 0.7))
    ch = finding_changes(before, after)
    assert [(x.tensor, x.detector) for x in ch.gone] == [("a", "lsb-bitplanes"), ("b", "lsb-bitplanes")]
    assert [(x.tensor, x.detector) for x in ch.new] == [("c", "lsb-bitplanes")]
    assert [(a.score, b.score) for a, b in ch.kept] == [(0.1, 0.2)]


def test_diverging_colours_are_the_background_at_zero_and_saturate_at_the_scale():
    from inspector.qt import plotting as P
    from inspector.qt.compare import diverging_rgb

    rgb = diverging_rgb(np.array([0.0, 2.0, -2.0, 1.0, np.nan]), 2.0)
    bg = P.PLOT_BACKGROUND
    assert tuple(rgb[0]) == (bg.red(), bg.green(), bg.blue())
    assert tuple(rgb[1]) == (P.DIFF_POS.red(), P.DIFF_POS.green(), P.DIFF_POS.blue())
    assert tuple(rgb[2]) == (P.DIFF_NEG.red(), P.DIFF_NEG.green(), P.DIFF_NEG.blue())
    assert tuple(rgb[4]) == (128, 128, 128)


# ------------------------------------------------------------------------------------------------ the toggle
def test_apply_shows_the_scrubbed_copy_everywhere_and_the_toggle_goes_back(qtbot, main_window):
    w = _applied(qtbot, main_window)
    doc, c = w.doc, w.compare_controls
    a = doc.scrubbed
    assert doc.showing == "scrubbed" and c.scrubbed_action.isChecked() and c.toggle_action.isEnabled()
    scrubbed_scan = a.scan.tensor(LAYER)
    # bit planes: the scrubbed copy's P(bit = 1), not the original's
    w.tabs.setCurrentWidget(w.bitplanes)
    w.bitplanes.refresh()
    assert np.allclose(w.bitplanes.plotted(), scrubbed_scan.stats.bit_ones)
    assert not np.allclose(w.bitplanes.plotted(), doc.scans[LAYER].stats.bit_ones)
    # the findings: the scrubbed copy's verdict; the table: its statistics
    assert w.findings.banner.text().startswith("AFTER SCRUB")
    assert f"showing the scrubbed copy: {a.scan.verdict.upper()}" in w.status_label.text()
    row = w.layers.model.row_of[LAYER]
    col = 5 + 6  # lowH: the low byte's entropy, ≈ 3 bits with the payload, ≈ 8 once scrubbed
    assert w.layers.model.index(row, col).data() == f"{scrubbed_scan.stats.low_byte_entropy:.2f}"
    assert doc.severity_of(LAYER) is None  # the LSB finding is gone from the scrubbed copy
    # the module tree's worst finding and the depth view's score strip follow too
    worst = w.tree.root.worst
    assert worst is None or worst.detector != "lsb-bitplanes"
    w.depth_view.refresh()
    i = w.depth_view.names.index(LAYER)
    assert w.depth_view.strip_values["score"][i] < 0.5
    # Ctrl+T: every view back to the original
    with qtbot.waitSignal(doc.view_changed, timeout=1000):
        c.toggle_action.trigger()
    assert doc.showing == "original" and c.original_action.isChecked()
    w.bitplanes.refresh()
    assert np.allclose(w.bitplanes.plotted(), doc.scans[LAYER].stats.bit_ones)
    assert w.findings.banner.text().startswith("SUSPICIOUS")
    assert "showing the scrubbed copy" not in w.status_label.text()
    assert doc.severity_of(LAYER) == "suspicious"
    assert w.tree.root.worst is not None and w.tree.root.worst.severity == "suspicious"
    w.depth_view.refresh()
    assert w.depth_view.strip_values["score"][w.depth_view.names.index(LAYER)] > 0.9
    lowh = doc.scans[LAYER].stats.low_byte_entropy
    assert w.layers.model.index(row, col).data() == f"{lowh:.2f}" and lowh < 4
    # undo: nothing to show but the original; the Scrubbed button greys out
    doc.undo_scrub()
    assert doc.showing == "original" and not c.scrubbed_action.isEnabled() and not doc.set_showing("scrubbed")


# ------------------------------------------------------------------------------------------------ compare, per view
def test_bit_planes_compare_original_and_scrubbed(qtbot, main_window):
    w = _applied(qtbot, main_window)
    bp = w.bitplanes
    w.tabs.setCurrentWidget(bp)
    orig, scr = w.doc.scans[LAYER].stats.bit_ones, w.doc.scrubbed.scan.tensor(LAYER).stats.bit_ones
    w.doc.set_compare(mode="side", target="scrub")
    assert bp.measure == "P(1)"
    assert np.allclose(bp.plotted(), orig) and np.allclose(bp.plotted_right(), scr)
    w.doc.set_compare(mode="diff")
    qtbot.waitUntil(lambda: bp.measure == "changed", timeout=10_000)
    changed = bp.plotted()
    assert changed.shape == (32,)
    # a random 16-bit scrub changes about half of each of the low 16 planes, and nothing above
    assert np.all((changed[:16] > 0.4) & (changed[:16] < 0.6)) and not changed[16:].any()
    assert "planes 0–15 changed" in bp.title.text()


def test_bit_planes_difference_with_nothing_changed_is_zero(qtbot, main_window):
    """A 0-bit scrub changes no bit: the difference view says so, plane by plane."""
    w = _applied(qtbot, main_window, bits=0)
    bp = w.bitplanes
    w.tabs.setCurrentWidget(bp)
    w.doc.set_compare(mode="diff", target="scrub")
    qtbot.waitUntil(lambda: bp.measure == "changed", timeout=10_000)
    assert not bp.plotted().any() and "no bit changed" in bp.title.text()


def test_histogram_difference_is_counts_on_shared_edges(qtbot, main_window):
    w = _applied(qtbot, main_window)
    h = w.histogram
    w.doc.set_compare(mode="diff", target="scrub")
    qtbot.waitUntil(lambda: h.difference is not None, timeout=10_000)
    d = h.difference
    a, b = _flat(w.doc.model, LAYER), _flat(w.doc.scrubbed_model, LAYER)
    edges = h.pair_data.edges
    assert edges[0] == min(a.min(), b.min()) and edges[-1] == max(a.max(), b.max())
    # the core's binning of each file on those edges, subtracted: scrubbed − original
    assert d.delta.sum() == 0 and d.scale == 1.0 and d.plus_total == a.size
    assert np.array_equal(d.delta, h.pair_data.baseline_counts - h.pair_data.counts.astype(np.float64))
    assert d.delta.any() and 0 < d.moved < a.size
    # side by side: both histograms on the same edges, left original, right scrubbed
    w.doc.set_compare(mode="side")
    qtbot.waitUntil(lambda: not h.right_plot.isHidden() and h.difference is None, timeout=10_000)
    qtbot.waitUntil(lambda: h.pair_data is not None, timeout=10_000)
    x, y = h.plotted()
    xr, yr = h.plotted_right()
    assert np.array_equal(x, xr) and y.sum() == yr.sum() == a.size


def test_histogram_difference_against_an_identical_baseline_is_zero(qtbot, main_window):
    """Compare with a baseline that is the model itself: every bin's difference is 0, and the plot says so."""
    w = main_window()
    path = _demo(LSB[1])
    w.set_baseline_path(path, "itself")
    w.open_path(path)
    wait_scanned(qtbot, w)
    qtbot.waitUntil(lambda: bool(w.doc.baseline_scans), timeout=20_000)
    w.doc.select(LAYER)
    w.doc.set_compare(mode="diff", target="baseline")
    h = w.histogram
    qtbot.waitUntil(lambda: h.difference is not None, timeout=10_000)
    assert not h.difference.delta.any() and "no bin changed" in h.stats_text.toPlainText()
    bp = w.bitplanes
    bp.refresh()
    assert bp.measure == "ΔP(1)" and not bp.plotted().any()


def test_weights_image_difference_is_scrubbed_minus_original(qtbot, main_window):
    w = _applied(qtbot, main_window)
    wi = w.weights_image
    w.tabs.setCurrentWidget(wi)
    w.doc.set_compare(mode="diff", target="scrub")
    wi.set_view("layer", "values", "8×8")
    qtbot.waitUntil(lambda: wi.diff is not None, timeout=10_000)
    d = wi.diff
    delta = (_flat(w.doc.scrubbed_model, LAYER).astype(np.float64) - _flat(w.doc.model, LAYER)).reshape(-1, 8, 8)
    assert d.tiles == 128 and d.changed == np.count_nonzero(delta)
    assert d.vmax == pytest.approx(np.abs(delta).max())
    assert np.allclose(d.delta[1:9, 1:9], delta[0])  # the first tile, after its 1-pixel gap
    assert np.isnan(d.delta[0, :]).all()  # gaps carry no value
    assert wi.scale_row.isVisible() and "red: scrubbed larger" in wi.scale_caption.text()
    # side by side: the same page of both files in two views
    w.doc.set_compare(mode="side")
    qtbot.waitUntil(lambda: wi.right_image is not None, timeout=10_000)
    assert wi.vb_right.isVisible() and wi.image.rgb.shape == wi.right_image.rgb.shape
    assert not np.array_equal(wi.image.rgb, wi.right_image.rgb)


def test_grid_and_table_compare(qtbot, main_window):
    w = _applied(qtbot, main_window)
    w.tabs.setCurrentWidget(w.grid)
    w.doc.set_compare(mode="diff", target="scrub")
    qtbot.waitUntil(lambda: LAYER in w.grid.shared, timeout=10_000)
    dd = w.grid.cell_difference(LAYER)
    h = w.grid.shared[LAYER]
    assert dd is not None and dd.any()
    assert float((dd * np.diff(h.edges)).sum()) == pytest.approx(0.0, abs=1e-9)  # densities both integrate to 1
    # the table: Δ columns, scrubbed − original, and the LSB score before → after
    t = w.layers.model
    row = t.row_of[LAYER]
    assert t.headerData(5 + 6, pytest.importorskip("PySide6.QtCore").Qt.Orientation.Horizontal) == "Δ lowH"
    want = w.doc.scrubbed.scan.tensor(LAYER).stats.low_byte_entropy - w.doc.scans[LAYER].stats.low_byte_entropy
    assert t.index(row, 5 + 6).data() == f"{want:+.2f}" and want > 4
    det = t.detectors.index("lsb-bitplanes")
    assert t.index(row, 5 + 8 + det).data().startswith("-0.")  # the score fell
    w.doc.set_compare(mode="side")
    assert " → " in t.index(row, 5 + 6).data()


def test_findings_list_what_the_scrub_removed(qtbot, main_window):
    w = _applied(qtbot, main_window)
    w.doc.set_compare(mode="side", target="scrub")
    ch = w.findings.changes
    assert ch is not None
    assert {(f.tensor, f.detector) for f in ch.gone} >= {(LAYER, "lsb-bitplanes"), ("fc2.weight", "lsb-bitplanes")}
    assert not any(f.detector == "lsb-bitplanes" for f in ch.new)
    texts = [w.findings.tree.topLevelItem(i).text(3) for i in range(w.findings.tree.topLevelItemCount())]
    assert texts[0].startswith("Disappeared after the scrub") and any(t.startswith("Appeared") for t in texts)
    assert w.findings.banner.text().startswith("ORIGINAL SUSPICIOUS → SCRUBBED")
    assert "LSB encoding" in w.findings.notes.toPlainText()


def test_a_view_that_cannot_compare_says_so(qtbot, main_window):
    w = main_window()
    w.open_path(_demo(LSB[1]))
    wait_scanned(qtbot, w)
    w.doc.select(LAYER)
    w.doc.set_compare(mode="side", target="scrub")  # nothing applied yet
    for panel in (w.histogram, w.bitplanes, w.weights_image, w.grid):
        panel.refresh() if hasattr(panel, "refresh") else panel.show_page(0)
        assert "apply a scrub" in panel.note.text() and not panel.note.isHidden()
    assert "apply a scrub" in w.findings.note.text()
    w.doc.set_compare(target="baseline")  # the built-in profile has no weights to compare
    w.histogram.refresh()
    assert "profile" in w.histogram.note.text() and "Pick a baseline model file" in w.histogram.note.text()
    w.doc.set_compare(mode="off")
    w.histogram.refresh()
    assert w.histogram.note.isHidden()


def test_a_tensor_the_export_left_out_is_named_not_drawn_as_the_original(qtbot, main_window, tiny_model):
    """The tiny model's int64 ``steps`` is not in the scrubbed copy: the views say so instead of showing the
    original's numbers under the scrubbed label."""
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    scrub = w.views["scrub"]
    with qtbot.waitSignal(scrub.applied, timeout=30_000):
        scrub.apply()
    assert "steps" not in w.doc.scrubbed_model and w.doc.shows_scrubbed
    w.doc.select("steps")
    w.histogram.refresh()
    assert "not in the scrubbed copy" in w.histogram.note.text()
    w.bitplanes.refresh()
    assert "not in the scrubbed copy" in w.bitplanes.title.text()
    t = w.layers.model
    assert t.index(t.row_of["steps"], 5).data() == "–"  # no statistic of a tensor the copy does not hold
    w.doc.set_compare(mode="side", target="scrub")
    w.histogram.refresh()
    assert "export policy left it out" in w.histogram.note.text()
