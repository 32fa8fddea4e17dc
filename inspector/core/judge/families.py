"""Per-family status and the verdict rule: the one place that decides clean, suspicious or incomplete.

Each way of hiding data gets a status:

- ``detected``: a suspicious finding of that family;
- ``not-detected``: the family's checks ran and found nothing (``by`` says which checks);
- ``not-assessed``: nothing could check it (``needs`` names the input that would);
- ``cannot-rule-out``: checked, but a known limit leaves room (``why`` says which).

A family not detected (or not ruled out) whose strongest finding is a warning says so (``warning``): a warning
does not change the verdict, but a reviewer should not read that family as plain green.

The verdict is ``suspicious`` if any family is detected (or any finding is suspicious), ``clean`` only when
every family was assessed and none detected, and ``incomplete`` otherwise: never shown green.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from inspector.core.judge.findings import Finding

FAMILIES = ("lsb", "correlated-value", "sign", "capacity-abuse", "non-float", "metadata", "code-execution")
STATUSES = ("detected", "not-detected", "not-assessed", "cannot-rule-out")
VERDICTS = ("clean", "incomplete", "suspicious")

#: Human names, for tables.
TITLES = {
    "lsb": "LSB encoding",
    "correlated-value": "Correlated value encoding",
    "sign": "Sign encoding",
    "capacity-abuse": "Capacity abuse",
    "non-float": "Non-float payloads",
    "metadata": "Metadata",
    "code-execution": "Code on load",
}

#: Finding ``attack`` values that count for each family.
_ATTACKS = {
    "lsb": ("lsb",),
    "correlated-value": ("correlated-value",),
    "sign": ("sign",),
    "capacity-abuse": ("capacity-abuse",),
    "non-float": ("non-float",),
    "metadata": ("metadata",),
    "code-execution": ("code-execution",),
}


@dataclass(frozen=True)
class FamilyStatus:
    family: str
    status: str
    #: what checked it (not-detected, detected), what would assess it (not-assessed), or the limit
    text: str
    score: float = 0.0
    #: not detected (or not ruled out), but its strongest finding is a warning
    warning: bool = False

    @property
    def title(self) -> str:
        return TITLES.get(self.family, self.family)

    @property
    def words(self) -> str:
        """The status as a reviewer reads it: "not detected · warning 0.66" where a warning stands."""
        base = self.status.replace("-", " ")
        return f"{base} · warning {self.score:.2f}" if self.warning else base

    def to_json(self) -> dict[str, Any]:
        key = {"not-assessed": "needs", "cannot-rule-out": "why"}.get(self.status, "by")
        out: dict[str, Any] = {"family": self.family, "status": self.status, key: self.text}
        out["score"] = round(self.score, 6)
        if self.warning:
            out["warning"] = True
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FamilyStatus:
        text = d.get("by") or d.get("needs") or d.get("why") or ""
        warning = bool(d.get("warning", False))
        return cls(str(d["family"]), str(d["status"]), str(text), float(d.get("score") or 0.0), warning)


@dataclass(frozen=True)
class Assessment:
    """How a family was (or was not) checked in this judgement, before findings are looked at."""

    family: str
    by: Optional[str]  # None: not assessed
    needs: str = ""
    limit: str = ""  # a known limit: "cannot rule out" when nothing was detected


def statuses(assessments: Iterable[Assessment], findings: Sequence[Finding]) -> tuple[FamilyStatus, ...]:
    """Each family's status from how it was assessed and what was found."""
    out = []
    for a in assessments:
        hits = [f for f in findings if f.attack in _ATTACKS.get(a.family, (a.family,))]
        worst = max(hits, key=lambda f: f.score, default=None)
        if worst is not None and worst.severity == "suspicious":
            where = f" in {worst.tensor}" if worst.tensor else ""
            out.append(FamilyStatus(a.family, "detected", f"{worst.detector}{where}: {worst.message}", worst.score))
        elif a.by is None:
            out.append(FamilyStatus(a.family, "not-assessed", a.needs, worst.score if worst else 0.0))
        else:
            warned = worst is not None and worst.severity == "warning"
            score = worst.score if worst else 0.0
            if a.limit:
                text = f"{a.limit} (checked: {a.by})"
                out.append(FamilyStatus(a.family, "cannot-rule-out", text, score, warned))
            else:
                out.append(FamilyStatus(a.family, "not-detected", a.by, score, warned))
    return tuple(out)


def verdict_of(families: Sequence[FamilyStatus], findings: Sequence[Finding]) -> str:
    """The verdict rule (see the module docstring)."""
    if any(f.status == "detected" for f in families) or any(f.severity == "suspicious" for f in findings):
        return "suspicious"
    if any(f.status == "not-assessed" for f in families):
        return "incomplete"
    return "clean"


def missing(families: Sequence[FamilyStatus]) -> list[str]:
    """What an incomplete verdict lacks, one phrase per family not assessed."""
    return [f"{f.title}: {f.text}" for f in families if f.status == "not-assessed"]


#: Exit status of ``scan`` and ``report`` for each verdict (2 is "could not inspect", set by the front ends).
EXIT_CODES = {"clean": 0, "suspicious": 1, "incomplete": 3}


def exit_code(verdict: str, allow_incomplete: bool = False) -> int:
    """The command-line exit status of a verdict: 0 clean, 1 suspicious, 3 incomplete (0 when allowed)."""
    if verdict == "incomplete" and allow_incomplete:
        return 0
    return EXIT_CODES.get(verdict, 1)
