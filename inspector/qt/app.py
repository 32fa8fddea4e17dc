"""Starting the desktop app: the QApplication, the main window, and the offscreen screenshot mode."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from inspector.qt import plotting
from inspector.qt.main_window import MainWindow
from inspector.qt.resources import app_icon


def make_app(argv: Optional[Sequence[str]] = None) -> QApplication:
    """The process's QApplication (created once), with the app's name, icon and plot options."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv or sys.argv[:1]))
    assert isinstance(app, QApplication)
    app.setApplicationName("Model Inspector")
    app.setOrganizationName("model-inspector")
    app.setWindowIcon(app_icon())
    plotting.configure()
    # Workers run numpy in several threads; a shorter GIL switch interval lets the event loop in sooner
    # (measured by benchmarks/gui_responsiveness.py).
    sys.setswitchinterval(0.001)
    return app


def save_screenshot(window: MainWindow, path: str | Path) -> Path:
    """Render the window (offscreen works) to a PNG."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    if not window.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    return out


class _ScreenshotDirector:
    """Waits for the scan (and the baseline) to finish, lets the views settle, saves the PNG and quits."""

    def __init__(self, window: MainWindow, path: str, timeout_s: float = 180.0, expect_model: bool = True) -> None:
        self.window = window
        self.expect_model = expect_model  # without a model to open, the empty window is the picture
        self.path = path
        self.ok = False
        self._ticks = 0
        self._settle = 0
        self._limit = int(timeout_s * 10)
        self.timer = QTimer(window, interval=100)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _busy(self) -> bool:
        w = self.window
        return bool(w.pool.active) or (self.expect_model and w.doc.result is None)

    def _tick(self) -> None:
        self._ticks += 1
        if self._ticks > self._limit:
            print(f"model-inspector: screenshot timed out after {self._limit / 10:.0f} s", file=sys.stderr)
            self._finish()
            return
        if self.expect_model and self.window.doc.model is None and not self.window.message_bar.isVisible():
            return
        if self.window.message_bar.level == "error" or not self._busy():
            self._settle += 1
            if self._settle >= 8:  # 0.8 s of quiet: debounced views have drawn
                save_screenshot(self.window, self.path)
                # the picture is written either way, but a scan that failed must fail the command (smoke tests)
                self.ok = self.window.message_bar.level != "error"
                status = "" if self.ok else " (the window shows an error: exit status 2)"
                print(f"model-inspector: wrote {self.path}{status}", file=sys.stderr)
                self._finish()
        else:
            self._settle = 0

    def _finish(self) -> None:
        self.timer.stop()
        self.window.close()


def check_display() -> None:
    """Refuse to start on Linux without a display, with the next step, instead of letting Qt abort the
    process (it dumps core when the xcb plugin finds no X server)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    from inspector.core.errors import InspectorError

    raise InspectorError(
        "no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset)",
        hint="Run it in a desktop session, under `xvfb-run -a`, or render offscreen with --screenshot PNG",
    )


def run(
    paths: Sequence[str] = (),
    *,
    models: Sequence[tuple[str, str]] = (),
    baselines: Sequence[tuple[str, str]] = (),
    baseline: Optional[str] = None,
    screenshot: Optional[str] = None,
    size: tuple[int, int] = (1600, 960),
    prepare=None,
) -> int:
    """Show the window, open ``paths[0]``; with ``screenshot``, render offscreen once scanned and exit.

    ``models`` fill the model switcher and ``baselines`` the baseline picker (the demo uses both);
    ``baseline`` chooses one at start. ``prepare(window)`` runs once the window exists (the demo's hook).
    """
    if screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    check_display()
    app = make_app()
    settings = None
    if screenshot:
        # a screenshot never reads or writes the user's settings: same picture on every machine
        import tempfile

        from inspector.qt.settings import open_settings

        tmp = tempfile.mkdtemp(prefix="mi-shot-")
        settings = open_settings(os.path.join(tmp, "settings.ini"))
    window = MainWindow(settings)
    if models:
        window.set_model_list(list(models))
    if baselines:
        window.add_baseline_models(list(baselines))
    if screenshot:
        window.resize(*size)
    window.show()
    if prepare is not None:
        prepare(window)
    if baseline:
        window.set_baseline_path(baseline)
    if paths:
        window.open_path(paths[0])
    director = _ScreenshotDirector(window, screenshot, expect_model=bool(paths)) if screenshot else None
    code = app.exec()
    window.shutdown()
    if director is not None:
        return 0 if director.ok else 2
    return int(code)
