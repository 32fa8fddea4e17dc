"""``model-inspector scan`` over folders and manifests, and ``fleet-report``; one model keeps today's output."""

from __future__ import annotations

import json

from inspector.cli import main
from inspector.cli.fleet import DEFAULT_OUT
from inspector.fleet import report_name
from tests.fleet.conftest import FLEET_IDS, write_clean


def test_folder_batch_exit_status_summary_and_outputs(fleet, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["scan", str(fleet), "--out", str(out), "--jobs", "2"])
    text = capsys.readouterr().out
    assert code == 1  # the LSB demo model and the hostile pickle are suspicious
    assert f"{len(FLEET_IDS)} models: 2 suspicious, 6 incomplete, 2 error" in text
    assert "[refused]" in text and "[malformed]" in text and "Slowest:" in text
    assert {p.name for p in out.iterdir()} >= {"results.jsonl", "results.sarif", "index.html"}
    assert len((out / "results.jsonl").read_text().splitlines()) == len(FLEET_IDS)


def test_unreadable_models_fail_the_batch_only_with_fail_on_error(tmp_path, capsys):
    root = tmp_path / "fleet"
    write_clean(root / "a.safetensors", 1)
    write_clean(root / "b.safetensors", 2)
    (root / "c.safetensors").write_bytes(b"\xff" * 20)
    assert main(["scan", str(root), "--out", str(tmp_path / "o"), "-q"]) == 3  # incomplete, as for one model
    assert capsys.readouterr().out.startswith("3 models: 2 incomplete, 1 error")
    assert main(["scan", str(root), "--out", str(tmp_path / "o"), "-q", "--allow-incomplete"]) == 0
    assert main(["scan", str(root), "--out", str(tmp_path / "o"), "-q", "--fail-on-error"]) == 2


def test_manifest_batch_with_ids_and_jsonl_on_stdout(fleet, tmp_path, capsys):
    m = tmp_path / "release.jsonl"
    m.write_text(
        json.dumps({"path": str(fleet / "clean-0.safetensors"), "id": "acme/a", "owner": "x"})
        + "\n"
        + json.dumps({"path": str(fleet / "team/sub/lsb.safetensors"), "id": "acme/b"})
        + "\n"
    )
    code = main(["scan", "--manifest", str(m), "--out", str(tmp_path / "o"), "--json", "-"])
    captured = capsys.readouterr()
    docs = [json.loads(x) for x in captured.out.splitlines()]
    assert code == 1
    assert [d["fleet"]["id"] for d in docs] == ["acme/a", "acme/b"]
    assert [d["verdict"] for d in docs] == ["incomplete", "suspicious"]
    assert docs[0]["fleet"]["meta"] == {"owner": "x"}
    assert "2 models" in captured.err  # the summary moves to stderr when stdout carries the JSONL


def test_one_model_keeps_the_single_scan_output(fleet, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["scan", str(fleet / "clean-0.safetensors")]) == 3
    text = capsys.readouterr().out
    assert "Verdict: INCOMPLETE" in text and "fc1.weight" in text
    assert main(["scan", str(fleet / "hf-repo"), "-q"]) == 3  # a model folder is one model, not a batch
    assert capsys.readouterr().out.startswith("incomplete ")
    assert not (tmp_path / DEFAULT_OUT).exists()


def test_no_model_and_bad_manifest_are_one_line_errors(tmp_path, capsys):
    assert main(["scan"]) == 2
    assert "no model given" in capsys.readouterr().err
    assert main(["scan", "--manifest", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert "no such manifest" in err and len(err.strip().splitlines()) == 1


def test_fleet_report_renders_one_model_from_the_results(fleet, tmp_path, capsys):
    out = tmp_path / "out"
    main(["scan", str(fleet), "--out", str(out), "-q"])
    uid = str(fleet / "team/sub/lsb.safetensors")
    assert main(["fleet-report", str(out), uid]) == 1
    report = out / "reports" / report_name(uid)
    assert report.is_file() and "suspicious" in report.read_text().lower()
    assert f'href="reports/{report_name(uid)}"' in (out / "index.html").read_text()
    capsys.readouterr()
    assert main(["fleet-report", str(out), str(fleet / "needs-code.pt")]) == 2
    assert "could not be inspected" in capsys.readouterr().err
    assert main(["fleet-report", str(out), "nope"]) == 2
    assert main(["fleet-report", str(tmp_path), "x"]) == 2


def test_progress_line_counts_models_bytes_and_time_left():
    import io

    from inspector.cli.fleet import FleetBar

    stream = io.StringIO()
    bar = FleetBar(stream)
    bar.t0 -= 10.0  # ten seconds in, a quarter of the bytes done: 30 s left
    bar(5, 20, 256 << 10, 1 << 20)
    line = stream.getvalue()
    assert "5/20 models" in line and "256.0 KB/1.0 MB" in line and "25.0%" in line and "ETA 0:30" in line
    bar.close()
    assert stream.getvalue().endswith("\r")


def test_unreachable_dask_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    import pytest

    pytest.importorskip("distributed")
    import dask

    write_clean(tmp_path / "a.safetensors", 1)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(
            ["scan", str(tmp_path / "a.safetensors"), "--dask", "tcp://127.0.0.1:9", "--out", str(tmp_path / "o")]
        )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler tcp://127.0.0.1:9" in err[0]
