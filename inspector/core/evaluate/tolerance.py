"""The accuracy tolerance: one rule for ``scrub --check``, ``scrub --auto`` and the app."""

from __future__ import annotations

from typing import Optional

#: The accuracy tolerance, one rule for ``scrub --check``, ``scrub --auto`` and the app: a scrubbed model holds when
#: it loses at most ``max_drop`` accuracy points against the original and, where agreement is asked for, predicts
#: the same class as the original on at least ``min_agreement`` of the samples.
DEFAULT_MAX_DROP = 0.1
DEFAULT_MIN_AGREEMENT = 0.99


def within_tolerance(
    drop: float,
    agreement: Optional[float] = None,
    *,
    max_drop: float = DEFAULT_MAX_DROP,
    min_agreement: Optional[float] = None,
) -> bool:
    """The tolerance rule above; ``drop`` in accuracy points, ``agreement`` a fraction (not checked when None)."""
    if drop > max_drop + 1e-9:
        return False
    return agreement is None or min_agreement is None or agreement >= min_agreement - 1e-12
