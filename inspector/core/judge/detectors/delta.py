"""Fine-tune audit (``--base BASE``): judge W − W_base, where an attack injected while fine-tuning lives.

Measured on the lab's digits MLP fine-tuned from the demo's benign base (3 seeds each; `docs/detection.md`):

- **sign flips against chance**: an update blind to the base's signs flips a weight only when the update is
  larger than the weight, and then half the time. Benign fine-tunes flip 1.1–1.9× that chance but only
  0.01–0.07% of the base magnitude beyond it; a sign-encoding penalty (λs 10–50) flips every weight it
  overpowers (1.95–1.98× chance) and 0.7–4.4% of the base magnitude beyond chance. Both must hold.
- **periodic structure of the delta**: a correlated-value penalty writes pixel rows into the change
  (√η² 0.59–0.71 at period 8); benign deltas stay ≤ 0.05.
"""

from __future__ import annotations

import math
from typing import Any

from inspector.core.judge.detectors.context import finding, pct
from inspector.core.judge.findings import Finding

NAME = "delta-sign-flips"
PERIODIC_NAME = "delta-periodic"
SUMMARY_NAME = "fine-tune-delta"

#: Base magnitude flipped beyond chance at the threshold (benign fine-tunes ≤ 0.0007, sign attacks ≥ 0.0065).
FLIP_EXCESS = 0.003
#: Flips relative to chance, above 1, at the threshold (blind updates 1; sign attacks ≈ 2).
RATIO_EXCESS = 0.6
#: Phase share (√η²) of the delta at the threshold.
PERIODIC = 0.3
#: A layer must hold this many values, and this many must have flipped, before flips say anything (a bias of 10
#: values with one flip is 2× chance and means nothing).
MIN_COUNT = 256
MIN_FLIPS = 16
#: Layers listed in the summary.
TOP = 6


def detect(delta: Any) -> list[Finding]:
    """Findings for a :class:`~inspector.core.measure.delta.DeltaMeasurement`."""
    out: list[Finding] = []
    layers = list(delta.layers)
    for d in layers:
        ev = {
            "relative_change": d.relative_change,
            "flip_mass": d.flip_mass,
            "chance_mass": d.chance_mass,
            "flips": d.flips,
            "count": d.count,
            "base_layer": d.base_name,
        }
        enough = d.count >= MIN_COUNT and d.flips >= MIN_FLIPS
        if enough and math.isfinite(d.flip_mass) and math.isfinite(d.chance_mass):
            ratio = d.flip_mass / d.chance_mass if d.chance_mass > 0 else math.inf
            e = min((d.flip_mass - d.chance_mass) / FLIP_EXCESS, (ratio - 1.0) / RATIO_EXCESS)
            if e >= 0.5:
                out.append(
                    finding(
                        NAME,
                        "sign",
                        d.name,
                        e,
                        f"the fine-tune flipped the signs of {d.flips:,} weights holding {pct(d.flip_mass, 1)} of the "
                        f"base layer's magnitude, {ratio:.1f}× what updates blind to the base's signs would flip "
                        f"({pct(d.chance_mass, 1)}): signs were written, as sign encoding does",
                        {**ev, "ratio": ratio},
                    )
                )
        f = d.features
        if f is not None and f.is_weight and d.count >= MIN_COUNT and math.isfinite(f.periodic):
            e = f.periodic / PERIODIC
            if e >= 0.5:
                out.append(
                    finding(
                        PERIODIC_NAME,
                        "correlated-value",
                        d.name,
                        e,
                        f"the change from the base repeats with period {f.period} in storage order (√η² "
                        f"{f.periodic:.2f}; benign fine-tunes ≤ 0.05): a pattern was written into the weights "
                        "while fine-tuning, as correlated value encoding does",
                        {**ev, "period": f.period, "periodic": f.periodic},
                    )
                )
    ranked = sorted((d for d in layers if math.isfinite(d.relative_change)), key=lambda d: -d.relative_change)
    if ranked:
        top = ", ".join(f"{d.name} {pct(d.relative_change, 1)}" for d in ranked[:TOP])
        msg = (
            f"{len(layers)} layer(s) compared with the base {delta.base_path.rsplit('/', 1)[-1]}; most changed "
            f"(‖W − B‖/‖B‖): {top}"
        )
        if delta.unmatched:
            msg += f"; {len(delta.unmatched)} layer(s) without a counterpart in the base"
        out.append(
            finding(
                SUMMARY_NAME,
                "other",
                None,
                0.0,
                msg,
                {
                    "layers": [
                        {"layer": d.name, "relative_change": d.relative_change, "flip_mass": d.flip_mass}
                        for d in ranked
                    ][:64],
                    "unmatched": list(delta.unmatched)[:64],
                },
            )
        )
    return out


def checked(delta: Any) -> str:
    return (
        f"fine-tune delta against {delta.base_path.rsplit('/', 1)[-1]}: relative change, sign flips vs chance, "
        f"periodic structure of W − B over {len(delta.layers)} layer(s)"
    )
