"""Background work for the GUI, in superqt's vocabulary, on a pool the window owns and joins on close.

A task is a plain module-level function ``fn(*args, progress=..., cancel=..., emit=...)`` (Orange's contract):
it reports progress through ``progress(done, total, message)``, checks ``cancel`` between chunks (the core's
functions raise :class:`~inspector.core.progress.Cancelled`), may hand partial results to ``emit`` and returns
an immutable result. A :class:`Worker` runs it on a :class:`QThreadPool` and turns all of that into queued Qt
signals: ``started``, ``progressed``, ``yielded``, ``returned``, ``errored``, ``cancelled``, ``finished``.

Object lifetimes are what keeps this safe. A :class:`Worker` is a plain Python object, started on the pool as a
callable: a ``QRunnable`` subclass would be kept alive by PySide's ``QThreadPool`` wrapper (``start()`` adds it
as a child) with every argument and result it ever held, until the window died. Its :class:`WorkerSignals` is
a child of the pool, so no Python reference count or garbage collection, on whatever thread it happens, ever
destroys it; the pool deletes it on the GUI thread (``deleteLater``) once its last signal was sent.

A :class:`TaskSlot` holds the one current worker of one job (the scan, a re-histogram, a scrub preview):
starting a new worker in a slot cancels the old one, and the old one's late signals are dropped by a
generation check, so a stale result can never reach a view. :class:`WorkerPool` cancels every worker and
waits for all of them when the window closes.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from inspector.core.progress import Cancelled, CancelToken

_ids = itertools.count(1)


@dataclass(frozen=True)
class WorkerError:
    """What went wrong in a worker: the exception, and its formatted traceback for the details pane."""

    exception: BaseException
    details: str


class WorkerSignals(QObject):
    """Signals of one worker. Created in the GUI thread (so every connection to it is queued) and given to the
    pool as a Qt child when the worker starts: only the pool deletes it, on the GUI thread."""

    started = Signal()
    progressed = Signal(int, str)  # per mille (0..1000), message
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # WorkerError
    cancelled = Signal()
    finished = Signal()


class Worker:
    """Runs ``fn(*args, progress=, cancel=, emit=, **kwargs)`` once on a thread pool (:meth:`run`).

    Progress is forwarded only when the per-mille value moves or the message changes, at most every 50 ms,
    so a fast core loop cannot flood the event loop.
    """

    #: Scheduling niceness of worker threads (Linux: per thread, inherited by the threads a task starts, e.g.
    #: the scan's pool), so a busy CPU serves the event loop first and the window stays responsive.
    NICENESS = 10

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.name = name or getattr(fn, "__name__", "task")
        self.id = next(_ids)
        self.cancel_token = CancelToken()
        self.signals = WorkerSignals()
        self._last_progress = (-1, "")
        self._last_time = 0.0
        self.done = False

    # -- called from the worker's threads ---------------------------------------------------------------
    def _progress(self, done: int, total: int, message: str = "") -> None:
        permille = int(1000 * done / total) if total else 0
        now = time.monotonic()
        if (permille, message) == self._last_progress:
            return
        if now - self._last_time < 0.05 and permille < 1000 and message == self._last_progress[1]:
            return
        self._last_progress = (permille, message)
        self._last_time = now
        self.signals.progressed.emit(permille, message)

    def _emit(self, value: Any) -> None:
        if not self.cancel_token.cancelled:
            self.signals.yielded.emit(value)

    def run(self) -> None:
        """The pool thread's entry point. ``done`` turns true only after ``finished`` was sent, the last use of
        :attr:`signals` here, so the pool may then delete them."""
        sig = self.signals
        _lower_priority(self.NICENESS)
        sig.started.emit()
        try:
            result = self.fn(
                *self.args, progress=self._progress, cancel=self.cancel_token, emit=self._emit, **self.kwargs
            )
        except Cancelled:
            sig.cancelled.emit()
        except Exception as e:  # noqa: BLE001 - every failure goes to the one error sink
            if self.cancel_token.cancelled:
                sig.cancelled.emit()
            else:
                sig.errored.emit(WorkerError(e, traceback.format_exc()))
        else:
            if self.cancel_token.cancelled:
                sig.cancelled.emit()
            else:
                sig.returned.emit(result)
        finally:
            sig.finished.emit()
            self.done = True

    # -- called from the GUI thread ---------------------------------------------------------------------
    def cancel(self) -> None:
        self.cancel_token.cancel()


def _lower_priority(niceness: int) -> None:
    """Make the calling thread (and threads it starts) yield the CPU to the GUI thread, where supported."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, min(19, niceness)))
    except OSError:  # not permitted here: keep the default priority
        pass


