"""Bad input on the command line: exit 2, one line on stderr, no traceback, nothing written, nothing replaced."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inspector.cli import main

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A copy of a demo model (outputs written by mistake must never land on the bundled one)."""
    return Path(shutil.copy(DEMO / "mlp-benign-s0.safetensors", tmp_path / "m.safetensors"))


def _one_line(capsys, *expected: str) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    for text in expected:
        assert text in err[0]
    return err[0]


def test_json_output_never_replaces_the_model(model: Path, capsys) -> None:
    before = model.read_bytes()
    assert main(["scan", str(model), "--json", str(model)]) == 2  # used to overwrite the model with the JSON
    _one_line(capsys, "refusing to write over the input file")
    assert model.read_bytes() == before


@pytest.mark.parametrize(
    ("command", "extra"),
    [("scan", ["--json", "{tmp}/no/such/x.json"]), ("scan", ["--json", "{tmp}"]), ("eval", ["--json", "{tmp}"])],
)
def test_bad_json_outputs_exit_2(model: Path, tmp_path: Path, capsys, command: str, extra: list[str]) -> None:
    args = [command, str(model), *(a.format(tmp=tmp_path) for a in extra)]
    if command == "eval":
        args += ["--data", str(DEMO / "eval.npz")]
    assert main(args) == 2
    _one_line(capsys, "--json")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_outputs_that_are_pipes_are_refused_not_replaced(model: Path, tmp_path: Path, capsys) -> None:
    pipe = tmp_path / "out.safetensors"
    os.mkfifo(pipe)
    assert main(["scrub", str(model), "--bits", "8", "-o", str(pipe)]) == 2  # os.replace used to swap it out
    _one_line(capsys, "device or pipe")
    assert pipe.is_fifo()


@pytest.mark.parametrize("bins", ["0", "70000"])
def test_bad_bins_exit_2_not_1(model: Path, capsys, bins: str) -> None:
    assert main(["scan", str(model), "--bins", bins]) == 2
    _one_line(capsys, "--bins")


def test_an_explicit_architecture_that_does_not_exist_is_an_error(model: Path, tmp_path: Path, capsys) -> None:
    spec = f"{tmp_path}/nothere.py:build"
    assert main(["scan", str(model), "--arch", spec, "--data", str(DEMO / "eval.npz")]) == 2  # used to be skipped
    _one_line(capsys, "nothere.py")


def test_deep_json_for_report_inputs_and_profiles(model: Path, tmp_path: Path, capsys) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    out = tmp_path / "r.html"
    assert main(["report", str(model), "-o", str(out), "--scrub", str(deep)]) == 2
    _one_line(capsys, "too deeply")
    assert main(["report", str(deep), "-o", str(out)]) == 2
    _one_line(capsys, "too deeply")
    assert main(["scan", str(model), "--profile", str(deep)]) == 2
    _one_line(capsys, "too deeply")
    assert not out.exists()


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_endless_devices_as_inputs(model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(model), "-o", str(out), "--eval", "/dev/zero"]) == 2
    _one_line(capsys, "not a regular file")
    assert main(["scan", str(model), "--profile", "/dev/zero"]) == 2
    _one_line(capsys, "not a regular file")
    assert main(["scan", "/dev/zero"]) == 2
    _one_line(capsys, "not a regular file")
    assert not out.exists()


@pytest.mark.parametrize(
    ("inputs", "labels", "expected"),
    [
        (np.full((4, 64), np.nan, np.float32), np.zeros(4, np.int64), "NaN or infinite"),
        (np.zeros((4, 5), np.float32), np.zeros(4, np.int64), "cannot run on inputs of shape (5,)"),
        (np.zeros((4, 64), np.float32), np.full(4, 10**6, np.int64), "labels go up to 1000000"),
    ],
)
def test_bad_data_for_every_command(model: Path, tmp_path: Path, capsys, inputs, labels, expected: str) -> None:
    data = tmp_path / "d.npz"
    np.savez(data, inputs=inputs, labels=labels)
    assert main(["eval", str(model), "--data", str(data), "--device", "cpu"]) == 2
    _one_line(capsys, expected)
    if "labels" not in expected:  # the scan's probe never looks at labels
        assert main(["scan", str(model), "--data", str(data)]) == 2
        _one_line(capsys, expected)
    out = tmp_path / "o.safetensors"
    args = ["scrub", str(model), "--bits", "8", "--check", "--data", str(data), "--device", "cpu", "-o", str(out)]
    assert main(args) == 2
    _one_line(capsys, expected)
    assert not out.exists()  # exit 2 means nothing written, even when the check fails after the export


def test_a_hostile_file_through_the_real_entry_point(tmp_path: Path) -> None:
    p = tmp_path / "deep.safetensors"
    blob = b"[" * 100_000 + b"]" * 100_000
    p.write_bytes(struct.pack("<Q", len(blob)) + blob)
    out = tmp_path / "o.safetensors"
    for args in (["scan", str(p)], ["scrub", str(p), "--bits", "8", "-o", str(out)]):
        r = subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert str(p) in lines[0] and "too deeply" in lines[0]
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- code on load (issue 18)
class _RunsShell:
    """Unpickling this runs a shell command: the classic pickle payload."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _hostile_files(tmp_path: Path) -> list[Path]:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "MARKER"
    payload = {"fc.weight": torch.ones(2), "evil": _RunsShell(f"touch {marker}")}
    torch.save(payload, tmp_path / "zip.pt")
    torch.save(payload, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    import pickle

    (tmp_path / "plain.pkl").write_bytes(pickle.dumps(_RunsShell(f"touch {marker}"), protocol=2))
    return [tmp_path / "zip.pt", tmp_path / "legacy.pt", tmp_path / "plain.pkl", DEMO / "hostile-call-on-load.pt"]


def test_a_file_that_runs_code_on_load_is_a_verdict_not_an_error(tmp_path: Path, capsys) -> None:
    import json

    for path in _hostile_files(tmp_path):
        out = tmp_path / f"{path.name}.json"
        assert main(["scan", str(path), "--json", str(out), "--workers", "1", "-q"]) == 1, path
        doc = json.loads(out.read_text())
        assert doc["verdict"] == "suspicious"
        (finding,) = [f for f in doc["findings"] if f["attack"] == "code-execution"]
        assert finding["evidence"]["global"].endswith(".system") and finding["evidence"]["listing"]
        assert capsys.readouterr().err == ""
    assert not (tmp_path / "MARKER").exists()


def test_a_pickled_whole_model_is_read_with_a_warning_naming_its_classes(tmp_path: Path, capsys) -> None:
    torch = pytest.importorskip("torch")
    for legacy in (False, True):
        path = tmp_path / f"whole{int(legacy)}.pt"
        torch.save(torch.nn.Sequential(torch.nn.Linear(2, 3)), path, _use_new_zipfile_serialization=not legacy)
        out = tmp_path / f"w{int(legacy)}.json"
        assert main(["scan", str(path), "--json", str(out)]) == 3  # incomplete: no --data; not refused
        text = capsys.readouterr().out
        assert "torch.nn.modules.container.Sequential" in text and "whole model" in text
        doc = json.loads(out.read_text())
        assert [t["name"] for t in doc["tensors"]] == ["0.weight", "0.bias"]
