"""Progress reporting and cooperative cancellation shared by every long core function.

A long function takes ``progress: ProgressCallback | None`` and ``cancel: CancelToken | None``. It calls
``report(progress, done, total, message)`` as it goes and ``check(cancel)`` between chunks; a cancelled token
makes ``check`` raise :class:`Cancelled`, which unwinds the work and leaves nothing half written.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

#: ``progress(done, total, message)``; ``done`` and ``total`` are in the same unit (usually bytes).
ProgressCallback = Callable[[int, int, str], None]


class Cancelled(Exception):
    """Raised inside a long function when its :class:`CancelToken` was cancelled."""


class CancelToken:
    """A thread-safe flag a caller sets to ask a running function to stop at its next check.

    A token made with a ``parent`` is also cancelled when the parent is, but cancelling it leaves the parent
    alone: a function stops its own helpers (after an error) without cancelling its caller's token.
    """

    __slots__ = ("_event", "_parent")

    def __init__(self, parent: Optional[CancelToken] = None) -> None:
        self._event = threading.Event()
        self._parent = parent

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.cancelled)

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled()


def check(cancel: Optional[CancelToken]) -> None:
    """Raise :class:`Cancelled` if ``cancel`` was cancelled (``None`` never is)."""
    if cancel is not None and cancel.cancelled:
        raise Cancelled()


def report(progress: Optional[ProgressCallback], done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(done, total, message)


class ThreadSafeProgress:
    """Adds up progress from several worker threads and forwards the running total to one callback."""

    def __init__(self, progress: Optional[ProgressCallback], total: int) -> None:
        self._progress = progress
        self._total = total
        self._done = 0
        self._lock = threading.Lock()

    def add(self, amount: int, message: str = "") -> None:
        if self._progress is None:
            return
        with self._lock:  # report under the lock so the callback sees a non-decreasing count
            self._done += amount
            self._progress(min(self._done, self._total), self._total, message)
