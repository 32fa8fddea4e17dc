"""The Properties dock: it follows Showing: Original | Scrubbed, and lists the bytes no tensor shows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.qt.conftest import wait_scanned

#: Image-like payload: 19,200 bytes of 17 grey levels, the carriers' secret.
SECRET = (np.random.default_rng(0).integers(0, 17, 19200) * 15).astype(np.uint8).tobytes()


def _folder(tmp_path, extra: bool):
    """A Hugging Face-style folder: weights, a config, and (``extra``) a file beside them holding the payload."""
    from safetensors.numpy import save_file

    folder = tmp_path / ("attacked" if extra else "benign")
    folder.mkdir()
    rng = np.random.default_rng(0)
    save_file({"w": rng.normal(0, 0.05, (128, 128)).astype(np.float32)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "mlp", "hidden_size": 128}))
    if extra:
        (folder / "extra.bin").write_bytes(SECRET)
    return folder


def test_bytes_no_tensor_shows_are_listed_largest_first_and_a_finding_points_at_its_row(qtbot, main_window, tmp_path):
    w = main_window()
    w.open_path(_folder(tmp_path, extra=True))
    result = wait_scanned(qtbot, w)
    hidden = result.measurement.hidden
    props = w.properties
    shown = props.hidden_regions()
    assert sorted(shown, key=lambda h: h.where) == sorted(hidden, key=lambda h: h.where) and len(shown) >= 2
    assert [h.nbytes for h in shown] == sorted((h.nbytes for h in hidden), reverse=True)
    section = props.section("Bytes no tensor shows")
    assert section is not None and f"{sum(h.nbytes for h in hidden):,} bytes" in section.text(0)
    payload = next(h for h in hidden if "extra.bin" in h.where)
    row = next(
        section.child(i)
        for i in range(section.childCount())
        if section.child(i).text(0).split("\n")[0] == f"file · {payload.where}"
    )
    numbers = row.text(0).split("\n")[1]
    assert numbers.startswith(f"{payload.nbytes:,} bytes")
    assert f"{payload.entropy:.2f} bits/byte" in numbers and f"{payload.zero_fraction:.0%} zeros" in numbers
    assert f"zlib {payload.compress:.0%}" in numbers
    assert "a file beside the model" in row.toolTip(0) and "no tensor shows them" in row.toolTip(0)

    # the hidden-bytes finding about extra.bin: selecting it makes its row current, double-click shows the dock
    finding = next(f for f in result.findings if f.detector == "hidden-bytes" and "extra.bin" in f.message)
    assert finding.tensor is None
    props.tree.setCurrentItem(None)
    w.findings.select_finding(finding)
    assert props.tree.currentItem() is row
    w.layers_dock.raise_()
    w.findings.finding_activated.emit(finding)
    qtbot.waitUntil(lambda: props.isVisible())
    assert props.tree.currentItem() is row

    w.open_path(_folder(tmp_path, extra=False))  # the benign twin: its config only, and no section of payload
    qtbot.waitUntil(lambda: w.doc.result is not None and "benign" in str(w.doc.result.model.path), timeout=20_000)
    assert {h.where for h in props.hidden_regions()} == {h.where for h in w.doc.result.measurement.hidden}
    assert all("extra.bin" not in h.where for h in props.hidden_regions())


def test_properties_follow_showing_original_or_scrubbed(qtbot, main_window):
    pytest.importorskip("inspector.core.scrub.export")
    from inspector.core.resources import resource_path

    w = main_window()
    w.open_path(str(resource_path("demo", "mlp-lsb-raw-b16.safetensors")))
    original = wait_scanned(qtbot, w)
    props = w.properties
    assert props.values("File")["SHA-256"] == original.model.sha256
    scrub = w.views["scrub"]
    scrub.slider.setValue(16)
    with qtbot.waitSignal(scrub.applied, timeout=30_000):
        scrub.apply()
    qtbot.waitUntil(lambda: not scrub.apply_slot.busy, timeout=5000)
    a = w.doc.scrubbed
    assert a is not None and w.doc.shows_scrubbed

    def coverage(result) -> dict[str, str]:
        return {c.cls: f"{c.bytes:,} bytes" for c in result.coverage}

    shown = props.values("File")
    assert shown["path"] == str(a.result.output) and shown["SHA-256"] == a.result.sha256 and a.result.sha256
    assert shown["SHA-256"] != original.model.sha256 and shown["showing"] == "scrubbed copy (not exported)"
    assert all(b in props.values("Coverage")[k] for k, b in coverage(a.scan).items())
    assert props.values("Metadata").keys() == w.doc.scrubbed_model.metadata.keys()
    assert props.values("Metadata")["inspector.source_sha256"] == original.model.sha256  # the copy's own header

    assert w.doc.set_showing("original")
    shown = props.values("File")
    assert shown["path"] == str(original.model.path) and shown["SHA-256"] == original.model.sha256
    assert shown["showing"] == "original (a scrub is applied)"
    assert all(b in props.values("Coverage")[k] for k, b in coverage(original).items())
    assert "inspector.source_sha256" not in props.values("Metadata")
    assert set(props.values("Metadata")) == (set(w.doc.model.metadata) or {"(none)"})
