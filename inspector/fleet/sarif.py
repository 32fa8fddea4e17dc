"""The batch as one SARIF 2.1.0 log (``results.sarif``), the format code-scanning tools ingest.

One run; one rule per detector (and ``could-not-inspect``, ``incomplete-verdict``); one result per finding of
severity warning or suspicious (``warning`` / ``error`` levels), located at the model file and, as a logical
location, the tensor. Models that could not be inspected are results too (``warning``), so a security tab lists
them, and an incomplete verdict is a ``note`` naming what would complete it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from inspector import __version__
from inspector.core.formats import write_atomic
from inspector.fleet.summary import is_error

SARIF = "results.sarif"
SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"suspicious": "error", "warning": "warning", "info": "note"}
_ERROR_RULE = "could-not-inspect"
_INCOMPLETE_RULE = "incomplete-verdict"


def artifact_uri(path: str) -> str:
    """A URI reference for a model path: relative paths stay relative (percent-encoded), absolute become file:."""
    p = Path(path)
    return p.as_uri() if p.is_absolute() else quote(p.as_posix())


class _Rules:
    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}

    def index(self, rule_id: str, description: str, level: str) -> int:
        if rule_id not in self._index:
            self._index[rule_id] = len(self.rules)
            self.rules.append(
                {
                    "id": rule_id,
                    "name": rule_id,
                    "shortDescription": {"text": description},
                    "defaultConfiguration": {"level": level},
                }
            )
        return self._index[rule_id]


def _result(rule: str, index: int, level: str, text: str, doc: dict[str, Any], tensor: Any = None) -> dict:
    fleet = doc.get("fleet", {})
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": {"uri": artifact_uri(str(doc.get("model", {}).get("path", "")))}}
    }
    if tensor:
        location["logicalLocations"] = [{"name": str(tensor), "kind": "member"}]
    out: dict[str, Any] = {
        "ruleId": rule,
        "ruleIndex": index,
        "level": level,
        "message": {"text": text},
        "locations": [location],
        "properties": {"modelId": fleet.get("id")},
    }
    sha = doc.get("model", {}).get("sha256")
    if sha:
        out["partialFingerprints"] = {"modelSha256/v1": f"{sha}:{rule}:{tensor or ''}"}
    return out


def sarif_log(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The SARIF document of a batch's result documents."""
    rules = _Rules()
    results: list[dict[str, Any]] = []
    for doc in docs:
        if is_error(doc):
            err = doc["error"]
            i = rules.index(
                _ERROR_RULE, "The model could not be inspected (malformed, unsupported, refused).", "warning"
            )
            results.append(_result(_ERROR_RULE, i, "warning", f"[{err['kind']}] {err['message']}", doc))
            continue
        for f in doc.get("findings", []):
            level = _LEVEL.get(f.get("severity"), "note")
            if level == "note":
                continue
            rule = str(f.get("detector") or "finding")
            i = rules.index(rule, f"Detector {rule} ({f.get('attack')}): training data hidden in weights.", "error")
            r = _result(rule, i, level, str(f.get("message", "")), doc, f.get("tensor"))
            r["properties"].update({"attack": f.get("attack"), "score": f.get("score")})
            results.append(r)
        if doc.get("verdict") == "incomplete":
            i = rules.index(
                _INCOMPLETE_RULE, "Some attack family was not assessed: the model is not shown clean.", "note"
            )
            lacks = "; ".join(str(m) for m in doc.get("missing") or []) or "not every attack family was assessed"
            results.append(_result(_INCOMPLETE_RULE, i, "note", f"verdict incomplete: {lacks}", doc))
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": {"name": "model-inspector", "version": __version__, "rules": rules.rules}},
                "invocations": [{"executionSuccessful": True}],
                "results": results,
            }
        ],
    }


def write_sarif(docs: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write the SARIF log atomically (a fresh temp file, fsync, then rename)."""
    return write_atomic(path, json.dumps(sarif_log(docs), indent=1, allow_nan=False) + "\n", what="SARIF log")
