"""The worker contract every task follows: ``f(inputs, *, progress, cancel, emit) -> result``."""

from __future__ import annotations

from typing import Any, Callable

Progress = Callable[[int, int, str], None]
Emit = Callable[[Any], None]
