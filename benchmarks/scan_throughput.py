"""Scan throughput on a ~2 GB fp32 safetensors model, against np.histogram (and TensorBoard's, if installed).

    python benchmarks/scan_throughput.py [--size-gb 2] [--path existing.safetensors] [--keep]

Everything is measured in this one run on the same file (warm page cache for all contenders), and every
figure is printed as a ratio against the named baseline. Targets (issue 2): full scan ≥ 2× faster than
np.histogram alone; scan peak RSS < 800 MB; header listing < 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_child, timed, warm_cache, write_big_model  # noqa: E402


def np_histogram_pass(path: Path) -> float:
    """np.histogram (256 bins, each tensor's own range given) over every tensor, memory-mapped."""
    from inspector import open_model

    m = open_model(path)
    t0 = time.perf_counter()
    for ref in m.tensors:
        x = np.memmap(path, dtype=np.float32, mode="r", offset=ref.offset, shape=(ref.numel,))
        lo, hi = float(x[:1000].min()) - 10, float(x[:1000].max()) + 10
        np.histogram(x, bins=256, range=(lo, hi))
        del x
    return time.perf_counter() - t0


def tensorboard_pass(path: Path) -> float | None:
    """TensorBoard's histogram as PyTorch users get it: ``SummaryWriter.add_histogram``'s summary with its
    default ('tensorflow') bucket edges, over every tensor; None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import histogram
    except Exception:
        return None
    from inspector import open_model

    with tempfile.TemporaryDirectory() as logdir:
        writer = SummaryWriter(logdir)
        bins = writer.default_bins
        writer.close()
    m = open_model(path)
    t0 = time.perf_counter()
    for ref in m.tensors:
        x = np.memmap(path, dtype=np.float32, mode="r", offset=ref.offset, shape=(ref.numel,))
        histogram("h", np.asarray(x), bins=bins)
        del x
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--path", type=Path)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="mi-bench-")
    path = args.path or write_big_model(Path(tmp.name) / "big.safetensors", args.size_gb)
    gb = path.stat().st_size / 1e9
    from inspector import open_model

    list_times = [timed(open_model, path)[0] for _ in range(20)]
    warm_cache(path)

    scan_code = (
        "from inspector import scan, ScanOptions\n"
        "t_scan = time.perf_counter()\n"
        f"r = scan({str(path)!r}, ScanOptions(workers={args.workers}))\n"
        "print('__SCAN__', time.perf_counter() - t_scan, len(r.tensors), r.verdict)"
    )

    def child(code: str) -> tuple[float, float, int]:
        total, rss, out = run_child(code)
        inner = float([ln for ln in out.splitlines() if ln.startswith("__SCAN__")][-1].split()[1])
        return total, inner, rss

    scan_s, scan_in, scan_rss = child(scan_code)
    stats_code = scan_code.replace("ScanOptions(", "ScanOptions(hash=False, detectors=False, ")
    stats_s, stats_in, stats_rss = child(stats_code)
    hist_s = np_histogram_pass(path)
    tb_s = tensorboard_pass(path)

    print(f"model: {path} ({gb:.2f} GB, {len(open_model(path).tensors)} tensors)")
    print(f"header listing: median {statistics.median(list_times) * 1e3:.2f} ms (target < 50 ms)")
    print(f"np.histogram (256 bins, given range), one thread: {hist_s:.2f} s = {gb / hist_s:.2f} GB/s   [baseline]")
    if tb_s is not None:
        print(f"TensorBoard histogram: {tb_s:.2f} s = {gb / tb_s:.2f} GB/s  ratio vs np.histogram {hist_s / tb_s:.2f}x")
    else:
        print("TensorBoard histogram: not installed (pip install tensorboard to include it)")
    for label, total, inner, rss in (
        ("statistics (the issue's 'full scan': every per-tensor statistic)", stats_s, stats_in, stats_rss),
        ("CLI-equivalent scan (statistics + SHA-256 of the file + detectors)", scan_s, scan_in, scan_rss),
    ):
        print(f"{label}:")
        print(
            f"    in-process {inner:.2f} s = {gb / inner:.2f} GB/s = {hist_s / inner:.2f}x np.histogram (target >= 2x)"
        )
        print(
            f"    whole process (interpreter, imports, numba load) {total:.2f} s = {hist_s / total:.2f}x; "
            f"peak RSS {rss} MB (target < 800 MB)"
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
