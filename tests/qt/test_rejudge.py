"""Changing the baseline judges the stored measurement again: the model file is not scanned again."""

from __future__ import annotations

import numpy as np

from tests.qt.conftest import wait_scanned


def test_baseline_change_rejudges_without_rescanning(qtbot, main_window, tiny_model, tmp_path, monkeypatch):
    from safetensors.numpy import save_file

    import inspector.qt.tasks.scanning as scanning
    from inspector.qt.document import Baseline

    scans = []
    real_scan = scanning.scan
    monkeypatch.setattr(scanning, "scan", lambda *a, **k: scans.append(str(a[0].path)) or real_scan(*a, **k))
    rng = np.random.default_rng(9)
    ref = tmp_path / "ref.safetensors"
    save_file({"fc1.weight": rng.normal(0, 0.05, (128, 64)).astype(np.float32)}, str(ref))

    w = main_window()
    w.open_path(tiny_model)
    first = wait_scanned(qtbot, w)
    model_scans = lambda: scans.count(str(tiny_model))  # noqa: E731 (the baseline's own overlay scan is apart)
    assert model_scans() == 1 and not first.options.baselines

    with qtbot.waitSignal(w.doc.rejudged, timeout=20_000) as blk:
        w.doc.set_baseline(Baseline("model", str(ref), "ref"))
    judged, _ms = blk.args
    assert model_scans() == 1  # judged again, not scanned again
    assert w.doc.result is judged and judged is not first
    assert judged.options.baselines == (str(ref),) and len(judged.inputs.references) == 1
    assert judged.measurement is first.measurement  # the same measurement, judged against the new reference

    with qtbot.waitSignal(w.doc.rejudged, timeout=10_000) as blk:
        w.doc.set_baseline(None)  # back to the built-in profile: nothing to read at all
    back, ms = blk.args
    assert model_scans() == 1 and not back.options.baselines and not back.inputs.references
    assert ms < 200, f"re-judging took {ms:.0f} ms"
    assert w.doc.findings_for("") == [f for f in back.findings if not f.tensor]
