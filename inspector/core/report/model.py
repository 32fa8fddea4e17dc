"""What a report holds: immutable, already-worded content that the HTML and PDF renderers only lay out.

Everything here is derived from the scan's ``model-inspector/scan/1`` document plus the scrub and evaluation
results; nothing is computed that the scan did not compute (the weight tiles only re-read bytes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Sequence

from inspector.core.errors import InspectorError
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
class FileRow:
    """A file the report refers to, listed only when it exists, with its SHA-256."""

    role: str
    name: str
    path: str
    sha256: str
    size: int
    note: str = ""


@dataclass(frozen=True)
class FamilyRow:
    """One attack family's status from the scan: detected / not detected / not assessed / cannot rule out."""

    family: str
    status: str  # "detected", "not-detected", "not-assessed", "cannot-rule-out"
    text: str  # by what it was detected or ruled out, what would assess it, or the known limit
    warning: Optional[float] = None  # the score of a warning that stands in a family not detected

    @property
    def status_words(self) -> str:
        words = FAMILY_STATUS_WORDS.get(self.status, self.status)
        return f"{words} · warning {self.warning:.2f}" if self.warning is not None else words


FAMILY_STATUS_WORDS = {
    "detected": "detected",
    "not-detected": "not detected",
    "not-assessed": "not assessed",
    "cannot-rule-out": "cannot rule out",
}


@dataclass(frozen=True)
class CoverageRow:
    """One class of the file's bytes and the checks that read them."""

    klass: str
    bytes: str
    checks: str
    unchecked: bool = False


@dataclass(frozen=True)
class DeltaRow:
    """One layer of the fine-tune audit: how it moved from the base model."""

    layer: str
    change: str  # ‖W − B‖ / ‖B‖
    flips: str
    flipped: str  # base magnitude flipped
    chance: str  # what updates blind to the base's signs would flip
    flagged: bool = False


#: The reviewer's possible decisions.
DECISIONS = ("approve", "reject", "needs-work")
DECISION_WORDS = {"approve": "Approved for release", "reject": "Rejected", "needs-work": "Needs work"}


@dataclass(frozen=True)
class SignOff:
    """The reviewer's sign-off: name, decision, notes and the findings (by rank) they acknowledged.

    Filled by ``model-inspector report --reviewer ... --decision ... --notes ... --ack N`` and by the app; an
    empty sign-off renders as blank lines to sign on paper. :meth:`check` says what is inconsistent."""

    reviewer: str = ""
    decision: str = ""  # "", or one of DECISIONS
    notes: str = ""
    acknowledged: tuple[int, ...] = ()
    signed: str = ""  # date and time (UTC) the sign-off was recorded

    @property
    def empty(self) -> bool:
        return not (self.reviewer or self.decision or self.notes or self.acknowledged)

    @property
    def decision_words(self) -> str:
        return DECISION_WORDS.get(self.decision, "")

    def check(self, findings: Sequence[FindingView]) -> None:
        """Raise :class:`InspectorError` when the sign-off cannot stand as given: an unknown decision, a decision
        without a reviewer, an acknowledgement of a finding the report does not have, or an approval that leaves
        a suspicious or warning finding unacknowledged."""
        if self.decision and self.decision not in DECISIONS:
            raise InspectorError(f"unknown decision {self.decision!r}", hint=f"Use one of {', '.join(DECISIONS)}")
        if self.decision and not self.reviewer.strip():
            raise InspectorError("a decision needs the reviewer's name", hint="Give --reviewer NAME")
        ranks = {f.rank for f in findings}
        unknown = sorted(set(self.acknowledged) - ranks)
        if unknown:
            have = f"findings are numbered 1–{max(ranks)}" if ranks else "this report has no findings"
            raise InspectorError(f"--ack {', '.join(map(str, unknown))}: no such finding", hint=f"The {have}")
        if self.decision == "approve":
            open_ = [
                f.rank for f in findings if f.severity in ("suspicious", "warning") and f.rank not in self.acknowledged
            ]
            if open_:
                raise InspectorError(
                    f"approving leaves finding(s) {', '.join(f'#{n}' for n in open_)} unacknowledged",
                    hint="Acknowledge each with --ack N after reading it, or decide reject or needs-work",
                )

    def stamped(self, when: Optional[datetime] = None) -> SignOff:
        """The same sign-off with ``signed`` set (now, UTC, unless given)."""
        when = when or datetime.now(timezone.utc)
        return dataclasses.replace(self, signed=when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


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
    #: the files the report refers to that exist, with their SHA-256
    files: tuple[FileRow, ...] = ()
    #: per-family status and the coverage table, when the scan document carries them
    families: tuple[FamilyRow, ...] = ()
    coverage: tuple[CoverageRow, ...] = ()
    #: the fine-tune audit (``scan --base``), most changed layers first, and the base it compared against
    delta: tuple[DeltaRow, ...] = ()
    delta_base: str = ""
    #: the appendix's note on the ±0.05σ column, worded from this model's own tensors
    near_zero_note: str = ""
    signoff: SignOff = field(default_factory=SignOff)

    def with_signoff(self, signoff: SignOff) -> ReportData:
        """This report with ``signoff`` (checked against the findings; stamped with the time if not yet)."""
        signoff.check(self.findings)
        if not signoff.empty and not signoff.signed:
            signoff = signoff.stamped()
        return dataclasses.replace(self, signoff=signoff)

    def figure(self, fid: str) -> Figure:
        return self.figures[fid]

    @property
    def detailed_findings(self) -> tuple[FindingView, ...]:
        return tuple(f for f in self.findings if f.detailed)

    @property
    def other_findings(self) -> tuple[FindingView, ...]:
        return tuple(f for f in self.findings if not f.detailed)
