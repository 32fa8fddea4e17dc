"""The main window's panels; each draws one view of the :class:`~inspector.qt.document.ModelDocument`."""

from __future__ import annotations

import importlib
from typing import Callable


def _has(module: str, *names: str) -> bool:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return all(hasattr(mod, n) for n in names)


def _scrub(window):
    from inspector.qt.panels.scrub import ScrubPanel

    return ScrubPanel(window.doc, window.layers.selected_names, window.notify, window.report_error)


def _accuracy(window):
    from inspector.qt.panels.accuracy import AccuracyPanel

    return AccuracyPanel(window.doc, window.notify, window.report_error)


def optional_panels() -> list[tuple[str, str, Callable]]:
    """``(key, tab title, factory(window))`` for the views whose core capability is installed.

    A view appears only when the core function behind it exists: never a button that cannot work.
    """
    out: list[tuple[str, str, Callable]] = []
    if _has("inspector.core.scrub.export", "scrub_model", "scrub_chunk", "scaled_bits", "tensor_rng"):
        out.append(("scrub", "Scrub", _scrub))
    if _has("inspector.core.evaluate.accuracy", "evaluate", "pick_device") and _has(
        "inspector.qt.panels.accuracy", "AccuracyPanel"
    ):
        out.append(("accuracy", "Accuracy", _accuracy))
    return out
