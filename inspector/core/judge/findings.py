"""Findings (one piece of evidence each) and how they combine into a verdict and a model score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

#: Allowed values of :attr:`Finding.attack` (the scan JSON contract).
ATTACKS = (
    "lsb",
    "correlated-value",
    "sign",
    "capacity-abuse",
    "code-execution",
    "non-float",
    "metadata",
    "provenance",
    "numeric",
    "other",
)
#: Allowed values of :attr:`Finding.severity`, mildest first.
SEVERITIES = ("info", "warning", "suspicious")


@dataclass(frozen=True)
class Finding:
    """One detector's conclusion about one tensor (or the whole model when ``tensor`` is ``None``).

    ``score`` in [0, 1] ranks how suspicious it is; ``message`` is a sentence a reviewer understands and
    states the evidence with its baseline ("37% of weights within ±0.05σ of zero; baseline layer 4%").
    ``evidence`` holds the numbers behind the message (JSON-serialisable) for reports and plots.
    """

    detector: str
    attack: str
    tensor: Optional[str]
    severity: str
    score: float
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.attack not in ATTACKS:
            raise ValueError(f"unknown attack {self.attack!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        object.__setattr__(self, "score", float(min(1.0, max(0.0, self.score))))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "detector": self.detector,
            "attack": self.attack,
            "tensor": self.tensor,
            "severity": self.severity,
            "score": round(self.score, 6),
            "message": self.message,
        }
        if self.evidence:
            out["evidence"] = dict(self.evidence)
        return out


def rank(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then highest score."""
    return tuple(sorted(findings, key=lambda f: (-SEVERITIES.index(f.severity), -f.score, f.tensor or "")))


def verdict_of(findings: Iterable[Finding]) -> str:
    """``"suspicious"`` iff some finding is suspicious, else ``"clean"``."""
    return "suspicious" if any(f.severity == "suspicious" for f in findings) else "clean"


def model_score(findings: Iterable[Finding]) -> float:
    """The model-level score: the highest score of any non-info finding (0 when there is none).

    Monotone in every finding's score, so it ranks models for ROC curves.
    """
    scores = [f.score for f in findings if f.severity != "info"]
    return max(scores, default=0.0)
