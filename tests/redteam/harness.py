"""Run one command line of the CLI in a child process under CPU, wall-clock and memory limits.

Returns its exit status, wall time, peak resident memory (the child's own ``VmHWM``, which it writes as it
exits; ``wait4``'s ``ru_maxrss`` only for a child that could not), stdout and stderr. A child killed by
a signal (a segfault, the CPU limit) shows as a negative status, which no red-team case accepts.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
#: Address-space cap of a child: numpy, numba and the interpreter need well under this when nothing goes wrong.
MEMORY_LIMIT = 3 << 30
CPU_SECONDS = 60
RSS_LIMIT_MB = 1024
#: Run first in a child: as it exits, it writes its own peak resident memory (VmHWM, in kB) where the harness asks.
#: ``ru_maxrss`` is no measure of the child: it survives ``execve``, so a child forked from a test process of
#: 1 GB (numba's JIT and Qt loaded by earlier tests) reports 1 GB however little it used.
_HWM = (
    "import atexit as _a, os as _o\n"
    "def _hwm():\n"
    "    p = _o.environ.get('REDTEAM_HWM_FILE')\n"
    "    if p:\n"
    "        with open('/proc/self/status') as f, open(p, 'w') as out:\n"
    "            out.write(next(ln for ln in f if ln.startswith('VmHWM')).split()[1])\n"
    "_a.register(_hwm)\n"
)


@dataclass
class Run:
    rc: int
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self) -> str:
        return f"exit {self.rc}, {self.seconds:.2f} s, {self.peak_mb:.0f} MB peak RSS"


def _limits() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


def run_cli(
    args: Sequence[str],
    *,
    timeout: float = 60.0,
    cwd: Optional[Path] = None,
    stdin_data: Optional[bytes] = None,
    shell_pipe: Optional[str] = None,
) -> Run:
    """``model-inspector ARGS`` in a limited child. ``shell_pipe`` (e.g. ``"head -1"``) pipes stdout into it."""
    code = _HWM + "import sys; from inspector.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, *args]
    if args and args[0] == "__python__":  # a Python snippet instead of a command line
        cmd = [sys.executable, "-c", _HWM + args[1]]
    fd, hwm_file = tempfile.mkstemp(prefix="redteam-hwm-")
    os.close(fd)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "PYTHONDONTWRITEBYTECODE": "1"}
    env["REDTEAM_HWM_FILE"] = hwm_file
    env.pop("PYTHONFAULTHANDLER", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=cwd or ROOT,
        env=env,
        preexec_fn=_limits,
    )
    reader = None
    if shell_pipe:  # the CLI's stdout goes to e.g. `head -1`, which closes the pipe early
        reader = subprocess.Popen(shell_pipe, shell=True, stdin=proc.stdout, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.close()
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream) -> None:
        chunks[name] = stream.read() if stream is not None else b""

    threads = [
        threading.Thread(target=drain, args=("out", reader.stdout if reader else proc.stdout)),
        threading.Thread(target=drain, args=("err", proc.stderr)),
    ]
    for t in threads:
        t.start()
    deadline = t0 + timeout
    killed = False
    while True:  # wait4 (not Popen.wait) to get the child's own resource usage
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline and not killed:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.005)
    seconds = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc  # reaped here: Popen must not wait for it again
    for t in threads:
        t.join(timeout=10)
    if reader is not None:
        reader.wait(timeout=10)
    err = chunks.get("err", b"") + (b"\n(killed: wall-clock limit)" if killed else b"")
    try:
        peak_mb = int(Path(hwm_file).read_text().strip()) / 1024
    except (OSError, ValueError):  # it could not write it (killed): ru_maxrss, which counts this process too
        peak_mb = usage.ru_maxrss / 1024
    finally:
        Path(hwm_file).unlink(missing_ok=True)
    return Run(
        rc,
        seconds,
        peak_mb,
        chunks.get("out", b"").decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )
