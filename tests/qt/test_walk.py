"""A reviewer's walk through the app: Inputs → scan → Apply → toggle → Export, checking what each view shows at
every step (the demo's raw-LSB model: a payload in the low 16 bits of every fp32 weight)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.qt.conftest import wait_scanned

pytest.importorskip("inspector.core.scrub.export")

LAYER = "fc1.weight"


def _views_show(qtbot, w, result, model, label: str) -> None:
    """Every view shows ``result`` (a ScanResult) of ``model`` (its file), the state called ``label``."""
    from inspector.core.measure import TensorScan
    from inspector.qt.tasks import tile_image

    doc = w.doc
    scan: TensorScan = result.tensor(LAYER)
    assert doc.view_label == label and doc.view_result is result
    c = w.compare_controls
    assert (c.scrubbed_action if label == "scrubbed" else c.original_action).isChecked()
    # histogram: the scan's own counts of that file
    w.tabs.setCurrentWidget(w.histogram)
    w.histogram.base_box.setChecked(False)
    w.histogram.refresh()
    qtbot.waitUntil(lambda: w.histogram.data is not None and w.histogram.data.name == LAYER, timeout=10_000)
    x, y = w.histogram.plotted()
    assert np.array_equal(x, scan.stats.histogram.edges) and np.array_equal(y, scan.stats.histogram.counts)
    legend = [lab.text for _item, lab in w.histogram.legend.items]
    assert any(("(scrubbed)" in t) == (label == "scrubbed") for t in legend if LAYER in t)
    # bit planes: that file's P(bit = 1)
    w.tabs.setCurrentWidget(w.bitplanes)
    w.bitplanes.refresh()
    assert np.allclose(w.bitplanes.plotted(), scan.stats.bit_ones)
    assert ("scrubbed copy" in w.bitplanes.title.text()) == (label == "scrubbed")
    # weights as image: the tiles of that file
    wi = w.weights_image
    w.tabs.setCurrentWidget(wi)
    with qtbot.waitSignal(wi.image_shown, timeout=10_000) as blk:
        wi.set_view("layer", "low byte", "8×8")
    want = tile_image(model, [LAYER], "low byte", (8, 8), progress=lambda *a: None, cancel=None, emit=lambda x: None)
    assert np.array_equal(blk.args[0].rgb, want.rgb)
    # all layers: that file's density
    w.tabs.setCurrentWidget(w.grid)
    edges, dens = w.grid.cell_data(LAYER)
    h = scan.stats.histogram
    assert np.array_equal(edges, h.edges) and np.allclose(dens, h.counts / (h.counts.sum() * np.diff(h.edges)))
    # table: its low-byte entropy; findings: its verdict
    t = w.layers.model
    assert t.index(t.row_of[LAYER], 5 + 6).data() == f"{scan.stats.low_byte_entropy:.2f}"
    banner = w.findings.banner.text()
    assert banner.startswith("AFTER SCRUB") == (label == "scrubbed") and result.verdict.upper() in banner


def test_walk_inputs_scan_apply_toggle_export(qtbot, main_window, tmp_path):
    from inspector.core.formats import open_model, read_tensor
    from inspector.core.resources import resource_path

    w = main_window()
    w.open_path(str(resource_path("demo", "mlp-lsb-raw-b16.safetensors")))
    first = wait_scanned(qtbot, w)
    # 1. Inputs: the training sample the LSB payload came from; the judge uses it
    w.inputs.set_values(None, str(resource_path("demo", "train_sample.npz")), None)
    with qtbot.waitSignal(w.doc.scan_finished, timeout=30_000) as blk:
        w.inputs.apply()
    original = blk.args[0]
    assert original.options.train_sample and original is not first and original.verdict == "suspicious"
    assert not w.compare_controls.scrubbed_action.isEnabled()  # nothing to toggle to yet
    w.doc.select(LAYER)
    _views_show(qtbot, w, original, w.doc.model, "original")
    assert w.doc.severity_of(LAYER) == "suspicious"

    # 2. Apply a 16-bit scrub: every view shows the scrubbed copy
    scrub = w.views["scrub"]
    scrub.slider.setValue(16)
    with qtbot.waitSignal(scrub.applied, timeout=30_000):
        scrub.apply()
    qtbot.waitUntil(lambda: not scrub.apply_slot.busy, timeout=5000)
    applied = w.doc.scrubbed
    assert applied is not None and w.doc.showing == "scrubbed"
    _views_show(qtbot, w, applied.scan, w.doc.scrubbed_model, "scrubbed")
    assert not any(f.detector == "lsb-bitplanes" for f in applied.scan.findings)
    # a copy judged without an input the original had (here the training sample) is flagged as not comparable
    from inspector.qt.compare import inputs_missing

    missing = inputs_missing(original.options, applied.scan.options)
    assert ("Judged without" in w.findings.note.text()) == bool(missing)
    assert all(m in w.findings.note.text() for m in missing)
    assert w.unexported_scrub()

    # 3. Toggle (Ctrl+T): the original everywhere, then back
    w.compare_controls.toggle_action.trigger()
    _views_show(qtbot, w, w.doc.result, w.doc.model, "original")
    w.compare_controls.toggle_action.trigger()
    assert w.doc.showing == "scrubbed"
    # compare original vs scrubbed: the findings list what the scrub removed
    w.doc.set_compare(mode="diff", target="scrub")
    assert any(f.tensor == LAYER and f.detector == "lsb-bitplanes" for f in w.findings.changes.gone)
    w.doc.set_compare(mode="off")

    # 4. Export: the file written holds exactly the scrubbed weights the views showed
    out = tmp_path / "release" / "lsb.scrubbed.safetensors"
    out.parent.mkdir()
    with qtbot.waitSignal(scrub.exported, timeout=30_000) as blk:
        scrub.export_to(str(out))
    assert blk.args[0].verification.ok and not w.unexported_scrub()
    exported, shown = open_model(out), w.doc.scrubbed_model
    for t in shown.tensors:
        assert np.array_equal(read_tensor(exported[t.name]), read_tensor(shown[t.name]))
    assert w.doc.showing == "scrubbed"  # exporting changes nothing shown
