"""Fixtures of the GUI tests: offscreen Qt, a main-window factory on a temporary settings store, Qt warnings
failing the test, and no worker thread left running after a test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything creates the QApplication

import threading  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: Messages the offscreen platform prints for every top-level window; they say nothing about our code.
BENIGN_QT_MESSAGES = ("propagateSizeHints", "does not support raise()")


@pytest.fixture(autouse=True)
def _qt_warnings_fail(qtlog):
    """Any Qt warning (or worse) during a test fails it."""
    yield
    from pytestqt.qt_compat import qt_api

    bad = [
        r.message
        for r in qtlog.records
        if r.type
        in (
            qt_api.QtCore.QtMsgType.QtWarningMsg,
            qt_api.QtCore.QtMsgType.QtCriticalMsg,
            qt_api.QtCore.QtMsgType.QtFatalMsg,
        )
        and not any(m in r.message for m in BENIGN_QT_MESSAGES)
    ]
    assert not bad, f"Qt warnings: {bad}"


@pytest.fixture
def settings_path(tmp_path):
    return str(tmp_path / "settings" / "model-inspector.ini")


@pytest.fixture
def main_window(qtbot, settings_path):
    """``main_window() -> MainWindow`` on a temporary QSettings file; every window is shut down (workers
    cancelled and joined) at teardown, and the test fails if a worker thread is still alive."""
    from inspector.qt import plotting
    from inspector.qt.main_window import MainWindow
    from inspector.qt.settings import open_settings

    plotting.configure()
    before = {t.ident for t in threading.enumerate()}
    windows = []

    def make(settings_file: str | None = None, size: tuple[int, int] | None = (1400, 860)):
        w = MainWindow(open_settings(settings_file or settings_path))
        w.ask_quit = lambda _text: True  # a modal question would block the run; tests of it replace this
        qtbot.addWidget(w)
        if size is not None:
            w.resize(*size)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()
        assert not w.pool.active, f"a worker survived shutdown: {[x.name for x in w.pool.active]}"
        assert w.pool.pool.activeThreadCount() == 0
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon]
    for t in leftover:
        t.join(timeout=5)
    leftover = [t.name for t in leftover if t.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def tiny_model(tmp_path):
    """A small model with float32/float16/int tensors, written with safetensors.numpy."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.safetensors"
    save_file(
        {
            "fc1.weight": rng.normal(0, 0.05, (128, 64)).astype(np.float32),
            "fc1.bias": rng.normal(0, 0.01, 128).astype(np.float32),
            "fc2.weight": rng.normal(0, 0.1, (10, 128)).astype(np.float16),
            "fc2.bias": np.zeros(10, np.float32),
            "steps": np.arange(7, dtype=np.int64),
        },
        str(path),
    )
    return path


@pytest.fixture
def big_model(tmp_path):
    """A model large enough (≈64 MB) that its scan is still running when a test cancels it."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(1)
    path = tmp_path / "big.safetensors"
    save_file({f"layer{i}.weight": rng.standard_normal((1024, 2048), dtype=np.float32) for i in range(8)}, str(path))
    return path


def wait_scanned(qtbot, window, timeout: int = 20_000):
    """Block until the open model's scan has finished (or fail)."""
    qtbot.waitUntil(lambda: window.doc.result is not None and not window.doc.scanning, timeout=timeout)
    return window.doc.result
