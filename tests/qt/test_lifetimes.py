"""Object lifetimes across threads: what made the suite abort at random ("Fatal Python error: Aborted" while the
GUI thread was garbage-collecting). Garbage is collected on the GUI thread only; finished workers are released;
a closed window leaves no Qt object for the collector to destroy on another thread."""

from __future__ import annotations

import gc
import threading
import weakref

import shiboken6

from inspector.qt import gui_gc
from inspector.qt.workers import TaskSlot
from tests.qt.conftest import wait_scanned


def _allocate_cycles(n: int, *, progress, cancel, emit) -> int:
    """A task that allocates like a scan does: many container objects (each counts toward a collection)."""
    junk = []
    for i in range(n):
        a: list = [i]
        a.append(a)  # a cycle: only the collector frees it
        junk.append(a)
    return len(junk)


def test_garbage_is_collected_on_the_gui_thread_only(qtbot, main_window, tiny_model):
    w = main_window()
    assert not gc.isenabled() and gui_gc.collector().active
    threads: list[str] = []

    def record(phase, info):
        if phase == "start":
            threads.append(threading.current_thread().name)

    gc.callbacks.append(record)
    try:
        done = []
        TaskSlot(w.pool, w).start(_allocate_cycles, 200_000, name="alloc", on_returned=done.append)
        w.open_path(tiny_model)
        wait_scanned(qtbot, w)
        qtbot.waitUntil(lambda: bool(done), timeout=20_000)
        qtbot.waitUntil(lambda: bool(threads), timeout=5000)  # the timer collects the task's garbage
    finally:
        gc.callbacks.remove(record)
    assert done == [200_000]
    assert threads, "no collection ran at all"
    assert set(threads) == {threading.main_thread().name}, f"collections ran on {sorted(set(threads))}"


def test_finished_workers_and_their_signals_are_released(qtbot, main_window):
    w = main_window()
    results = []
    worker = TaskSlot(w.pool, w).start(_allocate_cycles, 10, name="small", on_returned=results.append)
    ref, signals = weakref.ref(worker), worker.signals
    del worker
    qtbot.waitUntil(lambda: results == [10] and not w.pool.active, timeout=10_000)
    # the pool deletes the signals object on the GUI thread; nothing keeps the worker (and its arguments)
    qtbot.waitUntil(lambda: not shiboken6.isValid(signals), timeout=5000)
    qtbot.waitUntil(lambda: ref() is None, timeout=5000)
    assert not w.pool._live


def test_a_closed_window_leaves_no_model_to_the_collector(qtbot, settings_path):
    from inspector.qt.main_window import MainWindow
    from inspector.qt.settings import open_settings

    w = MainWindow(open_settings(settings_path))  # not the fixture's: this test deletes it itself
    w.show()
    model, proxy = w.layers.model, w.layers.proxy
    w.close()
    w.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(model) and not shiboken6.isValid(proxy), timeout=5000)


def test_collector_restores_automatic_collection_when_its_last_holder_goes(qtbot):
    from PySide6.QtCore import QObject

    was = gc.isenabled()
    c = gui_gc.GuiThreadCollector(interval_ms=10)
    a, b = QObject(), QObject()
    c.hold(a)
    c.hold(b)
    assert not gc.isenabled() and c.active and c.timer.isActive()
    a.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(a), timeout=2000)
    assert c.active and not gc.isenabled()
    b.deleteLater()
    qtbot.waitUntil(lambda: not c.timer.isActive(), timeout=2000)
    assert not c.active and gc.isenabled() == was
