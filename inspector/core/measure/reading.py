"""Bounded reads of a tensor's leading elements, for the steps that match data against the weights."""

from __future__ import annotations

from typing import Optional

import numpy as np

from inspector.core.formats.base import TensorRef, iter_chunks
from inspector.core.progress import CancelToken


def read_prefix(ref: TensorRef, limit: int, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """The first ``limit`` elements of a tensor in storage order, raw (its storage type), flat."""
    n = min(ref.numel, limit)
    parts: list[np.ndarray] = []
    got = 0
    for chunk in iter_chunks(ref, cancel=cancel):
        take = min(chunk.size, n - got)
        parts.append(np.array(chunk[:take], copy=True))
        got += take
        if got >= n:
            break
    if not parts:
        return np.zeros(0, dtype=ref.dtype.storage)
    return np.concatenate(parts)
