"""The Inputs panel feeds the judge the same options as the command line and remembers them per model."""

from __future__ import annotations

from tests.qt.conftest import wait_scanned


def test_inputs_feed_the_judge_and_are_remembered_per_model(qtbot, main_window, tiny_model, tmp_path):
    import numpy as np

    w = main_window()
    w.open_path(tiny_model)
    first = wait_scanned(qtbot, w)
    assert first.options.train_sample is None
    sample = tmp_path / "train.npz"
    np.savez(sample, inputs=np.zeros((4, 8), np.float32), labels=np.arange(4))
    w.inputs.set_values(None, str(sample), None)
    with qtbot.waitSignal(w.doc.scan_finished, timeout=20_000) as blk:
        w.inputs.apply()
    judged = blk.args[0]
    assert judged.options.train_sample == str(sample) and judged.options.data is None
    assert w.doc.result is judged
    w.close()
    # a new session: the model's inputs come back before its scan starts, so the scan uses them
    w2 = main_window()
    assert w2.inputs.values() == (None, None, None)
    w2.open_path(tiny_model)
    again = wait_scanned(qtbot, w2)
    assert w2.inputs.values() == (None, str(sample), None)
    assert again.options.train_sample == str(sample)


def test_a_base_model_adds_the_fine_tune_audit(qtbot, main_window, tmp_path):
    """The base model (the command line's --base) is judged: the change W − base shows among the findings."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    from inspector.core.resources import resource_path

    base = resource_path("demo", "mlp-benign-s0.safetensors")
    w = load_file(str(base))
    rng = np.random.default_rng(0)
    # a "fine-tune" that flips the signs of the large weights the first rows hold: signs written, not learned
    fc1 = w["fc1.weight"].copy()
    flip = (np.abs(fc1) > np.quantile(np.abs(fc1), 0.6)) & (rng.random(fc1.shape) < 0.5)
    fc1[flip] *= -1
    w["fc1.weight"] = fc1
    tuned = tmp_path / "tuned.safetensors"
    save_file(w, str(tuned))
    win = main_window()
    win.open_path(tuned)
    wait_scanned(qtbot, win)
    win.inputs.base.setText(str(base))
    with qtbot.waitSignal(win.doc.scan_finished, timeout=30_000) as blk:
        win.inputs.apply()
    judged = blk.args[0]
    assert judged.options.base == str(base)
    detectors = {f.detector for f in judged.findings}
    assert "fine-tune-delta" in detectors and "delta-sign-flips" in detectors
    assert judged.verdict == "suspicious"
