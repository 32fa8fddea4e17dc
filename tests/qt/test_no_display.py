"""Without a display the app says so and exits 2, instead of Qt aborting the process."""

from __future__ import annotations

import subprocess
import sys


def test_gui_without_a_display_exits_2_with_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no DISPLAY, WAYLAND_DISPLAY or QT_QPA_PLATFORM
    r = subprocess.run([sys.executable, "-m", "inspector", "gui"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "xvfb-run" in lines[0]
