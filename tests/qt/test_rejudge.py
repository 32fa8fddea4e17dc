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
    # a hang guard, not the target: re-judging in under 200 ms is measured by benchmarks/rejudge.py (a shared CI
    # machine took 381 ms here once)
    assert ms < 5000, f"re-judging took {ms:.0f} ms"
    assert w.doc.findings_for("") == [f for f in back.findings if not f.tensor]


def test_inputs_rejudge_and_read_the_model_only_for_the_step_an_input_needs(
    qtbot, main_window, tiny_model, tmp_path, monkeypatch
):
    """A profile change, or "Judge with these inputs" with no file-reading input changed, judges the stored
    measurement with the model file moved away (0 reads); a new training sample runs its match only — the
    measurement (the streaming pass) is kept."""
    import shutil

    import inspector.core.pipeline as pipeline
    import inspector.qt.tasks.scanning as scanning
    from inspector.core.judge import default_profile_path
    from inspector.qt.document import Baseline

    scans, gathers = [], []
    real_scan, real_gather = scanning.scan, pipeline.gather_inputs
    monkeypatch.setattr(scanning, "scan", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    monkeypatch.setattr(pipeline, "gather_inputs", lambda *a, **k: gathers.append(a[2]) or real_gather(*a, **k))
    profile = tmp_path / "profile.json"
    shutil.copyfile(default_profile_path(), profile)

    w = main_window()
    w.open_path(tiny_model)
    first = wait_scanned(qtbot, w)
    assert len(scans) == 1 and len(gathers) == 1  # the scan's own
    gathers.clear()
    away = tmp_path / "moved-away.safetensors"
    tiny_model.rename(away)  # any read of the model file from here on would fail

    with qtbot.waitSignal(w.doc.rejudged, timeout=10_000) as blk:
        w.doc.set_baseline(Baseline("profile", str(profile), "my profile"))
    by_profile, _ms = blk.args
    assert by_profile.options.profile == str(profile) and by_profile.measurement is first.measurement

    with qtbot.waitSignal(w.doc.rejudged, timeout=10_000) as blk:
        w.inputs.apply()  # nothing that needs the file changed
    same, _ms = blk.args
    assert same is not by_profile and same.measurement is first.measurement
    assert same.options.profile == str(profile) and same.verdict == by_profile.verdict
    assert len(scans) == 1 and gathers == []  # neither scanned nor any input gathered: 0 reads of the file
    assert "the model file was not read" in w.inputs.status.text()

    away.rename(tiny_model)
    sample = tmp_path / "train.npz"
    np.savez(sample, inputs=np.zeros((4, 8), np.float32), labels=np.arange(4))
    w.inputs.set_values(None, str(sample), None)
    with qtbot.waitSignal(w.doc.rejudged, timeout=20_000) as blk:
        w.inputs.apply()
    matched, _ms = blk.args
    assert len(scans) == 1 and matched.measurement is first.measurement  # the weights' pass is not repeated
    assert [g.train_sample for g in gathers] == [str(sample)] and not gathers[0].detectors  # no probe re-run
    assert matched.options.train_sample == str(sample) and matched.options.profile == str(profile)
    assert matched.inputs.train_sample == str(sample) and matched.inputs.data_checked is not None
    assert w.doc.result is matched
    assert "ran the training-sample match" in w.inputs.status.text()


def test_rejudge_words_say_what_ran():
    from inspector.qt.panels.inputs import rejudge_words

    assert "model file was not read" in rejudge_words(None, 3.2) and "baseline" in rejudge_words(None, 3.2)
    assert "model file was not read" in rejudge_words(set(), 1.0)
    both = rejudge_words({"data", "arch", "train_sample"}, 812)
    assert "capacity probe and the training-sample match" in both and "812 ms" in both and "not repeated" in both
