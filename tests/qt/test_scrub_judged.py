"""After Apply the scrubbed copy is judged with the original's inputs, and a still-suspicious copy is written
only after the reviewer confirms, marked as such (never "sanitized")."""

from __future__ import annotations

import json

from inspector.core.resources import resource_path
from tests.qt.conftest import wait_scanned

SGN = str(resource_path("demo", "mlp-sgn-l100.safetensors"))
BENIGN = str(resource_path("demo", "mlp-benign-s0.safetensors"))


def test_scrubbed_copy_is_judged_with_the_originals_inputs_and_asks_before_export(qtbot, main_window, tmp_path):
    from inspector.core.formats import open_model
    from inspector.qt.document import Baseline

    w = main_window()
    w.doc.set_baseline(Baseline("model", BENIGN, "benign"))
    w.open_path(SGN)
    original = wait_scanned(qtbot, w)
    assert original.options.baselines == (BENIGN,) and original.verdict == "suspicious"
    panel = w.views["scrub"]
    with qtbot.waitSignal(panel.applied, timeout=30_000):
        panel.apply()
    after = w.doc.scrubbed.scan
    assert after.options.baselines == original.options.baselines  # the same inputs, not a bare scan
    assert len(after.inputs.references) == 1 and after.verdict == "suspicious"
    qtbot.waitUntil(lambda: not panel.apply_slot.busy, timeout=5_000)
    assert panel.export_btn.text() == "Export scrubbed…"

    asked: list[str] = []
    panel.confirm_suspicious = lambda text: asked.append(text) or False  # the reviewer cancels
    out = tmp_path / "sgn.scrubbed.safetensors"
    panel.export_to(str(out))
    assert len(asked) == 1 and "still suspicious" in asked[0] and "Sign encoding" in asked[0]
    assert not out.exists() and "nothing was written" in w.message_bar.text

    panel.confirm_suspicious = lambda text: asked.append(text) or True  # then writes it anyway
    with qtbot.waitSignal(panel.exported, timeout=30_000) as blk:
        panel.export_to(str(out))
    result = blk.args[0]
    assert result.rejudged is not None and result.rejudged.words.startswith("scrubbed, still suspicious")
    assert not result.sanitized and out.exists()
    provenance = json.loads(open_model(out).metadata["inspector.rejudged_verdict"])
    assert provenance["verdict"] == "suspicious" and provenance["inputs"]["baselines"] == ["mlp-benign-s0.safetensors"]
    assert w.message_bar.level == "warning" and "still suspicious" in w.message_bar.text
    # the report describes the export: the file written and its verdict with the original's inputs
    report = tmp_path / "sgn-report.html"
    w.export_report(str(report))
    qtbot.waitUntil(report.exists, timeout=20_000)
    html = report.read_text(encoding="utf-8")
    assert "scrubbed, still suspicious" in html and "not re-judged" not in html and out.name in html


def test_an_applied_scrub_not_exported_is_reported_as_judged_with_the_originals_inputs(qtbot, main_window, tmp_path):
    from dataclasses import replace

    from inspector.core.formats import open_model
    from inspector.core.scrub import rejudge
    from inspector.qt.document import Baseline

    w = main_window()
    w.doc.set_baseline(Baseline("model", BENIGN, "benign"))
    w.open_path(SGN)
    original = wait_scanned(qtbot, w)
    panel = w.views["scrub"]
    with qtbot.waitSignal(panel.applied, timeout=30_000):
        panel.apply()
    qtbot.waitUntil(lambda: not panel.apply_slot.busy, timeout=5_000)
    a = w.doc.scrubbed
    judged = a.result.rejudged
    assert judged is not None and a.result.exported is False  # judged, but not a release
    # the same reading of the verdict as the export's re-judging of the same file with the same inputs
    core = rejudge(open_model(a.result.output), replace(original.options, hash=False))
    assert (judged.verdict, judged.detected, judged.not_assessed, judged.warnings, dict(judged.inputs)) == (
        core.verdict,
        core.detected,
        core.not_assessed,
        core.warnings,
        dict(core.inputs),
    )
    report = tmp_path / "applied-report.html"
    w.export_report(str(report))
    qtbot.waitUntil(report.exists, timeout=20_000)
    html = report.read_text(encoding="utf-8")
    assert "not re-judged" not in html and "applied, not exported" in html
    assert "with the same inputs as the original (baselines mlp-benign-s0.safetensors" in html
    assert "scrubbed, still suspicious" in html and str(a.result.output) not in html
