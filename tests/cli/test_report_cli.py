"""`model-inspector report`: HTML and PDF files, the same scan JSON as `scan`, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from inspector.cli import main
from tests.core.test_report import benign_tensors, save, sign_tensors


@pytest.fixture
def benign(tmp_path):
    return save(tmp_path, "benign.safetensors", benign_tensors(1))


def _suspicious_scan_json(tmp_path, model_path) -> str:
    """A scan document of ``model_path`` with one suspicious finding (independent of the detectors' tuning)."""
    out = tmp_path / "scan.json"
    assert main(["scan", str(model_path), "--json", str(out), "--workers", "1", "-q"]) in (0, 1, 3)
    doc = json.loads(out.read_text())
    doc["findings"] = [
        {
            "detector": "sign-structure",
            "attack": "sign",
            "tensor": "fc1.weight",
            "severity": "suspicious",
            "score": 0.97,
            "message": "37% of weights within ±0.05σ of zero (baseline 4%)",
        }
    ]
    doc["verdict"], doc["score"] = "suspicious", 0.97
    out.write_text(json.dumps(doc))
    return str(out)


def test_html_report_of_a_model_exits_with_the_scan_verdict(benign, tmp_path, capsys):
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    code = main(["report", str(benign), "--output", str(out), "--json", str(js), "--workers", "1"])
    scan_json = tmp_path / "s.json"
    scan_code = main(["scan", str(benign), "--json", str(scan_json), "--workers", "1", "-q"])
    assert code == scan_code
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "benign.safetensors" in html
    doc, ref = json.loads(js.read_text()), json.loads(scan_json.read_text())
    for d in (doc, ref):  # timing differs between runs; everything else is the same document
        d.pop("seconds")
    assert doc == ref
    assert "HTML report" in capsys.readouterr().out


def test_report_from_scan_json_exits_1_when_suspicious(benign, tmp_path, capsys):
    scan_json = _suspicious_scan_json(tmp_path, benign)
    out = tmp_path / "r.html"
    assert main(["report", scan_json, "-o", str(out)]) == 1
    html = out.read_text(encoding="utf-8")
    assert "SUSPICIOUS" in html and "37% of weights within ±0.05σ" in html
    assert "Weights read as images" in html  # the model named in the JSON is still there: tiles drawn


@pytest.mark.parametrize(
    "args, message",
    [
        (["{model}", "-o", "{tmp}/r.docx"], "REPORT.html or REPORT.pdf"),
        (["{tmp}/missing.safetensors", "-o", "{tmp}/r.html"], "no such file"),
        (["{model}", "-o", "{tmp}/no/such/dir/r.html"], "does not exist"),
        (["{model}", "-o", "{tmp}/r.html", "--eval", "{model}"], "not a readable JSON"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(benign, tmp_path, capsys, args, message):
    argv = ["report"] + [a.format(model=benign, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob(".r.*"))


def test_pdf_report_in_a_fresh_process(tmp_path):
    """PDF goes through Qt (offscreen); run it in a subprocess so this test process stays Qt-free."""
    model = save(tmp_path, "sign.safetensors", sign_tensors())
    scan_json = _suspicious_scan_json(tmp_path, model)
    out = tmp_path / "r.pdf"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run(
        [sys.executable, "-m", "inspector", "report", scan_json, "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page\r") + pdf.count(b"/Type /Page ") >= 2
    assert b"/Subtype /Image" in pdf  # the weight tiles
    assert "PDF report" in r.stdout


def test_signoff_options_fill_the_block_and_bad_ones_write_nothing(tmp_path, capsys):
    model = save(tmp_path, "sign.safetensors", sign_tensors())
    scan_json = _suspicious_scan_json(tmp_path, model)
    out = tmp_path / "r.html"
    args = ["report", scan_json, "-o", str(out), "--reviewer", "Ada", "--decision", "approve"]
    assert main(args) == 2  # approving without acknowledging the suspicious finding
    assert "finding(s) #1 unacknowledged" in capsys.readouterr().err and not out.exists()
    assert main([*args[:-1], "reject", "--ack", "7"]) == 2 and not out.exists()
    assert "--ack 7: no such finding" in capsys.readouterr().err
    assert main([*args, "--ack", "1", "--notes", "explained: a watermark"]) == 1  # suspicious: exit 1, written
    assert "signed off by Ada: Approved for release; acknowledged findings #1" in capsys.readouterr().out
    html = out.read_text()
    assert "Approved for release" in html and "explained: a watermark" in html and "<b>yes</b>" in html
