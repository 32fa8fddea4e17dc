"""Scrub and accuracy panels: debounced preview, apply/undo/export, and the accuracy check in a worker."""

from __future__ import annotations

import numpy as np
import pytest

from tests.qt.conftest import wait_scanned

pytest.importorskip("inspector.core.scrub.export")


def test_scrub_slider_previews_the_selected_layer(qtbot, main_window, tiny_model):
    from inspector.core.formats import open_model, read_tensor
    from inspector.core.scrub.export import scrub_chunk, tensor_rng

    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    panel = w.views["scrub"]
    w.tabs.setCurrentWidget(panel)
    w.doc.select("fc1.weight")
    # a preview started before (at 16 bits, when the scan finished) may still arrive first on a busy machine
    with qtbot.waitSignal(panel.preview_shown, timeout=10_000, check_params_cb=lambda pv: pv.bits == 12) as blk:
        panel.slider.setValue(12)
    pv = blk.args[0]
    assert (pv.name, pv.bits) == ("fc1.weight", 12)
    assert panel.dtype_spins["F16"].value() == 1  # fp16 follows the core's scaling, at least one bit
    ref = open_model(tiny_model)["fc1.weight"]
    raw = read_tensor(ref).reshape(-1)
    out = scrub_chunk(raw, ref.dtype, 12, tensor_rng(panel.seed.value(), "fc1.weight")).view(np.float32)
    d = np.abs(out.astype(np.float64) - raw)
    assert pv.max_abs_change == pytest.approx(d.max())
    assert int(pv.after.sum()) + pv.outside == raw.size and np.array_equal(
        pv.before, w.doc.scans["fc1.weight"].stats.histogram.counts
    )
    # only the low 12 bits moved
    assert not np.any((raw.view(np.uint32) ^ out.view(np.uint32)) >> 12)
    assert f"{pv.max_abs_change:.3g}" in panel.preview_label.text()


def test_apply_undo_export(qtbot, main_window, tiny_model, tmp_path):
    from inspector.core.formats import open_model, read_tensor

    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    panel = w.views["scrub"]
    panel.slider.setValue(16)
    assert not panel.export_btn.isEnabled()
    with qtbot.waitSignal(panel.applied, timeout=30_000):
        panel.apply()
    a = w.doc.scrubbed
    assert a is not None and a.result.verification.ok and a.scan.verdict in ("clean", "incomplete", "suspicious")
    qtbot.waitUntil(lambda: not panel.apply_slot.busy, timeout=5000)
    assert panel.undo_btn.isEnabled() and panel.export_btn.isEnabled()
    # never over the source
    panel.export_to(str(tiny_model))
    assert w.message_bar.level == "error" and "over the model" in w.message_bar.text
    target = tmp_path / "out" / "clean.safetensors"
    target.parent.mkdir()
    with qtbot.waitSignal(panel.exported, timeout=30_000) as blk:
        panel.export_to(str(target))
    assert blk.args[0].verification.ok
    src, dst = open_model(tiny_model), open_model(target)
    a32, b32 = read_tensor(src["fc1.weight"]).view(np.uint32), read_tensor(dst["fc1.weight"]).view(np.uint32)
    assert not np.any((a32 ^ b32) >> 16) and np.any(a32 != b32)
    assert "steps" in src and "steps" not in dst  # I64: dropped by the export policy unless kept
    qtbot.waitUntil(panel.undo_btn.isEnabled, timeout=5000)
    with qtbot.waitSignal(w.doc.scrubbed_changed, timeout=1000):
        panel.undo_btn.click()
    assert w.doc.scrubbed is None and not panel.export_btn.isEnabled()


