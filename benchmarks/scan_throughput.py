"""The whole ``model-inspector scan MODEL`` command against a bare ``np.histogram`` over the same tensors.

    python benchmarks/scan_throughput.py [--case big|many|tiny|both|all] [--repeat 3] [--dir /tmp/mi-bench]
                                         [--workers 0] [--before SRC] [--no-breakdown] [--timeline]

Synthetic fp32 safetensors models of trained-looking weights, written once into ``--dir`` (kept for the next run;
never inside the repository):

- ``big``:  1 GB in 10 tensors. Targets: the whole command >= 2x np.histogram (stretch 4x); peak RSS <= 400 MB.
- ``many``: 250 MB in 300 tensors. Target: the whole command at least as fast as np.histogram (stretch 3x).
- ``tiny``: 20,000 one-element tensors: the per-tensor overhead alone (``both`` runs big and many, ``all`` all
  three).

Beside wall seconds, the command's CPU seconds (user + system, all its threads) are printed: on a shared machine
they move less with the load than wall time, and CPU / cores is the least wall time the command can take. An
accounting follows for big and many (each part's CPU seconds in its own fresh interpreter: interpreter start,
numpy, the CLI's imports, loading the kernels (the module compiled ahead of time, else numba's JIT), SHA-256 of
the file, the pass on one thread), and the ceiling it implies: np.histogram's CPU / (command CPU / cores), the
ratio the command would reach on idle cores, all busy and none waiting.

"The whole command" is the CLI's own ``main()`` with ``sys.argv`` set to ``model-inspector scan MODEL``, as the
installed script runs it, in a fresh interpreter (imports, kernels load, SHA-256, statistics, every weights-only
detector, the text report, the interpreter's exit), timed from outside, with the child's peak
RSS (VmHWM). ``np.histogram`` (256 bins, each tensor's range given) runs over memory-mapped tensors in this
process. Everything runs on a warm page cache, interleaved, ``--repeat`` times; the ratios use the median of each
contender. A breakdown follows (in-process, each step in its own fresh interpreter): statistics only, + detector
features, + SHA-256, + judging. The machine may be shared: the 1-minute load average is printed beside every
figure, and ratios measured side by side are the fairer figure. ``--before SRC`` also times the command from
another source tree (e.g. ``git archive HEAD~3 inspector | tar -x -C /tmp/before``), in the same rounds.
``--timeline`` prints when each part of one command starts and ends (the early SHA-256 from ``main()``, the kernels' load,
the pass, judging, the table), with the CPU used so far: where a core sits idle.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
    "tiny": (20_000 * 4, 20_000, 1),
}


def write_case(path: Path, total_bytes: int, tensors: int, cols: int, seed: int = 0) -> Path:
    """``tensors`` fp32 matrices of about ``total_bytes / tensors`` each (rows of ``cols``; ``cols`` 1: vectors),
    Gaussian with a 1/sqrt(fan-in) scale like trained dense layers, written chunk by chunk (bounded memory)."""
    if path.exists():
        return path
    rows = max(1, total_bytes // 4 // tensors // cols)
    shape = [rows, cols] if cols > 1 else [rows]
    header, off = {}, 0
    for i in range(tensors):
        nb = rows * cols * 4
        header[f"layers.{i}.weight"] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + nb]}
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


def np_histogram_pass(path: Path) -> tuple[float, float]:
    """np.histogram (256 bins, each tensor's range given) over every tensor, memory-mapped, one thread:
    (wall seconds, CPU seconds)."""
    from inspector import open_model

    m = open_model(path)
    t0, c0 = time.perf_counter(), time.process_time()
    for ref in m.tensors:
        x = np.memmap(path, dtype=np.float32, mode="r", offset=ref.offset, shape=(ref.numel,))
        lo, hi = float(x[:1000].min()) - 10, float(x[:1000].max()) + 10
        np.histogram(x, bins=256, range=(lo, hi))
        del x
    return time.perf_counter() - t0, time.process_time() - c0


def child_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli_command(path: Path, workers: int, src: Path | None = None) -> tuple[float, int, str, float]:
    """The whole ``model-inspector scan MODEL`` in a fresh interpreter: (wall seconds, peak RSS MB, verdict, CPU
    seconds); ``src``: the source tree to import ``inspector`` from instead of this one."""
    argv = ["scan", str(path)] + (["--workers", str(workers)] if workers else [])
    code = (  # main() with the process's own argv, as the model-inspector script calls it
        "import io, contextlib\n"
        "from inspector.cli import main\n"
        f"sys.argv = ['model-inspector'] + {argv!r}\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    rc = main()\n"
        "print('__VERDICT__', rc, out.getvalue().strip().splitlines()[-1] if out.getvalue().strip() else '')\n"
    )
    # ``python -c`` imports from its working folder first: run it there
    cpu0 = child_cpu()
    secs, rss, out = run_child(code, whole=True, env={"PYTHONPATH": str(src)} if src else None, cwd=src)
    cpu = child_cpu() - cpu0
    verdict = [ln for ln in out.splitlines() if ln.startswith("__VERDICT__")][-1].split(" ", 1)[1]
    return secs, rss, verdict, cpu


def cpu_of(code: str) -> float:
    """CPU seconds of ``code`` in a fresh interpreter, from its own clock (``__CPU__`` printed by ``code``) or, if
    it prints none, the child's whole life (interpreter start and exit included)."""
    cpu0 = child_cpu()
    _, _, out = run_child(code)
    whole = child_cpu() - cpu0
    marks = [ln for ln in out.splitlines() if ln.startswith("__CPU__")]
    return float(marks[-1].split()[1]) if marks else whole


def accounting(path: Path, h: float, cmd_cpu: float) -> None:
    """What the command's CPU is spent on, part by part, each in a fresh interpreter, and the ceiling it sets.
    ``h``: np.histogram's CPU seconds (on a loaded machine, its wall time counts the others' work too)."""
    warm = (
        "import numpy as np\n"
        "from inspector.core.dtypes import DTYPES\n"
        "from inspector.core.measure import kernels\n"
        "k = kernels.load()\n"
        "kernels.Kernels(k, kernels.SUPPORTED).pass1([np.ones(8, np.float32)], DTYPES['F32'], lambda n: None)\n"
    )
    parts = [
        ("interpreter start and exit", "pass", None),
        ("import numpy", "import numpy", "pass"),
        (
            "the CLI's imports (scan path)",
            "import inspector.cli.scan\nfrom inspector.cli import build_parser\nbuild_parser()",
            "import numpy",
        ),
        (
            "kernels: load (compiled module, else numba)",
            "import inspector.cli.scan\n" + warm,
            "import inspector.cli.scan",
        ),
    ]
    rows: list[tuple[str, float]] = []
    for label, code, base in parts:
        c = statistics.median(cpu_of(code) for _ in range(3))
        b = statistics.median(cpu_of(base) for _ in range(3)) if base else 0.0
        rows.append((label, max(0.0, c - b)))
    sha = (
        "from pathlib import Path\n"
        "from inspector.core.formats.base import sha256_files\n"
        "c0 = time.process_time()\n"
        f"sha256_files([Path({str(path)!r})])\n"
        "print('__CPU__', time.process_time() - c0)\n"
    )
    rows.append(("SHA-256 of the file (hashlib)", cpu_of(sha)))
    one = (
        warm + "from inspector.core.measure import measure, ScanOptions\n"
        "c0 = time.process_time()\n"
        f"measure({str(path)!r}, ScanOptions(workers=1, hash=False))\n"
        "print('__CPU__', time.process_time() - c0)\n"
    )
    rows.append(("the pass: statistics + features, 1 thread", cpu_of(one)))
    parts_sum = sum(c for _, c in rows)
    cores = os.cpu_count() or 1
    print(f"accounting (CPU seconds, each part in a fresh interpreter; load {load():.1f}):")
    for label, c in rows:
        print(f"    {label:44s} {c:6.2f}")
    print(f"    {'sum of the parts':44s} {parts_sum:6.2f}")
    print(
        f"    {'the whole command (median, user + system)':44s} {cmd_cpu:6.2f}  (the rest: judging, output, "
        f"threads, page-cache copies: {cmd_cpu - parts_sum:+.2f})"
    )
    print(
        f"ceiling on {cores} idle cores (np.histogram's CPU {h:.2f} s against the command's CPU / {cores} = "
        f"{cmd_cpu / cores:.2f} s): {h / (cmd_cpu / cores):.2f}x; without the SHA-256: "
        f"{h / max(1e-9, (cmd_cpu - rows[4][1]) / cores):.2f}x; without start-up and imports: "
        f"{h / max(1e-9, (cmd_cpu - sum(c for _, c in rows[:4])) / cores):.2f}x"
    )


TIMELINE = """\
import os, sys, threading, time
T0 = time.perf_counter()
marks = []
def mark(what):
    marks.append((time.perf_counter() - T0, time.process_time(), threading.current_thread().name, what))
from inspector.core import prehash
start = prehash.start
def early(paths):
    mark("SHA-256 starts (early, from main())")
    job = start(paths)
    if job is not None:
        job.future.add_done_callback(lambda f: mark("SHA-256 done"))
    return job
prehash.start = early
import inspector.cli as cli
mark("inspector.cli imported")
def wrap(mod, name, label):
    fn = getattr(mod, name)
    def wrapped(*a, **k):
        mark(label + " starts")
        try:
            return fn(*a, **k)
        finally:
            mark(label + " done")
    setattr(mod, name, wrapped)
inner = cli._main
def instrumented(argv):  # after main() started the early hash: import the scan path (as the parser would)
    import inspector.cli.scan as cs, inspector.core.measure.scan as ms
    import inspector.core.measure.kernels as kn, inspector.core.pipeline as pl
    mark("numpy and the scan path imported")
    wrap(cs, "open_model", "open_model")
    wrap(ms, "sha256_files", "SHA-256 (the measurement's own)")
    wrap(kn, "load", "kernels.load (compiled module, else numba)")
    wrap(ms, "scan_tensors", "the pass")
    wrap(pl, "gather_inputs", "judge inputs")
    wrap(pl, "judge", "judging")
    wrap(cs, "print_table", "text table")
    return inner(argv)
cli._main = instrumented
sys.argv = ["model-inspector", "scan", MODEL]
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    cli.main()
mark("main() returned")
for t, c, th, what in marks:
    print(f"__MARK__ {t:7.3f} {c:7.3f} {th} | {what}")
"""


def timeline(path: Path) -> None:
    """When each part of the command starts and ends in one fresh interpreter (wall seconds since its first line,
    the process's CPU seconds so far): what overlaps what, and how long one core sits idle."""
    _, _, out = run_child(f"MODEL = {str(path)!r}\n" + TIMELINE)
    print(f"timeline (one run, wall s since the interpreter's first line / process CPU s; load {load():.1f}):")
    for ln in out.splitlines():
        if ln.startswith("__MARK__"):
            t, c, thread, what = ln.split(maxsplit=4)[1:]
            print(f"    {float(t):6.3f}  cpu {float(c):6.3f}  [{thread.rstrip('|').strip()}] {what.lstrip('| ')}")


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


def run_case(
    name: str, path: Path, repeat: int, workers: int, before: Path | None, breakdown: bool, show_timeline: bool = False
) -> None:
    from inspector import open_model

    gb = path.stat().st_size / 1e9
    n = len(open_model(path).tensors)
    warm_cache(path)
    for src in (None, before) if before else (None,):
        cli_command(path, workers, src)  # a tree's kernels are compiled on their first run (then cached on disk)
    hist, cli, rss, loads, old, old_rss, cpu, old_cpu, hist_cpu = [], [], [], [], [], [], [], [], []
    verdict = ""
    for _ in range(repeat):
        loads.append(load())
        hw, hc = np_histogram_pass(path)
        hist.append(hw)
        hist_cpu.append(hc)
        s, r, verdict, u = cli_command(path, workers)
        cli.append(s)
        rss.append(r)
        cpu.append(u)
        if before:
            s, r, _, u = cli_command(path, workers, before)
            old.append(s)
            old_rss.append(r)
            old_cpu.append(u)
    h, c, u, hc = statistics.median(hist), statistics.median(cli), statistics.median(cpu), statistics.median(hist_cpu)
    ratios = [a / b for a, b in zip(hist, cli)]
    print(f"\n== {name}: {path} ({gb:.3f} GB, {n} tensors); load {', '.join(f'{x:.1f}' for x in loads)}")
    print(
        f"np.histogram (256 bins, given range), one thread: median {h:.2f} s = {gb / h:.2f} GB/s, CPU {hc:.2f} s "
        "[baseline]"
    )
    print(
        f"model-inspector scan MODEL (fresh interpreter, everything): median {c:.2f} s = {gb / c:.2f} GB/s; "
        f"CPU {u:.2f} s (user + system; per round: {', '.join(f'{x:.2f}' for x in cpu)}); peak RSS {max(rss)} MB; "
        f"verdict: {verdict}"
    )
    print(f"ratio np.histogram / command: median {h / c:.2f}x (per round: {', '.join(f'{x:.2f}' for x in ratios)})")
    if before:
        o, ou = statistics.median(old), statistics.median(old_cpu)
        print(
            f"the command from {before}: median {o:.2f} s = {h / o:.2f}x np.histogram; CPU {ou:.2f} s; peak RSS "
            f"{max(old_rss)} MB; this tree is {o / c:.2f}x faster and uses {ou / u:.2f}x less CPU"
        )
    if show_timeline:
        timeline(path)
    if not breakdown:
        return
    accounting(path, hc, u)
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
    ap.add_argument("--case", choices=("big", "many", "tiny", "both", "all"), default="both")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mi-bench"), help="where the models are written (kept)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--before", type=Path, help="another source tree whose command is timed in the same rounds")
    ap.add_argument(
        "--no-breakdown", action="store_true", help="only the side-by-side rounds (no accounting, no breakdown)"
    )
    ap.add_argument("--timeline", action="store_true", help="also print when each part of one command starts and ends")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    names = {"both": ("big", "many"), "all": ("big", "many", "tiny")}.get(args.case, (args.case,))
    for name in names:
        total, tensors, cols = CASES[name]
        path = write_case(args.dir / f"{name}-{tensors}.safetensors", total, tensors, cols)
        # the tiny case's breakdown would scan 20,000 tensors four more times: its rounds say enough
        breakdown = not args.no_breakdown and name != "tiny"
        run_case(name, path, args.repeat, args.workers, args.before, breakdown, args.timeline)


if __name__ == "__main__":
    main()
