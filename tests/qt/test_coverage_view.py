"""The app shows the coverage table: every byte of the file by class, and the checks that read them."""

from __future__ import annotations

from tests.qt.conftest import wait_scanned


def test_properties_show_every_byte_of_the_file_by_class(qtbot, main_window, tiny_model):
    w = main_window()
    w.open_path(tiny_model)
    result = wait_scanned(qtbot, w)
    rows = w.properties.values("Coverage")
    assert set(rows) == {c.cls for c in result.coverage} and len(rows) >= 2
    shown = sum(int(v.split(" · ")[1].split(" bytes")[0].replace(",", "")) for v in rows.values())
    assert shown == tiny_model.stat().st_size  # every byte is accounted for
    floats = next(v for k, v in rows.items() if "float" in k.lower())
    assert next(c.checks for c in result.coverage if "float" in c.cls.lower()) in floats
