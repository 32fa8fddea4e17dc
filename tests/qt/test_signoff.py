"""The Sign-off dock: the report's rule (an approval needs every suspicious or warning finding acknowledged),
remembered per model while the app runs, and carried into the exported report."""

from __future__ import annotations

from inspector.core.resources import resource_path
from tests.qt.conftest import wait_scanned

SGN = str(resource_path("demo", "mlp-sgn-l100.safetensors"))
BENIGN = str(resource_path("demo", "mlp-benign-s0.safetensors"))


def _open(qtbot, w, path):
    w.open_path(path)
    qtbot.waitUntil(lambda: w.doc.path == path, timeout=20_000)
    return wait_scanned(qtbot, w)


def test_approve_needs_every_finding_acknowledged_and_the_report_carries_the_signoff(qtbot, main_window, tmp_path):
    from PySide6.QtCore import Qt

    w = main_window()
    result = _open(qtbot, w, SGN)
    panel = w.signoff
    actionable = [i for i, f in enumerate(result.findings, start=1) if f.severity in ("suspicious", "warning")]
    assert len(actionable) >= 2, "the sign-encoding demo should have several findings to acknowledge"
    assert panel.checklist.count() == len(actionable)
    assert panel.signoff() is None and "Not signed off" in panel.status.text()

    w.signoff_dock.show()
    w.signoff_dock.raise_()
    qtbot.keyClicks(panel.reviewer, "A. Reviewer")
    panel.set_decision("approve")
    qtbot.mouseClick(panel.sign_btn, Qt.MouseButton.LeftButton)
    assert panel.signoff() is None  # refused: nothing acknowledged
    text = panel.status.text()
    assert text.startswith("Cannot sign off") and "unacknowledged" in text and f"#{actionable[0]}" in text
    assert "--ack" not in text  # the app's words, not the command line's

    for rank in actionable[:-1]:
        panel.acknowledge(rank)
    assert not panel.sign()
    assert f"#{actionable[-1]}" in panel.status.text() and f"#{actionable[0]}," not in panel.status.text()
    panel.acknowledge(actionable[-1])
    assert panel.count_label.text().startswith(f"{len(actionable)} of {len(actionable)} acknowledged")
    panel.notes.setPlainText("read every finding; the sign payload is a known lab model")
    assert panel.sign()
    s = panel.signoff()
    assert s is not None and s.reviewer == "A. Reviewer" and s.decision == "approve"
    assert s.acknowledged == tuple(actionable) and s.signed.endswith("UTC")
    assert "Signed off by A. Reviewer: Approved for release" in panel.status.text()

    out = tmp_path / "signed.html"
    w.export_report(str(out))
    qtbot.waitUntil(out.exists, timeout=20_000)
    html = out.read_text(encoding="utf-8")
    block = html[html.index('id="signoff"') :]
    assert "A. Reviewer" in block and "Approved for release" in block and s.signed in block
    assert "the sign payload is a known lab model" in block
    assert block.count("<b>yes</b>") == len(actionable) and "not acknowledged" not in block
    qtbot.waitUntil(lambda: "signed off by A. Reviewer" in w.message_bar.label.text(), timeout=5_000)

    panel.acknowledge(actionable[0], False)  # an edit takes the record back until signed again
    assert panel.signoff() is None and "Not signed off" in panel.status.text()
    panel.acknowledge(actionable[0])
    assert panel.sign()


