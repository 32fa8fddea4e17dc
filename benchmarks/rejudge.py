"""How long the app takes to show findings after a baseline change: ``inspector.core.pipeline.rejudge`` on a
stored measurement, the model file unread.

    python benchmarks/rejudge.py [--dir /tmp/mi-bench] [--repeat 5]

Uses the synthetic models of ``scan_throughput.py`` (1 GB in 10 tensors, 250 MB in 300 tensors) and, for each, a
baseline of the same layers (another seed), written once into ``--dir``. The model is scanned once; then each
change is timed ``--repeat`` times (median, and the slowest):

- the built-in profile switched on (``profile=None``), and off again;
- a baseline model given for the first time: it is measured on the model's edges (a read of the *baseline*,
  reported apart: the app does it once per baseline and keeps it);
- back to no baseline, and to that baseline again (kept: nothing read).

Every file the judge opens is recorded: a line says whether the model file was read (the target: never).
Target (issue "measure once, judge many"): findings updated in < 200 ms on a 1 GB model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_throughput import CASES, write_case  # noqa: E402


def _timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/mi-bench")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    import builtins
    import os

    from inspector import scan
    from inspector.core.pipeline import rejudge

    opened: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def os_open(path, *a, **k):
        opened.append(str(Path(path).resolve()))
        return real_os_open(path, *a, **k)

    def py_open(path, *a, **k):
        if isinstance(path, (str, Path)):
            opened.append(str(Path(path).resolve()))
        return real_open(path, *a, **k)

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    for case in ("big", "many"):
        total, tensors, cols = CASES[case]
        model = write_case(folder / f"{case}-{tensors}.safetensors", total, tensors, cols)
        baseline = write_case(folder / f"{case}-{tensors}-baseline.safetensors", total, tensors, cols, seed=1)
        t = time.perf_counter()
        result = scan(str(model))
        print(
            f"== {case}: {model} ({model.stat().st_size / 1e9:.3f} GB, {tensors} tensors); scanned in "
            f"{time.perf_counter() - t:.2f} s; verdict {result.verdict}"
        )
        os.open, builtins.open = os_open, py_open  # every file the judge opens, by either door
        opened.clear()
        try:
            on, on_max = _timed(lambda r=result: rejudge(r, profile=None), args.repeat)
            plain = rejudge(result, profile=None)
            t = time.perf_counter()
            with_base = rejudge(plain, baselines=(str(baseline),))  # measures the baseline: once
            first = time.perf_counter() - t
            off, off_max = _timed(lambda r=with_base: rejudge(r, baselines=()), args.repeat)
            again, again_max = _timed(lambda r=plain, b=str(baseline): rejudge(r, baselines=(b,)), args.repeat)
        finally:
            os.open, builtins.open = real_os_open, real_open
        read_model = str(model.resolve()) in opened
        print(f"  built-in profile on          median {on * 1e3:7.1f} ms (slowest {on_max * 1e3:.1f})")
        print(f"  baseline model, first time   {first * 1e3:7.1f} ms (the baseline measured on the model's edges)")
        print(f"  baseline removed             median {off * 1e3:7.1f} ms (slowest {off_max * 1e3:.1f})")
        print(f"  baseline given again (kept)  median {again * 1e3:7.1f} ms (slowest {again_max * 1e3:.1f})")
        print(
            f"  verdicts: {plain.verdict} / {with_base.verdict}; the model file was "
            f"{'READ' if read_model else 'not read'}; files opened: {len(set(opened))}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
