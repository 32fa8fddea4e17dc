"""Numeric sanity: NaN, ±Inf and subnormal values in float tensors."""

from __future__ import annotations

from typing import Sequence

from ..findings import Finding

NAME = "numeric"


def detect(tensors: Sequence) -> list[Finding]:
    """Findings for tensors holding NaN/Inf (a broken model) or subnormals (rare in trained weights)."""
    out: list[Finding] = []
    for t in tensors:
        s = t.stats
        if not s.count:
            continue
        if s.nan or s.inf:
            out.append(
                Finding(
                    NAME,
                    "numeric",
                    t.name,
                    "warning",
                    0.5,
                    f"{s.nan:,} NaN and {s.inf:,} infinite values of {s.count:,}; the model cannot run correctly "
                    "and its statistics exclude them",
                    {"nan": s.nan, "inf": s.inf},
                )
            )
        if s.subnormal:
            frac = s.subnormal / s.count
            out.append(
                Finding(
                    NAME,
                    "numeric",
                    t.name,
                    "info" if frac < 1e-4 else "warning",
                    min(0.6, 0.2 + 50 * frac),
                    f"{s.subnormal:,} subnormal values ({frac:.3%}); trained weights are seldom this close to zero, "
                    "but bits written into zeros' mantissas look like this",
                    {"subnormal": s.subnormal, "fraction": frac},
                )
            )
    return out
