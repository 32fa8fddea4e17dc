"""`model-inspector scan`: table, JSON file, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inspector.cli import main


def test_scan_prints_table_and_exits_0_for_a_plain_model(small_model, capsys):
    assert main(["scan", str(small_model)]) == 0
    out = capsys.readouterr().out
    assert "fc1.weight" in out and "Verdict: CLEAN" in out


def test_scan_writes_json(small_model, tmp_path, capsys):
    out = tmp_path / "scan.json"
    assert main(["scan", str(small_model), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
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
    with pytest.raises(SystemExit) as e:
        main(["scan"])
    assert e.value.code == 2
