"""Distance to the baseline: how far each layer's value distribution is from its reference layer's.

A large distance says "this layer does not look like the trusted one" without saying why; the attack-specific
detectors say why. Distance alone stays a warning: a different optimiser or schedule also moves it.
"""

from __future__ import annotations

import math

from inspector.core.judge.detectors.context import Context, finding, pct
from inspector.core.judge.findings import Finding
from inspector.core.measure.features import MIN_ORDER

NAME = "baseline-distance"

#: KS distance at which a layer is flagged (same-recipe seeds differ by ≤ 0.1; other recipes up to ≈ 0.2).
KS = 0.3


def detect(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    if not ctx.references:
        return out
    for ref in ctx.references:
        pairs = ", ".join(f"{m.name}→{m.ref_name} ({m.how})" for m in ref.matches[:12])
        more = f" and {len(ref.matches) - 12} more" if len(ref.matches) > 12 else ""
        out.append(
            finding(
                NAME,
                "other",
                None,
                0.0,
                ref.describe_matching() + (f": {pairs}{more}" if pairs else ""),
                {
                    "baseline": ref.path,
                    "matches": [{"layer": m.name, "baseline_layer": m.ref_name, "how": m.how} for m in ref.matches],
                    "unmatched": list(ref.unmatched),
                },
            )
        )
    for f in ctx.all_features():
        if f.nonzero < MIN_ORDER:
            continue
        d = ctx.distance(f.name)
        rf = ctx.reference_features(f.name)
        if d is None or rf is None or not math.isfinite(d.ks):
            continue
        e = min(0.9, d.ks / KS)
        if e < 0.25:
            continue
        out.append(
            finding(
                NAME,
                "other",
                f.name,
                e,
                f"the value distribution differs from the baseline layer's (KS {d.ks:.2f}, Wasserstein "
                f"{d.wasserstein:.2f}σ; near zero {pct(f.near_zero)} vs {pct(rf.near_zero)}, kurtosis "
                f"{f.kurtosis:.1f} vs {rf.kurtosis:.1f}, skewness {f.skewness:+.2f} vs {rf.skewness:+.2f})",
                {
                    "ks": d.ks,
                    "wasserstein_sigma": d.wasserstein,
                    "count": d.count,
                    "reference_count": d.ref_count,
                    "histograms": ctx.histograms(f.name),
                },
                cap="warning",
            )
        )
    return out


def checked(ctx: Context) -> str:
    return "baseline distance: KS and Wasserstein per matched layer"
