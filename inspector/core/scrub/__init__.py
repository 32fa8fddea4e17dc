"""Scrubbing: randomise or round the low mantissa bits of float tensors, export verified safetensors under a
policy, judge the copy again, and search the largest number of bits the accuracy tolerance allows."""

from inspector.core.scrub.bits import (
    DEFAULT_BITS,
    FLOAT_DTYPES,
    MODES,
    parse_bits,
    scaled_bits,
    scrub_chunk,
    tensor_rng,
)
from inspector.core.scrub.export import ScrubResult, plan_scrub, scrub_file, scrub_model, select_tensors
from inspector.core.scrub.policy import ExportPolicy, plan_policy
from inspector.core.scrub.preview import PREVIEW_ELEMENTS, ScrubPreview, preview_tensor
from inspector.core.scrub.rejudge import Rejudgement, StillSuspicious, rejudge
from inspector.core.scrub.safe_bits import AutoResult, FidelityPoint, find_safe_bits, level_bits
from inspector.core.scrub.verify import ChangeStats, Verification, verify_export

__all__ = [
    "AutoResult",
    "FidelityPoint",
    "find_safe_bits",
    "level_bits",
    "DEFAULT_BITS",
    "FLOAT_DTYPES",
    "MODES",
    "Rejudgement",
    "parse_bits",
    "PREVIEW_ELEMENTS",
    "ChangeStats",
    "ExportPolicy",
    "ScrubPreview",
    "ScrubResult",
    "StillSuspicious",
    "Verification",
    "plan_policy",
    "plan_scrub",
    "preview_tensor",
    "rejudge",
    "scaled_bits",
    "scrub_chunk",
    "scrub_file",
    "scrub_model",
    "select_tensors",
    "tensor_rng",
    "verify_export",
]
