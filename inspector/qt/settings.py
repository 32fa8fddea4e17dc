"""The GUI's settings: one typed, versioned value stored in :class:`QSettings`, plus window geometry."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from PySide6.QtCore import QByteArray, QSettings

VERSION = 1
MAX_RECENT = 10


@dataclass(frozen=True)
class GuiSettings:
    """What the app remembers between runs (geometry is kept apart, as Qt's own byte blobs)."""

    recent: tuple[str, ...] = ()
    last_dir: str = ""
    log_y: bool = False
    bins: int = 256
    tile: str = "8×8"
    grid_page_size: int = 24
    theme: str = "light"  # or "dark"

    def with_recent(self, path: str) -> GuiSettings:
        items = [path] + [p for p in self.recent if p != path]
        return replace(self, recent=tuple(items[:MAX_RECENT]))


def open_settings(path: Optional[str] = None) -> QSettings:
    """The app's settings store, or an INI file at ``path`` (tests use a temporary one)."""
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("model-inspector", "Model Inspector")


def _bool(v: object, default: bool) -> bool:
    if v is None:
        return default
    if isinstance(v, str):
        return v.lower() in ("1", "true", "yes")
    return bool(v)


def load(qs: QSettings) -> GuiSettings:
    """Read the settings; an unknown (newer or older) version falls back to the defaults."""
    d = GuiSettings()
    try:
        if int(str(qs.value("version", VERSION))) != VERSION:
            return d
        raw = qs.value("recent", [])
        recent: list = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else []
        return GuiSettings(
            recent=tuple(str(r) for r in recent)[:MAX_RECENT],
            last_dir=str(qs.value("last_dir", d.last_dir) or ""),
            log_y=_bool(qs.value("log_y"), d.log_y),
            bins=max(2, min(4096, int(str(qs.value("bins", d.bins))))),
            tile=str(qs.value("tile", d.tile)),
            grid_page_size=int(str(qs.value("grid_page_size", d.grid_page_size))),
            theme="dark" if str(qs.value("theme", d.theme)) == "dark" else "light",
        )
    except (TypeError, ValueError):
        return d


def save(qs: QSettings, s: GuiSettings) -> None:
    qs.setValue("version", VERSION)
    qs.setValue("recent", list(s.recent))
    qs.setValue("last_dir", s.last_dir)
    qs.setValue("log_y", s.log_y)
    qs.setValue("bins", s.bins)
    qs.setValue("tile", s.tile)
    qs.setValue("grid_page_size", s.grid_page_size)
    qs.setValue("theme", s.theme)


def save_geometry(qs: QSettings, geometry: QByteArray, state: QByteArray) -> None:
    qs.setValue("window/geometry", geometry)
    qs.setValue("window/state", state)


def load_geometry(qs: QSettings) -> tuple[Optional[QByteArray], Optional[QByteArray]]:
    g, s = qs.value("window/geometry"), qs.value("window/state")
    return (g if isinstance(g, QByteArray) else None, s if isinstance(s, QByteArray) else None)
