"""Judging: baselines, detectors, findings, per-family status and the verdict, computed from measurements.

:func:`judge` is pure: it reads no file and runs no model."""

from inspector.core.judge.baselines import (
    Profile,
    ProfileMatch,
    Reference,
    build_profile,
    default_profile_path,
    load_profile,
    load_reference,
    match_layers,
    save_profile,
    select_profile,
    shipped_profiles,
)
from inspector.core.judge.families import FAMILIES, STATUSES, VERDICTS, FamilyStatus, exit_code
from inspector.core.judge.findings import ATTACKS, SEVERITIES, Finding
from inspector.core.judge.judgement import CoverageRow, JudgeInputs, Judgement, ProbeOutcome, judge

__all__ = [
    "ATTACKS",
    "FAMILIES",
    "SEVERITIES",
    "STATUSES",
    "VERDICTS",
    "CoverageRow",
    "FamilyStatus",
    "Finding",
    "JudgeInputs",
    "Judgement",
    "ProbeOutcome",
    "Profile",
    "ProfileMatch",
    "Reference",
    "build_profile",
    "default_profile_path",
    "exit_code",
    "judge",
    "load_profile",
    "load_reference",
    "match_layers",
    "save_profile",
    "select_profile",
    "shipped_profiles",
]
