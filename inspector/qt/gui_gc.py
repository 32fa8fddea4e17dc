"""Python's cyclic garbage collector, run on the GUI thread only, while a window exists.

Python collects reference cycles when allocations pass a threshold, on whichever thread allocates. In this app
the workers allocate most (a scan builds thousands of objects), so a collection often starts on a pool thread,
and it destroys whatever cyclic garbage exists at that moment: a closed window is such a cycle (its lambdas
refer back to it), and the Qt objects only Python owns go with it — pyqtgraph's parentless context menus
(``QMenu`` widgets) and button pixmaps, item models, ``QSettings``. Destroying widgets and pixmaps off the GUI
thread, while the GUI thread draws, is outside what Qt allows; the process aborts at random later, often in the
next collection. A collection on the GUI thread can also start in the middle of any allocation, e.g. while a
signal's arguments are converted.

So while at least one window exists, automatic collection is off and a GUI-thread timer collects between
events, generation by generation with Python's own thresholds (the recipe pyqtgraph ships as
``GarbageCollector``). When the last window is destroyed, the leftovers are collected on the GUI thread and
automatic collection is switched back on.
"""

from __future__ import annotations

import gc
from typing import Optional

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

#: How often the GUI thread looks whether a collection is due (pyqtgraph's recipe uses 1 s; a scan allocates
#: fast, so look more often: a young-generation collection takes well under a millisecond).
INTERVAL_MS = 100


class GuiThreadCollector(QObject):
    """Collects garbage on the GUI thread from a timer, while windows hold it (see the module's note)."""

    def __init__(self, parent: Optional[QObject] = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._holders = 0
        self._was_enabled = gc.isenabled()
        self.collections = 0  # how many collections this timer ran (tests read it)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)

    @property
    def active(self) -> bool:
        return self._holders > 0

    def hold(self, owner: QObject) -> None:
        """Keep automatic collection off until ``owner`` (a window) is destroyed."""
        if self._holders == 0:
            self._was_enabled = gc.isenabled()
            gc.disable()
            self.timer.start()
        self._holders += 1
        owner.destroyed.connect(self._release)

    def _release(self) -> None:
        self._holders -= 1
        if self._holders == 0:  # not inside the window's destructor: once the event loop is back
            QTimer.singleShot(0, self, self._restore)

    def _restore(self) -> None:
        if self._holders > 0:
            return
        self.timer.stop()
        gc.collect()  # the last window's leftovers, here on the GUI thread
        if self._was_enabled:
            gc.enable()

    def check(self) -> None:
        """Collect the generations whose thresholds were passed, youngest first (as Python itself would)."""
        t0, t1, t2 = gc.get_threshold()
        c0, c1, c2 = gc.get_count()
        if c0 <= t0:
            return
        generation = 2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0
        gc.collect(generation)
        self.collections += 1


_collector: Optional[GuiThreadCollector] = None


def collector() -> GuiThreadCollector:
    """The process's collector, living on the GUI thread (created with the first window)."""
    global _collector
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("the GUI-thread collector needs the QApplication")
    if _collector is None:
        _collector = GuiThreadCollector(app)
    return _collector


def hold_for(window: QObject) -> None:
    """Run garbage collection on the GUI thread only, for as long as ``window`` exists. Call it on the GUI
    thread (where windows are made)."""
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() != app.thread():
        raise RuntimeError("hold_for must be called on the GUI thread")
    collector().hold(window)
