"""The batch's outputs: SARIF valid against the SARIF 2.1.0 subset we write, the HTML index escaped, the summary
and exit status a pipeline reads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from inspector.fleet import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_SUSPICIOUS,
    FleetOptions,
    discover,
    exit_status,
    render_index,
    run_batch,
    sarif_log,
    summarize,
)
from tests.fleet.conftest import write_clean

SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0-subset.schema.json").read_text())


@pytest.fixture
def batch(fleet, tmp_path):
    return run_batch(discover([fleet]), FleetOptions(out=tmp_path / "out", jobs=2))


def test_sarif_is_valid_and_names_every_suspicious_finding_and_every_unreadable_model(batch):
    log = sarif_log(batch.docs)
    jsonschema.validate(log, SCHEMA, format_checker=jsonschema.FormatChecker())
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    errors = [r for r in run["results"] if r["ruleId"] == "could-not-inspect"]
    assert sorted(Path(r["properties"]["modelId"]).name for r in errors) == ["broken.safetensors", "needs-code.pt"]
    suspicious = [f for d in batch.docs for f in d.get("findings", []) if f["severity"] == "suspicious"]
    assert suspicious and len([r for r in run["results"] if r["level"] == "error"]) == len(suspicious)
    lsb = next(r for r in run["results"] if r["level"] == "error" and r["properties"]["attack"] == "lsb")
    assert lsb["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("team/sub/lsb.safetensors")
    assert lsb["locations"][0]["logicalLocations"][0]["kind"] == "member"
    incomplete = [r for r in run["results"] if r["ruleId"] == "incomplete-verdict"]
    assert len(incomplete) == 6 and all(r["level"] == "note" for r in incomplete)
    assert "Capacity abuse" in incomplete[0]["message"]["text"]  # names what would complete the verdict


def test_sarif_schema_rejects_what_the_spec_forbids():
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "fatal"}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_index_escapes_names_and_links_each_report(tmp_path):
    root = tmp_path / "fleet"
    write_clean(root / "<img src=x onerror=alert(1)>.safetensors", 1)
    write_clean(root / "ok.safetensors", 2)
    run = run_batch(discover([root]), FleetOptions(out=tmp_path / "out", jobs=1))
    page = (tmp_path / "out" / "index.html").read_text()
    assert page == render_index(run.docs, tmp_path / "out")
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count('href="reports/') == 2


def _doc(verdict: str) -> dict:
    return {
        "schema": "model-inspector/scan/1",
        "verdict": verdict,
        "score": 0.0,
        "fleet": {"id": verdict, "seconds": 1},
    }


ERR = {"schema": "model-inspector/scan-error/1", "error": {"kind": "malformed", "message": "m"}, "fleet": {"id": "e"}}


@pytest.mark.parametrize(
    "docs, fail_on_error, allow_incomplete, code",
    [
        ([_doc("clean")], False, False, 0),
        ([_doc("clean"), ERR], False, False, 0),
        ([_doc("clean"), ERR], True, False, EXIT_ERROR),
        ([_doc("clean"), _doc("incomplete")], False, False, EXIT_INCOMPLETE),
        ([_doc("clean"), _doc("incomplete")], False, True, 0),
        ([_doc("incomplete"), ERR], True, True, EXIT_ERROR),
        ([_doc("incomplete"), _doc("suspicious"), ERR], True, False, EXIT_SUSPICIOUS),
    ],
)
def test_exit_status(docs, fail_on_error, allow_incomplete, code):
    assert exit_status(summarize(docs), fail_on_error=fail_on_error, allow_incomplete=allow_incomplete) == code
