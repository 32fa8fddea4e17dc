"""What a report holds: immutable, already-worded content that the HTML and PDF renderers only lay out.

Everything here is derived from the scan's ``model-inspector/scan/1`` document plus the scrub and evaluation
results; nothing is computed that the scan did not compute (the weight tiles only re-read bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from inspector.core.report.figures import Figure

#: Plain names of the attack families of the scan JSON contract.
ATTACK_LABELS = {
    "lsb": "Low-bit encoding (LSB)",
    "correlated-value": "Correlated-value encoding (COR)",
    "sign": "Sign encoding (SGN)",
    "capacity-abuse": "Capacity abuse (CAP)",
    "provenance": "Provenance mismatch",
    "numeric": "Numeric anomaly",
    "other": "Other structure",
}


@dataclass(frozen=True)
class Row:
    """One labelled value of a two-column table; ``note`` is an optional explanation in smaller type."""

    label: str
    value: str
    note: str = ""
    mono: bool = False
    missing: bool = False


@dataclass(frozen=True)
class FindingView:
    rank: int
    severity: str
    attack: str
    attack_label: str
    detector: str
    tensor: Optional[str]
    score: float
    message: str
    evidence: tuple[Row, ...] = ()
    #: figures shown with this finding (ids); a figure already shown earlier is referred to, not repeated
    figures: tuple[str, ...] = ()
    refers_to: tuple[int, ...] = ()
    detailed: bool = True


@dataclass(frozen=True)
class Section:
    """A titled block of rows and figures (scrub, accuracy)."""

    title: str
    intro: str
    rows: tuple[Row, ...] = ()
    figures: tuple[str, ...] = ()


@dataclass(frozen=True)
class TensorRow:
    name: str
    dtype: str
    shape: str
    kind: str
    params: str
    mean: str
    std: str
    kurtosis: str
    near_zero: str
    positive: str
    low_entropy: str
    autocorr: str
    flag: str  # "", "warning" or "suspicious"


@dataclass(frozen=True)
class ReportData:
    """The whole report, ready to render. Build it with :func:`inspector.core.report.build_report`."""

    title: str
    file_name: str
    created: str
    tool_version: str
    verdict: str
    score: float
    headline: str
    summary: str
    identity: tuple[Row, ...]
    inputs: tuple[Row, ...]
    findings: tuple[FindingView, ...]
    figures: Mapping[str, Figure]
    overview: Optional[str]
    tiles: tuple[str, ...]
    tiles_note: str
    sections: tuple[Section, ...]
    checked: tuple[str, ...]
    limits: tuple[str, ...]
    tensors: tuple[TensorRow, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    #: the scan/1 document the report renders (embedded in the HTML so the report carries its own data)
    scan_json: Mapping[str, Any] = field(default_factory=dict)

    def figure(self, fid: str) -> Figure:
        return self.figures[fid]

    @property
    def detailed_findings(self) -> tuple[FindingView, ...]:
        return tuple(f for f in self.findings if f.detailed)

    @property
    def other_findings(self) -> tuple[FindingView, ...]:
        return tuple(f for f in self.findings if not f.detailed)
