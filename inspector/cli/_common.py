"""Helpers shared by the sub-commands: a terminal progress bar, JSON output, small formatting."""

from __future__ import annotations

import io
import json
import math
import os
import re
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
        text = f"\r{safe_text(self.label, 60)} [{bar}] {frac * 100:5.1f}% {safe_text(message, 40):<40}"
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
    """Write JSON to a path (atomically: random temp name, O_EXCL|O_NOFOLLOW, fsync, rename) or to stdout."""
    text = json.dumps(obj, indent=2, allow_nan=False)  # ASCII: lone surrogates become \udcXX escapes
    if out == "-":
        sys.stdout.write(text + "\n")
        return
    check_output(out, option="the JSON output")
    from inspector.core.formats import write_atomic

    write_atomic(Path(out), text + "\n", what="JSON output")


# ------------------------------------------------------------------------------------------ printing safely
#: Control characters (C0 but tab, DEL, C1), bidirectional overrides and lone surrogates: escaped when printed.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


#: The same on a whole stream, where newline, tab and carriage return (the progress bar) are layout.
_UNSAFE_STREAM = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def safe_text(text: Any, limit: int = 300) -> str:
    """``text`` fit for one terminal line: control characters (newline and ESC included), bidi overrides and
    lone surrogates escaped, cut to about ``limit`` characters with the length said."""
    s = str(text)
    cut = len(s) > limit
    s = _UNSAFE.sub(_escape, s[: limit + 1] if cut else s)
    if len(s) > limit or cut:
        s = f"{s[:limit]}...({len(str(text)):,} chars)"
    return s


class _GuardedStream(io.TextIOBase):
    """stdout/stderr that neither crashes nor prints a traceback when the reader goes away (``| head -1``)
    and never emits a terminal escape sequence: control characters other than newline and tab are escaped."""

    def __init__(self, stream: Any) -> None:
        self._s = stream
        self.broken = False

    def write(self, text: str) -> int:
        if self.broken:
            return len(text)
        clean = _UNSAFE_STREAM.sub(_escape, text)
        try:
            self._s.write(clean)
        except BrokenPipeError:
            self._silence()
        except UnicodeEncodeError:
            enc = getattr(self._s, "encoding", None) or "ascii"
            try:
                self._s.write(clean.encode(enc, "backslashreplace").decode(enc))
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._s.flush()
            except BrokenPipeError:
                self._silence()

    def _silence(self) -> None:
        """The reader closed the pipe: send the rest (and the interpreter's final flush) to the null device."""
        self.broken = True
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, self._s.fileno())
            os.close(fd)
        except (OSError, ValueError, AttributeError):
            pass

    def isatty(self) -> bool:
        return bool(self._s.isatty())

    def fileno(self) -> int:
        return int(self._s.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._s, "encoding", "utf-8"))


def guard_output() -> None:
    """Install the guarded stdout and stderr (once per process; the CLI's entry point calls it)."""
    if not isinstance(sys.stdout, _GuardedStream) and sys.stdout is not None:
        sys.stdout = _GuardedStream(sys.stdout)
    if not isinstance(sys.stderr, _GuardedStream) and sys.stderr is not None:
        sys.stderr = _GuardedStream(sys.stderr)


def finite_number(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` silently disable comparisons)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse_error(f"{safe_text(text, 40)!s} is not a number") from None
    if not math.isfinite(value):
        raise argparse_error(f"{safe_text(text, 40)!s} is not a finite number")
    return value


def argparse_error(message: str) -> Exception:
    import argparse

    return argparse.ArgumentTypeError(message)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
