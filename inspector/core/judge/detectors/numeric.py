"""Numeric sanity: NaN, ±Inf and subnormal values in float tensors."""

from __future__ import annotations

from typing import Sequence

from inspector.core.judge.findings import Finding

NAME = "numeric"


def detect(tensors: Sequence) -> list[Finding]:
    """Findings for tensors holding NaN/Inf (a broken model, a warning) or subnormals (information only: trained
    weights under weight decay have thousands of them; the lab's benign digits MLPs hold 6–7% in fc1)."""
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
                    "info",
                    0.0,
                    f"{s.subnormal:,} subnormal values ({frac:.3%}): weights decayed towards zero (common with weight "
                    "decay), or bits written into zeros' mantissas (the LSB tests judge those bits)",
                    {"subnormal": s.subnormal, "fraction": frac},
                )
            )
    return out
