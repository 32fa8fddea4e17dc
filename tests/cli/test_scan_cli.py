"""`model-inspector scan`: table, JSON file, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inspector.cli import main


def test_scan_of_weights_alone_is_incomplete_exit_3(small_model, capsys):
    """Nothing suspicious, but capacity abuse was not probed: never CLEAN, and CI can tell (exit 3)."""
    assert main(["scan", str(small_model)]) == 3
    out = capsys.readouterr().out
    assert "fc1.weight" in out and "Verdict: INCOMPLETE" in out
    assert "Capacity abuse              NOT-ASSESSED" in out and "--data" in out
    assert main(["scan", str(small_model), "--allow-incomplete", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("incomplete ")


def test_family_line_says_a_warning_that_stands(small_model):
    """A family not detected whose strongest finding is a warning says so on its line, as the app and the report
    do: never a bare NOT-DETECTED beside a warning on the same attack."""
    import dataclasses
    import io

    from inspector.cli.scan import print_summary
    from inspector.core.judge.families import Assessment, statuses
    from inspector.core.judge.findings import Finding
    from inspector.core.pipeline import scan

    result = scan(small_model)
    warn = Finding("sign-structure", "sign", "fc1.weight", "warning", 0.66, "spike at zero")
    fams = statuses([Assessment("sign", "order statistics"), Assessment("lsb", "bit planes")], [warn])
    out = io.StringIO()
    print_summary(dataclasses.replace(result, families=fams), out)
    text = out.getvalue()
    assert "Sign encoding               NOT-DETECTED     WARNING 0.66 · order statistics" in text
    assert "LSB encoding                NOT-DETECTED     bit planes" in text


def test_scan_writes_json(small_model, tmp_path, capsys):
    out = tmp_path / "scan.json"
    assert main(["scan", str(small_model), "--json", str(out)]) == 3
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "incomplete" and doc["missing"]
    assert doc["schema"] == "model-inspector/scan/1" and len(doc["tensors"]) == 5


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "too short"), (b"\x10\0\0\0\0\0\0\0{", "truncated"), (b"junkjunkjunkjunk", "limit")],
)
def test_bad_files_exit_2_with_one_line(tmp_path, content, expected):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "inspector", "scan", str(p)], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in r.stderr
    assert str(p) in lines[0]


def test_usage_error_exits_2(capsys):
    assert main(["scan"]) == 2
    assert "no model given" in capsys.readouterr().err
