"""Helpers shared by the sub-commands: a terminal progress bar, JSON output, small formatting."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from inspector.core.errors import InspectorError
from inspector.core.formats import input_named
from inspector.core.progress import ProgressCallback


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


def check_output(out: Optional[str], inputs: Iterable[str | Path] = (), *, option: str = "--output") -> None:
    """Refuse an output path before any work: a folder, a device or pipe (the atomic rename would replace it),
    a missing folder, or one of the ``inputs`` (the model, its shards, the data...). ``-`` (stdout) passes."""
    if not out or out == "-":
        return
    target = Path(out)
    if target.is_dir():
        raise InspectorError(f"{option} names a folder", path=target, hint="Give a file name")
    if target.exists() and not target.is_file():
        raise InspectorError(
            f"{option} names a device or pipe, not a file", path=target, hint="Give a file name, or '-' for stdout"
        )
    if not target.parent.is_dir():
        raise InspectorError(f"the folder of {option} does not exist", path=target, hint="Create it first")
    p = input_named(target, inputs)
    if p is not None:
        raise InspectorError(
            f"refusing to write over the input file {p}", path=target, hint="Choose a different output path"
        )


def write_json(obj: Any, out: str) -> None:
    """Write JSON to a path (atomically: temp file then rename) or to stdout for ``-``."""
    text = json.dumps(obj, indent=2, allow_nan=False)
    if out == "-":
        sys.stdout.write(text + "\n")
        return
    check_output(out, option="the JSON output")
    target = Path(out)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as e:
        raise InspectorError(
            f"could not write the JSON ({e.strerror or e})", path=target, hint="Check the path"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
