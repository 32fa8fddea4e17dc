"""The whole ``model-inspector scan MODEL`` command against a bare ``np.histogram`` over the same tensors.

    python benchmarks/scan_throughput.py [--case big|many|both] [--repeat 3] [--dir /tmp/mi-bench] [--workers 0]
                                         [--before SRC]

Two synthetic fp32 safetensors models of trained-looking weights, written once into ``--dir`` (kept for the next
run; never inside the repository):

- ``big``:  1 GB in 10 tensors. Targets: the whole command >= 2x np.histogram (stretch 4x); peak RSS <= 400 MB.
- ``many``: 250 MB in 300 tensors. Target: the whole command at least as fast as np.histogram (stretch 3x).

"The whole command" is the CLI's own ``main(["scan", MODEL])`` in a fresh interpreter (imports, numba load,
SHA-256, statistics, every weights-only detector, the text report), timed from outside, with the child's peak
RSS (VmHWM). ``np.histogram`` (256 bins, each tensor's range given) runs over memory-mapped tensors in this
process. Everything runs on a warm page cache, interleaved, ``--repeat`` times; the ratios use the median of each
contender. A breakdown follows (in-process, each step in its own fresh interpreter): statistics only, + detector
features, + SHA-256, + judging. The machine may be shared: the 1-minute load average is printed beside every
figure, and ratios measured side by side are the fairer figure. ``--before SRC`` also times the command from
another source tree (e.g. ``git archive HEAD~3 inspector | tar -x -C /tmp/before``), in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load, run_child, warm_cache  # noqa: E402

CASES = {
    # name: (total bytes, tensors, columns per row)
    "big": (1 << 30, 10, 4096),
    "many": (250 << 20, 300, 512),
}


def write_case(path: Path, total_bytes: int, tensors: int, cols: int, seed: int = 0) -> Path:
    """``tensors`` fp32 matrices of about ``total_bytes / tensors`` each (rows of ``cols``), Gaussian with a
    1/sqrt(fan-in) scale like trained dense layers, written chunk by chunk (bounded memory)."""
    if path.exists():
        return path
    rows = max(1, total_bytes // 4 // tensors // cols)
    header, off = {}, 0
    for i in range(tensors):
        nb = rows * cols * 4
        header[f"layers.{i}.weight"] = {"dtype": "F32", "shape": [rows, cols], "data_offsets": [off, off + nb]}
        off += nb
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        n = rows * cols
        for _ in range(tensors):
            for s in range(0, n, 1 << 24):
                k = min(1 << 24, n - s)
                f.write((rng.standard_normal(k, dtype=np.float32) * np.float32(cols**-0.5)).tobytes())
    tmp.rename(path)
    return path


def np_histogram_pass(path: Path) -> float:
    """np.histogram (256 bins, each tensor's range given) over every tensor, memory-mapped, one thread."""
    from inspector import open_model

    m = open_model(path)
    t0 = time.perf_counter()
    for ref in m.tensors:
        x = np.memmap(path, dtype=np.float32, mode="r", offset=ref.offset, shape=(ref.numel,))
        lo, hi = float(x[:1000].min()) - 10, float(x[:1000].max()) + 10
        np.histogram(x, bins=256, range=(lo, hi))
        del x
    return time.perf_counter() - t0


def cli_command(path: Path, workers: int, src: Path | None = None) -> tuple[float, int, str]:
    """The whole ``model-inspector scan MODEL`` in a fresh interpreter: (wall seconds, peak RSS MB, verdict);
    ``src``: the source tree to import ``inspector`` from instead of this one."""
    argv = ["scan", str(path)] + (["--workers", str(workers)] if workers else [])
    code = (
        "import io, contextlib\n"
        "from inspector.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    rc = main({argv!r})\n"
        "print('__VERDICT__', rc, out.getvalue().strip().splitlines()[-1] if out.getvalue().strip() else '')\n"
    )
    # ``python -c`` imports from its working folder first: run it there
    secs, rss, out = run_child(code, whole=True, env={"PYTHONPATH": str(src)} if src else None, cwd=src)
    verdict = [ln for ln in out.splitlines() if ln.startswith("__VERDICT__")][-1].split(" ", 1)[1]
    return secs, rss, verdict


def step(path: Path, workers: int, hash_: bool, features: bool, judge: bool) -> tuple[float, int]:
    """One breakdown step in a fresh interpreter: in-process seconds of scan()/measure(), peak RSS MB."""
    code = (
        "from inspector.core.pipeline import scan, ScanOptions\n"
        "t_scan = time.perf_counter()\n"
        f"scan({str(path)!r}, ScanOptions(workers={workers}, hash={hash_}, features={features}, "
        f"detectors={judge}))\n"
        "print('__STEP__', time.perf_counter() - t_scan)\n"
    )
    _, rss, out = run_child(code)
    return float([ln for ln in out.splitlines() if ln.startswith("__STEP__")][-1].split()[1]), rss


def run_case(name: str, path: Path, repeat: int, workers: int, before: Path | None) -> None:
    from inspector import open_model

    gb = path.stat().st_size / 1e9
    n = len(open_model(path).tensors)
    warm_cache(path)
    for src in (None, before) if before else (None,):
        cli_command(path, workers, src)  # numba compiles a tree's kernels on their first run (cached on disk)
    hist, cli, rss, loads, old, old_rss = [], [], [], [], [], []
    verdict = ""
    for _ in range(repeat):
        loads.append(load())
        hist.append(np_histogram_pass(path))
        s, r, verdict = cli_command(path, workers)
        cli.append(s)
        rss.append(r)
        if before:
            s, r, _ = cli_command(path, workers, before)
            old.append(s)
            old_rss.append(r)
    h, c = statistics.median(hist), statistics.median(cli)
    ratios = [a / b for a, b in zip(hist, cli)]
    print(f"\n== {name}: {path} ({gb:.3f} GB, {n} tensors); load {', '.join(f'{x:.1f}' for x in loads)}")
    print(f"np.histogram (256 bins, given range), one thread: median {h:.2f} s = {gb / h:.2f} GB/s  [baseline]")
    print(
        f"model-inspector scan MODEL (fresh interpreter, everything): median {c:.2f} s = {gb / c:.2f} GB/s; "
        f"peak RSS {max(rss)} MB; verdict: {verdict}"
    )
    print(f"ratio np.histogram / command: median {h / c:.2f}x (per round: {', '.join(f'{x:.2f}' for x in ratios)})")
    if before:
        o = statistics.median(old)
        print(
            f"the command from {before}: median {o:.2f} s = {h / o:.2f}x np.histogram; peak RSS {max(old_rss)} MB; "
            f"this tree is {o / c:.2f}x faster"
        )
    print("breakdown (in-process, each in a fresh interpreter):")
    prev = None
    for label, kw in (
        ("statistics only", dict(hash_=False, features=False, judge=False)),
        ("+ detector features", dict(hash_=False, features=True, judge=False)),
        ("+ SHA-256", dict(hash_=True, features=True, judge=False)),
        ("+ judging (= scan())", dict(hash_=True, features=True, judge=True)),
    ):
        ld = load()
        s, r = step(path, workers, **kw)
        more = f" (+{s - prev:.2f} s)" if prev is not None else ""
        print(f"    {label:24s} {s:6.2f} s{more}  = {h / s:5.2f}x np.histogram; peak RSS {r} MB; load {ld:.1f}")
        prev = s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=("big", "many", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mi-bench"), help="where the models are written (kept)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--before", type=Path, help="another source tree whose command is timed in the same rounds")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    for name in ("big", "many") if args.case == "both" else (args.case,):
        total, tensors, cols = CASES[name]
        path = write_case(args.dir / f"{name}-{tensors}.safetensors", total, tensors, cols)
        run_case(name, path, args.repeat, args.workers, args.before)


if __name__ == "__main__":
    main()
