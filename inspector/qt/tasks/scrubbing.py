"""Scrubbing tasks: preview one layer, apply a plan to a temporary copy (and scan it), export the result."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from inspector.core.formats import ModelFile, open_model
from inspector.core.measure import ScanOptions
from inspector.core.pipeline import ScanResult, scan
from inspector.core.progress import CancelToken
from inspector.core.scrub import PREVIEW_ELEMENTS, Rejudgement, ScrubPreview, preview_tensor
from inspector.qt.tasks.contract import Emit, Progress


def glob_escape(name: str) -> str:
    """A tensor name as a glob matching only itself (scrub selects tensors by globs)."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def scrub_preview(
    model: ModelFile,
    name: str,
    bits: int,
    seed: int,
    mode: str,
    edges: np.ndarray,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> ScrubPreview:
    """:func:`inspector.core.scrub.preview.preview_tensor` of one layer (the export's stream, in memory)."""
    return preview_tensor(
        model[name], bits, edges, seed=seed, mode=mode, max_elements=PREVIEW_ELEMENTS, progress=progress, cancel=cancel
    )


@dataclass(frozen=True)
class ScrubPlan:
    """What the user asked for: bits per dtype, which tensors (empty: all), seed and mode."""

    bits: tuple[tuple[str, int], ...]
    tensors: tuple[str, ...]
    seed: int
    mode: str

    @property
    def bits_map(self) -> dict[str, int]:
        return dict(self.bits)

    def describe(self) -> str:
        b = ", ".join(f"{k} {v}" for k, v in self.bits if v)
        scope = f"{len(self.tensors)} selected tensor(s)" if self.tensors else "all float tensors"
        return f"{b or 'no bits'} · {scope} · {self.mode} · seed {self.seed}"


@dataclass(frozen=True)
class ScrubApplied:
    """A scrubbed version of the model (a verified temporary file) and its scan."""

    plan: ScrubPlan
    result: Any  # inspector.core.scrub.export.ScrubResult
    scan: ScanResult


def apply_scrub(
    model: ModelFile,
    plan: ScrubPlan,
    output: str,
    options: Optional[ScanOptions] = None,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> ScrubApplied:
    """Scrub into ``output`` (verified by reading back), then scan the result for the verdict after, with
    ``options``: the inputs the original was judged with (baselines, profile, data, training sample, recipe)."""
    from inspector.core.scrub import scrub_model

    def half(offset: int) -> Progress:
        return lambda d, t, m: progress(offset * t + d, 2 * t, m) if t else None

    result = scrub_model(
        model,
        output,
        bits=plan.bits_map,
        seed=plan.seed,
        tensors=[glob_escape(n) for n in plan.tensors],
        mode=plan.mode,
        progress=half(0),
        cancel=cancel,
    )
    judge = replace(options, hash=False) if options is not None else ScanOptions(hash=False)
    after = scan(open_model(output), judge, progress=half(1), cancel=cancel)
    # the working copy was judged with the original's inputs, as an export is: the report says so, not
    # "not re-judged"; it is marked not exported, so no report cites it as a release
    return ScrubApplied(plan, replace(result, rejudged=working_rejudgement(after, judge), exported=False), after)


def working_rejudgement(after: ScanResult, options: ScanOptions) -> Rejudgement:
    """The verdict on the applied (working) copy as a :class:`Rejudgement`: its families table read as the
    export's re-judging reads it (detected, not assessed, warnings left), the inputs named by file name only."""
    from pathlib import Path

    detected = [f.family for f in after.families if f.status == "detected"]
    if not detected and after.verdict == "suspicious":
        detected = ["unexplained (suspicious verdict)"]
    not_assessed = [
        f"{f.family}: {f.text}" if f.text else f.family for f in after.families if f.status == "not-assessed"
    ]
    warnings = [
        f"{f.attack} {f.score:.2f}" + (f" in {f.tensor}" if f.tensor else "")
        for f in after.findings
        if f.severity == "warning"
    ][:8]

    def name(path: Optional[str]) -> Optional[str]:
        return Path(path).name if path else None

    inputs = {
        "baselines": [Path(b).name for b in options.baselines],
        "profile": name(options.profile),
        "arch": options.arch,
        "data": name(options.data),
        "train_sample": name(options.train_sample),
    }
    return Rejudgement(
        after.verdict, float(after.score), tuple(detected), inputs, {}, tuple(not_assessed), tuple(warnings)
    )


def export_scrub(
    model: ModelFile,
    plan: ScrubPlan,
    output: str,
    options: Optional[ScanOptions] = None,
    allow_suspicious: bool = False,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> Any:
    """Write the scrubbed model to ``output`` (atomic, verified, never over the source): a ScrubResult. With
    ``options`` (the original's inputs) the file is re-judged before it is committed and the verdict goes into
    its provenance; a copy in which a family is still detected is written only with ``allow_suspicious``."""
    from inspector.core.scrub import scrub_model

    return scrub_model(
        model,
        output,
        bits=plan.bits_map,
        seed=plan.seed,
        tensors=[glob_escape(n) for n in plan.tensors],
        mode=plan.mode,
        judge=options,
        allow_suspicious=allow_suspicious,
        progress=progress,
        cancel=cancel,
    )


__all__ = [
    "PREVIEW_ELEMENTS",
    "ScrubApplied",
    "ScrubPlan",
    "ScrubPreview",
    "apply_scrub",
    "export_scrub",
    "glob_escape",
    "scrub_preview",
    "working_rejudgement",
]
