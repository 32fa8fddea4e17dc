"""Start-up and teardown of the command line: what a one-model scan loads, and its quick exit."""

from __future__ import annotations

import gc
import subprocess
import sys

from inspector.cli import main


def test_the_command_line_freezes_its_objects_at_the_end(small_model, monkeypatch, capsys):
    """Run as a command (no argv given), main() moves every object into the collector's permanent generation
    before the process ends, so teardown does not walk what numpy and numba loaded; called with an argv (tests,
    notebooks) it leaves the collector alone."""
    gc.unfreeze()
    try:
        assert main(["scan", str(small_model), "--allow-incomplete"]) == 0
        assert gc.get_freeze_count() == 0
        monkeypatch.setattr(sys, "argv", ["model-inspector", "scan", str(small_model), "--allow-incomplete"])
        assert main() == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    capsys.readouterr()


def test_a_one_model_scan_loads_no_batch_code(small_model):
    """A scan of one model file does not import the batch code (processes, the results store)."""
    code = (
        "import io, sys, contextlib\n"
        "from inspector.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['scan', {str(small_model)!r}])\n"
        "print(sorted(m for m in ('inspector.fleet', 'multiprocessing') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_model_is_hashed_before_the_command_loads_anything(small_model, monkeypatch, capsys):
    """``scan MODEL`` starts the file's SHA-256 before the parser imports the sub-commands, and the scan takes
    that digest (it hashes nothing itself): the same digest as hashing the file afterwards."""
    import hashlib
    import json

    import inspector.core.measure.scan as measure_scan
    from inspector.core import prehash

    started: list = []
    real_start = prehash.start

    def start(paths):
        started.append([str(p) for p in paths])
        return real_start(paths)

    def no_own_hash(*a, **k):
        raise AssertionError("the scan hashed the file itself")

    monkeypatch.setattr(prehash, "start", start)
    monkeypatch.setattr(measure_scan, "sha256_files", no_own_hash)
    out = small_model.parent / "out.json"
    assert main(["scan", str(small_model), "--allow-incomplete", "--json", str(out)]) == 0
    assert started == [[str(small_model)]]
    doc = json.loads(out.read_text())
    assert doc["model"]["sha256"] == hashlib.sha256(small_model.read_bytes()).hexdigest()
    assert prehash.claim([small_model]) is None  # the scan claimed it
    capsys.readouterr()


def test_an_early_hash_of_a_changed_file_is_not_used(small_model, tmp_path):
    """A file that changed after its early hash started is hashed again by the measurement; a hash nobody
    claims is stopped."""
    import hashlib
    import os

    from inspector.core import prehash
    from inspector.core.measure import measure

    job = prehash.start([small_model])
    assert job is not None
    job.result()
    data = bytearray(small_model.read_bytes())
    data[-1] ^= 1  # the last tensor's last byte: still a valid model
    small_model.write_bytes(bytes(data))
    st = os.stat(small_model)
    os.utime(small_model, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert prehash.claim([small_model]) is None  # another identity now
    m = measure(small_model)
    assert m.model.sha256 == hashlib.sha256(bytes(data)).hexdigest()
    other = prehash.start([small_model])
    assert other is not None and prehash.start([tmp_path]) is None  # a folder is not hashed early
    prehash.cancel_unclaimed()
    assert prehash.claim([small_model]) is None
