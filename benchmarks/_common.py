"""Helpers for the benchmark scripts: synthetic big models written in a streaming way, timing, peak RSS."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def write_big_model(path: Path, size_gb: float, seed: int = 0, dtype: str = "F32") -> Path:
    """A safetensors file of ~size_gb GB of trained-looking weights, written chunk by chunk (bounded RAM)."""
    np_dt = {"F32": np.float32, "F16": np.float16}[dtype]
    isz = np.dtype(np_dt).itemsize
    total = int(size_gb * (1 << 30)) // isz
    # several tensors of different shapes: a big embedding, square and rectangular dense layers, small biases
    fractions = [0.35, 0.25, 0.2, 0.15, 0.0499, 0.0001]
    shapes = []
    for i, f in enumerate(fractions):
        n = max(1, int(total * f))
        cols = 4096 if n > 4096 * 16 else 1
        shapes.append((f"layers.{i}.weight", (n // cols, cols) if cols > 1 else (n,)))
    header, off = {}, 0
    for name, shape in shapes:
        nb = int(np.prod(shape)) * isz
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + nb]}
        off += nb
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for _name, shape in shapes:
            n = int(np.prod(shape))
            std = 1.0 / np.sqrt(shape[-1] if len(shape) > 1 else 64)
            for s in range(0, n, 1 << 24):
                k = min(1 << 24, n - s)
                f.write(rng.standard_normal(k, dtype=np.float32).__imul__(std).astype(np_dt).tobytes())
    return path


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def load() -> float:
    """The 1-minute load average (the machine may be shared: print it beside every timing)."""
    return os.getloadavg()[0]


def run_child(
    code: str, whole: bool = False, env: dict | None = None, cwd: Path | None = None
) -> tuple[float, int, str]:
    """Run Python code in a fresh interpreter; returns (seconds, peak RSS in MB, stdout). Seconds are those of
    ``code`` alone, or with ``whole`` the child's whole life (interpreter start-up and exit) timed from here;
    ``env``: variables set for the child on top of this process's; ``cwd``: its working folder (which ``python -c``
    imports from first)."""
    script = (
        "import resource, time, sys\n"
        "t0 = time.perf_counter()\n"
        f"{code}\n"
        "dt = time.perf_counter() - t0\n"
        # VmHWM, not ru_maxrss: ru_maxrss survives execve and would report the parent's size at fork
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('__BENCH__', dt, hwm)\n"
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("__BENCH__")][-1].split()
    return (wall if whole else float(line[1])), int(line[2]) // 1024, out.stdout


def warm_cache(path: Path) -> None:
    """Read a file once in 8 MB blocks so every contender then runs on a warm page cache."""
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass
