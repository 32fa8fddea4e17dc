"""The error hierarchy of Model Inspector.

Every expected problem is an :class:`InspectorError` whose message says what is wrong, where (file, tensor)
and what to do next. The CLI prints ``str(error)`` on one line and exits with code 2; the GUI shows it inline.
"""

from __future__ import annotations

from pathlib import Path

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127, 0x85]} | {10: "\\n", 13: "\\r", 9: "\\t"}
_CONTROL |= {0x2028: "\\u2028", 0x2029: "\\u2029"}


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters written as escapes (``\\n``, ``\\x1b``)."""
    return text.translate(_CONTROL)


class InspectorError(Exception):
    """Base class of every expected, user-facing problem."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None) -> None:
        # one line whatever a hostile file names (a global, a key, a path with a newline or an escape sequence)
        message = one_line(message)
        hint = one_line(hint) if hint is not None else None
        self.path = one_line(str(path)) if path is not None else None
        self.hint = hint
        self.problem = message
        text = f"{self.path}: {message}" if self.path else message
        if hint:
            text = f"{text}. {hint}"
        super().__init__(text)


class UnsupportedFormatError(InspectorError):
    """The file is not a model format we can read."""


class MalformedFileError(InspectorError):
    """The file claims a supported format but its structure is broken (truncated, bad header, bad offsets)."""


class UnsafeFileError(InspectorError):
    """The file asks to run code or to build objects we refuse (a hostile or non-standard pickle)."""


class TensorNotFoundError(InspectorError):
    """A tensor name was asked for that the model does not contain."""


class RecipeError(InspectorError):
    """An architecture recipe could not be found, loaded, or does not match the weights."""


class DataError(InspectorError):
    """An evaluation or training-sample file is missing, unreadable or of the wrong shape."""


class ExportError(InspectorError):
    """A sanitized export could not be written or did not verify."""
