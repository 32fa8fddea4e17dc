"""Re-judging an export: the written file scanned with the same inputs as its source, and the families still
detected in it. Only an export in which no family is detected, and every family was assessed, is called
sanitized; nothing detected with some family not assessed is *incomplete*, and says what was not assessed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from inspector.core.errors import InspectorError
from inspector.core.formats import ModelFile
from inspector.core.progress import CancelToken, ProgressCallback

if TYPE_CHECKING:
    from inspector.core.pipeline import ScanOptions

#: Most bytes the ``inspector.rejudged_verdict`` value may take (the export reserves header room for it).
PROVENANCE_ROOM = 3072

#: Plain family names of the scan's attack labels (used when a scan document has no ``families`` table).
FAMILY_OF_ATTACK = {
    "lsb": "LSB",
    "correlated-value": "correlated value",
    "sign": "sign",
    "capacity-abuse": "capacity abuse",
    "provenance": "provenance mismatch",
    "numeric": "numeric anomaly",
    "non-float": "non-float payload",
    "metadata": "metadata",
    "other": "other structure",
}


def detected_families(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """Families detected in a scan/1 document: its ``families`` table when it has one (status ``detected``),
    else the attacks of its suspicious findings. A suspicious verdict with neither names ``unexplained``."""
    fams = doc.get("families")
    if isinstance(fams, list) and fams:
        found = [str(f.get("family")) for f in fams if isinstance(f, Mapping) and f.get("status") == "detected"]
    else:
        found = []
        for f in doc.get("findings") or ():
            if isinstance(f, Mapping) and f.get("severity") == "suspicious":
                name = FAMILY_OF_ATTACK.get(str(f.get("attack")), str(f.get("attack")))
                if name not in found:
                    found.append(name)
    if not found and doc.get("verdict") == "suspicious":
        found = ["unexplained (suspicious verdict)"]
    return tuple(found)


def inputs_of(options: ScanOptions) -> dict[str, Any]:
    """The judge's inputs by file name (no folders: the provenance must not leak local paths)."""

    def name(p: Optional[str]) -> Optional[str]:
        return Path(p).name if p else None

    return {
        "baselines": [Path(b).name for b in options.baselines],
        "profile": name(options.profile),
        "arch": options.arch,
        "data": name(options.data),
        "train_sample": name(options.train_sample),
    }


@dataclass(frozen=True)
class Rejudgement:
    """The verdict on an export, judged with the same inputs as its source."""

    verdict: str
    score: float
    detected: tuple[str, ...]
    inputs: Mapping[str, Any]
    #: the scan/1 document of the export (path and SHA-256 those of the committed file once known)
    scan: Mapping[str, Any] = field(default_factory=dict)
    #: families no check could assess with these inputs (an ``incomplete`` verdict), with what would assess them
    not_assessed: tuple[str, ...] = ()
    #: warnings that remain in the export (``"lsb 0.56 in w"``): nothing detected, but evidence a reviewer reads
    #: (a float16 payload wider than the bits scrubbed leaves one)
    warnings: tuple[str, ...] = ()

    @property
    def suspicious(self) -> bool:
        """A family is still detected (or the verdict is suspicious)."""
        return bool(self.detected)

    @property
    def sanitized(self) -> bool:
        """Nothing detected and every family assessed (the verdict is clean)."""
        return not self.detected and not self.not_assessed and self.verdict == "clean"

    @property
    def status(self) -> str:
        """``sanitized``, ``incomplete`` (nothing detected, some family not assessed) or ``still suspicious``."""
        if self.detected:
            return "still suspicious"
        return "sanitized" if self.sanitized else "incomplete"

    @property
    def words(self) -> str:
        """``sanitized``, ``scrubbed, incomplete: …`` or ``scrubbed, still suspicious: <families>``."""
        left = f"; warnings remain: {', '.join(self.warnings)}" if self.warnings else ""
        if self.sanitized:
            return "sanitized" + left
        if not self.detected:
            missing = "; ".join(self.not_assessed) or f"the verdict is {self.verdict}"
            return f"scrubbed, incomplete: nothing detected, but not assessed: {missing}{left}"
        return "scrubbed, still suspicious: " + ", ".join(self.detected)

    def provenance(self) -> str:
        """The compact JSON written to ``inspector.rejudged_verdict``."""
        doc = {
            "verdict": self.verdict,
            "score": round(float(self.score), 2),
            "detected": list(self.detected),
            "not_assessed": [n.split(":")[0] for n in self.not_assessed],
            "inputs": dict(self.inputs),
        }
        text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        if len(text.encode()) > PROVENANCE_ROOM:  # many references: count them instead of naming them
            doc["inputs"] = {**dict(self.inputs), "baselines": f"{len(self.inputs.get('baselines') or ())} models"}
            doc["detected"] = list(self.detected)[:16]
            text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": round(float(self.score), 6),
            "detected": list(self.detected),
            "not_assessed": list(self.not_assessed),
            "sanitized": self.sanitized,
            "status": self.status,
            "inputs": dict(self.inputs),
            "warnings": list(self.warnings),
        }


def warnings_of(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """``"attack score in tensor"`` for each warning of a scan/1 document (at most 8)."""
    out = []
    for f in doc.get("findings") or ():
        if isinstance(f, Mapping) and f.get("severity") == "warning":
            where = f" in {f.get('tensor')}" if f.get("tensor") else ""
            out.append(f"{f.get('attack')} {float(f.get('score') or 0):.2f}{where}")
    return tuple(out[:8])


def rejudge(
    model: ModelFile,
    options: ScanOptions,
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> Rejudgement:
    """Scan ``model`` (the written, not yet committed export) with ``options`` (the source's inputs)."""
    from inspector.core.pipeline import scan

    result = scan(model, options, progress=progress, cancel=cancel)
    doc = result.to_json()
    return Rejudgement(
        result.verdict,
        float(result.score),
        detected_families(doc),
        inputs_of(options),
        doc,
        not_assessed_of(doc),
        warnings_of(doc),
    )


def not_assessed_of(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """``"family: what would assess it"`` for each family of a scan/1 document's table that was not assessed."""
    out = []
    for f in doc.get("families") or ():
        if isinstance(f, Mapping) and f.get("status") == "not-assessed":
            needs = f.get("needs")
            out.append(f"{f.get('family')}: {needs}" if needs else str(f.get("family")))
    return tuple(out)


class StillSuspicious(InspectorError):
    """The scrubbed model still shows a detected family and writing it was not allowed; nothing was written."""

    def __init__(self, rejudgement: Rejudgement, path: Any = None) -> None:
        super().__init__(
            rejudgement.words + "; nothing was written",
            path=path,
            hint="Low-bit scrubbing cannot remove sign, correlated-value or capacity-abuse payloads; retrain the "
            "model, or write it anyway with --allow-suspicious (it will not be called sanitized)",
        )
        self.rejudgement = rejudgement


__all__ = [
    "FAMILY_OF_ATTACK",
    "Rejudgement",
    "StillSuspicious",
    "detected_families",
    "inputs_of",
    "not_assessed_of",
    "rejudge",
]
