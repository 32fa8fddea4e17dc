"""Detectors: each family turns measurements (plus baselines and data, when given) into findings.

Families, one module each: :mod:`numeric` (NaN/Inf/subnormals), :mod:`lsb` (low mantissa bits, provenance),
:mod:`sign` (sign encoding), :mod:`correlated` (correlated value encoding), :mod:`distance` (distance to a
reference model), :mod:`nonfloat` (integer and bool tensors), :mod:`metadata` (header key/value pairs),
:mod:`code_execution` (dangerous calls a pickle would make on load) read measurements only. Two steps look at
more than measurements and run before the judge: :mod:`data_aware` matches a training sample against the
weights (reads the file) and :mod:`capacity` probes the model's behaviour (runs it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from inspector.core.formats.base import ModelFile
from inspector.core.judge.baselines import Profile, Reference, default_profile_path
from inspector.core.judge.detectors import capacity, correlated, data_aware, distance, lsb, numeric, sign
from inspector.core.judge.detectors.context import Context, grade
from inspector.core.judge.findings import Finding
from inspector.core.progress import CancelToken, check

__all__ = ["QUIET", "Context", "grade", "limits_for", "match_training_data", "probe_capacity", "weight_detectors"]

#: Info findings of these detectors are per-layer measurements below the warning level, not news: left out.
_QUIET = {lsb.NAME, sign.NAME, correlated.NAME}
_QUIET_BELOW = 0.5

ENCRYPTED = (
    "Encrypted or compressed payloads in the lowest mantissa bits look like random bits and cannot be detected "
    "statistically; scrubbing the low bits removes them whatever the verdict."
)
HIGH_BITS = (
    "Spread-spectrum payloads and payloads in high mantissa bits survive low-bit scrubbing and may not change "
    "these statistics."
)
WATERMARKS = (
    "Legitimate fragile or regularizer watermarks trip the same tests: a finding means non-natural structure, "
    "not necessarily stolen data."
)


def _is_default(profile: Profile) -> bool:
    return profile.path is None or Path(profile.path) == default_profile_path().resolve()


def limits_for(options: Any, profile: Optional[Profile], cap_reason: Optional[str]) -> list[str]:
    """What this scan could not rule out, given the options it ran with."""
    out = [ENCRYPTED, HIGH_BITS]
    if cap_reason:
        out.append(
            f"Capacity abuse leaves the weights looking normal and was not probed ({cap_reason}); pass --arch "
            "and --data (and ideally --baseline) to probe it."
        )
    elif not options.baselines:
        out.append(
            "The capacity-abuse probe had no baseline model: it compared the model's answers with a logistic "
            "regression fitted to --data, a weaker reference; pass --baseline with a trusted model of the same "
            "architecture."
        )
    if not options.train_sample:
        out.append(
            "Correlated-value and sign encoding were judged from weight statistics only; a training sample "
            "(--train-sample) makes these tests decisive."
        )
    if not options.baselines and profile is not None:
        what = (
            "built-in profile, built from small digits models: its ranges are only a prior for other model families."
            if _is_default(profile)
            else f"profile {profile.path}."
        )
        out.append("Without a reference model (--baseline), layers were compared with the " + what)
    out.append(WATERMARKS)
    return out


def quiet(findings: Sequence[Finding]) -> list[Finding]:
    """Findings minus per-layer info measurements below the warning level (not news for a reviewer)."""
    return [
        f
        for f in findings
        if not (f.detector in _QUIET and f.severity == "info" and (f.evidence.get("excess") or 0.0) < _QUIET_BELOW)
    ]


QUIET = quiet


def weight_detectors(ctx: Context) -> tuple[list[Finding], list[str]]:
    """Every detector that reads measurements only: ``(findings, what was checked)``."""
    checked = ["numeric: NaN, Inf, subnormal values"]
    findings: list[Finding] = list(numeric.detect(ctx.tensors))
    families: list[Any] = [lsb, sign, correlated]
    if ctx.references:
        families.append(distance)
    for fam in families:
        findings += fam.detect(ctx)
        checked.append(fam.checked(ctx))
    for ref in ctx.references:
        checked.append(ref.describe_matching())
    if ctx.profile is not None and not ctx.references:
        checked.append(f"baseline: {'built-in profile' if _is_default(ctx.profile) else f'profile {ctx.profile.path}'}")
    return findings, checked


def match_training_data(
    model: ModelFile, tensors: Sequence[Any], options: Any, cancel: Optional[CancelToken] = None
) -> tuple[list[Finding], str]:
    """Look for the training sample itself in the weights (reads the file): ``(findings, what was checked)``."""
    ctx = Context(model, tensors, options, cancel=cancel)
    check(cancel)
    return data_aware.detect(ctx), data_aware.checked(ctx)


def probe_capacity(
    model: ModelFile,
    tensors: Sequence[Any],
    options: Any,
    references: Sequence[Reference] = (),
    cancel: Optional[CancelToken] = None,
) -> tuple[list[Finding], Optional[str], Optional[str]]:
    """Probe the model's behaviour for capacity abuse (runs it): ``(findings, what was checked or None, why it
    could not run or None)``."""
    ctx = Context(model, tensors, options, references=references, cancel=cancel)
    reason = capacity.available(ctx)
    if reason is not None:
        return [], None, reason
    found = capacity.detect(ctx)
    return found, capacity.checked(ctx), None
