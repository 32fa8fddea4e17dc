"""Helpers shared by the sub-commands: a terminal progress bar, JSON output, small formatting."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

from ..core.progress import ProgressCallback


class TerminalProgress:
    """A one-line progress bar on stderr, redrawn at most 10 times a second; silent when stderr is no TTY."""

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        text = f"\r{self.label} [{bar}] {frac * 100:5.1f}% {message[:40]:<40}"
        self.stream.write(text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def progress_for(label: str) -> tuple[Optional[ProgressCallback], Any]:
    """``(callback, closer)``: a progress bar on an interactive terminal, else ``(None, no-op)``."""
    if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
        bar = TerminalProgress(label)
        return bar, bar.close
    return None, lambda: None


def write_json(obj: Any, out: str) -> None:
    """Write JSON to a path (atomically: temp file then rename) or to stdout for ``-``."""
    text = json.dumps(obj, indent=2, allow_nan=False)
    if out == "-":
        sys.stdout.write(text + "\n")
        return
    target = Path(out)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
