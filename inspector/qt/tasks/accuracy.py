"""Accuracy tasks: pick the device, evaluate the original (and the scrubbed copy), search the safe bits.

Each imports torch (through the core) when it runs: in a worker, never at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from inspector.core.formats import ModelFile
from inspector.core.progress import CancelToken
from inspector.qt.tasks.contract import Emit, Progress


@dataclass(frozen=True)
class DeviceInfo:
    device: str
    name: str


def best_device(*, progress: Progress, cancel: CancelToken, emit: Emit) -> DeviceInfo:
    """The device ``auto`` picks (imports torch: run it in a worker, never at start-up)."""
    from inspector.core.evaluate import device_name, pick_device

    dev = pick_device("auto")
    return DeviceInfo(dev, device_name(dev))


@dataclass(frozen=True)
class AccuracyPair:
    original: Any  # EvalResult
    scrubbed: Any  # EvalResult against the original, or None


def evaluate_pair(
    model: ModelFile,
    scrubbed: Optional[str],
    data: str,
    arch: Optional[str],
    device: str,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> AccuracyPair:
    """Accuracy of the original and, when a scrubbed copy exists, its accuracy, agreement and KL against it."""
    from inspector.core.evaluate import evaluate
    from inspector.core.formats import load_dataset

    ds = load_dataset(data)
    n = 2 if scrubbed else 1
    orig = evaluate(model, ds, arch=arch, device=device, cancel=cancel, progress=lambda d, t, m: progress(d, n * t, m))
    emit(AccuracyPair(orig, None))
    after = None
    if scrubbed:
        after = evaluate(
            scrubbed,
            ds,
            arch=arch,
            against=model,
            device=device,
            cancel=cancel,
            progress=lambda d, t, m: progress(t + d, 2 * t, m),
        )
    return AccuracyPair(orig, after)


def safe_bits(
    model: ModelFile,
    data: str,
    arch: Optional[str],
    device: str,
    seed: int,
    max_drop: float,
    min_agreement: float,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> Any:
    """The core's auto safe-bits search (scrub + evaluate per trial): an ``AutoResult`` with its curve."""
    from inspector.core.scrub import find_safe_bits

    return find_safe_bits(
        model,
        data,
        arch=arch,
        max_drop=max_drop,
        min_agreement=min_agreement,
        seed=seed,
        device=device,
        progress=progress,
        cancel=cancel,
    )


__all__ = ["AccuracyPair", "DeviceInfo", "best_device", "evaluate_pair", "safe_bits"]
