"""Detectors: each family turns scan statistics (plus baselines and data, when given) into findings.

Families, one module each: :mod:`numeric` (NaN/Inf/subnormals), :mod:`lsb` (low mantissa bits, provenance),
:mod:`sign` (sign encoding), :mod:`correlated` (correlated value encoding), :mod:`distance` (distance to a
reference model), :mod:`data_aware` (the training data itself in the weights, with ``--train-sample``) and
:mod:`capacity` (black-box probe, with ``--data`` and an architecture). :func:`run_detectors` runs every
applicable one and says what it checked and what it could not rule out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from inspector.core.formats.base import ModelFile
from inspector.core.judge.baselines import Profile, Reference, default_profile_path, load_profile, load_reference
from inspector.core.judge.detectors import capacity, correlated, data_aware, distance, lsb, numeric, sign
from inspector.core.judge.detectors.context import Context, grade
from inspector.core.judge.detectors.features import Features, tensor_features
from inspector.core.judge.findings import Finding
from inspector.core.progress import CancelToken, ProgressCallback, check

__all__ = ["Context", "Features", "grade", "run_detectors", "tensor_features", "limits_for"]

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
            "The capacity-abuse probe had no baseline model to compare with, so it can only warn; pass --baseline "
            "with a trusted model of the same architecture."
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


def run_detectors(
    model: ModelFile,
    tensors: Sequence,
    options,
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> tuple[list[Finding], list[str], list[str]]:
    """Run every applicable detector: ``(findings, what was checked, what could not be ruled out)``."""
    profile = load_profile(getattr(options, "profile", None))
    refs: list[Reference] = []
    for path in getattr(options, "baselines", ()) or ():
        check(cancel)
        refs.append(load_reference(path, tensors, cancel=cancel))
    ctx = Context(model, tensors, options, profile=profile, references=refs, cancel=cancel)
    checked = ["numeric: NaN, Inf, subnormal values"]
    findings: list[Finding] = list(numeric.detect(tensors))
    families: list[Any] = [lsb, sign, correlated]
    if refs:
        families.append(distance)
    if getattr(options, "train_sample", None):
        families.append(data_aware)
    cap_reason = capacity.available(ctx)
    if cap_reason is None:
        families.append(capacity)
    # No progress reports here: the scan's progress total is in bytes and must not go backwards; the
    # detectors take a fraction of the scan's time on everything but the capacity probe.
    for fam in families:
        check(cancel)
        findings += fam.detect(ctx)
        checked.append(fam.checked(ctx))
    for ref in refs:
        checked.append(ref.describe_matching())
    if profile is not None and not refs:
        checked.append(f"baseline: {'built-in profile' if _is_default(profile) else f'profile {profile.path}'}")
    findings = [
        f
        for f in findings
        if not (f.detector in _QUIET and f.severity == "info" and (f.evidence.get("excess") or 0.0) < _QUIET_BELOW)
    ]
    return findings, checked, limits_for(options, profile, cap_reason)