def test_signoff_is_remembered_per_model_and_reject_needs_no_acknowledgement(qtbot, main_window, tmp_path):
    w = main_window()
    _open(qtbot, w, SGN)
    panel = w.signoff
    panel.reviewer.setText("B. Reviewer")
    panel.reviewer.textEdited.emit("B. Reviewer")  # what typing sends
    panel.set_decision("reject")
    panel.notes.setPlainText("sign-encoded digits in fc1")
    assert panel.sign()
    rejected = panel.signoff()
    assert rejected is not None and rejected.decision == "reject" and rejected.acknowledged == ()

    _open(qtbot, w, BENIGN)
    assert panel.signoff() is None and panel.decision.currentData() == ""
    assert panel.reviewer.text() == "B. Reviewer"  # the name carries over; the decision does not
    out = tmp_path / "benign.html"
    w.export_report(str(out))
    qtbot.waitUntil(out.exists, timeout=20_000)
    block = out.read_text(encoding="utf-8").split('id="signoff"', 1)[1]
    assert "B. Reviewer" not in block and "circle one" in block  # unsigned: blank lines to sign on paper

    _open(qtbot, w, SGN)
    assert panel.signoff() == rejected
    assert panel.notes.toPlainText() == "sign-encoded digits in fc1" and panel.decision.currentData() == "reject"
    pdf = tmp_path / "rejected.pdf"
    w.export_report(str(pdf))
    qtbot.waitUntil(lambda: pdf.exists() and pdf.stat().st_size > 1000, timeout=30_000)
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_the_signoff_block_of_the_pdf_report(qtbot, main_window):
    """The PDF is laid out from the same template in its Qt mode: the sign-off block is there too."""
    from inspector.core.report import build_report
    from inspector.core.report.html import render_html

    w = main_window()
    result = _open(qtbot, w, SGN)
    panel = w.signoff
    panel.reviewer.setText("C. Reviewer")
    panel.reviewer.textEdited.emit("C. Reviewer")
    panel.set_decision("needs-work")
    assert panel.sign()
    data = build_report(result, signoff=panel.signoff())
    pdf_html = render_html(data, mode="pdf")
    assert "C. Reviewer" in pdf_html and "Needs work" in pdf_html


def test_unticked_boxes_are_outlined_in_the_dark_palette(qtbot, main_window):
    from PySide6.QtGui import QPalette

    w = main_window()
    base = lambda: w.signoff.checklist.palette().color(QPalette.ColorRole.Base).lightness()  # noqa: E731
    window = lambda: w.signoff.checklist.palette().color(QPalette.ColorRole.Window).lightness()  # noqa: E731
    try:
        w.set_dark(True)
        qtbot.waitUntil(lambda: base() < 128, timeout=5_000)
        assert window() - base() > 60  # Fusion outlines with the window colour darkened
    finally:
        w.set_dark(False)
    qtbot.waitUntil(lambda: base() > 128, timeout=5_000)
    assert window() == w.palette().color(QPalette.ColorRole.Window).lightness()


def test_findings_that_change_under_an_approval_take_it_back(qtbot, main_window):
    """Judged again against a baseline, the model gets findings the reviewer never read: the approval goes."""
    from inspector.qt.document import Baseline

    w = main_window()
    result = _open(qtbot, w, SGN)
    panel = w.signoff
    panel.reviewer.setText("D. Reviewer")
    panel.reviewer.textEdited.emit("D. Reviewer")
    panel.set_decision("approve")
    for i, f in enumerate(result.findings, start=1):
        if f.severity in ("suspicious", "warning"):
            panel.acknowledge(i)
    assert panel.sign()
    with qtbot.waitSignal(w.doc.rejudged, timeout=20_000) as blk:
        w.doc.set_baseline(Baseline("model", BENIGN, "benign"))
    judged = blk.args[0]
    before = {(f.detector, f.tensor, f.message) for f in result.findings}
    assert any((f.detector, f.tensor, f.message) not in before for f in judged.findings if f.severity != "info")
    assert panel.signoff() is None and "findings changed" in panel.status.text()


def test_the_dock_does_not_widen_the_window(qtbot, main_window):
    """Its texts wrap: at 1024 px the right-hand docks keep room for the views (it had a 460 px minimum)."""
    w = main_window(size=(1024, 680))
    _open(qtbot, w, SGN)
    assert w.signoff.checklist.count() >= 1 and w.signoff.minimumSizeHint().width() <= 280
