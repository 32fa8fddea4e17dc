"""Bundled resources for the GUI (icons), through the core's one resource accessor."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon

from inspector.core.resources import resource_path

ICON_SVG = ("icons", "model-inspector.svg")
ICON_PNG = ("icons", "model-inspector.png")


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    """The application icon (SVG, with the PNG as a fallback for platforms without the SVG plugin)."""
    icon = QIcon()
    for parts in (ICON_SVG, ICON_PNG):
        p = resource_path(*parts)
        if p.is_file():
            icon.addFile(str(p))
    return icon