class WorkerPool(QObject):
    """The window's own thread pool: starts workers, remembers them until finished, joins them on close.

    After :meth:`join` the pool is closed: a late ``start`` (say, from a debounce timer) is refused.
    """

    def __init__(self, parent: Optional[QObject] = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._live: dict[int, Worker] = {}
        self.closed = False

    def start(self, worker: Worker) -> bool:
        """Queue ``worker``; ``False`` (and nothing runs) once the pool is closed."""
        worker.signals.setParent(self)  # Qt owns it from here on: see the module's note on lifetimes
        if self.closed:
            worker.done = True
            worker.signals.deleteLater()
            return False
        self._live[worker.id] = worker
        worker.signals.finished.connect(self._on_worker_finished)
        self.pool.start(worker.run)
        return True

    def _on_worker_finished(self) -> None:
        self._sweep()
        if self._live:  # the sender sets ``done`` just after its last signal: look again in a moment
            QTimer.singleShot(20, self, self._sweep)

    def _sweep(self) -> None:
        """Forget finished workers and delete their signals (queued signals sent before are delivered first)."""
        for wid, w in list(self._live.items()):
            if w.done:
                del self._live[wid]
                w.signals.deleteLater()

    @property
    def active(self) -> list[Worker]:
        return [w for w in self._live.values() if not w.done]

    def cancel_all(self) -> None:
        for w in list(self._live.values()):
            w.cancel()

    def join(self, timeout_ms: int = 30_000) -> bool:
        """Close the pool, cancel everything and wait until every thread is idle; True when all stopped."""
        self.closed = True
        self.cancel_all()
        ok = self.pool.waitForDone(timeout_ms)
        if ok:
            self._sweep()
        return ok


class _Relay(QObject):
    """Forwards one worker's signals to its handlers while it is its slot's current worker.

    Handlers are reached through this QObject's own methods (a child of the slot), so Qt drops any signal
    still queued when the window and its slots are destroyed.
    """

    def __init__(self, slot: TaskSlot, worker: Worker, handlers: dict[str, Optional[Callable[..., None]]]) -> None:
        super().__init__(slot)
        self.slot = slot
        self.worker = worker
        self.handlers = handlers
        sig = worker.signals
        sig.returned.connect(self.on_returned)
        sig.yielded.connect(self.on_yielded)
        sig.progressed.connect(self.on_progressed)
        sig.errored.connect(self.on_errored)
        sig.cancelled.connect(self.on_cancelled)
        sig.finished.connect(self.on_finished)

    def _call(self, key: str, *args: Any) -> None:
        h = self.handlers.get(key)
        if h is not None and self.slot.current is self.worker:
            h(*args)

    def on_returned(self, value: Any) -> None:
        self._call("returned", value)

    def on_yielded(self, value: Any) -> None:
        self._call("yielded", value)

    def on_progressed(self, permille: int, message: str) -> None:
        self._call("progress", permille, message)

    def on_errored(self, err: Any) -> None:
        self._call("errored", err)

    def on_cancelled(self) -> None:
        self._call("cancelled")

    def on_finished(self) -> None:
        self._call("finished")
        self.slot._finished(self.worker)
        self.deleteLater()


class TaskSlot(QObject):
    """One job that only ever has one live worker; a new start supersedes (cancels, mutes) the previous one.

    Handlers given to :meth:`start` run only for the current worker, so a superseded worker's late
    ``returned``/``yielded``/``progressed`` never reach the views.
    """

    busy_changed = Signal(bool)

    def __init__(self, pool: WorkerPool, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self.current: Optional[Worker] = None

    def start(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_returned: Optional[Callable[[Any], None]] = None,
        on_yielded: Optional[Callable[[Any], None]] = None,
        on_progress: Optional[Callable[[int, str], None]] = None,
        on_errored: Optional[Callable[[WorkerError], None]] = None,
        on_cancelled: Optional[Callable[[], None]] = None,
        on_finished: Optional[Callable[[], None]] = None,
        **kwargs: Any,
    ) -> Worker:
        self.cancel()
        worker = Worker(fn, *args, **kwargs)
        handlers = {
            "returned": on_returned,
            "yielded": on_yielded,
            "progress": on_progress,
            "errored": on_errored,
            "cancelled": on_cancelled,
            "finished": on_finished,
        }
        relay = _Relay(self, worker, handlers)
        if self._pool.start(worker):
            self.current = worker
            self.busy_changed.emit(True)
        else:  # the pool is closed (the window is shutting down): nothing will ever run
            relay.deleteLater()
        return worker

    def _finished(self, worker: Worker) -> None:
        if self.current is worker:
            self.current = None
            self.busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return self.current is not None

    def cancel(self) -> None:
        """Cancel the current worker (if any) and mute it; its thread stops at its next cancel check."""
        w = self.current
        if w is not None:
            w.cancel()
            self.current = None
            self.busy_changed.emit(False)