@pytest.mark.slow
def test_accuracy_original_vs_scrubbed(qtbot, main_window, tmp_path):
    pytest.importorskip("torch")
    from safetensors.numpy import save_file

    from inspector.core.formats.data import Dataset, save_dataset

    rng = np.random.default_rng(0)
    model = tmp_path / "mlp.safetensors"
    save_file(
        {
            "fc1.weight": rng.normal(0, 0.1, (128, 64)).astype(np.float32),
            "fc1.bias": np.zeros(128, np.float32),
            "fc2.weight": rng.normal(0, 0.1, (10, 128)).astype(np.float32),
            "fc2.bias": np.zeros(10, np.float32),
        },
        str(model),
        metadata={"inspector.lab.recipe": "digits-mlp"},
    )
    data = tmp_path / "eval.npz"
    save_dataset(Dataset(rng.random((50, 64), dtype=np.float32), rng.integers(0, 10, 50)), data)
    w = main_window()
    w.open_path(model)
    wait_scanned(qtbot, w)
    scrub, acc = w.views["scrub"], w.views["accuracy"]
    with qtbot.waitSignal(scrub.applied, timeout=30_000):
        scrub.apply()
    acc.set_data_path(str(data))
    with qtbot.waitSignal(acc.evaluated, timeout=60_000) as blk:
        acc.evaluate()
    pair = blk.args[0]
    assert pair.scrubbed is not None and pair.scrubbed.agreement is not None
    assert pair.scrubbed.agreement > 0.9
    assert acc.table.item(1, 0).text() == "scrubbed"
    assert "best device" in acc.device_label.text() or acc.device_slot.busy


def test_a_scrub_of_the_previous_model_never_lands_on_the_next(qtbot, main_window, big_model, tiny_model):
    w = main_window()
    w.open_path(big_model)
    qtbot.waitUntil(lambda: w.doc.model is not None, timeout=10_000)
    panel = w.views["scrub"]
    panel.apply()
    assert panel.apply_slot.busy
    with qtbot.waitSignal(w.doc.opened, timeout=10_000):
        w.open_path(tiny_model)
    assert not panel.apply_slot.busy  # the scrub of big.safetensors was cancelled
    qtbot.waitUntil(lambda: not w.pool.active, timeout=30_000)
    assert w.doc.scrubbed is None and w.doc.scrub_history == []
    assert "Nothing applied" in panel.state_label.text()


def test_a_changed_scrub_drops_its_accuracy_from_the_report(qtbot, main_window, tiny_model):
    from types import SimpleNamespace

    from inspector.qt.tasks import AccuracyPair

    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    acc = w.views["accuracy"]
    original = SimpleNamespace(accuracy=0.9, samples=50, device_name="CPU", agreement=None, mean_kl=None)
    scrubbed = SimpleNamespace(accuracy=0.8, samples=50, device_name="CPU", agreement=0.95, mean_kl=1e-3)
    acc._on_evaluated(AccuracyPair(original, scrubbed))
    assert w.doc.evaluation is scrubbed
    w.doc.scrubbed_changed.emit()  # e.g. Undo: the evaluated scrubbed copy is gone
    assert w.doc.evaluation is original
    assert acc.table.item(1, 0) is None and "evaluate again" in acc.summary.text()


def test_quit_warns_about_an_applied_unexported_scrub(qtbot, main_window, tiny_model, tmp_path):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    panel = w.views["scrub"]
    asked = []
    w.ask_quit = lambda text: asked.append(text) or False  # the user answers Cancel
    assert not w.unexported_scrub()  # nothing applied: closing would not ask
    with qtbot.waitSignal(panel.applied, timeout=30_000):
        panel.apply()
    qtbot.waitUntil(lambda: not panel.apply_slot.busy, timeout=5000)
    w.close()
    assert len(asked) == 1 and "not exported" in asked[0] and w.isVisible()  # Cancel keeps the window
    with qtbot.waitSignal(panel.exported, timeout=30_000):
        panel.export_to(str(tmp_path / "clean.safetensors"))
    w.close()
    assert len(asked) == 1 and not w.isVisible()  # exported: quits without asking
