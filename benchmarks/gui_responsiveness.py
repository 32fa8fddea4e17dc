"""Does the window stay responsive while a big model is scanned?

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_responsiveness.py [--size-gb 2] [--keep PATH]

Writes a float32 safetensors model of ``--size-gb`` (64 tensors, streamed to disk, never held in memory), opens
it in the real main window and scans it while a 10 ms QTimer heartbeat measures how late the event loop runs
each tick (the stall). Baseline, measured in the same run: the same heartbeat with the window idle for as long
as the scan took. Prints max / 95th percentile stall for both, their ratio, the scan throughput, and where and
how long Python's garbage collector ran (the app collects on the GUI thread only). Target: max stall < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

TICK_MS = 10


def write_model(path: Path, size_bytes: int, tensors: int = 64) -> Path:
    """A float32 safetensors file of about ``size_bytes``, streamed chunk by chunk (bounded memory)."""
    per = max(1024, size_bytes // tensors // 4 // 1024 * 1024)
    rows = per // 1024
    header, offset = {}, 0
    for i in range(tensors):
        n = rows * 1024 * 4
        header[f"layer{i:03d}.weight"] = {"dtype": "F32", "shape": [rows, 1024], "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    rng = np.random.default_rng(0)
    chunk = rng.standard_normal(1 << 22, dtype=np.float32) * 0.05  # 16 MB, reused with a shifting offset
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        left = offset
        k = 0
        while left > 0:
            part = chunk[: min(chunk.size, left // 4)]
            f.write((part + np.float32(k * 1e-4)).tobytes())
            left -= part.nbytes
            k += 1
    return path


class Heartbeat:
    """Records, for every tick of a precise 10 ms timer, how much later than due it ran."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer(interval=TICK_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.stalls: list[float] = []
        self.times: list[float] = []
        self._last = 0.0

    def start(self) -> None:
        self.stalls = []
        self.times = []
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> np.ndarray:
        self.timer.stop()
        return np.asarray(self.stalls) if self.stalls else np.zeros(1)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.stalls.append(max(0.0, (now - self._last) * 1000.0 - TICK_MS))
        self.times.append(now)
        self._last = now


def pump(app, seconds: float = 0.0, until=None, timeout: float = 3600.0) -> float:
    t0 = time.perf_counter()
    while True:
        app.processEvents()
        el = time.perf_counter() - t0
        if until is not None and until():
            return el
        if until is None and el >= seconds:
            return el
        if el > timeout:
            raise TimeoutError("the scan did not finish")
        time.sleep(0.001)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--keep", metavar="PATH", help="write (or reuse) the model here instead of a temp file")
    args = ap.parse_args(argv)

    from inspector.qt.app import make_app
    from inspector.qt.main_window import MainWindow
    from inspector.qt.settings import open_settings

    tmp = tempfile.TemporaryDirectory(prefix="mi-bench-")
    path = Path(args.keep) if args.keep else Path(tmp.name) / "big.safetensors"
    size = int(args.size_gb * (1 << 30))
    if not path.exists() or abs(path.stat().st_size - size) > size * 0.05:
        t0 = time.perf_counter()
        write_model(path, size)
        print(
            f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )

    app = make_app()
    win = MainWindow(open_settings(os.path.join(tmp.name, "s.ini")))
    win.resize(1400, 860)
    win.show()
    pump(app, 0.5)
    hb = Heartbeat()

    events: list[tuple[float, str]] = []
    d = win.doc
    d.opened.connect(lambda _m: events.append((time.perf_counter(), "opened")))
    d.scan_progressed.connect(lambda pm, _m: events.append((time.perf_counter(), f"scan {pm / 10:.0f}%")))
    d.tensor_scanned.connect(lambda t: events.append((time.perf_counter(), f"tensor {t.name}")))
    d.scan_finished.connect(lambda _r: events.append((time.perf_counter(), "scan_finished")))
    import gc
    import threading

    collections: list[tuple[str, float]] = []  # (thread, ms) of every garbage collection during the scan
    gc_t0: dict[int, float] = {}

    def on_gc(phase: str, _info: dict) -> None:
        tid = threading.get_ident()
        if phase == "start":
            gc_t0[tid] = time.perf_counter()
        elif tid in gc_t0:
            collections.append((threading.current_thread().name, 1000 * (time.perf_counter() - gc_t0.pop(tid))))

    gc.callbacks.append(on_gc)
    hb.start()
    win.open_path(str(path))
    scan_s = pump(app, until=lambda: win.doc.result is not None and not win.pool.active)
    busy = hb.stop()
    gc.callbacks.remove(on_gc)
    busy_times = list(hb.times)
    hb.start()
    pump(app, scan_s)
    idle = hb.stop()

    def fig(a: np.ndarray) -> str:
        return f"max {a.max():6.1f} ms · p95 {np.percentile(a, 95):5.1f} ms · mean {a.mean():5.2f} ms ({a.size} ticks)"

    gb = path.stat().st_size / 1e9
    print(f"model            {gb:.2f} GB, {len(win.doc.model.tensors)} tensors")
    print(f"scan             {scan_s:.1f} s in the app ({gb / scan_s:.2f} GB/s incl. hashing and detectors)")
    print(f"stall, scanning  {fig(busy)}")
    print(f"stall, idle      {fig(idle)}   <- baseline, same run")
    print(
        f"ratio            max {busy.max() / max(idle.max(), 1e-3):.1f}× · p95 "
        f"{np.percentile(busy, 95) / max(np.percentile(idle, 95), 1e-3):.1f}× the idle loop"
    )
    print(f"target           max stall < 100 ms: {'MET' if busy.max() < 100 else 'NOT MET'}")
    threads = sorted({t for t, _ in collections})
    worst = max((ms for _, ms in collections), default=0.0)
    print(f"garbage collected {len(collections)} times during the scan, on {threads or ['-']}, longest {worst:.1f} ms")
    print("worst stalls (ms) and the last app event before each:")
    for i in np.argsort(busy)[::-1][:5]:
        t_end = busy_times[i]
        t_start = t_end - (busy[i] + TICK_MS) / 1000.0
        before = [e for e in events if e[0] <= t_start]
        inside = [e[1] for e in events if t_start < e[0] <= t_end]
        last = before[-1][1] if before else "start"
        print(f"  {busy[i]:6.1f}  after {last!r}; delivered in it: {inside[:3]}")
    win.shutdown()
    win.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
