"""File ▸ Export report writes the same self-contained report as the CLI, for every demo model."""

from __future__ import annotations

import re

import pytest

from inspector.core.resources import resource_path
from tests.qt.conftest import wait_scanned

DEMO = sorted(p.name for p in resource_path("demo").glob("*.safetensors"))


@pytest.mark.parametrize("name", DEMO)
def test_export_report_of_each_demo_model(qtbot, main_window, tmp_path, name):
    w = main_window()
    w.open_path(str(resource_path("demo", name)))
    wait_scanned(qtbot, w)
    assert w.report_action.isEnabled()
    out = tmp_path / f"{name}.html"
    w.export_report(str(out))  # what File ▸ Export report does after its save dialog
    qtbot.waitUntil(out.exists, timeout=20_000)
    html = out.read_text(encoding="utf-8")
    verdict = w.doc.result.verdict.upper()
    assert verdict in html and w.doc.result.model.sha256 in html
    assert not re.search(r"""(src|href)=["']?(https?:|file:|//)""", html), "the report must stand alone"


def test_export_pdf_from_the_app(qtbot, main_window, tmp_path):
    w = main_window()
    w.open_path(str(resource_path("demo", "mlp-sgn-l100.safetensors")))
    wait_scanned(qtbot, w)
    out = tmp_path / "sgn.pdf"
    w.export_report(str(out))
    qtbot.waitUntil(lambda: out.exists() and out.stat().st_size > 1000, timeout=30_000)
    assert out.read_bytes().startswith(b"%PDF-")
