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
