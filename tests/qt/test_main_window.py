"""The main window driven like a user would: open, scan, select, look at the plots, cancel, fail."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from inspector.core.measure import ScanOptions
from inspector.core.pipeline import scan
from tests.qt.conftest import wait_scanned


def test_open_shows_tensors_at_once_then_stats(qtbot, main_window, tiny_model):
    w = main_window()
    with qtbot.waitSignal(w.doc.opened, timeout=10_000):
        w.open_path(tiny_model)
    # the tensor list is there as soon as the headers are read
    assert w.layers.model.rowCount() == 5
    with qtbot.waitSignal(w.doc.scan_finished, timeout=20_000) as blocker:
        pass
    result = blocker.args[0]
    assert result.verdict in ("clean", "incomplete", "suspicious")
    assert set(w.doc.scans) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "steps"}
    assert w.windowTitle().startswith("tiny.safetensors")
    assert str(tiny_model) in w.prefs.recent


def test_selected_layer_histogram_equals_core(qtbot, main_window, tiny_model):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    with qtbot.waitSignal(w.histogram.histogram_shown, timeout=10_000):
        w.doc.select("fc2.weight")
    core = scan(str(tiny_model), ScanOptions(hash=False, detectors=False)).tensor("fc2.weight").stats.histogram
    x, y = w.histogram.plotted()
    np.testing.assert_array_equal(x, core.edges)
    np.testing.assert_array_equal(y, core.counts)
    # the layer table selected the same row
    idx = w.layers.proxy.mapToSource(w.layers.view.currentIndex())
    assert w.layers.model.names[idx.row()] == "fc2.weight"
    # log-y is one click and plots log10(count + 1)
    w.histogram.log_box.setChecked(True)
    _, ylog = w.histogram.plotted()
    np.testing.assert_allclose(ylog, np.log10(core.counts + 1.0))
    assert w.prefs.log_y is True


def test_bin_count_rehistograms_in_a_worker(qtbot, main_window, tiny_model):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.doc.select("fc1.weight")
    with qtbot.waitSignal(w.histogram.histogram_shown, timeout=10_000):
        w.histogram.bins_spin.setValue(32)
    x, y = w.histogram.plotted()
    core = scan(str(tiny_model), ScanOptions(bins=32, hash=False, detectors=False)).tensor("fc1.weight").stats.histogram
    np.testing.assert_array_equal(y, core.counts)
    np.testing.assert_allclose(x, core.edges)
    assert int(y.sum()) == 128 * 64


def test_row_selection_drives_the_views(qtbot, main_window, tiny_model):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    row = w.layers.model.row_of["fc1.bias"]
    w.layers.view.setCurrentIndex(w.layers.proxy.mapFromSource(w.layers.model.index(row, 1)))
    assert w.doc.selected == "fc1.bias"
    qtbot.waitUntil(lambda: w.histogram.data is not None and w.histogram.data.name == "fc1.bias", timeout=5000)
    bits = w.bitplanes.plotted()
    np.testing.assert_allclose(bits, w.doc.scans["fc1.bias"].stats.bit_ones)
    # the filter narrows the table; "flagged only" hides unflagged rows
    w.layers.filter_edit.setText("weight")
    assert w.layers.proxy.rowCount() == 2
    w.layers.filter_edit.setText("")
    w.layers.flagged_box.setChecked(True)
    flagged = [n for n in w.layers.model.names if w.doc.severity_of(n)]
    assert w.layers.proxy.rowCount() == len(flagged)


def test_small_multiples_show_every_layer(qtbot, main_window, tiny_model):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    assert sorted(n for n in w.grid.names) == sorted(w.doc.scans)
    edges, dens = w.grid.cell_data("fc1.weight")
    h = w.doc.scans["fc1.weight"].stats.histogram
    np.testing.assert_allclose(dens * np.diff(edges) * h.counts.sum(), h.counts)


def test_weights_as_image_tiles(qtbot, main_window, tiny_model):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.doc.select("fc1.weight")
    with qtbot.waitSignal(w.weights_image.image_shown, timeout=10_000) as blk:
        w.weights_image.set_view("layer", "values", "8×8")
    img = blk.args[0]
    assert img.tiles == 128 * 64 // 64 and img.tile_shape == (8, 8)
    # the first tile is the first 64 weights, min–max scaled
    from inspector.core.formats import open_model, read_tensor

    v = read_tensor(open_model(tiny_model)["fc1.weight"]).reshape(-1)[:64].reshape(8, 8).astype(np.float64)
    expect = np.clip((v - v.min()) / (v.max() - v.min()) * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(img.rgb[1:9, 1:9, 0], expect)


def test_bad_file_reports_inline_and_keeps_the_open_model(qtbot, main_window, tiny_model, tmp_path):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with qtbot.waitSignal(w.doc.open_failed, timeout=5000):
        w.open_path(bad)
    assert w.message_bar.isVisible() and w.message_bar.level == "error"
    assert "broken.safetensors" in w.message_bar.text
    assert not w.error_dialog.isVisible()  # an expected problem is inline, not a dialog
    assert w.doc.path == str(tiny_model) and w.doc.result is not None
    assert w.isVisible()


def test_cancel_a_long_scan(qtbot, main_window, big_model):
    w = main_window()
    w.open_path(big_model)
    qtbot.waitUntil(lambda: w.doc.model is not None and w.doc.scanning, timeout=5000)
    assert w.cancel_button.isVisible()
    with qtbot.waitSignal(w.doc.scan_cancelled, timeout=5000):
        w.cancel_button.click()
    assert w.doc.result is None and not w.doc.scanning
    assert w.pool.pool.waitForDone(10_000)
    assert "cancelled" in w.status_label.text()
    assert not w.cancel_button.isVisible()


def test_second_open_supersedes_the_first_scan(qtbot, main_window, big_model, tiny_model):
    w = main_window()
    w.open_path(big_model)
    qtbot.waitUntil(lambda: w.doc.scanning and w.doc.model is not None, timeout=5000)
    first = w.doc.scan_slot.current
    w.open_path(tiny_model)
    result = wait_scanned(qtbot, w)
    assert first.cancel_token.cancelled
    assert result.model.path == str(tiny_model)
    assert set(w.doc.scans) == {t.name for t in result.tensors}
    assert w.pool.pool.waitForDone(10_000)
    assert w.doc.result is result  # the stale scan never overwrote it


def test_settings_and_geometry_persist(qtbot, main_window, tiny_model, settings_path):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.histogram.bins_spin.setValue(64)
    w.findings_dock.hide()  # window layout: restored through QSettings' state blob
    w.close()
    w2 = main_window(size=None)
    assert w2.prefs.recent[0] == str(tiny_model)
    assert w2.histogram.bins == 64
    assert w2.recent_menu.actions()[0].text() == str(tiny_model)
    assert w2.findings_dock.isHidden() and not w2.layers_dock.isHidden()


def test_window_appears_before_torch_is_imported(tmp_path):
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
        "from inspector.qt.app import make_app\n"
        "from inspector.qt.main_window import MainWindow\n"
        "from inspector.qt.settings import open_settings\n"
        f"app = make_app(); w = MainWindow(open_settings({str(tmp_path / 's.ini')!r})); w.show(); app.processEvents()\n"
        "print('torch' in sys.modules); w.shutdown()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("bad_tile", ["0x8", "abc", "999×999"])
def test_bad_tile_shape_is_rejected(bad_tile):
    from inspector.qt.panels.weights_image import parse_tile

    assert parse_tile(bad_tile) is None
    assert parse_tile("28×28") == (28, 28) and parse_tile("12") == (12, 12)


def test_baseline_model_overlays_on_shared_edges(qtbot, main_window, tiny_model, tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(5)
    ref = tmp_path / "ref.safetensors"
    save_file({"fc1.weight": rng.normal(0, 0.2, (128, 64)).astype(np.float32)}, str(ref))
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.doc.select("fc1.weight")
    w.set_baseline_path(str(ref))
    qtbot.waitUntil(
        lambda: bool(w.doc.baseline_scans) and w.doc.result is not None and not w.pool.active, timeout=20_000
    )
    assert w.doc.matching == {"fc1.weight": "fc1.weight"}
    assert "1 of 5 layers matched" in w.matching_label.text()
    qtbot.waitUntil(
        lambda: w.histogram.data is not None and w.histogram.data.baseline_counts is not None, timeout=10_000
    )
    d = w.histogram.data
    lo = min(w.doc.scans["fc1.weight"].stats.min, w.doc.baseline_scans["fc1.weight"].stats.min)
    hi = max(w.doc.scans["fc1.weight"].stats.max, w.doc.baseline_scans["fc1.weight"].stats.max)
    assert d.edges[0] == pytest.approx(lo) and d.edges[-1] == pytest.approx(hi)
    assert int(d.counts.sum()) == int(d.baseline_counts.sum()) == 128 * 64
    from inspector.core.formats import open_model, read_tensor

    expect, _ = np.histogram(read_tensor(open_model(ref)["fc1.weight"]), bins=d.edges)
    np.testing.assert_array_equal(d.baseline_counts, expect)
    assert w.histogram.base_curve.isVisible()


def test_title_shows_the_version_and_the_model(qtbot, main_window, tiny_model):
    from inspector import __version__

    w = main_window()
    assert w.windowTitle() == f"Model Inspector {__version__}"
    with qtbot.waitSignal(w.doc.opened, timeout=10_000):
        w.open_path(str(tiny_model))
    assert w.windowTitle() == f"{tiny_model.name} — Model Inspector {__version__}"


def test_title_names_a_sharded_or_hugging_face_folder(tmp_path):
    from inspector.qt.main_window import display_name

    folder = tmp_path / "gpt2-small"
    folder.mkdir()
    (folder / "model.safetensors.index.json").write_text("{}")
    assert display_name(folder / "model.safetensors.index.json") == "gpt2-small/"
    assert display_name(folder) == "gpt2-small/"
    (folder / "config.json").write_text("{}")
    assert display_name(folder / "model.safetensors") == "gpt2-small/model.safetensors"
    assert display_name(tmp_path / "tiny.safetensors") == "tiny.safetensors"
