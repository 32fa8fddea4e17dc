"""Detectors: each family turns scan statistics (plus baselines and data, when given) into findings."""

from __future__ import annotations

from typing import Optional, Sequence

from ..findings import Finding
from ..formats.base import ModelFile
from ..progress import CancelToken, ProgressCallback
from . import numeric

WEIGHTS_ONLY_LIMITS = (
    "Encrypted or compressed payloads in the lowest mantissa bits are statistically invisible; scrubbing "
    "removes them whatever the verdict.",
    "Capacity abuse leaves the weights looking normal; it is only probed when a recipe (--arch) and data "
    "(--data) are given.",
    "Spread-spectrum payloads and payloads in high mantissa bits survive low-bit scrubbing and may not "
    "change the statistics.",
)


def run_detectors(
    model: ModelFile,
    tensors: Sequence,
    options,
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> tuple[list[Finding], list[str], list[str]]:
    """Run every applicable detector: ``(findings, what was checked, what could not be ruled out)``."""
    findings: list[Finding] = []
    checked = ["numeric: NaN, Inf, subnormal values"]
    findings += numeric.detect(tensors)
    return findings, checked, list(WEIGHTS_ONLY_LIMITS)
