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
