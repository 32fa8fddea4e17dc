"""Nothing from the previous model, scrub or session survives where it no longer holds (issue: stale state)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from tests.qt.conftest import wait_scanned


@pytest.fixture
def other_model(tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(7)
    path = tmp_path / "other.safetensors"
    save_file({f"enc.{i}.weight": rng.normal(0, 0.02, (32, 32)).astype(np.float32) for i in range(3)}, str(path))
    return path


@pytest.mark.parametrize("scope", ["weights", "floats"])
def test_weights_image_of_the_whole_model_redraws_after_another_model_opens(
    qtbot, main_window, tiny_model, other_model, scope
):
    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    with qtbot.waitSignal(w.weights_image.image_shown, timeout=10_000):
        w.weights_image.set_view(scope, "values", "8×8")
    before = w.weights_image.image
    with qtbot.waitSignal(w.weights_image.image_shown, timeout=10_000) as blk:
        w.open_path(other_model)
    img = blk.args[0]
    assert img is not before and w.weights_image.image is img
    assert img.source_elements == 3 * 32 * 32  # the new model's three matrices, nothing of the old one


def test_accuracy_summary_follows_the_scrub_and_the_model(qtbot, main_window, tiny_model, other_model):
    w = main_window()
    acc, scrub = w.views["accuracy"], w.views["scrub"]
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    assert acc.summary.text().startswith("Apply a scrub")
    with qtbot.waitSignal(scrub.applied, timeout=30_000):
        scrub.apply()
    assert "A scrub is applied" in acc.summary.text()
    with qtbot.waitSignal(w.doc.opened, timeout=10_000):
        w.open_path(other_model)
    assert acc.summary.text().startswith("Apply a scrub")  # not "The scrub changed", not "A scrub is applied"


def test_safe_bits_chart_forgets_the_previous_model(qtbot, main_window, tiny_model, other_model):
    w = main_window()
    acc = w.views["accuracy"]
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    pts = [types.SimpleNamespace(bits=b, accuracy=0.97, agreement=0.99, original_accuracy=0.98) for b in (12, 14, 16)]
    auto = types.SimpleNamespace(
        points=pts, bits=14, per_dtype={"F32": 14}, dtype="F32", max_drop=1.0, min_agreement=0.98
    )
    acc._on_auto(auto)
    (x0, x1), (y0, y1) = acc.plot.viewRange()
    assert x0 > 5 and y0 > 90  # zoomed onto the search's points
    with qtbot.waitSignal(w.doc.opened, timeout=10_000):
        w.open_path(other_model)
    (x0, x1), (y0, y1) = acc.plot.viewRange()
    assert x0 < 0.5 and x1 > 22.5 and y0 < 1 and y1 > 99
    xs, _ = acc.acc_curve.getData()
    assert not acc.chosen_line.isVisible() and (xs is None or len(xs) == 0)
    assert w.doc.safe_bits is None


def test_scrub_seed_is_new_for_every_opened_model(qtbot, main_window, tiny_model, other_model):
    w = main_window()
    scrub = w.views["scrub"]
    seeds = []
    for path in (tiny_model, other_model, tiny_model):
        with qtbot.waitSignal(w.doc.opened, timeout=10_000):
            w.open_path(path)
        seeds.append(scrub.seed.value())
    assert len(set(seeds)) == 3  # re-scrubbing a file scrubbed in this session changes its bits again


def test_typing_fp32_bits_moves_the_slider(qtbot, main_window, tiny_model):
    w = main_window()
    scrub = w.views["scrub"]
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    scrub.slider.setValue(16)
    assert scrub.dtype_spins["F32"].value() == 16
    f16 = scrub.dtype_spins["F16"].value()
    scrub.dtype_spins["F32"].setValue(13)
    assert scrub.slider.value() == 13 and scrub.slider_label.text() == "13 bits"
    assert scrub.dtype_spins["F16"].value() == f16  # typed values of other types stay as typed
    assert dict(scrub.plan().bits)["F32"] == 13
